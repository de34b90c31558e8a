"""`nas export RUN_DIR | --arch preset:NAME|FILE.json`: the network as plain PyTorch (model.py, weights.pt,
arch.json), and `model.pt2` (torch.export) / `model.onnx` with --format."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json
from nas.errors import UserError

SIZE_FLAGS = ("num_classes", "in_channels", "input_size")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("export", help="write a run's network (or an architecture) as stand-alone PyTorch / ONNX")
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR", help="a run directory (nas train or nas search)")
    p.add_argument("--arch", default=None, help="instead of a run: preset:NAME or an architecture JSON file "
                                                "(freshly initialised weights)")
    p.add_argument("--format", default="py", help="comma-separated: py (model.py, the default), pt2 (torch.export), "
                                                  "onnx (needs pip install -e \".[onnx]\"), or module:attr naming "
                                                  "your own format; weights.pt and arch.json are always written")
    p.add_argument("--out", default=None, help="output directory (default RUN_DIR/export, or runs/<arch>-export)")
    p.add_argument("--force", action="store_true", help="replace an existing output directory")
    p.add_argument("--num-classes", type=int, default=None, help="with --arch: classes (default 10)")
    p.add_argument("--in-channels", type=int, default=None, help="with --arch: input channels (default 3)")
    p.add_argument("--input-size", type=int, default=None, help="with --arch: input height = width (default 32)")
    p.add_argument("--no-check", action="store_true", help="skip running model.py in a fresh Python to compare outputs")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.archfile import arch_label, load_arch
    from nas.export import ModelInfo, export, info_from_run, load_run, parse_formats, space_for_run
    from nas.export.exporter import preflight
    from search_spaces.plugins import resolve_space

    formats = parse_formats(args.format)
    given = [f for f in SIZE_FLAGS if getattr(args, f) is not None]
    if (args.run_dir is None) == (args.arch is None):
        raise UserError("pass either a run directory or --arch preset:NAME|FILE.json (one of them)")
    weights = None
    if args.run_dir is not None:
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} comes from the run's config.json; drop it")
        run_info = load_run(Path(args.run_dir))
        space, info = space_for_run(run_info), info_from_run(run_info)
        default_out = run_info.run_dir / "export"
        weights = run_info.weights()
    else:
        for flag in given:
            if getattr(args, flag) < 1:
                raise UserError(f"--{flag.replace('_', '-')} must be a positive integer")
        arch = load_arch(args.arch)
        label = args.arch[len("preset:"):] if args.arch.startswith("preset:") else None
        info = ModelInfo(arch, args.num_classes or 10, args.in_channels or 3, args.input_size or 32, label=label,
                         source=f"--arch {args.arch}")
        space = resolve_space(arch.space)
        default_out = Path("runs") / f"{arch_label(args.arch)}-export"
    out = Path(args.out) if args.out else default_out
    preflight(space, out, formats, args.force)
    if not args.quiet:
        print(f"exporting {info.class_name} ({', '.join(formats)}) to {out} ...", file=sys.stderr)
    result = export(space, info, out, formats, weights=weights, force=args.force, verify=not args.no_check)
    if args.json:
        print_json(result.to_dict())
        return 0
    checks = ", ".join(f"{k} max abs diff {v:.1e}" for k, v in result.checks.items() if v is not None)
    print(f"{result.out}: {', '.join(result.files)} (class {result.class_name})" + (f"; checked: {checks}" if checks
                                                                                     else ""))
    return 0
