"""`nas report RUN_DIR [--compare RUN_DIR ...]`: write RUN_DIR/report.md and its plots."""

from __future__ import annotations

import argparse
from typing import Any

from nas.cli import add_common, print_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser("report", help="write report.md and plots (search curve, Pareto front, scores, the pick)")
    p.add_argument("run_dir", metavar="RUN_DIR", help="a run directory nas search wrote (runs/NAME)")
    p.add_argument("--compare", nargs="+", default=[], metavar="RUN_DIR",
                   help="other runs whose search curves are overlaid (plots/compare.png)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.report import write_report

    path = write_report(args.run_dir, args.compare)
    plots = sorted(str(p) for p in (path.parent / "plots").glob("*.png"))
    if args.json:
        print_json({"report": str(path), "plots": plots})
    elif not args.quiet:
        print(path)
    return 0
