"""`nas search`: an architecture search (any space, strategy and evaluator) through one pipeline.

    nas search                             # SMASH on digits: fit the supernet, score 100, confirm 2
    nas search --space nb201 --evaluator tabular:../shared/nb201/nb201_cifar10.csv --strategy tpe --trials 50
    nas search --resume runs/NAME          # after a kill or --timeout, at any stage
    nas worker runs/NAME                   # more processes (or machines) on the same study

This module parses flags, calls `nas.search.Search` and prints; runs/README.md has the layout.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json
from nas.cli_run import execute, set_threads
from nas.commands.latency import positive_float, positive_int
from nas.errors import UserError

# Flags that define a search (a resumed run keeps its own): their defaults are SearchConfig's.
CONFIG_FLAGS = ("space", "evaluator", "strategy", "seed", "dataset", "epochs", "objectives", "max_latency_ms",
                "max_params", "max_flops", "pruner", "storage", "confirm", "confirm_epochs", "confirm_seed",
                "confirm_train", "supernet_steps", "init", "latency_clock")
RESUME_FLAGS = ("trials", "timeout", "device", "threads", "json", "quiet")


def add_parser(sub: Any) -> None:
    from nas.search.config import DEFAULT_STRATEGY, PROXY_CONFIRM, SearchConfig

    d = {f: SearchConfig.__dataclass_fields__[f].default for f in SearchConfig.__dataclass_fields__}
    p = sub.add_parser("search", help="search architectures: propose -> evaluate -> confirm (writes runs/<name>/)")
    p.add_argument("--config", metavar="FILE", help="a run's config.json (or a JSON object of search settings) to "
                                                    "start from; flags given override it")
    p.add_argument("--space", help=f"a registered space or module:attr (default {d['space']})")
    p.add_argument("--strategy", help="smash, darts, gdas, proxyless (differentiable, nb201 or dense; options as "
                                      "gdas?channels=8&cells=1, see docs/differentiable.md), random, evolution, tpe, "
                                      "nsga2, gp, qmc, cmaes or another registered "
                                      f"strategy (default: smash for the dense space without --evaluator, else "
                                      f"{DEFAULT_STRATEGY})")
    p.add_argument("--evaluator", help="train[?option=value&...] | inherit[?finetune=2&lr_scale=0.2&steps=3] | "
                                       "tabular:FILE.csv | smash[:RUN_DIR] | module:attr "
                                       "(default: smash for --strategy smash, else train)")
    p.add_argument("--trials", type=int, help="architectures to evaluate, local-search ones and duplicates included "
                                              f"(default {d['trials']})")
    p.add_argument("--seed", type=int, help=f"random seed (default {d['seed']})")
    p.add_argument("--dataset", help=f"NAME[:PATH][?subset=N&resolution=R] (default {d['dataset']})")
    p.add_argument("--epochs", type=int,
                   help=f"epochs per trained architecture: train evaluator trials (default {d['epochs']})")
    p.add_argument("--confirm", type=int, metavar="K",
                   help=f"retrain the K best from scratch, pick by validation, test once (default {PROXY_CONFIRM} "
                        "for proxy evaluators such as smash, 1 for train, 0 for tabular)")
    p.add_argument("--confirm-epochs", type=int, help="epochs of each confirmation run (default --epochs)")
    p.add_argument("--confirm-seed", type=int, help="seed of the confirmation runs (default --seed + 1)")
    p.add_argument("--confirm-train", metavar="SPEC", help="train?option=value&...: the confirmation's training "
                                                           "recipe (default: the train evaluator's, else nas train's)")
    p.add_argument("--objectives", help="comma-separated: accuracy first, then any of latency_ms, params, flops "
                                        "(default accuracy)")
    p.add_argument("--latency-clock", choices=("wall", "cpu"),
                   help="how --max-latency-ms is measured and profiled: wall (default) or cpu (the thread's CPU "
                        "time, --threads 1: stabler on a loaded machine)")
    p.add_argument("--max-latency-ms", type=positive_float,
                   help="hard limit, batch 1 on --device with these --threads: architectures predicted slower (the "
                        "cached latency profile; without one, measured) are not evaluated; the confirm stage "
                        "measures each candidate, so the pick qualifies by measurement")
    p.add_argument("--max-params", type=positive_int, help="hard limit: larger architectures are not evaluated")
    p.add_argument("--max-flops", type=positive_int, metavar="MACS",
                   help="hard limit on multiply-accumulates (MACs, the project's flops, as nas select --max-flops), "
                        "counted by the space's shape analysis: costlier architectures are not evaluated")
    p.add_argument("--pruner", help="median, sha (successive halving), hyperband or none (default none; single "
                                    "objective only)")
    p.add_argument("--storage", help="an Optuna storage URL (any RDB, or journal:FILE); default: "
                                     "SQLite study.db in the run directory")
    p.add_argument("--supernet-steps", type=int,
                   help=f"minibatches of supernet training, supernet strategies (default {d['supernet_steps']})")
    p.add_argument("--smash", action="append", metavar="KEY=VALUE",
                   help="a SmashConfig setting, repeatable (e.g. parametrisation=shared, sampler=even, noise=8, "
                        "score_by=accuracy, local_rounds=0; see nas/supernets/smash/config.py)")
    p.add_argument("--init", metavar="ARCHS", help="preset:NAME[,NAME...] or architecture JSON files: the first "
                   "trials (Optuna-sampler strategies; evolution mutates them first)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--timeout", type=float, metavar="SECONDS",
                   help="stop cleanly after this many seconds (between steps, trials or retrainings); "
                        "--resume continues")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR (only --trials, --timeout, --device, "
                                                   "--threads, --json and --quiet go with it)")
    p.add_argument("--init-only", action="store_true",
                   help="create the run directory and study, evaluate nothing (then start nas worker processes)")
    p.add_argument("--threads", default="auto",
                   help="CPU threads for torch: N, or auto = the cores not already busy (default auto)")
    p.add_argument("--runs-dir", help="where run directories go (default runs)")
    p.add_argument("--name", help="run directory name (default SPACE-STRATEGY-TIMESTAMP)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.hardware import resolve_device
    from nas.search import data_parallel

    if args.timeout is not None and not args.timeout > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {args.timeout}")
    device = resolve_device(args.device)
    if not data_parallel.launched():
        return _run(args, device)
    # under torchrun: rank 0 searches, every rank trains the supernet (nas/search/data_parallel.py)
    device = data_parallel.start(device)
    try:
        if data_parallel.rank() == 0:
            return _run(args, device, lambda dir_: data_parallel.share(dir_, device))
        run_dir = data_parallel.share(None, device)
        return 0 if run_dir is None else data_parallel.follow(run_dir, device, args.threads, args.timeout)
    finally:
        data_parallel.stop()


def _run(args: argparse.Namespace, device: str, share: Callable[[Path | None], Any] | None = None) -> int:
    """`nas search` in one process, or as rank 0: then `share` sends the other ranks the run directory
    whose supernet they train with this process (None: nothing to train, e.g. a bad flag)."""
    from nas.search import Search, data_parallel

    together = None
    try:
        if args.resume:
            given = [f"--{f.replace('_', '-')}" for f in CONFIG_FLAGS + ("config", "name", "runs_dir")
                     if getattr(args, f) is not None] + (["--smash"] if args.smash else [])
            if given or args.init_only:
                raise UserError(f"--resume continues the run's own config; drop {', '.join(given or ['--init-only'])} "
                                f"(only {', '.join('--' + f for f in RESUME_FLAGS)} go with it)")
            search = Search.resume(args.resume, args.trials, quiet=args.quiet,
                                   device=device if args.device != "auto" or share else None)
            config = search.config
        else:
            config = build_config(args, device)
        if share is not None:
            data_parallel.check(config)
        set_threads(args.threads, config)
        if not args.resume:
            search = Search.create(config, args.runs_dir or "runs", args.name, quiet=args.quiet,
                                   init_only=args.init_only)
        if share is not None and not args.init_only and data_parallel.trains_together(search):
            together = search.run_dir
    finally:
        if share is not None:
            share(together)
    if args.init_only:
        if args.json:
            print_json({"best": None, "n_trials": 0, "run_dir": str(search.run_dir)})
        elif not args.quiet:
            first = f"nas search --resume {search.run_dir} (it fits the supernet first), then " \
                if search.config.supernet else ""
            print(f"created {search.run_dir}; start {first}workers with: nas worker {search.run_dir}")
        return 0
    return execute(search, args)


def build_config(args: argparse.Namespace, device: str) -> Any:
    """The `SearchConfig` of --config FILE and the flags given (flags win)."""
    from nas.config_util import typed_options
    from nas.search import SearchConfig
    from nas.supernets.smash import SmashConfig

    values: dict[str, Any] = read_config_file(args.config) if args.config else {}
    for f in CONFIG_FLAGS + ("trials",):
        if getattr(args, f) is not None:
            values[f] = getattr(args, f)
    if args.objectives is not None:
        values["objectives"] = args.objectives.split(",")
    values["device"] = device
    if args.smash:
        pairs = {}
        for item in args.smash:
            key, sep, value = item.partition("=")
            if not sep:
                raise UserError(f"--smash {item!r}: use KEY=VALUE")
            pairs[key] = value
        try:
            options = typed_options(SmashConfig, pairs, "--smash", exclude=("steps", "seed"))
        except ValueError as e:
            raise UserError(f"{e} (steps and seed have their own flags)") from None
        values["smash"] = {**values.get("smash", {}), **options}
    try:
        return SearchConfig.from_dict(values)
    except (TypeError, ValueError) as e:
        raise UserError(str(e).splitlines()[0]) from None


def read_config_file(path: str) -> dict[str, Any]:
    file = Path(path).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"--config {path} is not valid JSON ({e})") from None
    if isinstance(doc, dict) and isinstance(doc.get("search"), dict):
        doc = doc["search"]  # a run's config.json
    if not isinstance(doc, dict):
        raise UserError(f"--config {path} must hold a JSON object of search settings")
    return {k: v for k, v in doc.items() if k not in ("study_name", "device")}
