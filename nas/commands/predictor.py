"""`nas predictor evaluate | fit`: the learned accuracy predictor on a NAS-Bench-201 table or a run.

    nas predictor evaluate --space nb201 --evaluator tabular:TABLE.csv --train-size 100 --seeds 10 --json
    nas predictor fit --space nb201 --evaluator tabular:TABLE.csv --train-size 200 --out pred.json
    nas predictor fit --space dense --evaluator runs/my_search --out pred.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np

from nas.cli import add_common, print_json
from search_spaces import Architecture

DEFAULT_PROXIES = Path(__file__).resolve().parents[2] / "bench" / "results" / "nb201_proxies.csv"


def _model_args(p: argparse.ArgumentParser) -> None:
    from predictors.models import MODELS

    p.add_argument("--space", default="nb201", help="a registered space name or module:attr (default nb201)")
    p.add_argument("--evaluator", required=True, help="tabular:TABLE.csv (NAS-Bench-201 style), or a run directory "
                   "(fit only)")
    p.add_argument("--model", default="gbm", help=f"regressor: {', '.join(MODELS)} (default gbm), or module:attr "
                                                   "naming your own")
    p.add_argument("--features", default="path,graf,params",
                   help="comma-separated: onehot, path, graf, params, zc, zc:NAME, lowfi (default path,graf,params)")
    p.add_argument("--proxies", default=None, help=f"proxy table for zc features (default {DEFAULT_PROXIES.name} "
                   "from bench/results when it exists)")
    p.add_argument("--train-size", type=int, default=100, help="training architectures (default 100)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("predictor", help="fit and evaluate the learned accuracy predictor")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    e = actions.add_parser("evaluate", help="rank held-out NB201 cells after training on a few (means over seeds)")
    _model_args(e)
    e.add_argument("--seeds", type=int, default=5, help="seeds 0..K-1, each a different split (default 5)")
    e.add_argument("--held-out", type=int, default=1000, help="held-out cells (default 1000)")
    e.add_argument("--disconnected", choices=("both", "include", "exclude"), default="both",
                   help="with and/or without the 341 disconnected cells (default both)")
    add_common(e)
    e.set_defaults(func=run_evaluate)
    f = actions.add_parser("fit", help="fit a predictor and write it as a JSON file (refitted on load)")
    _model_args(f)
    f.add_argument("--out", required=True, help="the predictor file to write (JSON)")
    add_common(f, seed=True)
    f.set_defaults(func=run_fit)


def _table_path(evaluator: str) -> str:
    if not evaluator.startswith("tabular:"):
        raise ValueError(f"--evaluator {evaluator}: use tabular:TABLE.csv (a NAS-Bench-201 style table)")
    return evaluator.removeprefix("tabular:").partition("?")[0]


def _proxies(args: argparse.Namespace, features: tuple[str, ...]) -> Any:
    from predictors.features import ProxyTable

    if not any(f.startswith("zc") for f in features):
        return None
    path = args.proxies or (DEFAULT_PROXIES if DEFAULT_PROXIES.is_file() else None)
    if path is None:
        raise ValueError("zc features need a proxy table: --proxies FILE (bench/nb201_proxies.py writes one)")
    return ProxyTable(path)


def run_evaluate(args: argparse.Namespace) -> int:
    from predictors.evaluation import load_table, run_protocol
    from predictors.features import parse_features
    from predictors.models import make_model
    from predictors.predictor import AccuracyPredictor, PredictorConfig

    if args.space.partition("?")[0] != "nb201":
        raise ValueError("nas predictor evaluate runs the NAS-Bench-201 protocol: use --space nb201")
    if args.seeds < 1 or args.train_size < 4:
        raise ValueError("need --seeds >= 1 and --train-size >= 4")
    features = parse_features(args.features)
    make_model(args.model)  # a bad --model fails here, before any work
    table = load_table(_table_path(args.evaluator))
    proxies = _proxies(args, features)
    low = {a.key(): v for a, v in zip(table.archs, table.low, strict=True)}
    universe = np.ones(len(table.archs), bool)
    if proxies is not None:  # only cells whose proxies were computed
        universe &= np.array([proxies.key(table.space, a) in proxies for a in table.archs])

    def make(seed: int) -> AccuracyPredictor:
        config = PredictorConfig(space="nb201", model=args.model, features=features, seed=seed)
        return AccuracyPredictor(table.space, config, proxies, low_fidelity=lambda a: low[a.key()])

    out: dict[str, Any] = {"space": "nb201", "model": args.model, "features": list(features),
                           "train_size": args.train_size, "seeds": args.seeds, "held_out": args.held_out,
                           "target": "c10_valid", "universe_cells": int(universe.sum())}
    runs = {"include": universe, "exclude": universe & ~table.disconnected}
    for name in ("include", "exclude") if args.disconnected == "both" else (args.disconnected,):
        if not args.quiet:
            print(f"evaluating ({name} disconnected cells) over {args.seeds} seed(s)...", file=sys.stderr)
        r = run_protocol(table, make, args.train_size, range(args.seeds), args.held_out, runs[name])
        if name == "exclude" and args.disconnected == "both":
            out["without_disconnected"] = r
        else:
            out.update(r)
            out["disconnected"] = name
    if args.json:
        print_json(out)
    else:
        for label, r in (("all cells", out), ("without disconnected", out.get("without_disconnected"))):
            if r and "kendall_tau" in r:
                print(f"{label:22s} Kendall {r['kendall_tau']:.3f} (test {r['kendall_tau_test']:.3f})  Spearman "
                      f"{r['spearman']:.3f}  top-5% recall {r['top_recall']:.3f}  coverage 1/2 std "
                      f"{r['coverage_1std']:.2f}/{r['coverage_2std']:.2f}")
    return 0


def _run_dir_data(path: Path) -> tuple[list[Architecture], list[float]]:
    results = path / "results.json"
    if not results.is_file():
        raise FileNotFoundError(f"{path} has no results.json: pass a finished run directory or tabular:TABLE.csv")
    try:
        doc = json.loads(results.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{results} is not valid JSON ({e})") from None
    archs, ys = [], []
    for t in doc.get("trials", []):
        val = (t.get("result") or {}).get("val_accuracy")
        if t.get("state") == "complete" and t.get("arch") and val is not None and math.isfinite(val) \
                and not t.get("duplicate_of"):
            archs.append(Architecture.from_dict(t["arch"]))
            ys.append(float(val))
    if len(archs) < 4:
        raise ValueError(f"{path} has {len(archs)} complete trials with a validation accuracy; a predictor needs >= 4")
    return archs, ys


def run_fit(args: argparse.Namespace) -> int:
    from predictors.evaluation import load_table
    from predictors.features import parse_features
    from predictors.predictor import AccuracyPredictor, PredictorConfig
    from search_spaces.plugins import resolve_space

    features = parse_features(args.features)
    space = resolve_space(args.space)
    low_spec = None
    if args.evaluator.startswith("tabular:"):
        table_path = _table_path(args.evaluator)
        table = load_table(table_path)
        if space.name != "nb201":
            raise ValueError("a tabular evaluator answers NAS-Bench-201 cells: use --space nb201")
        ok = np.flatnonzero(np.isfinite(table.valid))
        if not 4 <= args.train_size <= len(ok):
            raise ValueError(f"--train-size must be between 4 and {len(ok)}")
        idx = np.random.default_rng(args.seed).choice(ok, size=args.train_size, replace=False)
        archs, ys = [table.archs[i] for i in idx], table.valid[idx].tolist()
        low_spec = str(Path(table_path).resolve())
    else:
        if "lowfi" in features:
            raise ValueError("feature lowfi needs --evaluator tabular:TABLE.csv")
        archs, ys = _run_dir_data(Path(args.evaluator))
    proxies = _proxies(args, features)
    config = PredictorConfig(space=args.space, model=args.model, features=features, seed=args.seed,
                             proxies=str(proxies.path.resolve()) if proxies else None,
                             low_fidelity=low_spec if "lowfi" in features else None)
    predictor = AccuracyPredictor(space, config, proxies).fit(archs, ys)
    predictor.save(args.out)
    info = {"out": str(args.out), "train_size": len(archs), "model": predictor.model.config(),
            "cv_kendall": getattr(predictor.model, "cv_kendall", None)}
    if args.json:
        print_json(info)
    elif not args.quiet:
        print(f"wrote {args.out}: {args.model} on {len(archs)} architectures (CV Kendall {info['cv_kendall']:.3f})")
    return 0
