"""The ask/tell loop in process: duplicate accounting, failures, limits, pruning, Pareto front."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import optuna
import pytest

from nas.results import Result
from nas.search import Objectives, SearchAborted, SearchConfig, best_trial, finalize, open_search, run_trials
from nas.search.objectives import pareto_front
from nas.search.session import trial_record, trial_state
from search_spaces import Architecture


class Tiny:
    """Six architectures: x in 0..2, y in 0..1."""

    name = "tiny-test"

    def suggest(self, trial: Any) -> Architecture:
        return Architecture(self.name, {"x": trial.suggest_categorical("x", [0, 1, 2]),
                                        "y": trial.suggest_categorical("y", [0, 1])})

    def sample(self, rng: np.random.Generator) -> Architecture:
        return Architecture(self.name, {"x": int(rng.integers(3)), "y": int(rng.integers(2))})

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        g = arch.genotype
        if rng.integers(2):
            g["y"] = 1 - g["y"]
        else:
            g["x"] = int(rng.choice([v for v in range(3) if v != g["x"]]))
        return Architecture(self.name, g)

    def validate(self, arch: Architecture) -> None: ...

    def encode(self, arch: Architecture) -> np.ndarray:
        return np.array([arch.genotype["x"], arch.genotype["y"]], dtype=np.float32)

    def build(self, arch: Architecture, num_classes: int, in_channels: int, input_size: int) -> Any:
        raise NotImplementedError


class Fake:
    """val = (2x + y + 1) / 10; params = 100 (x + 1); reports 4 epochs; fails where told to."""

    epochs = 4

    def __init__(self, fail: set[tuple[int, int]] = frozenset(), nan: set[tuple[int, int]] = frozenset()) -> None:
        self.calls: Counter[str] = Counter()
        self.fail, self.nan = fail, nan
        self.tests = 0

    def evaluate(self, arch: Architecture, fidelity: int | None = None, on_epoch: Any = None) -> Result:
        self.calls[arch.key()] += 1
        x, y = arch.genotype["x"], arch.genotype["y"]
        if (x, y) in self.fail:
            raise RuntimeError(f"boom at x={x} y={y}")
        val = float("nan") if (x, y) in self.nan else (2 * x + y + 1) / 10
        for epoch in range(1, self.epochs + 1):
            if on_epoch is not None:
                on_epoch(epoch, val * epoch / self.epochs)
        return Result(val_accuracy=val, params=100 * (x + 1), latency_ms=1.0 + y)

    def test(self, arch: Architecture) -> Result:
        self.tests += 1
        return Result(val_accuracy=0.5, test_accuracy=0.42)


def study(strategy: str = "random", seed: int = 0, objectives: Objectives | None = None) -> optuna.Study:
    cfg = SearchConfig(space="nb201", evaluator="x", strategy=strategy, seed=seed)
    objectives = objectives or Objectives()
    search = open_search(cfg, None, evaluator=Fake())  # in-memory study with the strategy's sampler
    if objectives.multi:
        return optuna.create_study(directions=objectives.directions, sampler=optuna.samplers.RandomSampler(seed))
    return search.study


def test_duplicates_are_answered_from_the_earlier_result_and_counted() -> None:
    ev = Fake()
    s = study()
    stats = run_trials(s, Tiny(), ev, 20)
    trials = s.get_trials()
    assert len(trials) == 20 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    assert set(ev.calls.values()) == {1}, "an architecture was evaluated twice"
    assert stats.evaluated == len(ev.calls) and stats.duplicates == 20 - len(ev.calls) > 0
    duplicates = [t for t in trials if "duplicate_of" in t.user_attrs]
    assert len(duplicates) == stats.duplicates  # each duplicate says which trial answered it
    for t in duplicates:
        first = trials[t.user_attrs["duplicate_of"]]
        assert first.number < t.number and "duplicate_of" not in first.user_attrs
        assert first.user_attrs["arch_key"] == t.user_attrs["arch_key"] and first.value == t.value


def test_failures_keep_their_reason_and_the_search_goes_on() -> None:
    ev = Fake(fail={(2, 1)}, nan={(0, 0)})
    s = study(seed=3)
    run_trials(s, Tiny(), ev, 12)
    trials = s.get_trials()
    failed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in trials) == 12
    reasons = {t.user_attrs["arch"]["genotype"]["x"]: t.user_attrs["error"] for t in failed}
    assert set(reasons) == {0, 2}, "both failing architectures were drawn with this seed"
    assert "boom" in reasons[2] and "val_accuracy" in reasons[0]  # the exception, and the NaN accuracy
    assert {trial_record(t)["state"] for t in failed} == {"failed"}


def test_an_evaluator_that_always_fails_stops_the_search() -> None:
    ev = Fake(fail={(x, y) for x in range(3) for y in range(2)})
    with pytest.raises(SearchAborted, match="in a row failed"):
        run_trials(study(), Tiny(), ev, 5)


def test_an_infeasible_trial_is_never_best() -> None:
    """The best architecture (x=2, y=1) has 300 params: over --max-params 250 it is infeasible."""
    ev = Fake()
    s = study()
    objectives = Objectives(max_params=250)
    run_trials(s, Tiny(), ev, 30, objectives)
    trials = s.get_trials()
    assert any(trial_state(t) == "infeasible" and t.user_attrs["arch"]["genotype"]["x"] == 2 for t in trials)
    best = best_trial(trials)
    assert best is not None and best.user_attrs["arch"]["genotype"] == {"x": 1, "y": 1}


def test_pruner_stops_trials_from_per_epoch_reports() -> None:
    cfg = SearchConfig(space="nb201", evaluator="x", strategy="random", pruner="median", trials=15, seed=0)
    ev = Fake()
    search = open_search(cfg, None, evaluator=ev)
    run_trials(search.study, Tiny(), ev, cfg.trials, prune=True)
    trials = search.study.get_trials()
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned and sum(t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
                          for t in trials) == 15
    assert all(t.user_attrs["result"]["state"] == "pruned" for t in pruned)
    stopped = [t for t in pruned if "duplicate_of" not in t.user_attrs]
    assert stopped and all(max(t.intermediate_values) < 4 for t in stopped)  # stopped before the last epoch


def test_multi_objective_pareto_front_is_saved(tmp_path: Any) -> None:
    objectives = Objectives(("val_accuracy", "params"))
    cfg = SearchConfig(space="nb201", evaluator="x", strategy="nsga2", trials=20, objectives=objectives.metrics)
    ev = Fake()
    search = open_search(cfg, None, evaluator=ev)
    search.space = Tiny()
    run_trials(search.study, search.space, ev, 20, objectives)
    summary = finalize(search)
    front = summary["pareto_front"]
    points = [(p["val_accuracy"], p["params"]) for p in front]
    assert front and len(pareto_front(points, objectives.directions)) == len(points)
    # every x has its best y (= 1) on the front: (0.2,100) (0.4,200) (0.6,300)
    assert sorted(points) == [(0.2, 100), (0.4, 200), (0.6, 300)]
    assert summary["best"]["test_accuracy"] == 0.42 and ev.tests == 1


def test_pareto_front_helper() -> None:
    pts = [(0.9, 10), (0.8, 5), (0.85, 20), (0.9, 10)]
    assert pareto_front(pts, ["maximize", "minimize"]) == [0, 1, 3]


def test_the_search_never_sees_test_accuracy() -> None:
    class Leaky(Fake):
        def evaluate(self, arch: Architecture, fidelity: int | None = None, on_epoch: Any = None) -> Result:
            result = super().evaluate(arch, fidelity, on_epoch)
            result.test_accuracy = 0.99
            return result

    s = study()
    run_trials(s, Tiny(), Leaky(), 5)
    assert all(t.user_attrs["result"]["test_accuracy"] is None for t in s.get_trials())
