"""Real processes: SIGKILL and --resume; two `nas worker` processes on one study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest

from nas.cli import main
from nas.search.runner import is_counted

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from nas.cli import entry; entry()"]
Trial = optuna.trial.TrialState


def load(run: Path) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}")


def env(log: Path, delay: float) -> dict[str, str]:
    return {**os.environ, "NAS_TEST_LOG": str(log), "NAS_TEST_DELAY": str(delay)}


def test_sigkill_then_resume(slow_evaluator: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    run, log, n = tmp_path / "r", tmp_path / "evals.log", 6
    argv = ["search", "--space", "nb201", "--evaluator", f"{slow_evaluator}:make", "--strategy", "tpe",
            "--trials", str(n), "--runs-dir", str(tmp_path), "--name", "r", "--quiet"]
    proc = subprocess.Popen([*CLI, *argv], env=env(log, 0.4),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (run / "study.db").exists() and (run / "config.json").exists():
                try:
                    states = Counter(t.state for t in load(run).get_trials(deepcopy=False))
                except Exception:  # the study is still being created
                    states = Counter()
                if states[Trial.COMPLETE] >= 2 and states[Trial.RUNNING] == 1:
                    break
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        else:
            pytest.fail("the search never had 2 complete trials and 1 running")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = load(run).get_trials()
    done_before = {t.number: t.user_attrs["arch_key"] for t in before if t.state == Trial.COMPLETE}
    stale = [t.number for t in before if t.state == Trial.RUNNING]
    assert len(done_before) >= 2 and len(stale) == 1 and len(done_before) < n

    study = load(run)
    for t in before:  # ask the resumed run for every finished architecture again: it must answer from storage
        if t.state == Trial.COMPLETE:
            study.enqueue_trial(t.params)
    monkeypatch.setenv("NAS_TEST_LOG", str(log))
    monkeypatch.setenv("NAS_TEST_DELAY", "0")
    code = main(["search", "--resume", str(run), "--json", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    after = load(run).get_trials()
    assert sum(map(is_counted, after)) == n == json.loads(out)["n_trials"]
    assert after[stale[0]].state == Trial.FAIL and "stale" in after[stale[0]].user_attrs["error"]
    for number, key in done_before.items():  # kept once, unchanged
        assert after[number].state == Trial.COMPLETE and after[number].user_attrs["arch_key"] == key
    evaluated = Counter(line.split()[1] for line in log.read_text().splitlines())  # both runs log here
    assert all(evaluated[key] == 1 for key in done_before.values()), "the resumed run redid finished work"
    results = json.loads((run / "results.json").read_text())
    assert results["n_trials"] == n and results["counts"]["failed"] == 1


def test_two_workers_share_one_study(slow_evaluator: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, log, n = tmp_path / "w", tmp_path / "evals.log", 8
    monkeypatch.setenv("NAS_TEST_LOG", str(log))
    code = main(["search", "--space", "nb201", "--evaluator", f"{slow_evaluator}:make", "--strategy", "random",
                 "--trials", str(n), "--runs-dir", str(tmp_path), "--name", "w", "--init-only", "--quiet"])
    assert code == 0 and (run / "config.json").is_file() and not load(run).get_trials()
    workers = [subprocess.Popen([*CLI, "worker", str(run), "--quiet", "--json"], env=env(log, 0.3),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [w.communicate(timeout=120) for w in workers]
    for w, (out, err) in zip(workers, outs):
        assert w.returncode == 0, err.decode()
        assert json.loads(out)["n_trials"] == n
    trials = load(run).get_trials()
    counted = [t for t in trials if is_counted(t)]
    assert len(counted) == n
    per_worker = Counter(t.user_attrs["worker"]["pid"] for t in counted)
    assert set(per_worker) == {w.pid for w in workers} and min(per_worker.values()) >= 1
    evaluated = Counter(line.split()[1] for line in log.read_text().splitlines())
    assert max(evaluated.values()) == 1, "an architecture was evaluated twice"
    assert sum(evaluated.values()) == sum(t.user_attrs.get("duplicate_of") is None for t in counted)
