"""How well SMASH scores rank architectures, all in one run, against bench/ground_truth.py's table.

Trains a SMASH supernet on the ground truth's protocol data (same training split), scores every
ground-truth architecture, and reports Kendall tau and Spearman (bootstrap 95% intervals) and
top-5 recall against the trained validation accuracy, next to params-only, MACs-only and an
untrained HyperNet; the noise ceiling (seed 0 vs seed 1 of the reseeded architectures); and the
cost ratio (supernet training + scoring 500 architectures) / (training one candidate from scratch
on the same protocol, measured in this run).

    python bench/smash_correlation.py [--steps 3000] [--sampler uniform]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import DEFAULT_DATA, OUT, train_one  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.smash import Smash, SmashConfig  # noqa: E402
from nas.smash.supernet import smash_config  # noqa: E402
from predictors.metrics import bootstrap_ci, kendall_tau, spearman, top_k_recall  # noqa: E402
from search_spaces import Architecture  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402


def metrics(score: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> dict:
    return {"kendall_tau": kendall_tau(score, truth), "kendall_ci": bootstrap_ci(kendall_tau, score, truth, rng),
            "spearman": spearman(score, truth), "spearman_ci": bootstrap_ci(spearman, score, truth, rng),
            "top5_recall": top_k_recall(score, truth, 5)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--sampler", default="uniform")
    ap.add_argument("--table", type=Path, default=OUT)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "smash_correlation.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in args.table.read_text().splitlines() if line.strip()]
    first = sorted((r for r in rows if r["seed"] == 0), key=lambda r: r["index"])
    if len(first) < 10:
        sys.exit(f"smash_correlation: only {len(first)} ground-truth rows in {args.table}; run bench/ground_truth.py")
    proto = dict(first[0]["protocol"], dataset=first[0]["protocol"]["dataset"].replace(
        "cifar10_subset.npz", str(args.data.resolve())))
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    archs = [Architecture.from_dict(r["arch"]) for r in first]
    truth = np.array([r["val_accuracy"] for r in first])
    rng = np.random.default_rng(0)

    torch.manual_seed(0)
    untrained = Smash(space, data.num_classes, data.in_channels, SmashConfig(steps=1))
    untrained_scores = np.array([untrained.score(a, data) for a in archs])

    t0 = time.perf_counter()
    smash = Smash(space, data.num_classes, data.in_channels, SmashConfig(steps=args.steps, sampler=args.sampler))
    fit = smash.fit(data, quiet=False)
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    extra = [space.sample(np.random.default_rng(1)) for _ in range(max(0, 500 - len(archs)))]
    scores = np.array([smash.score(a, data) for a in archs])
    for a in extra:  # the cost goal is stated for 500 scored architectures
        smash.score(a, data)
    score_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    median = archs[int(np.argsort([r["params"] for r in first])[len(first) // 2])]
    one = train_one((0, 0, median.to_dict(), proto))
    one_s = time.perf_counter() - t2

    table = {"smash": metrics(scores, truth, rng),
             "params": metrics(np.array([r["params"] for r in first], float), truth, rng),
             "macs": metrics(np.array([r["flops"] for r in first], float), truth, rng),
             "untrained_hypernet": metrics(untrained_scores, truth, rng)}
    pairs = {r["index"]: r for r in first}
    second = [r for r in rows if r["seed"] == 1 and r["index"] in pairs]
    ceiling = None
    if len(second) >= 5:
        a = np.array([pairs[r["index"]]["val_accuracy"] for r in second])
        b = np.array([r["val_accuracy"] for r in second])
        ceiling = {"n": len(second), "kendall_tau": kendall_tau(a, b), "spearman": spearman(a, b)}
    cost = {"supernet_train_s": train_s, "score_500_s": score_s, "one_candidate_s": one_s,
            "one_candidate_val_accuracy": one["val_accuracy"],
            "ratio": (train_s + score_s) / one_s}
    print(f"{len(first)} ground-truth architectures ({proto['dataset']}, {proto['epochs']} epochs); "
          f"SMASH {args.steps} steps, sampler {args.sampler}, final loss {fit['final_loss']:.3f}")
    print(f"{'ranker':<20} {'Kendall tau [95% CI]':<26} {'Spearman [95% CI]':<26} {'top-5 recall':>12}")
    for name, m in table.items():
        print(f"{name:<20} {m['kendall_tau']:+.3f} [{m['kendall_ci'][0]:+.2f}, {m['kendall_ci'][1]:+.2f}]      "
              f"{m['spearman']:+.3f} [{m['spearman_ci'][0]:+.2f}, {m['spearman_ci'][1]:+.2f}]      "
              f"{m['top5_recall']:>12.2f}")
    if ceiling:
        print(f"noise ceiling (seed 0 vs seed 1, {ceiling['n']} archs): Kendall tau {ceiling['kendall_tau']:+.3f}, "
              f"Spearman {ceiling['spearman']:+.3f}")
    print(f"cost: supernet {train_s:.0f} s + scoring 500 archs {score_s:.0f} s vs one candidate {one_s:.0f} s: "
          f"ratio {cost['ratio']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"n_archs": len(first), "steps": args.steps, "sampler": args.sampler,
                                    "table": table, "noise_ceiling": ceiling, "cost": cost, "protocol": proto,
                                    "threads": args.threads}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
