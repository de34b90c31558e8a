from __future__ import annotations

import types

import numpy as np
import optuna
import pytest

from nas.search import arch_from_params, params_of
from nas.search.adapter import probe_distributions
from search_spaces import default_space


@pytest.mark.parametrize("name", ["nb201", "dense"])
def test_trial_params_map_back_to_the_same_architecture(name: str) -> None:
    space = default_space(name)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = 0
    for _ in range(8):
        trial = study.ask()
        try:
            arch = space.suggest(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        assert arch_from_params(space, trial.params) == arch
        found = params_of(space, arch, trial.params, trial.distributions)
        assert found is not None and arch_from_params(space, found) == arch
        study.tell(trial, 0.0)
        seen += 1
    assert seen >= 4


def test_params_of_finds_a_mutation_without_the_space_helping() -> None:
    """A space without params_of (NB201 with it hidden): the adapter searches one-choice changes of
    the parent's parameters."""
    nb201 = default_space("nb201")
    space = types.SimpleNamespace(**{m: getattr(nb201, m) for m in (
        "name", "sample", "suggest", "mutate", "validate", "encode", "build", "edges")})
    rng = np.random.default_rng(0)
    dists = probe_distributions(space)
    for _ in range(10):
        parent = space.sample(rng)
        parent_params = {f"edge_{t}_{s}": op for (t, s), op in zip([(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)],
                                                                   space.edges(parent))}
        assert arch_from_params(space, parent_params) == parent
        child = space.mutate(parent, rng)
        found = params_of(space, child, parent_params, dists)
        assert found is not None and arch_from_params(space, found) == child
        assert sum(found[k] != parent_params[k] for k in found) == 1
