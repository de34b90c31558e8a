"""Zero-cost proxies of a fixed pool of canonical NAS-Bench-201 cells, into a committed table.

The pool is every distinct canonical cell of the table (`NB201Space.canonical`: 8,765 classes;
the disconnected one first) in a seeded random order; the first `--pool` are computed, so any prefix of the
file is a uniform sample. Each row: the canonical cell's arch string, the five proxies
(`predictors.proxies`) on 64 CIFAR-10 TRAINING images (seeded draw) with the network
initialised from `--seed`, and the seconds it took on one thread. Resumable: rows already in
`--out` are skipped and new ones appended one line at a time, so a kill loses at most one cell;
`--shard i/n` lets n processes share the pool (they append to the same file).

    nohup nice -n 5 python bench/nb201_proxies.py --pool 2000 --shard 0/2 &
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from predictors.proxies import PROXIES, compute_proxies, training_batch
from search_spaces.nb201 import NB201Space, canonical_edges, parse_arch_string

ROOT = Path(__file__).resolve().parent
# ../shared beside the checkout (a worktree sits one level deeper)
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "nb201").is_dir()), ROOT.parent.parent / "shared")
TABLE = SHARED / "nb201" / "nb201_cifar10.csv"
DATA = SHARED / "data" / "cifar10_subset.npz"
COLUMNS = ("arch", *PROXIES, "time_s")


def pool_order(table: Path, seed: int = 0) -> list[tuple[str, ...]]:
    """Every distinct canonical cell of the table, in a seeded random order."""
    with table.open(newline="") as f:
        keys = sorted({canonical_edges(parse_arch_string(r["arch"])) for r in csv.DictReader(f)})
    order = np.random.default_rng(seed).permutation(len(keys))
    dead = ("none",) * 6  # the one canonical form of all 341 disconnected cells: always in the pool
    return [dead] + [keys[i] for i in order if keys[i] != dead]


def done_archs(out: Path) -> set[str]:
    if not out.is_file():
        return set()
    with out.open(newline="") as f:
        return {r["arch"] for r in csv.DictReader(f) if r.get("time_s")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", type=Path, default=TABLE)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "nb201_proxies.csv")
    ap.add_argument("--pool", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="initialisation and image-draw seed")
    ap.add_argument("--shard", default="0/1", help="i/n: this process takes pool positions i, i+n, ...")
    args = ap.parse_args()
    torch.set_num_threads(1)
    i, n = (int(v) for v in args.shard.split("/"))
    space = NB201Space()
    with np.load(args.data, allow_pickle=False) as d:
        x, y = training_batch(d["x_train"], d["y_train"], n=64, seed=args.seed)  # training split only
    pool = pool_order(args.table)[:args.pool]
    done = done_archs(args.out)
    if not args.out.is_file():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(",".join(COLUMNS) + "\n")
    fd = os.open(args.out, os.O_WRONLY | os.O_APPEND)
    todo = [e for k, e in enumerate(pool) if k % n == i and space.to_string(space.from_edges(e)) not in done]
    print(f"{len(pool)} cells in the pool, {len(done)} done, {len(todo)} for shard {i}/{n}", file=sys.stderr)
    t_all = time.perf_counter()
    for k, edges in enumerate(todo):
        arch = space.from_edges(edges)
        t0 = time.perf_counter()
        values = compute_proxies(lambda a=arch: space.build(a, 10, 3, 32), x, y, seed=args.seed)
        dt = time.perf_counter() - t0
        row = [space.to_string(arch), *(f"{values[p]:.10g}" for p in PROXIES), f"{dt:.3f}"]
        os.write(fd, (",".join(row) + "\n").encode())
        if k % 50 == 0:
            print(f"{k + 1}/{len(todo)} {dt:.2f}s/cell, {time.perf_counter() - t_all:.0f}s so far", file=sys.stderr)
    os.close(fd)
    print(f"shard {i}/{n}: {len(todo)} cells in {time.perf_counter() - t_all:.0f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
