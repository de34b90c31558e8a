"""What in an architecture predicts its ground-truth accuracy? Simple per-stage features of the
ground-truth architectures (bench/ground_truth.py), each ranked against test accuracy alone, and
a leave-one-out ridge regression on all of them (and on the space's raw encoding, for contrast).
A reference point for SMASH's ranking and for the predictor work.

    python bench/ground_truth_features.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import LeaveOneOut, cross_val_predict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import OUT, load_table  # noqa: E402
from predictors.metrics import kendall_tau  # noqa: E402
from search_spaces import Architecture  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402
from search_spaces.dense import smash_subspace as smash_config  # noqa: E402

FEATURES = ("nodes", "mean width", "mean fan-in", "outputs", "pre-activation share", "concat share")


def stage_features(arch: dict) -> list[float]:
    out = []
    for stage in arch["genotype"]["stages"]:
        nodes = stage["nodes"]
        out += [len(nodes), np.mean([n["op"]["width"] for n in nodes]), np.mean([len(n["inputs"]) for n in nodes]),
                len(stage["output"]["inputs"]), np.mean([n["op"]["order"] == "pre" for n in nodes]),
                np.mean([n["merge"] == "concat" for n in nodes])]
    return out


def loo_tau(x: np.ndarray, y: np.ndarray) -> float:
    pred = cross_val_predict(RidgeCV(alphas=np.logspace(-2, 4, 20)), x, y, cv=LeaveOneOut())
    return kendall_tau(pred, y)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ground-truth", type=Path, default=OUT)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ground_truth_features.json")
    args = ap.parse_args()
    _, first, _ = load_table(args.ground_truth)
    test = np.array([r["test_accuracy"] for r in first])
    feats = np.array([stage_features(r["arch"]) for r in first])
    stages = feats.shape[1] // len(FEATURES)
    names = [f"stage {s}: {f}" for s in range(stages) for f in FEATURES]
    single = {n: kendall_tau(feats[:, j], test) for j, n in enumerate(names)}
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    encoding = np.array([space.encode(Architecture.from_dict(r["arch"])) for r in first])
    report = {"n_archs": len(first), "single_feature_kendall": single,
              "ridge_loo_kendall": {f"{len(names)} stage features": loo_tau(feats, test),
                                    f"raw encoding ({encoding.shape[1]} values)": loo_tau(encoding, test)}}
    print(f"Kendall tau against test accuracy, {len(first)} ground-truth architectures")
    for n, t in sorted(single.items(), key=lambda kv: -abs(kv[1])):
        print(f"  {n:<34} {t:+.3f}")
    for n, t in report["ridge_loo_kendall"].items():
        print(f"  ridge, leave-one-out, {n:<22} {t:+.3f}")
    args.out.write_text(json.dumps(report, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
