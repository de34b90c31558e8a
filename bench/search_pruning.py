"""What Hyperband pruning saves in a real `train` search: the same `nas search` (same space, seed,
strategy, data, trials) with `--pruner hyperband` and with `--pruner none`.

Reports, for each: epochs trained (a pruned trial stops early), the evaluator's training seconds
(sum of `cost_s`), wall seconds, and the best architecture's validation and test accuracy.

    python bench/search_pruning.py [--trials 12] [--epochs 4] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = f"npz:{ROOT.parent / 'shared' / 'data' / 'cifar10_subset.npz'}?subset=2000&resolution=16&val=0.2"
OUT = ROOT / "bench" / "results" / "search_pruning.json"


def one(pruner: str, args: argparse.Namespace, runs: Path) -> dict[str, Any]:
    from nas.cli import main

    argv = ["search", "--space", f"{ROOT / 'bench' / 'small_dense.py'}:SPACE", "--evaluator", "train",
            "--dataset", args.dataset, "--epochs", str(args.epochs), "--trials", str(args.trials), "--strategy",
            args.strategy, "--seed", str(args.seed), "--pruner", pruner, "--runs-dir", str(runs), "--name", pruner,
            "--quiet"]
    start = time.perf_counter()
    code = main(argv)
    wall = time.perf_counter() - start
    doc = json.loads((runs / pruner / "results.json").read_text())
    trials = [t for t in doc["trials"] if t["counted"]]
    fresh = [t for t in trials if t["duplicate_of"] is None]
    epochs = [t["result"]["extra"].get("pruned_at_epoch", args.epochs) if t["state"] == "pruned"
              else args.epochs for t in fresh]
    best = doc["best"]
    command = "nas " + " ".join(f"'{a}'" if "?" in a else a for a in argv).replace(str(runs), "runs")
    return {"pruner": pruner, "exit_code": code, "command": command, "counted_trials": len(trials),
            "evaluated": len(fresh), "pruned": sum(t["state"] == "pruned" for t in trials),
            "epochs_trained": sum(epochs), "epochs_without_pruning": len(fresh) * args.epochs,
            "train_seconds": round(sum(t["result"]["cost_s"] for t in fresh), 1), "wall_seconds": round(wall, 1),
            "best_val": best["val_accuracy"], "best_test": best["test_accuracy"], "best_params": best["params"],
            "best_trial": best["trial"], "best_arch_key": best["arch_key"],
            "trials": [{"number": t["number"], "arch_key": t["arch_key"], "state": t["state"], "epochs": e,
                        "val_accuracy": t["result"]["val_accuracy"], "cost_s": round(t["result"]["cost_s"], 2)}
                       for t, e in zip(fresh, epochs)]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--strategy", default="tpe")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", default=DATA)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")
    p.add_argument("--pruners", default="hyperband,none")
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for pruner in args.pruners.split(","):
            rows.append(one(pruner, args, Path(tmp)))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    if len(rows) == 2:  # how the unpruned search's pick fared under pruning
        key = rows[1]["best_arch_key"]
        seen = [t for t in rows[0]["trials"] if t["arch_key"] == key]
        print(f"the {rows[1]['pruner']} search's pick {key}: in the {rows[0]['pruner']} search "
              f"{seen[0]['state'] + ' after ' + str(seen[0]['epochs']) + ' epochs' if seen else 'never proposed'}",
              file=sys.stderr)
    print("| pruner | trials | pruned | epochs trained | train s | wall s | best val | best test |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['pruner']} | {r['counted_trials']} | {r['pruned']} | {r['epochs_trained']} / "
              f"{r['epochs_without_pruning']} | {r['train_seconds']} | {r['wall_seconds']} | {r['best_val']:.4f} | "
              f"{r['best_test']:.4f} |")
    doc = {"rows": rows, "dataset": args.dataset, "epochs": args.epochs, "trials": args.trials,
           "threads": args.threads, "strategy": args.strategy, "seed": args.seed,
           "command": "python bench/search_pruning.py " + " ".join(sys.argv[1:])}
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
