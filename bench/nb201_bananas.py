"""Variants of the BANANAS sampler on the NAS-Bench-201 CIFAR-10 table, many seeds, in plain Optuna studies.

Each run: an in-memory study with `BananasSampler(space, seed=seed, **options)`, the objective reads
`c10_valid` of the suggested cell from the table (what a search sees). At each budget (a prefix
of the run) the pick is the best trial by validation; printed: mean +- SE over seeds of the
pick's validation accuracy (what variants are chosen by) and of its test accuracy (`c10_test`,
read once per pick, reported, never selected on). `bench/nb201.py --strategies bananas` runs the
chosen default through the whole pipeline.

    python bench/nb201_bananas.py --variant default={} --variant ucb='{"acquisition": "ucb"}' --seeds 100
    python bench/nb201_bananas.py --variant tpe --trials 100       # stock TPE on the same objective
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "nb201").is_dir()), ROOT.parent / "shared")
OUT = ROOT / "bench" / "results" / "nb201_bananas_variants.json"
BUDGETS = (50, 100, 200)


def one_run(table: Any, index: dict[str, int], options: dict[str, Any] | None, seed: int,
            trials: int) -> dict[str, Any]:
    import optuna

    from nas.search.bananas import BananasSampler

    space = table.space
    sampler = (optuna.samplers.TPESampler(multivariate=True, seed=seed) if options is None
               else BananasSampler(space, seed=seed, **options))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    rows: list[int] = []

    def objective(trial: optuna.Trial) -> float:
        rows.append(index[space.to_string(space.suggest(trial))])
        return float(table.valid[rows[-1]])

    start = time.process_time()
    study.optimize(objective, n_trials=trials)
    out: dict[str, Any] = {"seed": seed, "cpu_s": round(time.process_time() - start, 2),
                           "distinct": len({table.keys[r] for r in rows})}
    for b in BUDGETS:
        if b <= trials:
            pick = max(rows[:b], key=lambda r: table.valid[r])  # first best by validation
            out[f"val@{b}"], out[f"test@{b}"] = float(table.valid[pick]), float(table.test[pick])
    return out


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    row: dict[str, Any] = {"seeds": len(runs), "cpu_s_per_run": round(statistics.mean(r["cpu_s"] for r in runs), 2)}
    for b in BUDGETS:
        for col in ("val", "test"):
            xs = [100 * r[f"{col}@{b}"] for r in runs if f"{col}@{b}" in r]
            if len(xs) > 1:
                row[f"{col}@{b}"] = {"mean": round(statistics.mean(xs), 3),
                                     "se": round(statistics.stdev(xs) / math.sqrt(len(xs)), 3)}
    return row


def main() -> None:
    from predictors.evaluation import load_table

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", action="append", required=True,
                   help="NAME=JSON sampler options (NAME alone: {}); `tpe` is stock multivariate TPE")
    p.add_argument("--seeds", type=int, default=100)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--trials", type=int, default=50)
    p.add_argument("--table", default=str(SHARED / "nb201" / "nb201_cifar10.csv"))
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    import optuna
    import torch

    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    table = load_table(args.table)
    index = {table.space.to_string(a): i for i, a in enumerate(table.archs)}
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {"variants": {}}
    for spec in args.variant:
        name, _, raw = spec.partition("=")
        options = None if name == "tpe" and not raw else json.loads(raw or "{}")
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            runs.append(one_run(table, index, options, seed, args.trials))
        row = summarize(runs)
        key = f"{name}@{args.trials}"
        doc["variants"][key] = {"options": options, "trials": args.trials, "first_seed": args.first_seed,
                                "summary": row, "runs": runs,
                                "command": "python bench/nb201_bananas.py " + " ".join(sys.argv[1:])}
        cells = [f"{b}: valid {row[f'val@{b}']['mean']:.2f} ± {row[f'val@{b}']['se']:.2f}, test "
                 f"{row[f'test@{b}']['mean']:.2f} ± {row[f'test@{b}']['se']:.2f}" for b in BUDGETS if f"val@{b}" in row]
        print(f"{key} {json.dumps(options)}: {'; '.join(cells)}; {row['cpu_s_per_run']} CPU s/run", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
