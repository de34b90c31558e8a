"""Our samplers against Optuna's own sampler test suites (optuna.testing.pytest_samplers, the
class names of the pinned Optuna 5), in plain Optuna studies, with more trials than evolution's
population so that evolution itself (not only its random start) is exercised."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.testing.pytest_samplers import BasicSamplerTestCase, SingleOnlySamplerTestCase

from nas.search.bananas import BananasSampler
from nas.search.evolution import PARENT_ATTR, EvolutionSampler

optuna.logging.set_verbosity(optuna.logging.WARNING)


class TestEvolutionBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: EvolutionSampler(population=4, tournament=2, seed=0)


class TestEvolutionSingleOnly(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: EvolutionSampler(population=4, tournament=2, seed=0)


def test_children_of_a_plain_study_change_one_parameter_of_their_parent() -> None:
    study = optuna.create_study(sampler=EvolutionSampler(population=5, tournament=2, seed=1))
    study.optimize(lambda t: t.suggest_float("x", -5, 5, step=0.5) - t.suggest_int("y", 0, 9) ** 2
                   + len(t.suggest_categorical("z", ["a", "bb", "ccc"])), n_trials=30)
    children = [t for t in study.trials if PARENT_ATTR in t.system_attrs]
    assert len(children) == 25
    for child in children:
        parent = study.trials[child.system_attrs[PARENT_ATTR]]
        changed = [k for k in child.params if child.params[k] != parent.params[k]]
        assert len(changed) == 1, (parent.params, child.params)
        assert child.distributions[changed[0]]._contains(
            child.distributions[changed[0]].to_internal_repr(child.params[changed[0]]))


class TestBananasBasic(BasicSamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: BananasSampler(n_init=4, batch=2, seed=0)


class TestBananasSingleOnly(SingleOnlySamplerTestCase):
    @pytest.fixture
    def sampler(self):
        return lambda: BananasSampler(n_init=4, batch=2, seed=0)


def test_bananas_in_a_plain_study_steers_towards_the_optimum() -> None:
    def objective(t: optuna.Trial) -> float:
        x, k = t.suggest_float("x", -5, 5), t.suggest_int("k", 0, 9)
        return (x - 1) ** 2 + (k - 7) ** 2 + (0 if t.suggest_categorical("c", ["a", "b", "c"]) == "b" else 4)

    sampler = BananasSampler(n_init=8, batch=4, seed=3)
    study = optuna.create_study(sampler=sampler)
    study.optimize(objective, n_trials=40)
    values = [t.value for t in study.trials]
    assert sampler.fits >= 5
    assert min(values[8:]) < min(values[:8])  # guided trials beat the random start
    assert np.median(values[-16:]) < np.median(values[:8])  # and stay in the better region
