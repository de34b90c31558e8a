"""The train evaluator through `nas search`: per-epoch reports, pruning, test once for the pick."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from nas.cli import main

TINY = "synthetic?subset=120&resolution=8&classes=4"
SMALL_SPACE = """
from search_spaces.dense import DenseSpace
from search_spaces.dense.space import DenseSpaceConfig

SMALL = DenseSpace(DenseSpaceConfig(stages=2, min_nodes=1, max_nodes=2, stem=8, widths=(4, 8), kernels=(3,),
                                    dilations=(1,), groups=(1,), bottlenecks=(0,)))
"""


def test_train_evaluator_reports_every_epoch_and_tests_the_pick(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "small.py"
    space.write_text(SMALL_SPACE)
    code = main(["search", "--space", f"{space}:SMALL", "--evaluator", "train?batch_size=32", "--dataset", TINY,
                 "--epochs", "2", "--trials", "4", "--strategy", "random", "--pruner", "median", "--runs-dir",
                 str(tmp_path), "--name", "t", "--quiet", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    best = summary["best"]
    assert summary["n_trials"] == 4 and 0.0 <= best["test_accuracy"] <= 1.0 and best["params"] > 0
    assert best["flops"] > 0
    study = optuna.load_study(study_name="t", storage=f"sqlite:///{tmp_path / 't' / 'study.db'}")
    for t in study.get_trials():
        if t.user_attrs.get("duplicate_of") is None and t.state == optuna.trial.TrialState.COMPLETE:
            assert sorted(t.intermediate_values) == [1, 2]
            assert t.user_attrs["result"]["test_accuracy"] is None
    doc = json.loads((tmp_path / "t" / "results.json").read_text())
    assert doc["config"]["evaluator"] == "train?batch_size=32" and doc["config"]["epochs"] == 2


def test_train_evaluator_options_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["search", "--evaluator", "train?batchsize=3", "--dataset", TINY, "--trials", "1",
                 "--runs-dir", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown train evaluator option 'batchsize'" in err and len(err.strip().splitlines()) == 1
