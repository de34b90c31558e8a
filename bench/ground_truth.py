"""Ground truth for ranking benchmarks: architectures sampled uniformly from the SMASH sub-space
of the dense space, each trained from scratch with the shared trainer on a small real task.

Protocol (default): a CIFAR-10 subset (../shared/data/cifar10_subset.npz) at 16x16, 5,000 class-
balanced training images (4,500 train / 500 validation, stratified), the 3,000 test images,
10 epochs of SGD (Nesterov, lr 0.1, cosine, weight decay 5e-4, batch 128, pad-crop + flip),
one CPU thread per process. `--data ../shared/data/imagenette_32.npz` runs the same protocol on
Imagenette (its own table, ground_truth_imagenette.jsonl). Archs 0..N-1 come from one seeded
sampler (the same sequence for every dataset); the first `--reseed` of them are trained a second
time with another seed (the noise ceiling of any ranking).

Rows are appended one architecture at a time under an exclusive file lock, so a killed run
resumes where it stopped and several processes can share one table: `--shard K/N` takes every
N-th job (disjoint ranges, e.g. one process per core or per machine), and a row already in the
table is never trained or written again.

    python bench/ground_truth.py [--archs 200] [--reseed 40] [--shard 0/1]
    python bench/ground_truth.py --data ../shared/data/imagenette_32.npz --archs 100 --reseed 20
    python bench/ground_truth.py --summary [--data ...]   # counts, accuracy range, noise ceiling
"""

from __future__ import annotations

import argparse
import fcntl
import json
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA_DIR = ROOT.parent / "shared" / "data"
DEFAULT_DATA = DATA_DIR / "cifar10_subset.npz"
OUT = ROOT / "bench" / "results" / "ground_truth.jsonl"
TABLES = {"cifar10_subset.npz": OUT, "imagenette_32.npz": ROOT / "bench" / "results" / "ground_truth_imagenette.jsonl"}


def sampled_archs(n: int, seed: int = 2026) -> list:
    from search_spaces.dense import DenseSpace, DenseSpaceConfig
    from search_spaces.dense import smash_subspace as smash_config

    space = DenseSpace(smash_config(DenseSpaceConfig()))
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def read_rows(path: Path) -> list[dict]:
    """Every complete row of a table (a line cut short by a kill mid-write is skipped)."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def load_table(path: Path, data_path: Path | None = None) -> tuple[list[dict], list[dict], dict]:
    """Every row of a ground-truth table, its seed-0 rows in architecture order, and their protocol
    with the dataset path made local; exits when the table holds fewer than 10 architectures."""
    rows = read_rows(path)
    first = sorted((r for r in rows if r["seed"] == 0), key=lambda r: r["index"])
    if len(first) < 10:
        sys.exit(f"only {len(first)} ground-truth rows in {path}; run bench/ground_truth.py")
    proto = dict(first[0]["protocol"])
    name = _data_name(proto["dataset"])
    local = data_path if data_path is not None else DATA_DIR / name
    proto["dataset"] = proto["dataset"].replace(name, str(Path(local).resolve()))
    return rows, first, proto


def _data_name(spec: str) -> str:
    return spec.split(":", 1)[1].split("?", 1)[0]


def protocol(data_path: Path, epochs: int) -> dict:
    return {"dataset": f"npz:{data_path}?subset=5000&resolution=16", "epochs": epochs, "batch_size": 128,
            "lr": 0.1, "weight_decay": 5e-4, "data_seed": 0}


def train_one(job: tuple[int, int, dict, dict]) -> dict:
    import torch

    from nas.data import load_dataset
    from nas.training import TrainConfig, train
    from search_spaces import Architecture, default_space

    index, seed, arch_dict, proto = job
    torch.set_num_threads(1)
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    arch = Architecture.from_dict(arch_dict)
    space = default_space("dense")
    torch.manual_seed(seed)
    model = space.build(arch, data.num_classes, data.in_channels, data.input_size)
    cfg = TrainConfig(epochs=proto["epochs"], batch_size=proto["batch_size"], lr=proto["lr"],
                      weight_decay=proto["weight_decay"], seed=seed, quiet=True)
    cpu0 = time.process_time()
    result = train(model, data, cfg, test=True)
    shape = space.shape(arch, data.num_classes, data.in_channels, data.input_size)
    return {"index": index, "seed": seed, "key": arch.key(), "arch": arch_dict, "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy, "params": shape.params, "flops": shape.macs,
            "val_curve": [s.val_accuracy for s in result.history],
            "train_seconds": round(result.train_seconds, 2), "cpu_seconds": round(time.process_time() - cpu0, 2),
            "threads": torch.get_num_threads(), "machine": machine(), "protocol": proto}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}; torch {__import__('torch').__version__}"


def jobs(n_archs: int, n_reseed: int) -> list[tuple[int, int]]:
    """(index, seed) in the order they are trained: seed 0 of every architecture, with one second-seed
    run after every few new ones, so a table cut short still has both kinds."""
    first = [(i, 0) for i in range(n_archs)]
    second = [(i, 1) for i in range(min(n_reseed, n_archs))]
    every = max(1, len(first) // max(1, len(second)))
    out: list[tuple[int, int]] = []
    for k, job in enumerate(first):
        out.append(job)
        if second and k % every == every - 1:
            out.append(second.pop(0))
    return out + second


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the table: appends and the done-check never interleave."""
    with open(path.with_suffix(path.suffix + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def append_row(path: Path, row: dict) -> bool:
    """Append a row unless the table already holds (index, seed); True when written."""
    with locked(path):
        if any((r["index"], r["seed"]) == (row["index"], row["seed"]) for r in read_rows(path)):
            return False
        torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
        with path.open("a") as f:  # a line cut short by a kill stays on its own line, skipped on reading
            f.write(("\n" if torn else "") + json.dumps(row, sort_keys=True) + "\n")
            f.flush()
    return True


def run(data: Path, out: Path, n_archs: int, n_reseed: int, epochs: int, shard: tuple[int, int],
        limit: int | None = None, train: object = None) -> int:
    """Train this shard's missing rows one at a time; returns how many rows it wrote."""
    train = train or train_one
    proto = protocol(Path(data.name), epochs)  # portable rows: the file name, made local on reading
    run_proto = protocol(data.resolve(), epochs)
    archs = sampled_archs(n_archs)
    k, n = shard
    mine = [j for m, j in enumerate(jobs(n_archs, n_reseed)) if m % n == k]
    out.parent.mkdir(parents=True, exist_ok=True)
    written, t0 = 0, time.perf_counter()
    for index, seed in mine:
        with locked(out):
            done = {(r["index"], r["seed"]) for r in read_rows(out)}
        if (index, seed) in done:
            continue
        if limit is not None and written >= limit:
            break
        row = train((index, seed, archs[index].to_dict(), run_proto))
        row["protocol"] = proto
        if append_row(out, row):
            written += 1
            print(f"[{len(done) + 1}/{n_archs + min(n_reseed, n_archs)}] arch {index} seed {seed}: "
                  f"val {row['val_accuracy']:.3f} test {row['test_accuracy']:.3f} params {row['params']:,} "
                  f"({row['train_seconds']:.0f} s; {time.perf_counter() - t0:.0f} s total)", file=sys.stderr)
    return written


def summary(rows: list[dict], resamples: int = 2000) -> dict:
    """Counts, test-accuracy range of the seed-0 rows, and the noise ceiling: Kendall between seed 0
    and seed 1 of the same architectures (test and validation), with a 95% bootstrap interval."""
    from predictors.metrics import bootstrap_ci, kendall_tau

    first = {r["index"]: r for r in rows if r["seed"] == 0}
    second = sorted((r for r in rows if r["seed"] == 1 and r["index"] in first), key=lambda r: r["index"])
    test = np.array([r["test_accuracy"] for r in first.values()])
    cpu = [r["cpu_seconds"] for r in rows if "cpu_seconds" in r]  # older rows did not record it
    out = {"archs": len(first), "second_seeds": len(second),
           "test_range": [float(test.min()), float(test.max())] if len(test) else None,
           "test_sd": float(test.std(ddof=1)) if len(test) > 1 else None,
           "median_cpu_seconds": float(np.median(cpu)) if cpu else None}
    if len(second) >= 5:
        for split in ("test", "val"):
            a = np.array([first[r["index"]][f"{split}_accuracy"] for r in second])
            b = np.array([r[f"{split}_accuracy"] for r in second])
            ci = bootstrap_ci(kendall_tau, a, b, np.random.default_rng(0), n=resamples)
            out[f"noise_ceiling_{split}"] = {"kendall_tau": kendall_tau(a, b), "ci95": list(ci), "pairs": len(second)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=200)
    ap.add_argument("--reseed", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--shard", default="0/1", help="K/N: this process trains every N-th job from the K-th")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, help="the table (default by dataset: " + ", ".join(
        f"{k} -> {v.name}" for k, v in TABLES.items()) + ")")
    ap.add_argument("--summary", action="store_true", help="print the table's counts, range and noise ceiling (JSON)")
    args = ap.parse_args()
    if not args.summary and not args.data.exists():
        sys.exit(f"ground_truth: {args.data} not found; pass --data PATH to cifar10_subset.npz or imagenette_32.npz")
    try:
        k, n = (int(x) for x in args.shard.split("/"))
        assert 0 <= k < n
    except (ValueError, AssertionError):
        sys.exit(f"ground_truth: --shard {args.shard!r}: use K/N with 0 <= K < N")
    out = args.out or TABLES.get(args.data.name, ROOT / "bench" / "results" / f"ground_truth_{args.data.stem}.jsonl")
    if args.summary:
        print(json.dumps({"table": out.name, **summary(read_rows(out))}, indent=1))
        return
    print(f"ground truth: {out.name}, {args.archs} archs + {args.reseed} second seeds, shard {k}/{n}",
          file=sys.stderr)
    run(args.data, out, args.archs, args.reseed, args.epochs, (k, n))


if __name__ == "__main__":
    main()
