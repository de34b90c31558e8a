"""Issue 19: kill loops. A tabular search and a SMASH search are SIGKILLed again and again at random
moments (mid-evaluation, mid-tell, mid-supernet-step, mid-confirmation) and resumed each time:
every completed trial is kept, never evaluated twice, and the final count equals --trials."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kill_harness import counted_trials, evaluated_twice, kill_when, supernet_step

from nas.cli import main

pytestmark = pytest.mark.slow
KILLS = 10


def _snapshot(run: Path) -> dict[int, tuple[str, tuple[float, ...]]]:
    return {t.number: (t.user_attrs["arch_key"], tuple(t.values)) for t in counted_trials(run)}


def _kill_loop(first: list[str], run: Path, progress: Callable[[], int], seed: int,
               env: dict[str, str] | None = None, max_extra: float = 0.3) -> int:
    """Kill `first`, then `search --resume run`, up to KILLS times, each once `progress()` has moved
    1-3 units and a random 0-`max_extra` s more; returns the kills survived. Completed trials must
    survive."""
    rng, kept, kills = random.Random(seed), {}, 0
    argv = first
    while kills < KILLS:
        target, extra, hit_at = progress() + rng.randint(1, 3), rng.uniform(0, max_extra), []

        def reached(target: int = target, extra: float = extra, hit_at: list[float] = hit_at) -> bool:
            if not hit_at and progress() >= target:
                hit_at.append(time.monotonic())
            return bool(hit_at) and time.monotonic() - hit_at[0] >= extra

        try:
            kill_when(argv, reached, timeout=120, env=env)
        except AssertionError as e:
            if "exit 0" not in str(e):  # finished before the kill: the loop is over
                raise
            break
        kills += 1
        now = _snapshot(run)
        assert all(now.get(n) == v for n, v in kept.items()), "a completed trial was lost or changed by a kill"
        kept, argv = now, ["search", "--resume", str(run), "--quiet"]
    return kills


def test_tabular_search_killed_ten_times(slow_evaluator: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture) -> None:
    run, log, n = tmp_path / "t", tmp_path / "evals.log", 60
    env = {"NAS_TEST_LOG": str(log), "NAS_TEST_DELAY": "0.1"}
    first = ["search", "--space", "nb201", "--evaluator", f"{slow_evaluator}:make", "--strategy", "tpe",
             "--trials", str(n), "--runs-dir", str(tmp_path), "--name", "t", "--quiet"]
    kills = _kill_loop(first, run, lambda: len(counted_trials(run)), seed=19, env=env)
    with capsys.disabled():
        print(f"\ntabular: {kills} kills survived")
    assert kills >= KILLS - 2, f"only {kills} kills landed before the search finished"
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    assert main(["search", "--resume", str(run), "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["complete"] and len(counted_trials(run)) == n
    assert evaluated_twice(run) == [], "an architecture was evaluated twice"


SPACE = "dense?stages=2&max_nodes=3&widths=8,16&stem=8"
DATA = "synthetic?subset=200&resolution=8&classes=3"


def test_smash_search_killed_ten_times(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run, steps, n = tmp_path / "s", 150, 10
    first = ["search", "--space", SPACE, "--dataset", DATA, "--trials", str(n), "--epochs", "1",
             "--supernet-steps", str(steps), "--smash", "checkpoint_every=1", "--smash", "batch_size=32",
             "--smash", "reference_archs=4", "--smash", "local_top=2", "--smash", "local_mutations=2",
             "--threads", "1", "--runs-dir", str(tmp_path), "--name", "s", "--quiet"]
    # tiny supernet steps are fast: enough of them, and a short random delay, so all ten kills land
    kills = _kill_loop(first, run, lambda: supernet_step(run) + len(counted_trials(run)), seed=7, max_extra=0.1)
    with capsys.disabled():
        print(f"\nsmash: {kills} kills survived")
    assert kills == KILLS, f"only {kills} kills landed before the search finished"
    capsys.readouterr()
    assert main(["search", "--resume", str(run), "--threads", "1", "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    counted = counted_trials(run)
    assert out["complete"] and out["n_trials"] == n == len(counted)
    assert evaluated_twice(run) == [], "an architecture was scored twice"
    assert out["supernet"]["steps"] == steps
