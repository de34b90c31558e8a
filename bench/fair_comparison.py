"""A search's pick against the parameter-matched presets and random search at equal compute (issue #21).

In one process, on one machine, measured in this run:
1. the search (`--space`, `--strategy`, `--evaluator`, `--trials` trials at the proxy setting:
   `--proxy-epochs` epochs), timed end to end (wall seconds S);
2. random search over the same space with the train evaluator at the same proxy setting, given the
   same wall time S (it stops at the first trial boundary after S; its own time is reported too);
3. the final training, longer than the proxy (`--final-epochs`), `--seeds` seeds each, of: the
   search's `--finalists` best architectures by proxy accuracy (the first is the pick), random
   search's pick, and the ResNet and DenseNet-BC presets closest in parameters to the pick;
4. the report: test accuracy mean and standard deviation per network; the pick minus each baseline
   with its standard error (sqrt(sd1^2/n1 + sd2^2/n2)) and whether it exceeds two; the search's
   cost in final trainings of each preset; and whether the proxy's ranking of the finalists holds
   under the final training (Kendall tau of proxy against final validation accuracy, and whether
   the proxy's top finalist is the final top).

`--budget tiny|small|gt|full` sets the scale (individual flags override it); `gt` is the ground-
truth protocol (5,000 images at 16x16, 10 epochs) for both the proxy and the final training;
`full` the same data with a 30-epoch final training and 100 trials, meant for a machine with a GPU
(`--device cuda`). The JSON goes to bench/results/fair_comparison_<budget>.json.

    python bench/fair_comparison.py --budget small [--data ../shared/data/imagenette_32.npz]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = next((d / "shared" / "data" / "cifar10_subset.npz" for d in (ROOT.parent, ROOT.parent.parent)
             if (d / "shared" / "data").exists()), ROOT.parent / "shared" / "data" / "cifar10_subset.npz")
RESNETS = [f"resnet-{d}" for d in (8, 14, 20, 26, 32, 38, 44, 56)]
DENSENETS = [f"densenet-bc-{6 * n + 4}-{k}" for n in range(1, 9) for k in range(4, 25)]
CLEAR = 2.0  # standard errors
BUDGETS: dict[str, dict[str, int]] = {
    "tiny": {"images": 200, "proxy_epochs": 1, "final_epochs": 1, "trials": 4, "seeds": 2, "finalists": 2},
    "small": {"images": 1000, "proxy_epochs": 2, "final_epochs": 4, "trials": 10, "seeds": 3, "finalists": 3},
    # the ground truth's protocol (bench/ground_truth.py: 5,000 images at 16x16, 10 epochs) as proxy and final
    # training, so the presets' numbers compare with bench/smash_vs_baselines.py's; 8 trials of `inherit`
    # seeded with one preset measured 4.4-5.1 of its trainings (children that remove something train from scratch)
    "gt": {"images": 5000, "proxy_epochs": 10, "final_epochs": 10, "trials": 8, "seeds": 3, "finalists": 2},
    "full": {"images": 5000, "proxy_epochs": 10, "final_epochs": 30, "trials": 100, "seeds": 3, "finalists": 3},
}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--budget", choices=sorted(BUDGETS), default="small")
    for name in BUDGETS["small"]:
        ap.add_argument(f"--{name.replace('_', '-')}", type=int, help=f"overrides the budget's {name}")
    ap.add_argument("--data", default=str(DATA), help="an .npz file, or any --dataset spec (e.g. synthetic?...)")
    ap.add_argument("--resolution", type=int, default=16)
    ap.add_argument("--space", default="dense")
    ap.add_argument("--strategy", default="evolution")
    ap.add_argument("--evaluator", default="inherit")
    ap.add_argument("--init", help="the search's first trials, e.g. preset:densenet-bc-40-12 (random search gets none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=1, help="processes for the final trainings (one per core)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    if args.workers < 1 or args.threads < 1:
        ap.error("--workers and --threads must be at least 1")
    for name, value in BUDGETS[args.budget].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.out = args.out or ROOT / "bench" / "results" / f"fair_comparison_{args.budget}.json"
    return args


def dataset_spec(args: argparse.Namespace) -> str:
    if args.data.endswith(".npz"):
        return f"npz:{Path(args.data).resolve()}?subset={args.images}&resolution={args.resolution}"
    return args.data


def timed_search(config: Any, deadline_s: float | None = None) -> tuple[Any, float]:
    from nas.search import Search

    search = Search.in_memory(config)
    t0, c0 = time.perf_counter(), time.process_time()
    search.evaluate(None if deadline_s is None else time.monotonic() + deadline_s)
    search.cpu_s = time.process_time() - c0  # the measure of cost that other processes' load does not inflate
    return search, time.perf_counter() - t0


def ranked(search: Any) -> list[tuple[Any, float]]:
    """(architecture, proxy validation accuracy) of the study's distinct complete trials, best first."""
    from optuna.trial import TrialState

    from search_spaces import Architecture

    seen, out = set(), []
    trials = search.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for t in sorted(trials, key=lambda t: -float(t.value)):
        if t.user_attrs["arch_key"] not in seen:
            seen.add(t.user_attrs["arch_key"])
            out.append((Architecture.from_dict(t.user_attrs["arch"]), float(t.value)))
    return out


def final_run(job: tuple[str, dict[str, Any], str, int, argparse.Namespace]) -> dict[str, Any]:
    """One final training from scratch (a worker process's job: it loads the data itself)."""
    import torch

    from nas.build import seeded_model
    from nas.data import load_dataset
    from nas.search.session import resolve_space
    from nas.training import TrainConfig, train
    from search_spaces import Architecture

    space_spec, arch_dict, spec, seed, args = job
    torch.set_num_threads(args.threads)
    space, data, arch = resolve_space(space_spec), load_dataset(spec, seed=0), Architecture.from_dict(arch_dict)
    model = seeded_model(space, arch, data.num_classes, data.in_channels, data.input_size, seed)
    cfg = TrainConfig(epochs=args.final_epochs, seed=seed, device=args.device, quiet=True)
    t0, c0 = time.perf_counter(), time.process_time()
    r = train(model, data, cfg, test=True)
    return {"seed": seed, "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
            "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}


def final_training(archs: dict[str, Any], args: argparse.Namespace, spec: str) -> dict[str, list[dict[str, Any]]]:
    """Every network of `archs` trained with every seed, on `--workers` processes."""
    jobs = [(args.space, arch.to_dict(), spec, 1000 + seed, args)
            for arch in archs.values() for seed in range(args.seeds)]
    if args.workers > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.workers) as pool:
            runs = pool.map(final_run, jobs, chunksize=1)
    else:
        runs = [final_run(job) for job in jobs]
    return {name: runs[i * args.seeds:(i + 1) * args.seeds] for i, name in enumerate(archs)}


def matched(space: Any, params: Any, target: int, family: list[str]) -> tuple[str, Any]:
    from search_spaces import Architecture
    from search_spaces.dense.presets import preset_genotype

    name = min(family, key=lambda n: abs(math.log(params(Architecture("dense", preset_genotype(n))) / target)))
    return name, Architecture("dense", preset_genotype(name))


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    test = [r["test_accuracy"] for r in runs]
    return {"mean": float(np.mean(test)), "sd": float(np.std(test, ddof=1)) if len(test) > 1 else 0.0,
            "n": len(test), "val_mean": float(np.mean([r["val_accuracy"] for r in runs])),
            "train_wall_s": float(np.mean([r["wall_s"] for r in runs])),
            "train_cpu_s": float(np.mean([r["cpu_s"] for r in runs])), "runs": runs}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    import torch
    from scipy.stats import kendalltau

    from nas.data import load_dataset
    from nas.search import SearchConfig
    from nas.search.session import resolve_space

    args = parse(argv)
    torch.set_num_threads(args.threads)
    spec = dataset_spec(args)
    common = {"space": args.space, "dataset": spec, "epochs": args.proxy_epochs, "seed": args.seed, "confirm": 0,
              "device": args.device}
    # warm-up outside the timed parts: the imports, the file read and torch's first passes, which
    # would otherwise fall on whichever search runs first
    timed_search(SearchConfig(strategy="random", evaluator="train", trials=1, **{**common, "epochs": 1}))
    # 1. the search; 2. random search at the same wall time
    search, search_s = timed_search(SearchConfig(strategy=args.strategy, evaluator=args.evaluator,
                                                 trials=args.trials, init=args.init, **common))
    rand, random_s = timed_search(SearchConfig(strategy="random", evaluator="train", trials=1_000_000, **common),
                                  deadline_s=search_s)
    finalists = ranked(search)[:args.finalists]
    random_pick = ranked(rand)[0]
    # 3. the final training
    space = resolve_space(args.space)
    data = load_dataset(spec, seed=0)

    def params(arch: Any) -> int:
        return int(space.shape(arch, data.num_classes, data.in_channels, data.input_size).params)

    pick = finalists[0][0]
    networks: dict[str, tuple[Any, float | None]] = {"search pick": finalists[0]}
    networks.update({f"finalist {i + 1}": f for i, f in enumerate(finalists[1:], start=1)})
    networks["random search pick"] = random_pick
    for family in (RESNETS, DENSENETS):
        name, arch = matched(space, params, params(pick), family)
        networks[name] = (arch, None)
    trained = final_training({name: arch for name, (arch, _) in networks.items()}, args, spec)
    methods = {}
    for name, (arch, proxy) in networks.items():
        methods[name] = {"params": params(arch), "proxy_val": proxy, "arch": arch.to_dict(), **summarize(trained[name])}
        print(f"  {name}: test {methods[name]['mean']:.3f} ± {methods[name]['sd']:.3f}", file=sys.stderr, flush=True)
    # 4. the report
    p = methods["search pick"]
    baselines = [n for n in methods if not n.startswith(("search pick", "finalist"))]
    differences = {}
    for name in baselines:
        m = methods[name]
        se = math.sqrt(p["sd"] ** 2 / p["n"] + m["sd"] ** 2 / m["n"])
        diff = p["mean"] - m["mean"]
        differences[name] = {"difference": diff, "se": se, "z": diff / se if se > 0 else None,
                             "beyond_noise": bool(se > 0 and diff / se > CLEAR)}
    presets = [n for n in baselines if n.startswith(("resnet", "densenet"))]
    best_preset = max(presets, key=lambda n: methods[n]["mean"])
    fin = [methods[n] for n in methods if n.startswith(("search pick", "finalist"))]
    tau = float(kendalltau([f["proxy_val"] for f in fin], [f["val_mean"] for f in fin]).statistic) \
        if len(fin) > 1 else math.nan
    tau = None if math.isnan(tau) else tau  # one finalist, or ties everywhere
    report = {
        "budget": args.budget, "scale": {k: getattr(args, k) for k in BUDGETS["small"]}, "dataset": spec,
        "space": args.space, "strategy": args.strategy, "evaluator": args.evaluator, "init": args.init,
        "device": args.device,
        "threads": args.threads, "search_wall_s": search_s, "search_trials": args.trials,
        "random_wall_s": random_s, "random_trials": len(ranked(rand)),
        "search_cpu_s": search.cpu_s, "random_cpu_s": rand.cpu_s,
        "search_cost_in_preset_trainings": {n: search_s / methods[n]["train_wall_s"] for n in presets},
        "search_cost_in_preset_trainings_cpu": {n: search.cpu_s / methods[n]["train_cpu_s"] for n in presets},
        "methods": methods, "differences": differences, "best_preset": best_preset,
        "goal_met": differences[best_preset]["beyond_noise"]
        and search.cpu_s <= 3 * methods[best_preset]["train_cpu_s"],
        "ranking": {"kendall_proxy_vs_final_val": tau,
                    "top_holds": max(fin, key=lambda f: f["val_mean"]) is fin[0]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print_table(report)
    print(f"wrote {args.out}")
    return report


def print_table(r: dict[str, Any]) -> None:
    s = r["scale"]
    print(f"{r['dataset']}; proxy {s['proxy_epochs']} epochs, final {s['final_epochs']} epochs x {s['seeds']} seeds; "
          f"{r['strategy']} + {r['evaluator']}: {r['search_trials']} trials in {r['search_wall_s']:.0f} s; "
          f"random search: {r['random_trials']} trials in {r['random_wall_s']:.0f} s")
    print(f"{'network':<26} {'params':>9} {'proxy val':>9} {'final test':>16} {'pick minus it':>22}")
    for name, m in r["methods"].items():
        d = r["differences"].get(name)
        proxy = "" if m["proxy_val"] is None else f"{m['proxy_val']:.3f}"
        diff = "" if d is None else f"{d['difference']:+.3f} ± {d['se']:.3f}" + (" *" if d["beyond_noise"] else "")
        print(f"{name:<26} {m['params']:>9,} {proxy:>9} {m['mean']:>9.3f} ± {m['sd']:.3f} {diff:>22}")
    cost = ", ".join(f"{n}: {c:.1f} (CPU s: {r['search_cost_in_preset_trainings_cpu'][n]:.1f})"
                     for n, c in r["search_cost_in_preset_trainings"].items())
    rk = r["ranking"]
    tau = "n/a" if rk["kendall_proxy_vs_final_val"] is None else f"{rk['kendall_proxy_vs_final_val']:.2f}"
    print(f"search cost in final trainings of each preset: {cost}")
    print(f"finalists: Kendall tau proxy vs final val {tau}; proxy's top is the final top: {rk['top_holds']}")
    print(f"goal (pick > best preset {r['best_preset']} by > {CLEAR:g} SE at <= 3 of its trainings): "
          f"{'met' if r['goal_met'] else 'NOT met'}  (* = beyond {CLEAR:g} SE)")


if __name__ == "__main__":
    main()
