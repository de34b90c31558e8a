"""`nas runs [--runs-dir DIR] [--json]`: every run with its command, state, trials, best accuracy and
age; `nas runs --csv RUN_DIR` prints one run's trials as CSV."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json

CSV_COLUMNS = ("number", "state", "arch_key", "score", "val_accuracy", "test_accuracy", "params", "flops",
               "latency_ms", "cost_s", "seconds", "start", "complete", "error")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("runs", help="list runs (command, state, trials, best accuracy, age) or export trials")
    p.add_argument("--runs-dir", default="runs", help="where run directories are (default runs)")
    p.add_argument("--csv", metavar="RUN_DIR", help="print this run's trials as CSV instead")
    add_common(p)
    p.set_defaults(func=run)


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """One row per run directory under `runs_dir`, newest first."""
    from nas.report.markdown import run_command
    from nas.report.reader import best_accuracy, is_run_dir, load_run, train_run
    from nas.runstate import processes, run_state

    if not runs_dir.is_dir():
        raise FileNotFoundError(f"--runs-dir {str(runs_dir)!r} is not a directory")
    rows = []
    for path in sorted(p for p in runs_dir.iterdir() if is_run_dir(p)):
        procs = processes(path)
        started = _started(path, procs)
        main = [p for p in procs if p.get("role") != "worker"]
        row = {"name": path.name, "run_dir": str(path), "started": started.isoformat(timespec="seconds"),
               "age_s": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds(), 1),
               "processes_alive": sum(bool(p["alive"]) for p in procs)}
        trained = train_run(path)
        if trained is not None:  # nas train: one network, its epochs
            state, reason = run_state(path) if procs else _train_state(trained)
            rows.append({**row, "kind": "train", "state": state, "reason": reason,
                         "command": str(main[0]["command"]) if main else trained["command"],
                         "trials": None, "planned_trials": None, "epochs": trained["epochs_done"],
                         "planned_epochs": trained["epochs"], "best_val_accuracy": trained["val_accuracy"],
                         "test_accuracy": trained["test_accuracy"]})
            continue
        try:
            view = load_run(path)
        except (OSError, ValueError):
            continue
        state, reason = run_state(path, view)
        rows.append({**row, "kind": "search", "state": state, "reason": reason,
                     "command": str(main[0]["command"]) if main else run_command(view),
                     "trials": view.n_trials, "planned_trials": view.planned_trials,
                     "best_val_accuracy": best_accuracy(view),
                     "test_accuracy": (view.best or {}).get("test_accuracy")})
    return sorted(rows, key=lambda r: r["started"], reverse=True)


def _train_state(trained: dict[str, Any]) -> tuple[str, str | None]:
    """A train run without process records: its final result decides."""
    if trained["failed"]:
        return "failed", trained["error"]
    return ("finished", None) if trained["done"] else ("interrupted", "no final result in metrics.json")


def _started(path: Path, procs: list[dict[str, Any]]) -> dt.datetime:
    for p in procs:
        try:
            return dt.datetime.fromisoformat(str(p.get("started")))
        except ValueError:
            continue
    marker = next((path / m for m in ("config.json", "results.json") if (path / m).exists()), path)
    return dt.datetime.fromtimestamp(marker.stat().st_mtime, dt.timezone.utc)


def age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"


def write_csv(run_dir: str, out: Any) -> int:
    from nas.report.reader import load_run

    view = load_run(run_dir)
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for t in sorted(view.trials, key=lambda t: t.number):
        values = [getattr(t, c) for c in CSV_COLUMNS]
        w.writerow(["" if v is None else v.isoformat() if isinstance(v, dt.datetime) else v for v in values])
    return len(view.trials)


def run(args: argparse.Namespace) -> int:
    if args.csv:
        write_csv(args.csv, sys.stdout)
        return 0
    rows = list_runs(Path(args.runs_dir).expanduser())
    if args.json:
        print_json({"runs_dir": args.runs_dir, "runs": rows})
        return 0
    if not rows:
        print(f"no runs under {args.runs_dir}", file=sys.stderr)
        return 0
    head = f"{'name':<28} {'state':<11} {'trials':>9} {'best val':>8} {'age':>5}  command"
    print(head)
    for r in rows:
        trials = f"{r['trials']}/{r['planned_trials'] or '?'}" if r["kind"] == "search" else \
            f"{r['epochs']}/{r['planned_epochs'] or '?'} ep"
        best = "-" if r["best_val_accuracy"] is None else f"{100 * r['best_val_accuracy']:.2f}%"
        print(f"{r['name'][:28]:<28} {r['state']:<11} {trials:>9} {best:>8} {age(r['age_s']):>5}  {r['command']}")
    return 0
