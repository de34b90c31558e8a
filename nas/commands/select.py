"""`nas select RUN_DIR --max-latency-ms X ...`: the run's most accurate candidate that meets every
limit, latency and memory measured on this device (see `nas.select`). Exit 1 when none does."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json
from nas.commands.latency import add_reanchor, add_settings, positive_float, positive_int, settings_from


def add_parser(sub: Any) -> None:
    p = sub.add_parser("select", help="the most accurate candidate of a run under measured limits")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a finished run directory (runs/<name>)")
    p.add_argument("--max-latency-ms", type=positive_float, default=None,
                   help="measured median + 2 IQR must be at most this (ms)")
    p.add_argument("--max-params", type=positive_int, default=None, help="at most this many parameters")
    p.add_argument("--max-flops", type=positive_int, default=None, help="at most this many MACs")
    p.add_argument("--max-memory-mb", type=positive_float, default=None,
                   help="peak inference memory (weights + activations), MiB")
    add_settings(p, "the run's dataset, else 32x32x3")
    add_reanchor(p)
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.errors import UserError
    from nas.select import Constraints, read_run, run_inputs, select_measured
    from predictors.latency import default_cache_dir, load_predictor
    from search_spaces.plugins import resolve_space

    constraints = Constraints(args.max_latency_ms, args.max_params, args.max_flops, args.max_memory_mb)
    if all(v is None for v in constraints.to_dict().values()):
        raise UserError("give at least one limit: --max-latency-ms, --max-params, --max-flops or --max-memory-mb")
    run_dir = Path(args.run_dir).expanduser()
    candidates = read_run(run_dir)
    settings = settings_from(args, run_inputs(run_dir))
    spaces = {c.arch.space for c in candidates}
    predictor = None
    if constraints.max_latency_ms is not None and len(spaces) == 1:
        cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
        predictor = load_predictor(resolve_space(spaces.pop()), settings, cache, reanchor=args.reanchor)
    sel = select_measured(candidates, constraints, settings, predictor)
    if any(c.metric == "score" for c in candidates):
        sel.notes.append("the run holds no validation accuracies (a proxy evaluator's, retrained by none): "
                         "candidates are ranked by their score")
    if predictor is not None:
        sel.notes.append(f"latency predictor {predictor.profile.fingerprint}: {predictor.describe_anchor()}")
    doc = {"run_dir": str(run_dir), "candidates": len(candidates),
           "predictor": None if predictor is None else predictor.profile.fingerprint,
           "predictor_anchor": None if predictor is None else predictor.anchor, **sel.to_dict()}
    if args.json:
        print_json(doc)
    else:
        _print(doc, args.quiet)
    if sel.selected is None:
        if args.json:
            print("nas select: no candidate meets the limits (closest listed in the JSON)", file=sys.stderr)
        return 1
    return 0


def _row(c: dict[str, Any]) -> str:
    pred = "" if c["predicted_latency_ms"] is None else f", predicted {c['predicted_latency_ms']:.3f} ms"
    mem = "" if c["memory_mb"] is None else f", {c['memory_mb']:.1f} MiB"
    first = f"val {c['val_accuracy']:.4f}" if c["val_accuracy"] is not None else f"score {c['score']:+.4f}"
    return (f"trial {c['trial']} {c['arch_key']}: {first}, measured {c['measured_latency_ms']:.3f} "
            f"ms (IQR {c['measured_iqr_ms']:.3f}, median + 2 IQR {c['measured_bound_ms']:.3f}){mem}{pred}")


def _print(doc: dict[str, Any], quiet: bool) -> None:
    if not quiet:
        for note in doc["notes"]:
            print(f"note: {note}", file=sys.stderr)
        print(f"{doc['candidates']} candidates; {doc['over_static_limits']} over the params / MACs limits, "
              f"{doc['skipped_by_predictor']} skipped as predicted far over the latency limit, "
              f"{len(doc['measured'])} measured", file=sys.stderr)
    if doc["selected"] is not None:
        print("selected " + _row(doc["selected"]))
        return
    print("no candidate meets the limits; closest:")
    for c in doc["closest"]:
        print("  " + _row(c))
