"""Differentiable search on the dense space (issue 18): memory of a search step, and the hard
latency budget end to end.

memory: peak memory of one search step (an architecture step on a validation batch, then a weight
step on a training batch, each forward + backward) of the dense supernet in each mode, against one
training step (forward + backward) of the discretised network at the same batch. Peak = parameters
+ gradients + the input + the largest total of live tensors the step's ops create (counted on the
CPU by `nas.latency`'s dispatch-mode tracker: deterministic, not timed).

latency: `nas search --space dense --strategy MODE --max-latency-ms B` for several budgets B: the
supernet keeps its expected latency under B at every step, the argmax is repaired under B by the
predictor, the confirm stage retrains it and measures it (median + 2 IQR <= B, or the search says
no candidate met the budget). Needs a cached batch-1 latency profile (`NAS_LATENCY_CACHE`) for the
clock (`nas latency profile --space dense --batch-size 1 --threads 1 [--clock cpu]`). Not niced: a
niced process is preempted more, which is what a wall-clock latency measurement sees.

    nice python bench/differentiable_dense.py memory --batch-size 64
    NAS_LATENCY_CACHE=/tmp/latcache python bench/differentiable_dense.py latency --budgets 7,9,11,13 [--clock cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from nas.supernets.differentiable import DiffOptions, make_supernet  # noqa: E402
from search_spaces.dense.space import DenseSpace  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def peak_mb(fn: Any, static: list[torch.Tensor]) -> float:
    from nas.latency import _peak_tracker

    tracker = _peak_tracker()
    with tracker:
        fn()
    return (sum(t.numel() * t.element_size() for t in static) + tracker.peak) / 2**20


def memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    space = DenseSpace()
    b, r = args.batch_size, 32
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(b, 3, r, r, generator=gen), torch.randint(0, 10, (b,), generator=gen)
    rows = []
    arch = None
    for mode in ("darts", "gdas", "proxyless"):
        net = make_supernet(space, mode, 10, 3, r, DiffOptions(), 10, 0)
        arch = arch or net.discretise()
        params = [*net.net.parameters(), *net.arch_parameters()]

        def step(net: Any = net) -> None:
            g = torch.Generator().manual_seed(1)
            F.cross_entropy(net(x, arch_step=True, tau=10.0, generator=g), y).backward()
            F.cross_entropy(net(x, arch_step=False, tau=10.0, generator=g), y).backward()

        rows.append({"what": f"{mode} search step", "peak_mb": peak_mb(step, [*params, *params, x]),
                     "params": sum(p.numel() for p in net.net.parameters())})
    for name, a in (("argmax", arch), ("widest", _widest(space))):
        model = space.build(a, 10, 3, r)
        model.train()
        ps = list(model.parameters())
        rows.append({"what": f"train step, {name} network", "peak_mb": peak_mb(
            lambda m=model: F.cross_entropy(m(x), y).backward(), [*ps, *ps, x]), "params": sum(p.numel() for p in ps)})
    base = rows[3]["peak_mb"]
    for row in rows:
        row["x_argmax_train_step"] = round(row["peak_mb"] / base, 2)
    return rows


def _widest(space: DenseSpace) -> Any:
    """Every gate on, every node at its largest choices: the most memory an architecture of the sub-space takes."""
    c = space.config
    return space.from_choices(lambda name, choices: True if choices == (False, True) else c.max_nodes
                              if name.endswith("_nodes") else "concat" if name.endswith("_merge") else
                              choices[0] if name.endswith("_order") else max(choices) if name.endswith(
                                  ("_width", "_kernel", "_bottleneck")) else choices[0])


def latency(args: argparse.Namespace) -> list[dict[str, Any]]:
    from nas.cli import main

    rows = []
    for budget in [float(v) for v in args.budgets.split(",")]:
        name = f"dense_{args.mode.split('?')[0]}_{budget:g}ms_{args.clock}"
        run = Path(args.runs_dir) / name
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # the command's JSON: results.json has it
            code = main(["search", "--space", args.space, "--strategy", args.mode, "--dataset", args.dataset,
                         "--supernet-steps", str(args.steps), "--trials", str(args.trials),
                         "--epochs", str(args.epochs), "--evaluator", "train", "--max-latency-ms", f"{budget:g}",
                         "--latency-clock", args.clock, "--threads", "1", "--runs-dir", args.runs_dir,
                         "--name", name, "--quiet", "--json"])
        wall = time.perf_counter() - start
        fit = json.loads((run / "supernet.json").read_text())
        traj = json.loads((run / "arch_trajectory.json").read_text())
        res = json.loads((run / "results.json").read_text())
        entries = res.get("confirmation") or []
        measured = [(e.get("latency_ms"), e.get("latency_iqr_ms")) for e in entries]
        picked = res.get("best") or {}
        rows.append({"budget_ms": budget, "exit": code, "wall_s": round(wall, 1),
                     "max_expected_ms_over_steps": max(t["expected_latency_ms"] for t in traj),
                     "argmax_predicted_ms": fit.get("argmax_predicted_ms"), "repairs": fit.get("repairs"),
                     "pick_predicted_ms": fit.get("predicted_latency_ms"),
                     "confirmed_keys": [e.get("arch_key") for e in entries],
                     "confirmed_measured": measured,
                     "pick_bound_ms": None if not picked.get("latency_ms") else
                     picked["latency_ms"] + 2 * (picked.get("latency_iqr_ms") or 0.0),
                     "pick_val_accuracy": picked.get("val_accuracy"),
                     "pick_test_accuracy": picked.get("test_accuracy")})
        if entries:  # a reference beside the guarantee: the thread's CPU time (no preemption by other processes)
            from nas.latency import LatencySettings, measure_arch
            from nas.search.session import resolve_space
            from search_spaces.base import Architecture

            arch = next(t["arch"] for t in res["trials"] if t.get("arch_key") == entries[0]["arch_key"])
            m = measure_arch(Architecture.from_dict(arch), LatencySettings(clock="cpu", repeats=30),
                             resolve_space(args.space))
            rows[-1]["cpu_clock_median_iqr_ms"] = (m.latency_ms, m.iqr_ms)
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    m = sub.add_parser("memory")
    m.add_argument("--batch-size", type=int, default=64)
    la = sub.add_parser("latency")
    la.add_argument("--budgets", default="7,9,11,13")
    la.add_argument("--clock", default="wall", choices=("wall", "cpu"), help="nas search --latency-clock")
    la.add_argument("--mode", default="gdas")
    la.add_argument("--space", default="dense")
    la.add_argument("--dataset", default="npz:../shared/data/cifar10_subset.npz?subset=1000&val=0.5")
    la.add_argument("--steps", type=int, default=100)
    la.add_argument("--trials", type=int, default=2)
    la.add_argument("--epochs", type=int, default=1)
    la.add_argument("--runs-dir", default="/tmp/dsup_bench_runs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = memory(args) if args.what == "memory" else latency(args)
    for row in rows:
        print(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"differentiable_dense_{args.what}{'_' + args.clock if args.what == 'latency' else ''}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
