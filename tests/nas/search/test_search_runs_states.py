"""`nas runs` on a runs directory holding a finished, a failed, an interrupted (SIGKILLed) and a
running search (real processes), with and without their process records; `nas runs --csv`;
a partial report of the killed run."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nas.cli import main

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-c", "from nas.cli import entry; entry()"]


def search_argv(evaluator: str, runs: Path, name: str, trials: int) -> list[str]:
    return ["search", "--space", "nb201", "--evaluator", evaluator, "--strategy", "random", "--trials", str(trials),
            "--runs-dir", str(runs), "--name", name, "--quiet"]


def wait_for(cond, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        assert proc.poll() is None, f"{what}: exited {proc.returncode}: {proc.stderr.read().decode()[-800:]}"
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def complete_trials(run: Path) -> int:
    import optuna

    try:
        study = optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}")
        return sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    except Exception:  # not created yet
        return 0


def listed(runs: Path, capsys: pytest.CaptureFixture) -> dict[str, dict]:
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    return {r["name"]: r for r in json.loads(capsys.readouterr().out)["runs"]}


def test_runs_show_each_state(slow_evaluator: Path, table: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    runs = tmp_path / "runs"
    slow = f"{slow_evaluator}:make"
    env = {**os.environ, "NAS_TEST_LOG": str(tmp_path / "evals.log"), "NAS_TEST_DELAY": "0.5"}
    killed = subprocess.Popen([*CLI, *search_argv(slow, runs, "killed", 50)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    running = subprocess.Popen([*CLI, *search_argv(slow, runs, "running", 1000)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        broken = tmp_path / "broken.py"
        broken.write_text(textwrap.dedent("""
            class Broken:
                epochs = 1

                def evaluate(self, arch, fidelity=None, on_epoch=None):
                    raise RuntimeError("out of memory (simulated)")

                def test(self, arch):
                    raise AssertionError("never reached")

            def make(ctx):
                return Broken()
        """))
        assert main(search_argv(f"{broken}:make", runs, "failed", 5)) == 1
        assert main(search_argv(f"tabular:{table}", runs, "finished", 6)) == 0
        capsys.readouterr()
        wait_for(lambda: complete_trials(runs / "killed") >= 2, killed, "2 trials of the run to kill")
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        wait_for(lambda: complete_trials(runs / "running") >= 1, running, "a trial of the running search")

        rows = listed(runs, capsys)
        assert {n: r["state"] for n, r in rows.items()} == {
            "finished": "finished", "failed": "failed", "killed": "interrupted", "running": "running"}
        assert rows["finished"]["trials"] == 6 and 0 < rows["finished"]["best_val_accuracy"] <= 1
        assert "out of memory" in rows["failed"]["reason"]
        assert rows["killed"]["trials"] >= 2 and rows["killed"]["planned_trials"] == 50
        assert all(r["command"].startswith("nas search --space nb201") for r in rows.values())
        assert all(r["age_s"] >= 0 for r in rows.values())
        assert main(["runs", "--runs-dir", str(runs)]) == 0
        table_text = capsys.readouterr().out
        assert all(name in table_text for name in rows)

        # without the process records, the storage's trial owners and results.json decide
        for name in rows:
            shutil.rmtree(runs / name / "procs")
        expected = {"finished": "finished", "failed": "failed", "killed": "interrupted", "running": "running"}
        for _ in range(20):  # a snapshot between two trials (one told, the next not asked) sees none RUNNING
            rows = listed(runs, capsys)
            if rows["running"]["state"] == "running":
                break
            time.sleep(0.1)
        assert {n: r["state"] for n, r in rows.items()} == expected

        # a partial report of the killed run: what exists, marked partial
        assert main(["report", str(runs / "killed")]) == 0
        text = (runs / "killed" / "report.md").read_text()
        assert "Partial report" in text and "interrupted" in text
        assert (runs / "killed" / "plots" / "search_curve.png").is_file()
    finally:
        for p in (killed, running):
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait()

    # the finished run's report, made by nas search itself, and its trials as CSV
    finished = runs / "finished"
    results = json.loads((finished / "results.json").read_text())
    assert (finished / "report.md").is_file() and (finished / "plots" / "search_curve.png").is_file()
    capsys.readouterr()
    assert main(["runs", "--csv", str(finished)]) == 0
    rows_csv = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [int(r["number"]) for r in rows_csv] == [t["number"] for t in results["trials"]]
    for r, t in zip(rows_csv, results["trials"]):
        assert float(r["val_accuracy"]) == t["result"]["val_accuracy"] and r["arch_key"] == t["arch_key"]


def test_runs_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["runs", "--runs-dir", str(tmp_path / "nope")]) == 2
    assert main(["runs", "--csv", str(tmp_path)]) == 2  # a directory that is not a run
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and err.count("nas runs: error:") == 2
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == []
