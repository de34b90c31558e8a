"""`nas worker RUN_DIR`: join a run's study from another process or machine.

The worker rebuilds the search from RUN_DIR/config.json (the storage URL included: with
`--storage postgresql://...` other machines need only that file), runs trials until the study
holds --trials counted ones, then writes results.json. Workers never evaluate an architecture
another one has evaluated or is evaluating, and together they stop at exactly --trials.
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
    p.add_argument("--threads", default="auto",
                   help="CPU threads for torch: N, or auto = the cores not already busy (default auto)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.commands.search import execute, set_threads
    from nas.search import derive_seed, open_search, read_config

    run_dir = Path(os.path.expanduser(args.run_dir))
    config = read_config(run_dir)
    if config.evaluator.startswith("train"):
        set_threads(args.threads)
    seed = args.seed if args.seed is not None else derive_seed(config.seed, "worker", os.getpid(), time.time_ns())
    search = open_search(config, run_dir, create=False, sampler_seed=seed, quiet=args.quiet)
    return execute(search, args, worker_info={"role": "worker"})
