"""`nas worker RUN_DIR`: join a run's study from another process or machine.

The worker rebuilds the search from RUN_DIR/config.json (the storage URL included: with
`--storage postgresql://...` other machines need only that file) and runs trials until the study
holds --trials counted ones. Workers never evaluate an architecture another one has evaluated or
is evaluating, and together they stop at exactly --trials. A supernet run (SMASH) takes workers
once its supernet is fitted; the confirmation stage is left to `nas search` (or `--resume`).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from nas.cli import add_common


def add_parser(sub: Any) -> None:
    p = sub.add_parser("worker", help="join a search run's study from another process or machine")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run directory nas search created (runs/NAME)")
    p.add_argument("--seed", type=int, default=None,
                   help="this worker's sampler seed (default: the run's seed mixed with the process id)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", default="auto",
                   help="CPU threads for torch: N, or auto = the cores not already busy (default auto)")
    add_common(p)
    p.set_defaults(func=run, timeout=None)


def run(args: argparse.Namespace) -> int:
    from nas.cli_run import execute, set_threads
    from nas.hardware import resolve_device
    from nas.search import Search, derive_seed, read_config

    config = read_config(Path(os.path.expanduser(args.run_dir)))
    seed = args.seed if args.seed is not None else derive_seed(config.seed, "worker", os.getpid(), time.time_ns())
    device = resolve_device(args.device) if args.device != "auto" else None
    search = Search.join(args.run_dir, seed, quiet=args.quiet, device=device)
    set_threads(args.threads, search.config)
    return execute(search, args, confirm=False)
