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

compare: each mode's discretised pick on the ground-truth protocol (bench/ground_truth.py) next to
SMASH's pick and the parameter-matched presets (bench/results/smash_vs_baselines.json, same protocol)
and random search at the same CPU compute over the ground-truth table (`compare`'s docstring).

    nice python bench/differentiable_dense.py memory --batch-size 64
    taskset -c 0 nice python bench/differentiable_dense.py compare --steps 250 --batch-size 64
    NAS_LATENCY_CACHE=/tmp/latcache python bench/differentiable_dense.py latency --budgets 7,9,11,13 [--clock cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
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


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Per mode: the search on the ground truth's data (`?val=0.5`: weights on one half of its TRAINING
    images, architecture parameters on the other; the test split is never read), timed in CPU seconds;
    its discretised pick trained with the ground-truth protocol (`train_one`) for each seed. The mode's
    compute = search CPU + the pick's seed-0 training (its confirmation); random search at that compute:
    best of k by validation among the table's seed-0 architectures, k = compute / the table's median
    training CPU seconds (smash_vs_baselines.random_search, 10,000 draws)."""
    from bench.ground_truth import load_table
    from bench.smash_vs_baselines import DENSENETS, RESNETS, closest_preset, random_search, train_all
    from nas.data import load_dataset
    from nas.search.session import resolve_space
    from search_spaces.base import Architecture
    from search_spaces.dense import preset_genotype, smash_subspace

    rows, table, proto = load_table(args.ground_truth, args.data)
    portable = dict(table[0]["protocol"])
    like_for_like = args.epochs in (None, proto["epochs"])
    proto["epochs"] = portable["epochs"] = args.epochs or proto["epochs"]
    space = resolve_space(args.space)
    table_space = DenseSpace(smash_subspace(space.config))  # the sub-space the ground truth samples
    spec = proto["dataset"] + ("&" if "?" in proto["dataset"] else "?") + "val=0.5"
    data = load_dataset(spec, seed=proto["data_seed"])
    args.run_dir.mkdir(parents=True, exist_ok=True)
    modes = args.modes.split(",")
    searches = {m: search_pick(m, space, data, spec, args) for m in modes}
    archs = {f"{m} pick": Architecture.from_dict(searches[m]["arch"]) for m in modes}

    def params(arch: Architecture) -> int:
        return space.shape(arch, data.num_classes, data.in_channels, data.input_size).params

    base = json.loads(args.baselines.read_text())
    base_ok = base["protocol"] == portable
    refs = dict(base["methods"]) if base_ok else {}
    closest = {m: [closest_preset(f, params(archs[f"{m} pick"]), params) for f in (RESNETS, DENSENETS)] for m in modes}
    if args.train_presets:  # the presets closest to each pick, trained here when the reused ones are not them
        for name in {n for names in closest.values() for n in names} - set(refs):
            archs[name] = Architecture("dense", preset_genotype(name))
    trained = train_all(archs, range(args.seeds), proto, args.run_dir / "candidates.jsonl", args.workers)
    for name in set(archs) - {f"{m} pick" for m in modes}:
        refs[name] = summarise(trained[name], params(archs[name]))
    unit = float(np.median([r["cpu_seconds"] for r in rows if "cpu_seconds" in r]))
    out: dict[str, Any] = {}
    for m in modes:
        arch, runs, s = archs[f"{m} pick"], trained[f"{m} pick"], searches[m]
        total = s["search_cpu_s"] + runs[0]["cpu_seconds"]
        k = max(1, round(total / unit))
        out[m] = {**summarise(runs, params(arch)), "search": s, "total_cpu_s": total, "trainings": total / unit,
                  "in_table_subspace": _member(table_space, arch), **op_shares(space, arch),
                  "closest_presets": closest[m], "random_search": random_search(table, k) if like_for_like else None}
        out[m]["vs"] = {name: difference(out[m], r) for name, r in refs.items()}
        if out[m]["random_search"]:
            out[m]["vs"][f"random search (k={k})"] = difference(out[m], out[m]["random_search"])
    report = {"protocol": portable, "search_dataset": portable["dataset"] + spec[len(proto["dataset"]):],
              "settings": {k: str(v) for k, v in vars(args).items()}, "table_archs": len(table),
              "table_median_train_cpu_s": unit, "modes": out, "references": refs,
              "references_from": None if not base_ok else args.baselines.name,
              "smash": {"trainings": base.get("smash_compute"), "random_search_at_its_compute": random_search(
                  table, int(base.get("budget", 1))) if like_for_like and base_ok else None},
              "subspace": "the supernet searches a subset of the ground truth's sub-space: every stage at max_nodes "
                          "nodes, concatenation merges, the op order orders[0]; gates, widths, kernels, dilations "
                          "and groups are searched, the bottleneck fixed as in SMASH's (bottlenecks=1)"}
    report["verdict"] = verdict(report)
    return report


def search_pick(mode: str, space: Any, data: Any, spec: str, args: argparse.Namespace) -> dict[str, Any]:
    """One search and its discretised pick, timed; kept in the run directory (rerun only when settings change)."""
    from nas.supernets.differentiable.dense_choices import FACTORS

    settings = {"mode": mode, "space": args.space, "dataset": spec, "steps": args.steps,
                "batch_size": args.batch_size, "seed": args.seed}
    record = args.run_dir / f"search_{mode}.json"
    if record.exists() and json.loads(record.read_text())["settings"] == settings:
        return json.loads(record.read_text())
    cpu, wall = time.process_time(), time.perf_counter()
    net = make_supernet(space, mode, data.num_classes, data.in_channels, data.input_size,
                        DiffOptions(batch_size=args.batch_size), args.steps, args.seed)
    fit = net.fit(data, quiet=True)
    arch = net.discretise()
    probs = net.probs()
    out = {"settings": settings, "search_cpu_s": time.process_time() - cpu, "search_wall_s": time.perf_counter() - wall,
           "arch": arch.to_dict(), "final_loss": float(np.mean(net.last_losses[-10:])),
           "mean_gate_prob": float(probs["gates"].mean()),
           "mean_top_prob": {f: float(probs[f].max(1).mean()) for f in FACTORS if f in probs},
           "warmup_steps": DiffOptions(batch_size=args.batch_size).warmup_steps(args.steps),
           "train_images": len(data.split("train")), "val_images": len(data.split("val")), "fit_keys": sorted(fit)}
    record.write_text(json.dumps(out, indent=1))
    print(f"{mode}: {out['search_cpu_s']:.0f} CPU s, pick {arch.key()}", file=sys.stderr)
    return out


def summarise(runs: list[dict[str, Any]], params: int) -> dict[str, Any]:
    from bench.smash_vs_baselines import stats

    return {"params": params, **stats([r["test_accuracy"] for r in runs]), "seeds": [r["seed"] for r in runs],
            "test": [r["test_accuracy"] for r in runs], "val": [r["val_accuracy"] for r in runs],
            "train_cpu_s": [r.get("cpu_seconds") for r in runs]}


def _member(space: DenseSpace, arch: Any) -> bool:
    try:
        space.params_of(arch)
    except ValueError:
        return False
    return True


def op_shares(space: Any, arch: Any) -> dict[str, Any]:
    """The dense space has no parameter-free op (every node is a conv), so that share is 0 by
    construction; the cheap-end drift a collapse would show is the kept optional connections and the
    share of nodes at the smallest width / kernel."""
    from nas.supernets.differentiable.dense_choices import factor_choices, gate_names, nodes_of, picks_in

    picks = picks_in(space, arch)
    gates = [bool(picks[g]) for g in gate_names(space)]
    nodes = nodes_of(space)

    def smallest(f: str) -> float | None:
        names = [(f"s{s}_n{i}_{f}", factor_choices(space, f, s)) for s, i in nodes]
        if any(n not in picks for n, _ in names):
            return None
        return sum(picks[n] == min(c) for n, c in names) / len(names)

    return {"param_free_share": 0.0, "connections_kept": sum(gates) / max(1, len(gates)),
            "smallest_width_share": smallest("width"), "kernel3_share": smallest("kernel")}


def difference(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """a minus b with its standard error sqrt(sd_a^2/n_a + sd_b^2/n_b) (random search: sd over draws, n 1)."""
    se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
    return {"diff": a["mean"] - b["mean"], "se": se, "z": (a["mean"] - b["mean"]) / se if se > 0 else math.nan}


def verdict(report: dict[str, Any]) -> str:
    entries = {f"{m} pick": r["mean"] for m, r in report["modes"].items()}
    entries.update({k: r["mean"] for k, r in report["references"].items()})
    entries.update({f"random search at {m}'s compute": r["random_search"]["mean"] for m, r in report["modes"].items()
                    if r["random_search"]})
    best = max(entries, key=entries.get)
    from bench.smash_vs_baselines import noise_words

    parts = []
    for m, r in report["modes"].items():
        parts.append(f"{m} pick {r['mean']:.3f}: " + ", ".join(
            f"{d['diff']:+.3f} vs {k} ({noise_words(abs(d['z']))})" for k, d in r["vs"].items()))
    return f"{best} wins (mean test {entries[best]:.3f}). " + "; ".join(parts)


def print_compare(report: dict[str, Any]) -> None:
    p = report["protocol"]
    print(f"{p['dataset']}, {p['epochs']} epochs; one training = {report['table_median_train_cpu_s']:.1f} CPU s "
          f"(median of the {report['table_archs']}-architecture table)")
    print("| method | params | test accuracy (mean +- sd, n) | compute (trainings) |\n|---|---|---|---|")
    for m, r in report["modes"].items():
        s = r["search"]
        print(f"| {m} pick ({s['settings']['steps']} steps, batch {s['settings']['batch_size']}, "
              f"{s['search_cpu_s']:.0f} CPU s) | {r['params']:,} | {r['mean']:.3f} +- {r['sd']:.3f} ({r['n']}) "
              f"| {r['trainings']:.1f} |")
    sm = report["smash"]
    for k, r in report["references"].items():
        cost = f"{sm['trainings']:.1f} (wall)" if k == "SMASH pick" and sm["trainings"] else "1"
        print(f"| {k} | {r['params']:,} | {r['mean']:.3f} +- {r['sd']:.3f} ({r['n']}) | {cost} |")
    rs = [("SMASH's compute", sm["random_search_at_its_compute"])] + [
        (f"{m}'s compute", r["random_search"]) for m, r in report["modes"].items()]
    for label, r in rs:
        if r:
            print(f"| random search at {label}, best of {r['used']} by val | (median {r['median_params']:,.0f}) | "
                  f"{r['mean']:.3f} +- {r['sd']:.3f} (5-95%: {r['p5']:.3f}-{r['p95']:.3f}) | {r['used']} |")
    print(f"verdict: {report['verdict']}")


def main(argv: list[str] | None = None) -> Any:
    from bench.ground_truth import DEFAULT_DATA, OUT

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
    c = sub.add_parser("compare", help="each mode's pick on the ground-truth protocol against SMASH, presets, random")
    c.add_argument("--modes", default="darts,gdas,proxyless")
    c.add_argument("--steps", type=int, default=250, help="supernet steps per search")
    c.add_argument("--batch-size", type=int, default=64, help="supernet batch (weights and architecture each)")
    c.add_argument("--seed", type=int, default=0, help="the searches' seed")
    c.add_argument("--seeds", type=int, default=3, help="trainings of each pick (seeds 0..N-1)")
    c.add_argument("--space", default="dense?bottlenecks=1", help="the supernet's sub-space (SMASH's: bottlenecks=1)")
    c.add_argument("--data", type=Path, default=DEFAULT_DATA)
    c.add_argument("--ground-truth", type=Path, default=OUT)
    c.add_argument("--baselines", type=Path, default=RESULTS / "smash_vs_baselines.json")
    c.add_argument("--train-presets", action="store_true", help="train the presets closest to each pick")
    c.add_argument("--epochs", type=int, help="training epochs (default: the protocol's; smoke tests only)")
    c.add_argument("--workers", type=int, default=1)
    c.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench-differentiable-dense-compare")
    c.add_argument("--out", type=Path, default=RESULTS / "differentiable_dense_compare.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.what == "compare":
        if not args.data.exists():
            sys.exit(f"differentiable_dense: {args.data} not found; pass --data PATH to cifar10_subset.npz")
        report = compare(args)
        print_compare(report)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        print(f"wrote {args.out}")
        return report
    rows = memory(args) if args.what == "memory" else latency(args)
    for row in rows:
        print(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"differentiable_dense_{args.what}{'_' + args.clock if args.what == 'latency' else ''}.json"
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    print(f"wrote {out}")
    return rows


if __name__ == "__main__":
    main()
