"""`nas describe ARCH`: params, MACs, depth and nodes per stage of one architecture."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nas.cli import add_common, print_json
from search_spaces.base import Architecture
from search_spaces.plugins import resolve_space


def add_parser(sub: Any) -> None:
    p = sub.add_parser("describe", help="params, MACs, depth and nodes per stage of an architecture")
    p.add_argument("arch", metavar="ARCH", help="preset:NAME (e.g. preset:resnet-20) or an architecture JSON file")
    p.add_argument("--input-size", type=int, default=32, help="input height = width (default 32)")
    p.add_argument("--in-channels", type=int, default=3, help="input channels (default 3)")
    p.add_argument("--num-classes", type=int, default=10, help="classes (default 10)")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the architecture (one row per stage) to FILE.png")
    add_common(p)
    p.set_defaults(func=run)


def describe_arch(arch: Architecture, num_classes: int, in_channels: int, input_size: int) -> dict[str, Any]:
    space = resolve_space(arch.space)
    shape = space.shape(arch, num_classes, in_channels, input_size)
    info: dict[str, Any] = {"space": arch.space, "key": arch.key(), "params": shape.params, "flops": shape.macs,
                            "input_size": input_size, "in_channels": in_channels, "num_classes": num_classes}
    if hasattr(shape, "stages"):  # the dense space's shape analysis
        info["depth"] = shape.depth
        info["nodes_per_stage"] = [len(st.widths) - 2 for st in shape.stages]
        info["stage_output_channels"] = [st.widths[-1] for st in shape.stages]
        info["stage_output_size"] = [st.sizes[-1] for st in shape.stages]
    return info


def run(args: argparse.Namespace) -> int:
    from nas.archfile import load_arch

    for flag in ("input_size", "in_channels", "num_classes"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be a positive integer")
    arch = load_arch(args.arch)
    info = describe_arch(arch, args.num_classes, args.in_channels, args.input_size)
    if args.plot:
        from nas.report.archplot import draw_arch

        if not args.plot.lower().endswith(".png"):
            raise ValueError(f"--plot {args.plot}: give a .png file name")
        title = args.arch.removeprefix("preset:") if args.arch.startswith("preset:") else None
        info["plot"] = str(draw_arch(arch, args.plot, title=title))
    if args.json:
        print_json(info)
        return 0
    width = max(len(k) for k in info)
    for k, v in info.items():
        v = f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else v
        print(f"{k:<{width}}  {v}", file=sys.stdout)
    return 0
