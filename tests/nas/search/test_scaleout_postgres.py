"""Scale-out on a real PostgreSQL server: `nas worker` processes (as on several machines, which
need only the run's config.json) share one study; together they finish exactly --trials, no
architecture is evaluated twice, none is lost, and every worker does some."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

from nas.cli import main
from nas.search.runner import is_counted

pytestmark = [pytest.mark.slow, pytest.mark.scaleout]
CLI = [sys.executable, "-c", "from nas.cli import entry; entry()"]


def test_four_workers_on_postgres(fresh_db: str, slow_evaluator: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    run, log, n = tmp_path / "pg", tmp_path / "evals.log", 24
    monkeypatch.setenv("NAS_TEST_LOG", str(log))
    code = main(["search", "--space", "nb201", "--evaluator", f"{slow_evaluator}:make", "--strategy", "random",
                 "--trials", str(n), "--storage", fresh_db, "--runs-dir", str(tmp_path), "--name", "pg",
                 "--init-only", "--quiet"])
    assert code == 0 and not (run / "study.db").exists()
    env = {**os.environ, "NAS_TEST_LOG": str(log), "NAS_TEST_DELAY": "0.2"}
    workers = [subprocess.Popen([*CLI, "worker", str(run), "--quiet", "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    outs = [w.communicate(timeout=300) for w in workers]
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, err.decode()[-2000:]
        assert json.loads(out)["n_trials"] == n
    study = optuna.load_study(study_name="pg", storage=fresh_db)
    counted = [t for t in study.get_trials(deepcopy=False) if is_counted(t)]
    assert len(counted) == n
    per_worker = Counter(t.user_attrs["worker"]["pid"] for t in counted)
    assert set(per_worker) == {w.pid for w in workers}, per_worker
    evaluated = Counter(line.split()[1] for line in log.read_text().splitlines())
    assert max(evaluated.values()) == 1, "an architecture was evaluated twice"
    assert sum(evaluated.values()) == sum(t.user_attrs.get("duplicate_of") is None for t in counted)
