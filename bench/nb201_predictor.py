"""Learned accuracy predictor on the NAS-Bench-201 CIFAR-10 table (the `nas predictor evaluate` protocol).

For each training-set size and seed: 1,000 held-out cells, training cells from the canonical forms
no held-out cell has (`predictors.evaluation.split`), fit on c10_valid, Kendall tau of the held-out
ranking against c10_valid and c10_test; beside the params-only ranking (no training) and, on the
cells of the proxy table, each zero-cost proxy alone and the predictor with proxies as features.

    python bench/nb201_predictor.py                       # sizes 20 50 100 200 500, 10 seeds, gbm
    python bench/nb201_predictor.py --models gbm,rf --sizes 100 --seeds 5
    python bench/nb201_predictor.py --proxies-only        # the proxy-table part only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = next((p / "shared" for p in ROOT.parents if (p / "shared" / "nb201").is_dir()), ROOT.parent / "shared")

from predictors.evaluation import load_table, run_protocol, split  # noqa: E402
from predictors.features import ProxyTable  # noqa: E402
from predictors.metrics import kendall_tau  # noqa: E402
from predictors.predictor import AccuracyPredictor, PredictorConfig  # noqa: E402
from predictors.proxies import PROXIES  # noqa: E402

FEATURES = ("path", "graf", "params")


def baseline(table: Any, score: np.ndarray, sizes: list[int], seeds: int, universe: np.ndarray | None,
             n_test: int) -> dict[str, float]:
    taus, tests = [], []
    for seed in range(seeds):
        _, test = split(table, sizes[0], seed, n_test, universe)
        taus.append(kendall_tau(score[test], table.valid[test]))
        tests.append(kendall_tau(score[test], table.test[test]))
    return {"kendall_tau": float(np.mean(taus)), "kendall_tau_test": float(np.mean(tests))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=str(SHARED / "nb201" / "nb201_cifar10.csv"))
    p.add_argument("--proxies", default=str(ROOT / "bench" / "results" / "nb201_proxies.csv"))
    p.add_argument("--sizes", default="20,50,100,200,500")
    p.add_argument("--models", default="gbm")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    p.add_argument("--features", default=",".join(FEATURES), help="feature groups of the curve (graph features only)")
    p.add_argument("--params", default="{}", help="fixed model hyperparameters as JSON (skip their tuning)")
    p.add_argument("--proxies-only", action="store_true")
    p.add_argument("--curve-only", action="store_true", help="skip the proxy-table part")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "nb201_predictor.json"))
    args = p.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    features = tuple(f for f in args.features.split(",") if f)
    fixed = json.loads(args.params)
    table = load_table(args.table)
    params = np.array([np.log(table.space.shape(a).params) for a in table.archs])
    doc: dict[str, Any] = {"seeds": args.seeds, "held_out": 1000, "target": "c10_valid", "features": list(FEATURES)}
    curve = "curve" if features == FEATURES and not fixed else f"curve:{','.join(features)}{args.params * bool(fixed)}"
    curve += f"@seeds{args.first_seed}-{args.first_seed + args.seeds - 1}" if args.first_seed else ""
    out = Path(args.out)
    if out.is_file():
        doc = {**json.loads(out.read_text()), **doc}
    if not args.proxies_only:
        doc["params_only"] = baseline(table, params, sizes, args.seeds, None, 1000)
        print(f"params only: Kendall {doc['params_only']['kendall_tau']:.3f} "
              f"(test {doc['params_only']['kendall_tau_test']:.3f})", flush=True)
        for model in args.models.split(","):
            for n in sizes:
                t0 = time.process_time()
                r = run_protocol(table, lambda s, m=model: AccuracyPredictor(
                    table.space, PredictorConfig(model=m, features=features, seed=s, params=fixed)), n,
                    range(args.first_seed, args.first_seed + args.seeds))
                r["cpu_s_per_seed"] = round((time.process_time() - t0) / args.seeds, 2)
                doc.setdefault(curve, {}).setdefault(model, {})[str(n)] = r
                print(f"{curve} {model} n={n}: Kendall {r['kendall_tau']:.3f} ± {r['kendall_tau_stderr']:.3f} "
                      f"(test {r['kendall_tau_test']:.3f}), Spearman {r['spearman']:.3f}, top-5% recall "
                      f"{r['top_recall']:.2f}, coverage 1/2 std {r['coverage_1std']:.2f}/{r['coverage_2std']:.2f}, "
                      f"{r['cpu_s_per_seed']} CPU s/seed", flush=True)
                out.write_text(json.dumps(doc, indent=1) + "\n")
    if Path(args.proxies).is_file() and not args.curve_only:
        doc["proxy_table"] = proxy_part(table, ProxyTable(args.proxies), params, args.seeds)
        out.write_text(json.dumps(doc, indent=1) + "\n")


def proxy_part(table: Any, proxies: ProxyTable, params: np.ndarray, seeds: int) -> dict[str, Any]:
    """On the cells of the proxy table, with and without the disconnected cells (all 341 share one
    canonical form, which is in the table: with them, any score that puts them last gains a lot)."""
    in_table = np.array([proxies.key(table.space, a) in proxies for a in table.archs])
    z: dict[str, Any] = {"canonical_cells": len(proxies.values)}
    for name, universe in (("with_disconnected", in_table), ("without_disconnected", in_table & ~table.disconnected)):
        size = int(universe.sum())
        n_test, n_train = min(1000, size // 3), min(100, size // 3)
        r: dict[str, Any] = {"cells": size, "held_out": n_test, "train_size": n_train}
        for k, proxy in enumerate(PROXIES):
            score = np.array([proxies.lookup(table.space, a)[k] if u else np.nan
                              for a, u in zip(table.archs, universe, strict=True)])
            r[proxy] = baseline(table, score, [n_train], seeds, universe, n_test)
        r["params"] = baseline(table, params, [n_train], seeds, universe, n_test)
        for feats in (FEATURES, (*FEATURES, "zc"), ("params", "zc")):
            res = run_protocol(table, lambda s, f=feats: AccuracyPredictor(
                table.space, PredictorConfig(model="gbm", features=f, seed=s), proxies), n_train, range(seeds),
                n_test, universe)
            r["gbm:" + ",".join(feats)] = {k: v for k, v in res.items() if k != "per_seed"}
        for k, v in r.items():
            if isinstance(v, dict):
                print(f"proxy cells, {name}: {k}: Kendall {v['kendall_tau']:.3f} (test {v['kendall_tau_test']:.3f})",
                      flush=True)
        z[name] = r
    return z

if __name__ == "__main__":
    main()
