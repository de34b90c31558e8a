"""Which processes work on a run, and so whether the run is running, finished, failed or interrupted.

Every process that works on a run (`nas search`, `--resume`, `nas worker`) wraps its work in
`track(run_dir, role)`: it writes `RUN_DIR/procs/<host>-<pid>.json` with its command line, owner
(host, pid, process start time), state and a heartbeat refreshed every `HEARTBEAT_S` seconds, and
rewrites the state on exit (finished, failed with the error, interrupted by Ctrl-C). A SIGKILL
leaves the state `running` with a dead owner: that process was interrupted. Owners on this host
are checked by pid; on other hosts by the heartbeat's age.

Runs without process files (older runs, another tool's) fall back to the Optuna storage: a RUNNING
trial with a live owner means running; otherwise results.json decides.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import shlex
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PROCS_DIR = "procs"
HEARTBEAT_S = 30.0
GRACE_S = 120.0  # a remote owner whose heartbeat is older than this is gone
STATES = ("created", "running", "finished", "failed", "interrupted")


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _write(path: Path, doc: dict[str, Any]) -> None:
    from nas.runs import write_json

    write_json(path, doc)


@contextlib.contextmanager
def track(run_dir: Path, role: str = "search", argv: list[str] | None = None,
          heartbeat_s: float = HEARTBEAT_S) -> Iterator[dict[str, Any]]:
    """Record this process as working on `run_dir` while the block runs (see the module docstring).
    The block may set `doc["state"] = "failed"` (and `doc["error"]`) for a failure that returns."""
    from nas.search.storage import owner

    who = owner()
    folder = run_dir / PROCS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{who['host']}-{who['pid']}.json"
    args = list(sys.argv[1:] if argv is None else argv)
    doc: dict[str, Any] = {"role": role, "command": shlex.join(["nas", *args]), "owner": who, "state": "running",
                           "started": _now(), "heartbeat": _now(), "ended": None, "error": None}
    lock = threading.Lock()
    _write(path, doc)
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_s):
            with lock:
                if doc["state"] == "running":
                    doc["heartbeat"] = _now()
                    with contextlib.suppress(OSError):
                        _write(path, doc)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    state, error = "finished", None
    try:
        yield doc
    except KeyboardInterrupt:
        state, error = "interrupted", "interrupted by the user"
        raise
    except BaseException as e:
        state, error = "failed", f"{type(e).__name__}: {str(e).strip()[:300]}"
        raise
    finally:
        stop.set()
        thread.join()
        with lock:
            if doc["state"] == "running":
                doc["state"], doc["error"] = state, error
            doc["ended"] = doc["heartbeat"] = _now()
            with contextlib.suppress(OSError):
                _write(path, doc)


def processes(run_dir: Path) -> list[dict[str, Any]]:
    """The process records of `run_dir`, oldest first, each with `alive` (True / False) and a state
    in which a dead `running` process reads `interrupted`."""
    out = []
    for path in sorted((run_dir / PROCS_DIR).glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(doc, dict):
            continue
        alive = doc.get("state") == "running" and _alive(doc)
        if doc.get("state") == "running" and not alive:
            doc = {**doc, "state": "interrupted", "error": doc.get("error") or "the process is gone (killed?)"}
        out.append({**doc, "alive": alive})
    return sorted(out, key=lambda d: str(d.get("started")))


def _alive(doc: dict[str, Any]) -> bool:
    from nas.search.storage import owner_alive

    alive = owner_alive(doc.get("owner"))
    if alive is not None:
        return alive
    try:  # another host: trust a recent heartbeat
        beat = dt.datetime.fromisoformat(str(doc.get("heartbeat")))
    except ValueError:
        return False
    return (dt.datetime.now(dt.timezone.utc) - beat).total_seconds() < GRACE_S


def run_state(run_dir: Path, view: Any = None) -> tuple[str, str | None]:
    """(state, reason) of the run: any live process -> running; else the last search process's end
    (workers count only while alive); without process files, the storage and results.json decide.
    `view` is the run's `RunView` when the caller has it."""
    procs = processes(run_dir)
    if any(p["alive"] for p in procs):
        return "running", None
    main = [p for p in procs if p.get("role") != "worker"] or procs
    if main:
        last = main[-1]
        return str(last.get("state")), last.get("error")
    if view is None:
        from nas.report.reader import load_run

        view = load_run(run_dir)
    if view.source == "storage" and _storage_alive(view):
        return "running", None
    if view.finished:
        return "finished", None
    if not view.trials:  # e.g. `nas search --init-only`: waiting for its first worker
        return "created", f"no trial yet: start workers with nas worker {run_dir}"
    last = view.trials[-10:]
    if last and all(t.state == "failed" for t in last):  # the loop gives up after 10 failures in a row
        return "failed", last[-1].error
    return "interrupted", "no process works on it and it has no final results"


def _storage_alive(view: Any) -> bool:
    """Whether a RUNNING trial of the run's storage has a live owner (its `worker` attribute)."""
    from nas.search.storage import owner_alive

    return any(owner_alive(t.worker) for t in view.trials if t.state == "running")
