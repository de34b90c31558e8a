"""`nas search`: an architecture search through Optuna (any space, strategy and evaluator).

    nas search --space nb201 --evaluator tabular:../shared/nb201/nb201_cifar10.csv --strategy tpe --trials 50
    nas search --resume runs/NAME          # after a crash: stale trials fail, the rest are kept
    nas worker runs/NAME                   # more processes (or machines) on the same study

Writes runs/<name>/ (config.json, study.db, results.json); see `nas.search.session`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json
from nas.errors import UserError

# Flags that define a search (a resumed run keeps its own). Their defaults live in one place,
# nas/search/config.py (`SearchConfig`, `DEFAULT_STRATEGY`).
CONFIG_FLAGS = ("space", "evaluator", "strategy", "seed", "dataset", "epochs", "objectives", "max_latency_ms",
                "max_params", "pruner", "storage", "name", "runs_dir")


def add_parser(sub: Any) -> None:
    from nas.search.config import DEFAULT_STRATEGY, SearchConfig

    d = SearchConfig.__dataclass_fields__  # defaults without validating (which loads the registries)
    p = sub.add_parser("search", help="search architectures with an Optuna strategy (writes runs/<name>/)")
    p.add_argument("--space", help=f"a registered space or module:attr (default {d['space'].default})")
    p.add_argument("--evaluator", help=f"train[?option=value&...] | tabular:FILE.csv | module:attr "
                                       f"(default {d['evaluator'].default})")
    p.add_argument("--strategy", help="smash, random, evolution, tpe, nsga2, gp, qmc, cmaes or another registered "
                                      "strategy (default: smash for the dense space without --evaluator, "
                                      f"else {DEFAULT_STRATEGY})")
    p.add_argument("--trials", type=int,
                   help=f"architectures to evaluate, duplicates included (default {d['trials'].default})")
    p.add_argument("--seed", type=int, help=f"random seed (default {d['seed'].default})")
    p.add_argument("--dataset", help=f"for the train evaluator: NAME[:PATH][?subset=N&resolution=R] "
                                     f"(default {d['dataset'].default})")
    p.add_argument("--epochs", type=int,
                   help=f"for the train evaluator: epochs per trial (default {d['epochs'].default})")
    p.add_argument("--objectives", help="comma-separated: accuracy first, then any of latency_ms, params, flops "
                                        "(default accuracy)")
    p.add_argument("--max-latency-ms", type=float, help="hard limit: slower architectures are infeasible")
    p.add_argument("--max-params", type=int, help="hard limit: larger architectures are infeasible")
    p.add_argument("--pruner", help="median, sha (successive halving), hyperband or none (default none; single "
                                    "objective only)")
    p.add_argument("--storage", help="an Optuna storage URL (any RDB, or journal:FILE); default: "
                                     "SQLite study.db in the run directory")
    p.add_argument("--resume", metavar="DIR", help="continue the run in DIR until --trials trials are counted")
    p.add_argument("--init-only", action="store_true",
                   help="create the run directory and study, evaluate nothing (then start nas worker processes)")
    p.add_argument("--supernet-steps", type=int, help="smash: minibatches of supernet training (default 500)")
    p.add_argument("--smash", action="append", metavar="KEY=VALUE",
                   help="smash: a SmashConfig setting, repeatable (e.g. parametrisation=shared, sampler=even, "
                        "noise=8, score_by=accuracy, calibration_batches=4; see the README)")
    p.add_argument("--threads", default="auto",
                   help="CPU threads for torch: N, or auto = the cores not already busy (default auto)")
    p.add_argument("--runs-dir", help="where run directories go (default runs)")
    p.add_argument("--name", help="run directory name (default SPACE-STRATEGY-TIMESTAMP)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nas.search import SearchConfig, config_document, derive_seed, open_search, read_config
    from nas.search.session import open_storage_for
    from nas.smash.command import is_smash_run, run_smash_command

    if args.resume and is_smash_run(args.resume):
        set_threads(args.threads)
        return run_smash_command(args)
    if not args.resume and args.strategy is None and args.evaluator is None and args.space in (None, "dense"):
        args.strategy = "smash"  # the default main job: a SMASH search of the dense space
    if args.strategy == "smash" and not args.resume:
        set_threads(args.threads)
        return run_smash_command(args)
    if (args.evaluator or "train").startswith("train") or args.resume:
        set_threads(args.threads)  # training in this process (table lookups need no torch)
    if args.supernet_steps is not None or args.smash:
        raise UserError("--supernet-steps and --smash apply to --strategy smash only")

    if args.resume:
        given = [f"--{f.replace('_', '-')}" for f in CONFIG_FLAGS if getattr(args, f) is not None]
        if given or args.init_only:
            raise UserError(f"--resume continues the run's own config; drop {', '.join(given or ['--init-only'])} "
                            "(only --trials, --json and --quiet go with it)")
        run_dir = Path(os.path.expanduser(args.resume))
        config = read_config(run_dir)
        if args.trials is not None:
            config = SearchConfig.from_dict({**config.to_dict(), "trials": args.trials})
        storage = open_storage_for(config, run_dir)
        import optuna

        try:
            n_before = len(optuna.load_study(study_name=config.study_name, storage=storage).trials)
        except KeyError:
            raise UserError(f"{run_dir}: the storage holds no study {config.study_name!r}") from None
        search = open_search(config, run_dir, storage=storage, create=False, quiet=args.quiet,
                             sampler_seed=derive_seed(config.seed, "resume", n_before))
        return execute(search, args)
    from nas.runs import make_run_dir, write_json

    values = {f: getattr(args, f) for f in ("space", "evaluator", "strategy", "trials", "seed", "dataset", "epochs",
                                             "max_latency_ms", "max_params", "pruner", "storage")}
    if args.objectives is not None:
        values["objectives"] = tuple(args.objectives.split(","))
    config = SearchConfig(**{k: v for k, v in values.items() if v is not None})
    storage = open_storage_for(config, None)  # a bad --storage fails before any directory is made
    run_dir = make_run_dir(args.runs_dir or "runs", args.name, f"{config.space}-{config.strategy}")
    try:
        config = SearchConfig.from_dict({**config.to_dict(), "study_name": run_dir.name})
        search = open_search(config, run_dir, storage=storage, quiet=args.quiet)
    except BaseException:
        _remove_if_empty(run_dir)
        raise
    write_json(run_dir / "config.json", config_document(config))
    if args.init_only:
        if args.json:
            print_json({"best": None, "n_trials": 0, "run_dir": str(run_dir)})
        elif not args.quiet:
            print(f"created {run_dir}; start workers with: nas worker {run_dir}")
        return 0
    return execute(search, args)


def set_threads(value: str) -> None:
    """Torch's intra-op threads: oversubscribed threads make small CPU models many times slower."""
    import torch

    from nas.hardware import resolve_threads

    torch.set_num_threads(resolve_threads(value))


def _remove_if_empty(run_dir: Path) -> None:
    for leftover in ("study.db",):
        (run_dir / leftover).unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        pass


def execute(search: Any, args: argparse.Namespace, worker_info: dict[str, Any] | None = None) -> int:
    """Run the loop with a progress bar, write results.json and report.md and print the summary;
    the process is recorded in the run directory (`nas.runstate.track`) so `nas runs` sees it."""
    from nas.runstate import track

    if search.run_dir is None:
        return _execute(search, args, worker_info, {})
    with track(search.run_dir, (worker_info or {}).get("role", "search"), getattr(args, "argv", None)) as proc:
        code = _execute(search, args, worker_info, proc)
    report(search.run_dir, args.command)  # after the process record says how it ended
    return code


def report(run_dir: Path, command: str) -> None:
    """report.md and plots; a report that cannot be drawn never fails the search."""
    from nas.report import write_report

    try:
        write_report(run_dir)
    except Exception as e:
        print(f"nas {command}: warning: no report ({type(e).__name__}: {e})", file=sys.stderr)


def _execute(search: Any, args: argparse.Namespace, worker_info: dict[str, Any] | None,
             proc: dict[str, Any]) -> int:
    from tqdm import tqdm

    from nas.search import SearchAborted, finalize, run_trials

    n = search.config.trials
    bar = tqdm(total=n, desc=f"search {search.config.strategy}", unit="trial", file=sys.stderr, disable=args.quiet,
               dynamic_ncols=True)

    def progress(done: int) -> None:
        bar.n = min(done, n)
        bar.refresh()

    try:
        run_trials(search.study, search.space, search.evaluator, n, search.objectives, prune=search.prune,
                   progress=progress, worker_info={"sampler_seed": search.sampler_seed, **(worker_info or {})})
    except SearchAborted as e:
        bar.close()
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        proc.update(state="failed", error=str(e))
        return 1
    finally:
        bar.close()
    summary = finalize(search)
    if args.json:
        print_json(summary)
    else:
        print_summary(summary)
    if summary["best"] is None:
        print(f"nas {args.command}: no feasible architecture among {summary['n_trials']} trials"
              f"{' (every one broke a hard limit)' if summary['counts'].get('infeasible') else ''}", file=sys.stderr)
        return 1
    return 0


def print_summary(summary: dict[str, Any]) -> None:
    best, c = summary["best"], summary["counts"]
    print(f"run        {summary['run_dir']}")
    print(f"trials     {summary['n_trials']} counted ({c['complete']} complete, {c['infeasible']} infeasible, "
          f"{c['pruned']} pruned, {c['duplicates']} duplicates answered from cache); {c['failed']} failed")
    if best is not None:
        test = best["test_accuracy"]
        print(f"best       trial {best['trial']}  arch {best['arch_key']}  val {best['val_accuracy']:.4f}  "
              f"test {'-' if test is None else f'{test:.4f}'}")
        extras = [f"{k} {best[k]:,}" if isinstance(best[k], int) else f"{k} {best[k]:.3f}"
                  for k in ("params", "flops", "latency_ms") if best.get(k) is not None]
        if extras:
            print(f"           {'  '.join(extras)}")
    if "pareto_front" in summary:
        metrics = summary["objectives"]
        print(f"pareto front ({len(summary['pareto_front'])} architectures):")
        print("  trial  arch              " + "  ".join(f"{m:>12}" for m in metrics))
        for p in summary["pareto_front"]:
            cells = "  ".join(f"{p[m]:>12.4f}" if m in ("val_accuracy", "latency_ms") else f"{int(p[m]):>12,}"
                              for m in metrics)
            print(f"  {p['trial']:>5}  {p['arch_key']:<16}  {cells}")
