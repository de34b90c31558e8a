"""Search strategies on the NAS-Bench-201 CIFAR-10 table: the registered strategies, run through the
same pipeline as `nas search` (`nas.search.Search.in_memory(config).evaluate()`).

For each strategy and seed, one 200-trial search; 50 and 100 are its prefixes. At each budget the
best architecture by validation accuracy (c10_valid, 200 epochs) among the counted trials so far is
picked, and its test accuracy (c10_test) is read once. Printed: mean +- standard error over seeds,
in percent, with stock-Optuna reference numbers (30 seeds) and whether ours is within 2 SE: of ours
alone, and two-sample (the reference's SE estimated from our per-seed spread over 30 seeds).

    python bench/nb201.py                                   # random evolution tpe nsga2 qmc, 30 seeds
    python bench/nb201.py --strategies gp --seeds 10        # GP is slow (minutes per 200-trial run)
    python bench/nb201.py --merge                           # add to the existing JSON instead of replacing
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from multiprocessing import Pool
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLE = ROOT.parent / "shared" / "nb201" / "nb201_cifar10.csv"
OUT = ROOT / "bench" / "results" / "nb201.json"
BUDGETS = (50, 100, 200)
# Stock Optuna and a reference regularized evolution, 30 seeds (test accuracy %, at 50 / 100 / 200).
REF_SEEDS = 30
REFERENCE = {"random": (93.57, 93.77, 93.89), "evolution": (93.88, 94.04, 94.28), "tpe": (94.11, 94.25, 94.35)}

_evaluator: Any = None


def _init(table: str) -> None:
    global _evaluator
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)  # GP: one core per process
    except ImportError:
        pass
    from nas.evaluators.tabular import TabularEvaluator

    _evaluator = TabularEvaluator(table)


def one_run(job: tuple[str, int, int]) -> dict[str, Any]:
    from nas.search import Search, SearchConfig, best_trial, is_counted
    from search_spaces import Architecture

    strategy, seed, trials = job
    config = SearchConfig(space="nb201", evaluator="tabular", strategy=strategy, trials=trials, seed=seed)
    search = Search.in_memory(config, evaluator=_evaluator)
    start = time.perf_counter()
    stats = search.evaluate()  # the pipeline's propose -> evaluate stage, in an in-memory study
    seconds = time.perf_counter() - start
    counted = sorted((t for t in search.study.get_trials(deepcopy=False) if is_counted(t)), key=lambda t: t.number)
    assert len(counted) == trials
    out: dict[str, Any] = {"strategy": strategy, "seed": seed, "seconds": round(seconds, 2),
                           "duplicates": stats.duplicates, "evaluated": stats.evaluated}
    for budget in BUDGETS:
        if budget > trials:
            continue
        best = best_trial(counted[:budget])
        result = _evaluator.test(Architecture.from_dict(best.user_attrs["arch"]))
        out[f"val@{budget}"] = result.val_accuracy
        out[f"test@{budget}"] = result.test_accuracy
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["strategy"], []).append(r)
    table: dict[str, Any] = {}
    for strategy, rs in by.items():
        row: dict[str, Any] = {"seeds": len(rs), "seconds_per_run": round(statistics.mean(r["seconds"] for r in rs), 2)}
        for b in BUDGETS:
            xs = [100 * r[f"test@{b}"] for r in rs if f"test@{b}" in r]
            if not xs:
                continue
            se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
            row[str(b)] = {"mean": round(statistics.mean(xs), 3), "se": round(se, 3)}
        if strategy in REFERENCE:
            ref = REFERENCE[strategy]
            row["reference"] = list(ref)
            budgets = [(str(b), r) for b, r in zip(BUDGETS, ref) if str(b) in row]
            # ours alone: |mean - reference| <= 2 * (our SE)
            row["within_2se"] = all(abs(row[b]["mean"] - r) <= 2 * row[b]["se"] for b, r in budgets)
            # two-sample: the reference is itself a 30-seed mean; its SE is estimated as our per-seed
            # standard deviation / sqrt(30), and z = (ours - reference) / sqrt(SE_ours^2 + SE_ref^2)
            row["z"] = {}
            for b, r in budgets:
                sd = row[b]["se"] * math.sqrt(row["seeds"])
                row["z"][b] = round((row[b]["mean"] - r) / math.hypot(row[b]["se"], sd / math.sqrt(REF_SEEDS)), 2)
            row["within_2se_two_sample"] = all(abs(z) <= 2 for z in row["z"].values())
        table[strategy] = row
    return table


def print_table(table: dict[str, Any]) -> None:
    budgets = " | ".join(f"{b} trials" for b in BUDGETS)
    head = f"| strategy | seeds | {budgets} | s / run | reference | z vs reference | within 2 SE: ours / two-sample |"
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for strategy, row in table.items():
        cells = [f"{row[str(b)]['mean']:.2f} ± {row[str(b)]['se']:.2f}" if str(b) in row else "-" for b in BUDGETS]
        ref = " / ".join(f"{x:.2f}" for x in row["reference"]) if "reference" in row else "-"
        z = " / ".join(f"{x:+.1f}" for x in row["z"].values()) if "z" in row else "-"
        yes = {True: "yes", False: "NO"}
        ok = f"{yes[row['within_2se']]} / {yes[row['within_2se_two_sample']]}" if "reference" in row else "-"
        print(f"| {strategy} | {row['seeds']} | {' | '.join(cells)} | {row['seconds_per_run']} | {ref} | {z} | {ok} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", default="random,evolution,tpe,nsga2,qmc")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--processes", type=int, default=2)
    p.add_argument("--table", default=str(TABLE))
    p.add_argument("--out", default=str(OUT))
    p.add_argument("--merge", action="store_true", help="keep other strategies' runs already in --out")
    p.add_argument("--summarize-only", action="store_true", help="recompute and print the tables of --out")
    args = p.parse_args()
    if args.summarize_only:
        doc = json.loads(Path(args.out).read_text())
        doc["table"] = summarize(doc["runs"])
        doc["table_seeds_0_29"] = summarize([r for r in doc["runs"] if r["seed"] < 30])
        print_table(doc["table"])
        print("\nseeds 0-29 only (the reference's seed count):")
        print_table(doc["table_seeds_0_29"])
        Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")
        return
    strategies = [s for s in args.strategies.split(",") if s]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(s, seed, args.trials) for s in strategies for seed in seeds]
    start = time.perf_counter()
    with Pool(min(args.processes, 2), initializer=_init, initargs=(args.table,)) as pool:
        runs = []
        for i, r in enumerate(pool.imap_unordered(one_run, jobs), 1):
            runs.append(r)
            print(f"[{i}/{len(jobs)}] {r['strategy']} seed {r['seed']}: test@{args.trials} "
                  f"{100 * r[f'test@{args.trials}']:.2f} ({r['seconds']} s)", file=sys.stderr, flush=True)
    out = Path(args.out)
    command = "python bench/nb201.py " + " ".join(sys.argv[1:])
    commands = {s: [command] for s in strategies}
    if args.merge and out.is_file():
        old = json.loads(out.read_text())
        new = {(s, seed) for s, seed, _ in jobs}
        runs = [r for r in old["runs"] if (r["strategy"], r["seed"]) not in new] + runs
        for s, cmds in old.get("commands", {}).items():
            commands[s] = [c for c in cmds if c != command] + commands.get(s, [])
    runs.sort(key=lambda r: (r["strategy"], r["seed"]))
    table = summarize(runs)
    print_table(table)
    first30 = [r for r in runs if r["seed"] < 30]
    table30 = summarize(first30) if len(first30) < len(runs) else table
    if table30 is not table:
        print("\nseeds 0-29 only (the reference's seed count):")
        print_table(table30)
    import optuna

    doc = {"table": table, "table_seeds_0_29": table30, "runs": runs, "trials": args.trials, "budgets": list(BUDGETS),
           "last_wall_seconds": round(time.perf_counter() - start, 1), "optuna": optuna.__version__,
           "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
           "commands": commands}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
