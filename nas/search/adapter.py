"""The adapter from any `SearchSpace` to Optuna: a trial's parameters are an architecture.

`space.suggest(trial)` is the space's one definition of its sub-space (define-by-run), so a
study over it needs nothing else. The way back (parameters -> architecture) replays `suggest` on
an `optuna.trial.FixedTrial`; the way from an architecture to parameters (needed to enqueue or
mutate) uses the space's `params_of(arch)` when it has one, else a search over one-choice
changes of a known neighbour's parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution

from search_spaces.base import Architecture

# System attributes in which our samplers name the trial a child was mutated from (its parent's number).
PARENT_ATTRS = ("evolution:parent", "bananas:parent")


def named_parent(system_attrs: Mapping[str, Any]) -> int | None:
    """The number of the trial a sampler says this trial's architecture was mutated from, if any."""
    for name in PARENT_ATTRS:
        if system_attrs.get(name) is not None:
            return int(system_attrs[name])
    return None


def arch_from_params(space: Any, params: Mapping[str, Any]) -> Architecture:
    """The architecture a trial with these parameters stands for (raises `ValueError` when a
    parameter `suggest` asks for is missing)."""
    return space.suggest(optuna.trial.FixedTrial(dict(params)))


def arch_of_trial(space: Any, trial: optuna.trial.FrozenTrial) -> Architecture:
    """The trial's architecture: from its `arch` user attribute when the runner stored one, else
    replayed from its parameters."""
    stored = trial.user_attrs.get("arch")
    if stored is not None:
        return Architecture.from_dict(stored)
    return arch_from_params(space, trial.params)


def params_of(space: Any, arch: Architecture, near: Mapping[str, Any] | None = None,
              distributions: Mapping[str, BaseDistribution] | None = None) -> dict[str, Any] | None:
    """Parameters that make `suggest` return `arch`, or None when they cannot be found.

    Uses `space.params_of(arch)` when the space defines it. Otherwise, given the parameters
    `near` of a neighbour (e.g. the parent `arch` was mutated from) and their distributions, it
    tries every change of one categorical choice: enough for spaces whose `mutate` changes one
    choice and whose parameters are not conditional (NB201's edges, say).
    """
    from search_spaces.capabilities import has

    if has(space, "params_of"):
        try:
            return dict(space.params_of(arch))
        except ValueError:
            return None
    if near is None or distributions is None:
        return None
    base = dict(near)
    if _replays_to(space, base, arch):
        return base
    for name, dist in distributions.items():
        if not isinstance(dist, CategoricalDistribution) or name not in base:
            continue
        for choice in dist.choices:
            if choice == base[name]:
                continue
            candidate = {**base, name: choice}
            if _replays_to(space, candidate, arch):
                return candidate
    return None


def _replays_to(space: Any, params: dict[str, Any], arch: Architecture) -> bool:
    try:
        return arch_from_params(space, params) == arch
    except (ValueError, optuna.TrialPruned):
        return False


def probe_distributions(space: Any, seed: int = 0, n: int = 3) -> dict[str, BaseDistribution]:
    """The parameters (and their distributions) `suggest` asks for on a few random trials."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    found: dict[str, BaseDistribution] = {}
    for _ in range(n):
        trial = study.ask()
        try:
            space.suggest(trial)
        except optuna.TrialPruned:
            pass
        found.update(trial.distributions)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return found


def mutate_params(params: Mapping[str, Any], distributions: Mapping[str, BaseDistribution],
                  rng: np.random.Generator) -> dict[str, Any]:
    """Change one parameter to another value of its distribution (a mutation in parameter space,
    for spaces that cannot map their own `mutate` back to parameters)."""
    names = [n for n in params if n in distributions and _has_alternative(distributions[n])]
    if not names:
        raise ValueError("no parameter of this trial has a second value to mutate to")
    name = names[int(rng.integers(len(names)))]
    dist = distributions[name]
    new = dict(params)
    if isinstance(dist, CategoricalDistribution):
        others = [c for c in dist.choices if c != params[name]]
        new[name] = others[int(rng.integers(len(others)))]
    else:
        for _ in range(10):  # a fine grid almost never repeats the value; a coarse one may
            new[name] = uniform_value(dist, rng)
            if new[name] != params[name]:
                break
    return new


def uniform_value(dist: BaseDistribution, rng: np.random.Generator) -> int | float:
    """A value drawn uniformly (log-uniformly for log scales) on the distribution's own grid."""
    low, high, step = dist.low, dist.high, dist.step  # type: ignore[attr-defined]
    if dist.log:  # type: ignore[attr-defined]
        value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    else:
        value = float(rng.uniform(low, high))
    if step is not None:
        value = low + round((value - low) / step) * step
    value = min(max(value, low), high)
    return int(round(value)) if isinstance(dist, optuna.distributions.IntDistribution) else float(value)


def _has_alternative(dist: BaseDistribution) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return len(dist.choices) > 1
    return not dist.single()


class TargetedSampler(optuna.samplers.BaseSampler):
    """Base of our samplers that decide a trial's parameters in `before_trial` (`_targets[trial_id]`):
    `suggest` receives them where they fit the asked distribution, anything else is drawn at random."""

    name = "this sampler"  # in the single-objective error

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self._random = optuna.samplers.RandomSampler(seed=seed)
        self._targets: dict[int, dict[str, Any]] = {}
        # (parent, child) -> whether the evaluator prefers this child (one that can inherit the parent's
        # weights); the pipeline sets it for `--evaluator inherit`. None: any mutation will do.
        self.prefer: Callable[[Architecture, Architecture], bool] | None = None

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: optuna.Study,
                                    trial: optuna.trial.FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: optuna.trial.FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        self._single_objective(study)
        return {}

    def _single_objective(self, study: optuna.Study) -> None:
        if len(study.directions) > 1:
            raise ValueError(f"{self.name} is single-objective; use nsga2, tpe or gp for several objectives")

    def _mutate(self, space: Any, arch: Architecture, rng: np.random.Generator, tries: int = 30) -> Architecture:
        """`space.mutate(arch, rng)`; with `prefer` set, the first of up to `tries` mutations it prefers
        (else the first drawn)."""
        first = None
        for _ in range(tries if self.prefer is not None else 1):
            child = space.mutate(arch, rng)
            if self.prefer is None or self.prefer(arch, child):
                return child
            first = first or child
        assert first is not None
        return first

    def sample_independent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        target = self._targets.get(trial._trial_id)
        if target is not None and param_name in target:
            value = target[param_name]
            try:
                if param_distribution._contains(param_distribution.to_internal_repr(value)):
                    return value
            except (ValueError, TypeError):
                pass
        return self._random.sample_independent(study, trial, param_name, param_distribution)

    def after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial, state: optuna.trial.TrialState,
                    values: Any) -> None:
        self._targets.pop(trial._trial_id, None)
