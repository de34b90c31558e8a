"""`nas runs` rows for `nas train` runs and the process records of `nas.runstate.track`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from nas.cli import main
from nas.runstate import processes, run_state, track


def train_run(root: Path, name: str, result: dict | None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"command": "train", "arch": "preset:resnet-20",
                                                 "dataset": {"spec": "digits"}, "train": {"epochs": 3}}))
    (run / "metrics.json").write_text(json.dumps({"epochs": [{"epoch": 1, "val_accuracy": 0.5}], "result": result}))
    return run


def test_train_runs_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    train_run(tmp_path, "done", {"val_accuracy": 0.8, "test_accuracy": 0.75, "state": "complete"})
    train_run(tmp_path, "cut", None)
    train_run(tmp_path, "diverged", {"state": "failed", "error": "loss is NaN"})
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert {n: (r["kind"], r["state"]) for n, r in rows.items()} == {
        "done": ("train", "finished"), "cut": ("train", "interrupted"), "diverged": ("train", "failed")}
    assert rows["done"]["best_val_accuracy"] == 0.8 and rows["cut"]["best_val_accuracy"] == 0.5
    assert rows["done"]["command"] == "nas train --arch preset:resnet-20 --dataset digits --epochs 3"
    assert main(["report", str(tmp_path / "done")]) == 2  # a train run has no search report


def test_track_records_how_a_process_ended(tmp_path: Path) -> None:
    with track(tmp_path, "search", ["search", "--trials", "3"]) as doc:
        (alive,) = processes(tmp_path)
        assert alive["alive"] and alive["state"] == "running" and doc["command"] == "nas search --trials 3"
        assert run_state(tmp_path) == ("running", None)
    assert run_state(tmp_path) == ("finished", None)
    with pytest.raises(RuntimeError), track(tmp_path / "b", "search", []):
        raise RuntimeError("boom")
    assert run_state(tmp_path / "b") == ("failed", "RuntimeError: boom")
    with pytest.raises(KeyboardInterrupt), track(tmp_path / "c", "search", []):
        raise KeyboardInterrupt
    assert run_state(tmp_path / "c")[0] == "interrupted"


def test_sigkilled_process_reads_interrupted(tmp_path: Path) -> None:
    code = ("import sys, time; from pathlib import Path; from nas.runstate import track\n"
            "with track(Path(sys.argv[1]), 'search', ['search']):\n"
            "    print('ready', flush=True); time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert proc.stdout.readline().strip() == b"ready"
        assert run_state(tmp_path)[0] == "running"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    state, reason = run_state(tmp_path)
    assert state == "interrupted" and "gone" in reason


def test_an_init_only_run_reads_created_until_its_first_trial(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--space", "dense", "--evaluator", "train", "--dataset", "synthetic?subset=60&resolution=8",
                 "--strategy", "random", "--trials", "2", "--runs-dir", str(tmp_path), "--name", "w", "--init-only",
                 "--quiet"]) == 0
    state, reason = run_state(tmp_path / "w")
    assert state == "created" and "nas worker" in reason
    capsys.readouterr()
    assert main(["runs", "--runs-dir", str(tmp_path), "--json"]) == 0
    assert "created" in capsys.readouterr().out
