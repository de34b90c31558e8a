"""Regularized evolution (Real et al. 2019) as an Optuna sampler, so it runs through the same
ask/tell path, storage, workers and resume as every other strategy.

At each `ask` (in `before_trial`): while the study has fewer than `population` complete trials,
the trial is random (a mutation of an `--init` architecture when there are some); after that, the
population is the `population` most recent complete trials
(the oldest dies as a child is born: ageing), a tournament of `tournament` members drawn at random
(with replacement, as in Real et al.'s Algorithm 1 and NAS-Bench-201's R-EA) picks the parent
(feasible before infeasible, then the better value), the space's `mutate` changes one edge/choice
of the parent, and the child's parameters become the values `suggest` receives. A child that
repeats an earlier architecture is answered from the cache and still counts (and ages the
population) like any trial. Single-objective only.

It is an ordinary Optuna sampler too: in a study whose parameters are not a NAS space's (or with
`space=None`), a child changes one of its parent's parameters within the study's own
distributions; it passes Optuna's own sampler test suites (tests/nas/search/test_samplers_contract.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState

from nas.search.adapter import TargetedSampler, arch_of_trial, mutate_params, params_of
from nas.search.objectives import feasible

PARENT_ATTR = "evolution:parent"
INIT_ATTR = "init"  # nas.search.init's attribute on the trials --init enqueued


class EvolutionSampler(TargetedSampler):
    """Regularized evolution over any space with `suggest` and `mutate` (population 10,
    tournament 3 by default)."""

    name = "evolution"

    def __init__(self, space: Any = None, population: int = 10, tournament: int = 3, seed: int | None = None) -> None:
        if not 1 <= tournament <= population:
            raise ValueError(f"need 1 <= tournament <= population, got {tournament}, {population}")
        self.space, self.population, self.tournament = space, population, tournament
        super().__init__(seed)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._single_objective(study)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if trial.system_attrs.get("fixed_params"):
            return  # an enqueued trial (--init) is evaluated as given
        done.sort(key=lambda t: t.number)
        if len(done) < self.population:
            seeds = [t for t in done if t.user_attrs.get(INIT_ATTR)]  # --init: mutation starts from them
            if not seeds:
                return
            parent = self._tournament(seeds, study.direction)
        else:
            parent = self._tournament(done[-self.population:], study.direction)
        self._targets[trial._trial_id] = self._child_params(parent)
        study._storage.set_trial_system_attr(trial._trial_id, PARENT_ATTR, parent.number)

    def _tournament(self, population: Sequence[FrozenTrial], direction: StudyDirection) -> FrozenTrial:
        picks = self._rng.choice(len(population), size=self.tournament, replace=True)
        sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0

        def fitness(t: FrozenTrial) -> tuple[bool, float]:
            return feasible(t.user_attrs.get("constraint")), sign * float(t.value)

        return max((population[int(i)] for i in picks), key=fitness)

    def _child_params(self, parent: FrozenTrial) -> dict[str, Any]:
        try:
            arch = arch_of_trial(self.space, parent) if self.space is not None else None
        except (ValueError, KeyError, TypeError):  # not this space's parameters: a plain Optuna study
            arch = None
        if arch is None:
            try:
                return mutate_params(parent.params, parent.distributions, self._rng)
            except ValueError:  # nothing to mutate: the child is random
                return {}
        for _ in range(20):
            child = self._mutate(self.space, arch, self._rng)
            params = params_of(self.space, child, parent.params, parent.distributions)
            if params is not None:
                return params
        # the space cannot map its mutation back to parameters: change one parameter instead
        return mutate_params(parent.params, parent.distributions, self._rng)

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self._single_objective(study)
        return super().sample_independent(study, trial, param_name, param_distribution)


