"""`nas space describe | sample`: the searchable sub-space's size, and random members of it."""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from nas.cli import add_common, print_json
from nas.search.session import resolve_space


def add_parser(sub: Any) -> None:
    p = sub.add_parser("space", help="describe a search space or sample from it")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, parser_class=type(p))
    d = actions.add_parser("describe", help="the searchable sub-space: options and size")
    d.add_argument("--space", default="dense", help="a registered space name or module:attr, with ?key=value options "
                   "(e.g. dense?around=resnet-20; default dense)")
    add_common(d)
    d.set_defaults(func=run_describe)
    s = actions.add_parser("sample", help="print a random architecture of the space as JSON")
    s.add_argument("--space", default="dense", help="a registered space name or module:attr, with ?key=value options "
                   "(e.g. dense?around=resnet-20; default dense)")
    add_common(s, seed=True)
    s.set_defaults(func=run_sample)


def run_describe(args: argparse.Namespace) -> int:
    space = resolve_space(args.space)
    info = space.describe() if hasattr(space, "describe") else {"space": space.name}
    if args.json:
        print_json(info)
        return 0
    print(f"space {info['space']}")
    if "size" in info:
        print(f"size  {info['size']:,} architectures (10^{info.get('log10_size', 0)})")
    for k, v in info.get("config", {}).items():
        print(f"  {k}: {v}")
    return 0


def run_sample(args: argparse.Namespace) -> int:
    space = resolve_space(args.space)
    arch = space.sample(np.random.default_rng(args.seed))
    if args.json:
        print_json(arch.to_dict())
    else:
        print(json.dumps(arch.to_dict(), indent=1, sort_keys=True))
    return 0
