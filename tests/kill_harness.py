"""A kill harness for resume tests: start a `nas` command in its own process, SIGKILL it when a
chosen stage is reached (or at a random moment), then inspect the run directory and its study.

    from kill_harness import kill_when, counted_trials, evaluated_twice
    kill_when(["search", ...], lambda: supernet_step(run) >= 4)     # returns once the process is dead
    assert main(["search", "--resume", str(run)]) == 0

`tests/` is on `sys.path` (pytest puts the root conftest's directory there), so any test imports it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLI = [sys.executable, "-c", "from nas.cli import entry; entry()"]


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([*CLI, *argv], env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def kill_when(argv: list[str], reached: Callable[[], bool], *, timeout: float = 180.0, poll: float = 0.05,
              env: dict[str, str] | None = None) -> None:
    """Run `nas argv` and SIGKILL it as soon as `reached()` is true; fails if the command ends first
    (its stderr is shown) or `timeout` seconds pass."""
    proc = start(argv, env)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the command ended (exit {proc.returncode}) before the stage was reached: "
                                     f"{proc.stderr.read().decode()[-2000:] if proc.stderr else ''}")
            try:
                hit = reached()
            except Exception:  # the run directory is still being written
                hit = False
            if hit:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                return
            time.sleep(poll)
        raise AssertionError(f"stage not reached within {timeout} s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def kill_at_random(argv: list[str], low: float, high: float, seed: int, env: dict[str, str] | None = None) -> bool:
    """SIGKILL `nas argv` after a random time in [low, high) seconds; True when it was killed (False
    when it had already finished)."""
    delay = random.Random(seed).uniform(low, high)
    t0 = time.monotonic()
    try:
        kill_when(argv, lambda: time.monotonic() - t0 >= delay, timeout=high + 60, env=env)
    except AssertionError as e:
        if "ended" in str(e):
            return False
        raise
    return True


# --- what a run directory holds ------------------------------------------------------------------------
def study(run: Path, name: str | None = None) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=name or run.name, storage=f"sqlite:///{run / 'study.db'}")


def trials(run: Path) -> list[Any]:
    """The run's trials; none until config.json exists (written after the study is created: opening
    the SQLite file earlier would race the command creating its tables)."""
    return study(run).get_trials(deepcopy=False) if (run / "config.json").exists() else []


def counted_trials(run: Path) -> list[Any]:
    from nas.search.runner import is_counted

    return [t for t in trials(run) if is_counted(t)]


def evaluated_twice(run: Path) -> list[str]:
    """Architecture keys the evaluator judged more than once (cache hits excluded)."""
    done = Counter(t.user_attrs["arch_key"] for t in counted_trials(run) if t.user_attrs.get("duplicate_of") is None)
    return [k for k, n in done.items() if n > 1]


def supernet_step(run: Path) -> int:
    """Steps the supernet checkpoint holds (0 before the first checkpoint)."""
    import torch

    path = run / "supernet.pt"
    return int(torch.load(path, weights_only=True)["step"]) if path.exists() else 0


def running(run: Path) -> int:
    import optuna

    return sum(t.state == optuna.trial.TrialState.RUNNING for t in trials(run))
