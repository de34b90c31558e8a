"""The learned predictor on the dense space's trained ground truth: graph features, proxies, SMASH score.

Reads whatever rows a ground-truth table holds now (`bench/ground_truth.py`; one line per trained
architecture and seed, seeds of one architecture averaged) and the per-architecture scores of
`bench/dense_scores.py` (zero-cost proxies at initialisation on training images, and one seed-0
SMASH supernet's score and its two terms). For `--repeats` random splits it fits a predictor on
`--train` architectures (fewer when the table cannot also hold `--min-held` held-out ones: the
train size used is reported) and ranks the rest against their TEST accuracy (test accuracy only
evaluates predictors; the predictor learns the `--target`, by default the validation accuracy a
search sees). Kendall tau: mean over splits, its standard error and the 2.5-97.5% range of the
splits, next to SMASH's score alone, params alone and each proxy alone on the same held-out sets.

Feature groups: the graph groups of `predictors.graph_encodings` (`onehot`, `path`, `graf`,
`params`), `stage` (per-stage node count, width, fan-in, outputs, pre-activation and concat
shares: `bench/ground_truth_features.py`), `zc` (the five proxies), `smash` (the score, minus the
loss, NASWOT on the supernet; with `--smash-scores`, those of every supernet in that
`bench/smash_correlation.py` JSON, which scored the whole table with the same supernets), and
`curve` (multi-fidelity, reported separately: the validation accuracy after each of the first
`--curve-epochs` epochs of the architecture's own training; only rows that recorded a curve).
Baselines on the same held-out sets: params, SMASH alone (the mean of the supernets' z-scored
scores), each proxy alone, and the architecture's own final validation accuracy (what a search
that trained every architecture fully would rank by).

    python bench/dense_predictor.py --ground-truth ../main/bench/results/ground_truth.jsonl
    python bench/dense_predictor.py --set gbm:graf,params,zc,smash --set rf:stage,smash --train 100
    python bench/dense_predictor.py --smash-scores bench/results/smash_correlation_gt200.json --set gbm:stage,curve
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dense_scores import SCORES_OUT  # noqa: E402
from bench.ground_truth import OUT, read_rows  # noqa: E402
from bench.ground_truth_features import stage_features  # noqa: E402
from predictors.graph_encodings import FEATURE_GROUPS, GraphEncoder  # noqa: E402
from predictors.metrics import kendall_tau  # noqa: E402
from predictors.models import make_model  # noqa: E402
from predictors.proxies import PROXIES, proxy_feature  # noqa: E402
from search_spaces import Architecture  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402
from search_spaces.dense import smash_subspace as smash_config  # noqa: E402

SMASH_COLS = ("smash", "smash_loss", "smash_naswot")
GROUPS = (*FEATURE_GROUPS, "stage", "zc", "smash", "curve")
DEFAULT_SETS = ("gbm:graf,params", "gbm:graf,params,zc,smash", "gbm:stage,params,zc,smash", "rf:stage,params,zc,smash",
                "gp:stage,params,zc,smash", "ensemble:stage,params,zc,smash")


def load(ground_truth: Path, scores: Path, smash_scores: Path | None = None) -> dict:
    """Architectures with both a test and a validation accuracy (seeds averaged) and, where
    `scores` has them, their proxy and SMASH columns; with `smash_scores`, the SMASH columns of
    every supernet in that JSON instead (its score lists follow the table's seed-0 index order)."""
    by_key: dict[str, list[dict]] = {}
    for r in read_rows(ground_truth):
        if r.get("test_accuracy") is not None and r.get("val_accuracy") is not None:
            by_key.setdefault(r["key"], []).append(r)
    extra = {r["key"]: r for r in read_rows(scores)} if scores.is_file() else {}
    keys = sorted(by_key)
    rows = [by_key[k] for k in keys]
    smash = None
    if smash_scores is not None:
        order = [r["key"] for r in sorted((r for r in read_rows(ground_truth) if r["seed"] == 0),
                                          key=lambda r: r["index"])]
        doc = json.loads(smash_scores.read_text())
        if doc.get("n_archs") != len(order):
            raise SystemExit(f"{smash_scores} scored {doc.get('n_archs')} architectures, the table holds {len(order)}")
        cols = [np.array(v["scorings"][c]["scores"], float) for v in doc["variants"].values()
                for c in ("rule", "loss alone", "naswot alone")]
        at = {k: i for i, k in enumerate(order)}
        smash = np.array([[c[at[k]] for c in cols] for k in keys])
    curves = [rs[0].get("val_curve") for rs in rows]
    return {"keys": keys, "smash_cols": smash, "curves": curves,
            "archs": [Architecture.from_dict(rs[0]["arch"]) for rs in rows],
            "arch_dicts": [rs[0]["arch"] for rs in rows],
            "test": np.array([np.mean([r["test_accuracy"] for r in rs]) for rs in rows]),
            "val": np.array([np.mean([r["val_accuracy"] for r in rs]) for rs in rows]),
            "val_last3": np.array([np.mean([np.mean(r.get("val_curve", [r["val_accuracy"]])[-3:]) for r in rs])
                                   for rs in rows]),
            "params": np.array([float(rs[0]["params"]) for rs in rows]),
            "records": sum(map(len, rows)), "scores": [extra.get(k) for k in keys]}


def extra_columns(data: dict, groups: list[str]) -> np.ndarray:
    cols: list[list[float]] = [[] for _ in data["keys"]]
    for i, s in enumerate(data["scores"]):
        if "stage" in groups:
            cols[i] += [float(v) for v in stage_features(data["arch_dicts"][i])]
        if "zc" in groups:  # an unscored row (not in the pool when scores are used) is all NaN
            cols[i] += [proxy_feature(p, float(s[p])) if s and s[p] is not None else float("nan") for p in PROXIES]
        if "smash" in groups:
            cols[i] += (data["smash_cols"][i].tolist() if data["smash_cols"] is not None
                        else [float(s[c]) if s else float("nan") for c in SMASH_COLS])
        if "curve" in groups:
            cols[i] += list(data["curves"][i][:data["curve_epochs"]]) if data["curves"][i] else \
                [float("nan")] * data["curve_epochs"]
    x = np.array(cols, dtype=np.float64).reshape(len(cols), -1)
    # a proxy undefined for an architecture (e.g. a singular NASWOT kernel) reads as the column's worst
    worst = np.nanmin(np.where(np.isfinite(x), x, np.nan), axis=0) if x.size else x
    return np.where(np.isfinite(x), x, worst)


def parse_set(text: str) -> tuple[str, list[str]]:
    model, _, feats = text.partition(":")
    groups = [g for g in feats.split(",") if g]
    bad = [g for g in groups if g not in GROUPS]
    if not groups or bad:
        raise SystemExit(f"--set {text!r}: MODEL:GROUP,GROUP,... with groups from {', '.join(GROUPS)}")
    return model, groups


def interval(taus: list[float]) -> dict:
    t = np.array(taus)
    return {"mean": float(t.mean()), "stderr": float(t.std(ddof=1) / np.sqrt(len(t))) if len(t) > 1 else 0.0,
            "range_95": [float(np.percentile(t, 2.5)), float(np.percentile(t, 97.5))], "per_split": t.tolist()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ground-truth", type=Path, default=OUT)
    p.add_argument("--scores", type=Path, default=SCORES_OUT, help="bench/dense_scores.py's table")
    p.add_argument("--train", type=int, default=100)
    p.add_argument("--min-held", type=int, default=30, help="held-out architectures kept at least")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--target", choices=("val", "val_last3", "test"), default="val",
                   help="what the predictor learns (test: an upper reference, not a search-time predictor)")
    p.add_argument("--set", action="append", help="MODEL:GROUPS, repeatable (default: a fixed list)")
    p.add_argument("--smash-scores", type=Path, help="bench/smash_correlation.py's JSON on the same table")
    p.add_argument("--curve-epochs", type=int, default=3, help="epochs of the `curve` group")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "dense_predictor.json")
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)
    data = load(args.ground_truth, args.scores, args.smash_scores)
    data["curve_epochs"] = args.curve_epochs
    scored = np.array([s is not None for s in data["scores"]])
    sets = [parse_set(s) for s in (args.set or DEFAULT_SETS)]
    needs_scores = any(g in ("zc", "smash") for _, gs in sets for g in gs)
    usable = scored.copy() if needs_scores else np.ones(len(scored), bool)
    if any("curve" in gs for _, gs in sets):
        usable &= np.array([bool(c) and len(c) >= args.curve_epochs for c in data["curves"]])
    pool = np.flatnonzero(usable)
    n_train = min(args.train, len(pool) - args.min_held)
    if n_train < 10:
        raise SystemExit(f"only {len(pool)} usable architectures; need --train + --min-held")
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    y_all, test = data[args.target], data["test"]
    results: dict[str, dict] = {}
    baselines: dict[str, list[float]] = {"params": [], "own final val accuracy": [],
                                         **{f"{c} alone": [] for c in ("smash", *PROXIES)}}
    smash_alone = (np.mean([(c - c.mean()) / c.std() for c in data["smash_cols"].T[::3]], axis=0)
                   if data["smash_cols"] is not None else None)
    for name, groups in sets:
        taus, cpu = [], 0.0
        for seed in range(args.repeats):
            perm = np.random.default_rng(seed).permutation(pool)
            tr, te = perm[:n_train], perm[n_train:]
            t0 = time.process_time()
            enc = GraphEncoder(space, [g for g in groups if g in FEATURE_GROUPS])
            archs = data["archs"]
            enc.fit([archs[i] for i in tr])
            x = np.concatenate([enc.transform(archs), extra_columns(data, groups)], axis=1)
            model = make_model(name, seed=seed).fit(x[tr], y_all[tr])
            taus.append(kendall_tau(model.predict(x[te])[0], test[te]))
            cpu += time.process_time() - t0
            if not results and needs_scores:  # baselines once, on the same held-out sets
                baselines["params"].append(kendall_tau(data["params"][te], test[te]))
                baselines["own final val accuracy"].append(kendall_tau(data["val"][te], test[te]))
                for c in ("smash", *PROXIES):
                    v = np.array([np.nan if data["scores"][i][c] is None else float(data["scores"][i][c]) for i in te])
                    if c == "smash" and smash_alone is not None:
                        v = smash_alone[te]
                    ok = np.isfinite(v)
                    baselines[f"{c} alone"].append(kendall_tau(v[ok], test[te][ok]))
        key = f"{name}:{','.join(groups)}"
        results[key] = {**interval(taus), "cpu_s_per_split": round(cpu / args.repeats, 2)}
        r = results[key]
        print(f"{key:<40} Kendall (test) {r['mean']:+.3f} ± {r['stderr']:.3f} "
              f"[{r['range_95'][0]:+.2f}, {r['range_95'][1]:+.2f}]  {r['cpu_s_per_split']} CPU s/split", flush=True)
    base = {k: interval(v) for k, v in baselines.items() if v}
    for k, r in base.items():
        print(f"{k:<40} Kendall (test) {r['mean']:+.3f} ± {r['stderr']:.3f} "
              f"[{r['range_95'][0]:+.2f}, {r['range_95'][1]:+.2f}]")
    doc = {"architectures": len(data["keys"]), "records": data["records"], "with_scores": int(scored.sum()),
           "train": n_train, "held_out": len(pool) - n_train, "repeats": args.repeats, "target": args.target,
           "smash_scores": str(args.smash_scores) if args.smash_scores else None, "curve_epochs": args.curve_epochs,
           "results": results, "baselines": base,
           "command": "python bench/dense_predictor.py " + " ".join(sys.argv[1:])}
    print(f"{len(data['keys'])} architectures ({int(scored.sum())} with scores); train {n_train}, "
          f"held out {len(pool) - n_train}, {args.repeats} splits, target {args.target}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
