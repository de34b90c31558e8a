"""SMASH killed (SIGKILL) during supernet training, scoring and confirmation resumes each time with
the trial count of an uninterrupted run and nothing scored or trained twice; `nas worker` joins a
SMASH run once its supernet is fitted. Real processes, through the kill harness."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from kill_harness import CLI, counted_trials, evaluated_twice, kill_when, running, supernet_step, trials

from nas.cli import main
from nas.search import Search, SearchConfig
from nas.supernets.smash import SmashConfig

pytestmark = pytest.mark.slow
SPACE = "dense?stages=2&max_nodes=3&widths=8,16&stem=8"
DATA = "synthetic?subset=200&resolution=8&classes=3"
STEPS, TRIALS = 40, 10


def argv(tmp_path: Path, name: str, epochs: int = 2) -> list[str]:
    return ["search", "--space", SPACE, "--dataset", DATA, "--trials", str(TRIALS), "--epochs", str(epochs),
            "--supernet-steps", str(STEPS), "--smash", "checkpoint_every=2", "--smash", "batch_size=32",
            "--smash", "reference_archs=4", "--smash", "local_top=2", "--smash", "local_mutations=2",
            "--threads", "1", "--runs-dir", str(tmp_path), "--name", name, "--quiet"]


def resume(run: Path, capsys: pytest.CaptureFixture) -> dict:
    capsys.readouterr()
    assert main(["search", "--resume", str(run), "--threads", "1", "--quiet", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def check_finished(run: Path, out: dict) -> None:
    counted = counted_trials(run)
    assert out["complete"] and out["n_trials"] == TRIALS == len(counted)  # what an uninterrupted run counts
    assert sorted(t.user_attrs["slot"] for t in counted) == list(range(TRIALS))
    assert evaluated_twice(run) == [], "an architecture was scored twice"
    assert out["supernet"]["steps"] == STEPS and len(out["confirmation"]) == 2
    assert (run / "weights.pt").is_file() and out["best"]["test_accuracy"] is not None


def test_killed_during_supernet_training(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "k1"
    kill_when(argv(tmp_path, "k1"), lambda: 4 <= supernet_step(run) < STEPS - 4)
    killed_at = supernet_step(run)
    assert 0 < killed_at < STEPS and not trials(run) and not (run / "supernet.json").exists()
    out = resume(run, capsys)
    check_finished(run, out)
    import torch

    assert len(torch.load(run / "supernet.pt", weights_only=True)["losses"]) == STEPS  # steps not repeated


def test_killed_during_scoring(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "k2"
    # mid-trial when the poll catches one running (most runs); under heavy load, between two trials
    kill_when(argv(tmp_path, "k2"), lambda: (n := len(counted_trials(run))) >= 3 and (running(run) == 1 or n >= 6))
    before = {t.user_attrs["arch_key"]: t.user_attrs["result"] for t in counted_trials(run)}
    out = resume(run, capsys)
    check_finished(run, out)
    # the trial the kill interrupted (none if it struck between two trials) is failed as stale and its
    # slot proposed again: every slot is held by exactly one counted trial (check_finished)
    assert out["counts"]["failed"] <= 1
    after = {t.user_attrs["arch_key"]: t.user_attrs["result"] for t in counted_trials(run)}
    assert all(after[k] == v for k, v in before.items())  # scores kept, not recomputed


def test_killed_during_confirmation(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "k3"
    first = run / "confirm" / "1" / "result.json"
    kill_when(argv(tmp_path, "k3", epochs=3), lambda: first.is_file())
    kept, stamp = first.read_text(), first.stat().st_mtime_ns
    n_trials = len(trials(run))
    out = resume(run, capsys)
    check_finished(run, out)
    assert first.read_text() == kept and first.stat().st_mtime_ns == stamp  # candidate 1 not trained again
    assert len(trials(run)) == n_trials  # confirmation runs are not trials


def test_worker_joins_a_smash_run_after_its_supernet_is_fitted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    n = 40
    config = SearchConfig(space=SPACE, dataset=DATA, trials=n, epochs=1, supernet_steps=6,
                          smash=SmashConfig(batch_size=32, reference_archs=4, local_rounds=0))
    search = Search.create(config, tmp_path, "w", quiet=True)
    run = tmp_path / "w"
    assert main(["worker", str(run), "--quiet"]) == 2  # before the supernet is fitted: refused, one line
    assert "not fitted yet" in capsys.readouterr().err
    search.fit_supernet()
    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([*CLI, *args, "--threads", "1", "--quiet", "--json"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    worker = start("worker", str(run))  # first, and scoring, so that on a loaded machine it is sure to take part
    deadline = time.monotonic() + 120
    while not any(t.user_attrs["worker"]["pid"] == worker.pid for t in counted_trials(run)):
        assert worker.poll() is None and time.monotonic() < deadline, "the worker scored nothing"
        time.sleep(0.05)
    procs = [start("search", "--resume", str(run)), worker]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err.decode()[-2000:]
    summary = json.loads(outs[0][0])
    assert summary["n_trials"] == n and len(summary["confirmation"]) == 2
    counted = counted_trials(run)
    per_process = Counter(t.user_attrs["worker"]["pid"] for t in counted)
    assert len(counted) == n and worker.pid in per_process and set(per_process) <= {p.pid for p in procs}
    assert evaluated_twice(run) == []
    assert sorted(t.user_attrs["slot"] for t in counted) == list(range(n))
