"""What `nas search` and `nas worker` share: torch threads, running a `Search` with a progress bar,
printing its summary and choosing the exit code."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nas.cli import print_json


def set_threads(value: str, config: Any) -> None:
    """Torch's intra-op threads (oversubscribed threads make small CPU models many times slower);
    a table lookup needs no torch."""
    if config.evaluator.startswith("tabular") and not config.confirm:
        return
    import torch

    from nas.hardware import resolve_threads

    torch.set_num_threads(resolve_threads(value))


def execute(search: Any, args: argparse.Namespace, confirm: bool = True) -> int:
    """Run the remaining stages with a progress bar, print the summary, write report.md; the exit
    code. The process is recorded in the run directory (`nas.runstate.track`) so `nas runs` sees it."""
    from nas.runstate import track

    if search.run_dir is None:
        return _execute(search, args, confirm, {})
    with track(search.run_dir, "search" if confirm else "worker", getattr(args, "argv", None)) as proc:
        code = _execute(search, args, confirm, proc)
    report(search.run_dir, args.command)  # after the process record says how it ended
    return code


def report(run_dir: Any, command: str) -> None:
    """report.md and plots; a report that cannot be drawn never fails the search."""
    from nas.report import write_report

    try:
        write_report(run_dir)
    except Exception as e:
        print(f"nas {command}: warning: no report ({type(e).__name__}: {e})", file=sys.stderr)


def _execute(search: Any, args: argparse.Namespace, confirm: bool, proc: dict[str, Any]) -> int:
    from tqdm import tqdm

    from nas.search import SearchAborted
    from nas.search.summary import summary_lines

    bars: list[Any] = []  # made on the first trial, so a supernet's own bar comes first

    def progress(stage: str, done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=f"search {search.config.strategy_name}", unit="trial", file=sys.stderr,
                             disable=args.quiet, dynamic_ncols=True))
        bars[0].n = min(done, total)
        bars[0].refresh()

    try:
        summary = search.run(timeout=args.timeout, confirm=confirm, progress=progress)
    except SearchAborted as e:
        print(f"nas {args.command}: error: {e}", file=sys.stderr)
        proc.update(state="failed", error=str(e))
        return 1
    finally:
        for bar in bars:
            bar.close()
    if args.json:
        print_json(summary)
    elif not args.quiet or summary["best"] is not None:
        print("\n".join(summary_lines(summary)))
    if not summary["complete"] and not confirm:
        print(f"nas {args.command}: trials done; the confirmation stage is left to nas search (or nas search "
              f"--resume {summary['run_dir']})", file=sys.stderr)
        return 0
    if not summary["complete"]:
        print(f"nas {args.command}: stopped by --timeout during {summary['stopped_during']}; continue with "
              f"nas search --resume {summary['run_dir']}", file=sys.stderr)
        return 0
    rejected = [e for e in summary.get("confirmation") or [] if e.get("rejected")]
    if summary["best"] is None and confirm and rejected:
        print(f"nas {args.command}: no candidate qualified by measurement in the confirm stage ({len(rejected)} "
              f"measured over the limit; results.json `confirmation` has their latencies)", file=sys.stderr)
        return 1
    if summary["best"] is None and confirm:
        print(f"nas {args.command}: no feasible architecture among {summary['n_trials']} trials"
              f"{' (every one broke a hard limit)' if summary['counts'].get('infeasible') else ''}", file=sys.stderr)
        return 1
    return 0
