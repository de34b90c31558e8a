"""Differentiable search through the pipeline and the CLI: the supernet is fitted, the argmax cell
is the first trial and samples follow, every trial records its share of parameter-free ops, the
trajectory is saved; killed (SIGKILL) during supernet training, the resumed run follows exactly
the trajectory of an uninterrupted one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from kill_harness import kill_when, supernet_step, trials

from nas.cli import main

DATA = "synthetic?subset=120&resolution=8&classes=3&val=0.5"
STEPS = 8


def argv(table: Path, tmp_path: Path, name: str, mode: str = "gdas", trials_: int = 4) -> list[str]:
    return ["search", "--space", "nb201", "--strategy", f"{mode}?channels=4&batch_size=16&checkpoint_every=1"
            "&record_every=1&warmup=0.25", "--evaluator", f"tabular:{table}", "--dataset", DATA, "--supernet-steps",
            str(STEPS), "--trials", str(trials_), "--threads", "1", "--runs-dir", str(tmp_path), "--name", name,
            "--quiet", "--json"]


@pytest.mark.parametrize("mode", ["darts", "proxyless"])
def test_search_fits_then_proposes_argmax_first(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                mode: str) -> None:
    assert main(argv(table, tmp_path, mode, mode)) == 0
    out = json.loads(capsys.readouterr().out)
    run = tmp_path / mode
    fit = json.loads((run / "supernet.json").read_text())
    assert out["complete"] and out["n_trials"] == 4 and out["supernet"]["steps"] == STEPS
    assert fit["mode"] == mode and 0.0 <= fit["param_free_share"] <= 1.0 and len(fit["alpha"]) == 6
    records = sorted(json.loads((run / "results.json").read_text())["trials"], key=lambda t: t["proposal"]["slot"])
    assert records[0]["proposal"]["phase"] == "argmax" and records[0]["arch"] == fit["arch"]
    assert all(r["proposal"]["phase"] == "sampled" and 0 <= r["proposal"]["param_free_share"] <= 1
               for r in records[1:])
    trajectory = json.loads((run / "arch_trajectory.json").read_text())
    assert [r["step"] for r in trajectory] == list(range(1, STEPS + 1))
    assert trajectory[0]["alpha"] == trajectory[1]["alpha"] != trajectory[-1]["alpha"]  # 2 warm-up steps
    assert out["best"]["test_accuracy"] is not None


def test_perturbation_selection_is_the_first_trial(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    args = argv(table, tmp_path, "pt", "darts", trials_=2)
    args[args.index("--strategy") + 1] += "&select=pt&pt_batches=1&exclude_none=true"
    assert main(args) == 0
    fit = json.loads((tmp_path / "pt" / "supernet.json").read_text())
    assert fit["select"] == "pt" and len(fit["selection"]["edges"]) == 6 and "argmax_string" in fit
    records = sorted(json.loads((tmp_path / "pt" / "results.json").read_text())["trials"],
                     key=lambda t: t["proposal"]["slot"])
    assert records[0]["proposal"]["phase"] == "pt" and records[0]["arch"] == fit["arch"]


def test_bad_combinations_exit_2(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["search", "--space", "nb201", "--strategy", "darts", "--evaluator", "smash", "--runs-dir",
                 str(tmp_path)]) == 2
    assert "not smash" in capsys.readouterr().err
    assert main(["search", "--space", "dense?around=resnet-20", "--strategy", "gdas", "--runs-dir", str(tmp_path)]) == 2
    assert "configured sub-space" in capsys.readouterr().err
    assert main(["search", "--space", "dense?merges=sum", "--strategy", "gdas", "--runs-dir", str(tmp_path)]) == 2
    assert "include concat" in capsys.readouterr().err
    assert main(["search", "--space", "nb201", "--strategy", "gdas?warmup=1.5", "--runs-dir", str(tmp_path)]) == 2
    assert main(["search", "--space", "nb201", "--strategy", "darts?select=best", "--runs-dir", str(tmp_path)]) == 2
    assert "select='best': use one of argmax, pt, zc" in capsys.readouterr().err
    assert main(["search", "--space", "dense", "--strategy", "darts?select=pt", "--runs-dir", str(tmp_path)]) == 2
    assert "nb201 cell only" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_killed_during_supernet_training_follows_the_same_trajectory(table: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture) -> None:
    assert main(argv(table, tmp_path, "whole", trials_=2)) == 0
    capsys.readouterr()
    run = tmp_path / "killed"
    kill_when(argv(table, tmp_path, "killed", trials_=2), lambda: 2 <= supernet_step(run) < STEPS - 2)
    assert 0 < supernet_step(run) < STEPS and not trials(run) and not (run / "supernet.json").exists()
    assert main(["search", "--resume", str(run), "--threads", "1", "--quiet", "--json"]) == 0
    whole, resumed = (json.loads((tmp_path / n / "arch_trajectory.json").read_text()) for n in ("whole", "killed"))
    assert [r["step"] for r in resumed] == list(range(1, STEPS + 1))
    # the same steps, batches and draws: equal up to float rounding (CPU kernels differ in the last bit
    # between processes), far below one architecture step (Adam moves alpha by ~arch_lr = 3e-3 a step)
    assert np.allclose([r["alpha"] for r in resumed], [r["alpha"] for r in whole], rtol=0, atol=1e-6)
    fits = [json.loads((tmp_path / n / "supernet.json").read_text()) for n in ("whole", "killed")]
    assert np.allclose(fits[0]["alpha"], fits[1]["alpha"], rtol=0, atol=1e-6)
    assert fits[0]["final_loss"] == pytest.approx(fits[1]["final_loss"], rel=1e-4)
