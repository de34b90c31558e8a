"""The train evaluator through `nas search`: per-epoch reports, pruning, test once for the pick."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
from test_search_cli import assert_best_of_n_trials

from nas.cli import main
from nas.evaluators.train import TrainEvaluator
from nas.training import TrainConfig
from search_spaces import Architecture

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
    assert_best_of_n_trials(summary, tmp_path / "t", 4)
    assert best["test_accuracy"] is not None and best["params"] > 0  # measured once, for the pick
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


class SleepyNet(torch.nn.Module):
    """A linear classifier that sleeps `SLEEP_S` on every single-image forward pass in eval mode (the
    latency measurement's), counting them."""

    SLEEP_S = 0.004

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(in_features, num_classes)
        self.timed_calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and x.shape[0] == 1:
            self.timed_calls += 1
            time.sleep(self.SLEEP_S)
        return self.fc(x.flatten(1))


def test_train_evaluator_measures_latency_as_a_median_after_warm_up() -> None:
    class Space:
        name = "sleepy"

        def build(self, arch: Any, num_classes: int, in_channels: int, input_size: int) -> torch.nn.Module:
            self.model = SleepyNet(in_channels * input_size * input_size, num_classes)
            return self.model

    space = Space()
    config = TrainConfig(epochs=1, batch_size=32, quiet=True)
    ev = TrainEvaluator(space, TINY, config, measure_latency=True, latency_repeats=7)
    result = ev.evaluate(Architecture("sleepy", {"x": 1}))
    assert space.model.timed_calls == 5 + 7  # 5 warm-up passes, then the 7 timed ones
    assert SleepyNet.SLEEP_S * 1000 <= result.latency_ms < SleepyNet.SLEEP_S * 1000 + 20  # milliseconds
    settings = result.extra["latency"]  # the shared measurement's record (nas/latency.py)
    assert {k: settings[k] for k in ("device", "batch_size", "threads", "repeats")} == {
        "device": "cpu", "batch_size": 1, "threads": torch.get_num_threads(), "repeats": 7}
    assert settings["torch"] == torch.__version__ and settings["dtype"] == "float32"
    assert TrainEvaluator(space, TINY, config).evaluate(Architecture("sleepy", {"x": 1})).latency_ms is None
