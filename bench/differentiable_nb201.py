"""Differentiable search on NAS-Bench-201 through the table (issue 18).

Each (mode, seed): fit the `Differentiable` supernet on the CIFAR-10 subset (weights on one half of
the TRAINING images, architecture parameters on the other: `?val=0.5`; the test images are never
read), discretise (argmax per edge) and read the cell's `c10_test` (200 epochs, full CIFAR-10) from
the table. References: the all-`nor_conv_3x3` cell (93.76) and random search given the same CPU
seconds, measured here: uniform cells, each trained on the same proxy (same skeleton, resolution,
training half) for an equal share of the search's CPU time, picked by accuracy on the other half,
its `c10_test` read from the table. Budgets are process CPU seconds on one thread (the machine is
shared, so wall time depends on its load; both are recorded). Finished entries are appended to
`--out` (JSON lines) and skipped when the command is run again.

With `--option select=pt|zc` the cell is chosen by perturbation (DARTS-PT / Zero-Cost-PT,
`nas/supernets/differentiable/perturb.py`) and the CPU seconds include that choice; `--steps 0`
runs Zero-Cost-PT on the untrained supernet. `--selects argmax,pt,zc:synflow` discretises one fit
several ways (one entry each). `--summary` ends with the mean of every configuration.

    python bench/differentiable_nb201.py --modes gdas --seeds 0,1,2 --steps 400 [--random]
    python bench/differentiable_nb201.py --modes darts --seeds 0,1,2 --steps 300 --option channels=8 \
        --option select=pt --option pt_batches=16 --random
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.data import load_dataset  # noqa: E402
from nas.evaluators.tabular import TabularEvaluator  # noqa: E402
from nas.supernets.differentiable import Differentiable, DiffOptions  # noqa: E402
from nas.supernets.differentiable.model import param_free_share  # noqa: E402
from nas.supernets.loop import fit_steps  # noqa: E402
from nas.train_config import TrainConfig  # noqa: E402
from search_spaces.nb201.space import NB201Space  # noqa: E402

DATA = "/work/shared/data/cifar10_subset.npz"
TABLE = "/work/shared/nb201/nb201_cifar10.csv"
ALL_CONV3 = 93.76


def search(data: Any, mode: str, seed: int, steps: int, options: DiffOptions,
           selects: list[DiffOptions]) -> list[dict[str, Any]]:
    """One supernet fit, then one entry per discretisation in `selects` (each `options` with another
    select / pt_proxy): the same as one run per select, since the fit does not depend on it and the
    selection is seeded; each entry's CPU seconds are the fit's plus its own selection's."""
    from nas.supernets.differentiable.perturb import select_cell

    space = NB201Space(channels=options.channels, cells_per_stage=options.cells)
    net = Differentiable(space, mode, data.num_classes, data.in_channels, data.input_size,
                         replace(options, select="argmax"), steps, seed)
    wall, cpu = time.perf_counter(), time.process_time()
    out = net.fit(data, quiet=True)
    fit_wall, fit_cpu = time.perf_counter() - wall, time.process_time() - cpu
    samples = [r["argmax"] for r in net.trajectory]
    entries = []
    for chosen in selects:
        wall, cpu = time.perf_counter(), time.process_time()
        arch, selection = net.argmax(), None
        if chosen.select != "argmax":
            trial = copy.deepcopy(net)
            trial.options = chosen
            cell, selection = select_cell(trial, data)
            arch = space.from_edges(cell)
        entries.append({"kind": "search", "mode": mode, "seed": seed, "steps": steps, "options": chosen.to_dict(),
                        "cpu_s": fit_cpu + time.process_time() - cpu, "wall_s": fit_wall + time.perf_counter() - wall,
                        "final_loss": out["final_loss"], "arch": space.to_string(arch),
                        "param_free_share": param_free_share(space.edges(arch)),
                        "argmax_arch": space.to_string(net.argmax()), "selection": selection,
                        "probs": net.probs().round(4).tolist(),
                        "argmax_trajectory": samples[:: max(1, len(samples) // 20)]})
    return entries


def random_search(data: Any, seed: int, cpu_budget: float, cells: int, options: DiffOptions) -> dict[str, Any]:
    """`cells` uniform cells, each trained for cpu_budget / cells CPU seconds (SGD 0.05, cosine),
    then scored on the held-out half of the training images; the best by that accuracy."""
    space = NB201Space(channels=options.channels, cells_per_stage=options.cells)
    rng = np.random.default_rng(1000 + seed)
    cpu0, wall = time.process_time(), time.perf_counter()
    rows = []
    for k in range(cells):
        arch = space.sample(rng)
        share = (cpu_budget - (time.process_time() - cpu0)) / (cells - k)
        rows.append({"arch": space.to_string(arch), **train_for(space, arch, data, share, seed * 100 + k, options)})
    best = max(rows, key=lambda r: r["val_accuracy"])
    return {"kind": "random", "seed": seed, "cpu_budget_s": cpu_budget, "cpu_s": time.process_time() - cpu0,
            "wall_s": time.perf_counter() - wall, "cells": rows, "arch": best["arch"]}


def train_for(space: NB201Space, arch: Any, data: Any, cpu_s: float, seed: int, options: DiffOptions) -> dict[str, Any]:
    start = time.process_time()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = space.build(arch, data.num_classes, data.in_channels, data.input_size)
    gen = torch.Generator().manual_seed(seed)
    batches = lambda: data.batches("train", options.batch_size, train=True, generator=gen)  # noqa: E731
    probe = time.process_time()
    x, y = next(batches())
    F.cross_entropy(model(x), y).backward()
    model.zero_grad()
    per_step = max(1e-3, (time.process_time() - probe) * 1.15)  # the backward pass and the optimizer step
    eval_share = 0.1  # of the cell's time, for scoring 1,000 held-out images
    steps = max(1, int(cpu_s * (1 - eval_share) / per_step))

    def step(batch: tuple[torch.Tensor, torch.Tensor], _model: Any = None) -> float:
        loss = F.cross_entropy(model(batch[0]), batch[1])
        loss.backward()
        return float(loss.detach())

    recipe = TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4, schedule="cosine")
    fit_steps(model, recipe, steps, step, batches, clip_norm=5.0, quiet=True)
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for xb, yb in data.batches("val", 500):
            correct += int((model(xb).argmax(1) == yb).sum())
            total += len(yb)
            if total >= 1000:
                break
    return {"steps": steps, "val_accuracy": correct / total, "cpu_s": time.process_time() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--modes", default="gdas")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--resolution", type=int, default=16)
    ap.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="DiffOptions settings")
    ap.add_argument("--selects", help="several discretisations of one fit: argmax,pt,zc:synflow,... "
                    "(select[:pt_proxy]; default: the --option select)")
    ap.add_argument("--random", action="store_true", help="also random search at each search's CPU seconds")
    ap.add_argument("--random-cells", type=int, default=8)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "differentiable_nb201.jsonl")
    ap.add_argument("--summary", action="store_true", help="only print the table of what --out holds")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from nas.config_util import typed_options

    options = DiffOptions(**typed_options(DiffOptions, dict(o.split("=", 1) for o in args.option), "--option"))
    table = TabularEvaluator(TABLE)
    done = [json.loads(line) for line in args.out.read_text().splitlines()] if args.out.exists() else []
    if not args.summary:
        data = load_dataset(f"npz:{DATA}?resolution={args.resolution}&val=0.5", seed=0)
        try:
            selects = [replace(options, **dict(zip(("select", "pt_proxy"), item.split(":", 1))))
                       for item in args.selects.split(",")] if args.selects else [options]
        except ValueError as e:
            ap.error(f"--selects: {e}")
        for mode in args.modes.split(","):
            for seed in map(int, args.seeds.split(",")):
                keys = [{"mode": mode, "seed": seed, "steps": args.steps, "options": o.to_dict()} for o in selects]
                entries = [next((e for e in done if e["kind"] == "search" and same(e, k)), None) for k in keys]
                if None in entries:
                    entries = search(data, mode, seed, args.steps, options, selects)
                    for entry in entries:
                        entry["resolution"] = args.resolution
                        entry["c10_test"] = c10_test(table, entry["arch"])
                        append(args.out, entry, done)
                # one random search for all of them, given the most CPU seconds any of them took
                if args.random and not any(e["kind"] == "random" and same(f, keys[0]) for e in done for f in fors(e)):
                    rnd = random_search(data, seed, max(e["cpu_s"] for e in entries), args.random_cells, options)
                    rnd.update({"for": keys if len(keys) > 1 else keys[0], "c10_test": c10_test(table, rnd["arch"]),
                                "resolution": args.resolution})
                    append(args.out, rnd, done)
    report(done)


def selected(options: dict[str, Any]) -> str:
    """How a cell was chosen: argmax, pt, or zc:PROXY."""
    select = options.get("select", "argmax")
    return f"zc:{options.get('pt_proxy', 'naswot')}" if select == "zc" else select


def fors(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The search settings a random-search entry is the baseline of (one, or all selects of one fit)."""
    key = entry.get("for", [])
    return key if isinstance(key, list) else [key]


def same(entry: dict[str, Any], key: dict[str, Any]) -> bool:
    """`entry` ran with `key`'s settings (options added since it ran count at their defaults)."""
    options = {**DiffOptions().to_dict(), **entry["options"]}
    return all(entry[k] == v for k, v in key.items() if k != "options") and options == key["options"]


def label(options: dict[str, Any], steps: int, mode: str) -> str:
    """A short name of a configuration: what differs from the defaults."""
    diff = {k: v for k, v in options.items() if DiffOptions().to_dict().get(k) != v}
    return f"{mode} {steps} " + " ".join(f"{k}={v}" for k, v in sorted(diff.items()))


def c10_test(table: TabularEvaluator, arch_string: str) -> float:
    return round(100 * float(table.test(NB201Space().from_string(arch_string)).test_accuracy), 2)


def append(path: Path, entry: dict[str, Any], done: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(entry) + "\n")
    done.append(entry)
    print(json.dumps({k: entry[k] for k in ("kind", "seed", "arch", "c10_test", "cpu_s") if k in entry}), flush=True)


def report(done: list[dict[str, Any]]) -> None:
    head = f"{'kind':<10}{'steps':>6}{'select':>14}{'seed':>5}{'cpu s':>8}{'wall s':>8}{'free':>6}{'c10_test':>10}"
    print(f"\n{head}  arch")
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for e in done:
        keys = [e] if e["kind"] == "search" else fors(e)
        key = keys[0]
        kind = e["mode"] if e["kind"] == "search" else f"random/{key['mode']}"
        select = "(all)" if len(keys) > 1 else selected(key["options"])
        free = f"{e['param_free_share']:.2f}" if "param_free_share" in e else "-"
        print(f"{kind:<10}{key['steps']:>6}{select:>14}{e['seed']:>5}{e['cpu_s']:>8.0f}{e['wall_s']:>8.0f}{free:>6}"
              f"{e['c10_test']:>10.2f}  {e['arch']}")
        for k in keys:
            group = groups.setdefault(label({**DiffOptions().to_dict(), **k["options"]}, k["steps"], k["mode"]), {})
            group.setdefault(e["kind"], []).append(e)
    print(f"reference: all nor_conv_3x3 cell {ALL_CONV3}\n")
    print(f"{'configuration':<80}{'seeds':>6}{'cpu s':>7}{'free':>6}{'mean c10':>9}{'random':>8}")
    for name, group in groups.items():
        runs, rnd = group.get("search", []), group.get("random", [])
        if not runs:
            continue
        mean = lambda rows, k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
        rnd_text = f"{mean(rnd, 'c10_test'):8.2f}" if rnd else f"{'-':>8}"
        print(f"{name:<80}{len(runs):>6}{mean(runs, 'cpu_s'):>7.0f}{mean(runs, 'param_free_share'):>6.2f}"
              f"{mean(runs, 'c10_test'):>9.2f}{rnd_text}")


if __name__ == "__main__":
    main()
