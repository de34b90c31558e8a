"""Issue 19, fault 3: the database stopped mid-search. The search retries for a bounded time
(NAS_STORAGE_RETRY_S), then exits 1 with one line saying the storage went away and how to
resume; after the server is back, `--resume` completes with every completed trial kept."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from nas.cli import main
from nas.search.runner import is_counted

pytestmark = [pytest.mark.slow, pytest.mark.scaleout]
CLI = [sys.executable, "-c", "from nas.cli import entry; entry()"]


def _evaluations(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_database_lost_mid_search_then_resumed(private_postgres, slow_evaluator: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    run, log, n = tmp_path / "lost", tmp_path / "evals.log", 12
    env = {**os.environ, "NAS_TEST_LOG": str(log), "NAS_TEST_DELAY": "0.2", "NAS_STORAGE_RETRY_S": "3"}
    proc = subprocess.Popen([*CLI, "search", "--space", "nb201", "--evaluator", f"{slow_evaluator}:make",
                             "--strategy", "random", "--trials", str(n), "--storage", private_postgres.url,
                             "--runs-dir", str(tmp_path), "--name", "lost", "--quiet"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while _evaluations(log) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the search ended before the server was stopped: {proc.stderr.read()[-2000:]}"
    private_postgres.stop()
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("[W ")]
    assert proc.returncode == 1, err[-3000:]
    assert len(lines) == 1, f"expected one line, got {len(lines)}:\n{err[-3000:]}"
    assert "went away" in lines[0] and "--resume" in lines[0]
    private_postgres.start()
    monkeypatch.setenv("NAS_TEST_LOG", str(log))
    monkeypatch.setenv("NAS_TEST_DELAY", "0")
    assert main(["search", "--resume", str(run), "--quiet"]) == 0
    study = optuna.load_study(study_name="lost", storage=private_postgres.url)
    counted = [t for t in study.get_trials(deepcopy=False) if is_counted(t)]
    assert len(counted) == n
    assert len({t.user_attrs["arch_key"] for t in counted if t.user_attrs.get("duplicate_of") is None}) \
        == sum(t.user_attrs.get("duplicate_of") is None for t in counted)
