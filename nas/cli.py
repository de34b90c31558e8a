"""`nas` command line: one grammar for every command (see DESIGN.md, "Conventions").

Each command lives in `nas/commands/<name>.py` with `add_parser(subparsers)` that registers it
and sets `func`, a function of the parsed arguments returning an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from nas.errors import StorageLost, UserError

COMMANDS = ("describe", "space", "train", "search", "worker", "export", "report", "runs", "predictor", "latency",
            "select")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse prints usage too)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = _Parser(prog="nas", description="Neural architecture search over dense connectivity spaces.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"nas.commands.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2)
        return int(e.code or 0)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for run records
    try:
        return int(args.func(args) or 0)
    except (UserError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError) as e:
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"nas {args.command}: error: {message}", file=sys.stderr)
        return 2
    except StorageLost as e:  # the database went away mid-search: one line, exit 1, --resume continues
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"nas {args.command}: interrupted", file=sys.stderr)
        return 130


def print_json(obj: Any) -> None:
    """Exactly one JSON object on stdout."""
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def add_common(p: argparse.ArgumentParser, *, json_flag: bool = True, seed: bool = False) -> None:
    if json_flag:
        p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    if seed:
        p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


def entry() -> None:
    try:
        code = main()
        sys.stdout.flush()  # inside the try: a closed pipe otherwise fails at exit, with a traceback
    except BrokenPipeError:  # `nas ... | head`: the reader has gone, so stop quietly as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        code = 141  # 128 + SIGPIPE, what a shell reports for `yes | head`
    sys.exit(code)
