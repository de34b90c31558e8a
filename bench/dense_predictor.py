"""A first look at the learned predictor on the dense space's trained ground truth.

Reads `bench/results/ground_truth.jsonl` (one line per trained architecture and seed; seeds of one
architecture averaged), and for `--repeats` random splits fits the predictor (graph features +
params/MACs; no proxies or SMASH score yet) on `--train` architectures and ranks the rest against
their test accuracy (test accuracy as the target for evaluating a predictor only; a search-time
predictor never sees it). Small counts: read it as a first measurement, not the benchmark.

    python bench/dense_predictor.py --ground-truth ../main/bench/results/ground_truth.jsonl --train 60
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from predictors.metrics import kendall_tau  # noqa: E402
from predictors.predictor import AccuracyPredictor, PredictorConfig  # noqa: E402
from search_spaces import Architecture, default_space  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ground-truth", default=str(ROOT / "bench" / "results" / "ground_truth.jsonl"))
    p.add_argument("--train", type=int, default=60)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--model", default="gbm")
    p.add_argument("--features", default="onehot,path,graf,params")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "dense_predictor.json"))
    args = p.parse_args()
    space = default_space("dense")
    by_key: dict[str, list[dict]] = {}
    for line in Path(args.ground_truth).read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if r.get("test_accuracy") is not None and r.get("val_accuracy") is not None:
                by_key.setdefault(r["key"], []).append(r)
    keys = sorted(by_key)
    archs = [Architecture.from_dict(by_key[k][0]["arch"]) for k in keys]
    val = np.array([np.mean([r["val_accuracy"] for r in by_key[k]]) for k in keys])
    test = np.array([np.mean([r["test_accuracy"] for r in by_key[k]]) for k in keys])
    if len(keys) < args.train + 10:
        raise SystemExit(f"only {len(keys)} architectures; need --train + 10")
    taus, taus_val, params_taus = [], [], []
    features = tuple(args.features.split(","))
    for seed in range(args.repeats):
        perm = np.random.default_rng(seed).permutation(len(keys))
        tr, te = perm[:args.train], perm[args.train:]
        pred = AccuracyPredictor(space, PredictorConfig(space="dense", model=args.model, features=features, seed=seed))
        mean, _ = pred.fit([archs[i] for i in tr], val[tr]).predict([archs[i] for i in te])
        taus.append(kendall_tau(mean, test[te]))
        taus_val.append(kendall_tau(mean, val[te]))
        params_taus.append(kendall_tau(np.array([by_key[keys[i]][0]["params"] for i in te]), test[te]))
    doc = {"architectures": len(keys), "records": sum(map(len, by_key.values())), "train": args.train,
           "held_out": len(keys) - args.train, "repeats": args.repeats, "model": args.model, "features": features,
           "kendall_tau_test": float(np.mean(taus)), "kendall_tau_test_stderr": float(np.std(taus, ddof=1) /
                                                                                        np.sqrt(len(taus))),
           "kendall_tau_val": float(np.mean(taus_val)), "params_only_kendall_tau_test": float(np.mean(params_taus))}
    print(json.dumps(doc, indent=1))
    Path(args.out).write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
