"""Differentiable search on the dense space through the CLI: the supernet is fitted, the argmax
architecture is the first trial, the confirm stage retrains it, the trajectory is saved; killed
(SIGKILL) during supernet training, the resumed run follows the trajectory of an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kill_harness import kill_when, supernet_step, trials

from nas.cli import main

DATA = "synthetic?subset=120&resolution=8&classes=3&val=0.5"
SPACE = "dense?stages=2&max_nodes=3&stem=8&widths=4,8"
STEPS = 8


def argv(tmp_path: Path, name: str, mode: str = "gdas") -> list[str]:
    return ["search", "--space", SPACE, "--strategy", f"{mode}?batch_size=16&checkpoint_every=1&record_every=1"
            "&warmup=0.25", "--evaluator", "train", "--epochs", "1", "--dataset", DATA, "--supernet-steps", str(STEPS),
            "--trials", "2", "--threads", "1", "--runs-dir", str(tmp_path), "--name", name, "--quiet", "--json"]


@pytest.mark.slow
def test_dense_search_killed_during_supernet_training_follows_the_same_trajectory(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(argv(tmp_path, "whole")) == 0
    out = json.loads(capsys.readouterr().out)
    run = tmp_path / "whole"
    fit = json.loads((run / "supernet.json").read_text())
    assert out["complete"] and out["n_trials"] == 2 and fit["space"] == "dense"
    records = sorted(json.loads((run / "results.json").read_text())["trials"], key=lambda t: t["proposal"]["slot"])
    assert records[0]["proposal"]["phase"] == "argmax" and records[0]["arch"] == fit["arch"]
    assert out["confirmation"] and out["best"]["test_accuracy"] is not None
    killed = tmp_path / "killed"
    kill_when(argv(tmp_path, "killed"), lambda: 2 <= supernet_step(killed) < STEPS - 2)
    assert 0 < supernet_step(killed) < STEPS and not trials(killed) and not (killed / "supernet.json").exists()
    assert main(["search", "--resume", str(killed), "--threads", "1", "--quiet", "--json"]) == 0
    whole, resumed = (json.loads((tmp_path / n / "arch_trajectory.json").read_text()) for n in ("whole", "killed"))
    assert [r["step"] for r in resumed] == list(range(1, STEPS + 1))

    def flat(r: dict) -> list[float]:
        return [v for k in sorted(r["alpha"]) for v in np.ravel(r["alpha"][k])]

    # the same steps, batches and draws: equal up to float rounding between processes
    assert np.allclose([flat(r) for r in resumed], [flat(r) for r in whole], rtol=0, atol=1e-6)
    assert [r["argmax"] for r in resumed] == [r["argmax"] for r in whole]
    assert json.loads((killed / "supernet.json").read_text())["arch"] == fit["arch"]


def test_a_latency_budget_without_a_profile_says_how_to_make_one(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NAS_LATENCY_CACHE", str(tmp_path / "empty"))
    assert main([*argv(tmp_path, "budget"), "--max-latency-ms", "5", "--latency-clock", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "nas latency profile --space dense" in err and "--clock cpu" in err and len(err.strip().splitlines()) == 1
