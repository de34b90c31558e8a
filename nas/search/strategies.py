"""`--strategy NAME`: the STRATEGIES registry. Every strategy is an Optuna sampler, so all of them
run through the same ask/tell loop (`nas.search.runner`), storage, resume and workers.

Register your own: `STRATEGIES.register("mine", Strategy("mine", make_sampler, about="..."))`
where `make_sampler(ctx: StrategyContext) -> optuna.samplers.BaseSampler`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial

from nas.search.adapter import probe_distributions
from nas.search.bananas import BananasSampler
from nas.search.config import DEFAULT_STRATEGY  # noqa: F401  (re-exported)
from nas.search.evolution import EvolutionSampler
from search_spaces.registry import Registry

NATIVE_CONSTRAINTS = hasattr(optuna.Trial, "set_constraint")  # Optuna >= 5


def trial_constraint(trial: FrozenTrial) -> Sequence[float]:
    """Optuna's `constraints_func`: the values the runner stored (<= 0 feasible)."""
    return trial.user_attrs.get("constraint") or [0.0]


@dataclass(frozen=True)
class StrategyContext:
    space: Any
    seed: int | None
    n_objectives: int = 1
    constrained: bool = False  # hard limits are set: pass `trial_constraint` where the sampler takes it

    @property
    def constraints_func(self) -> Callable[[FrozenTrial], Sequence[float]] | None:
        """None from Optuna 5 on: the runner sets each trial's constraints with `Trial.set_constraint`,
        which TPE, NSGA-II and GP read; before it, samplers take this function."""
        return trial_constraint if self.constrained and not NATIVE_CONSTRAINTS else None


@dataclass(frozen=True)
class Strategy:
    """A named way to propose architectures. `enforces_constraints`: the sampler itself steers
    away from infeasible trials (the runner filters them from the best for every strategy)."""

    name: str
    make_sampler: Callable[[StrategyContext], optuna.samplers.BaseSampler]
    about: str = ""
    multi_objective: bool = True
    enforces_constraints: bool = False

    def sampler(self, ctx: StrategyContext) -> optuna.samplers.BaseSampler:
        if ctx.n_objectives > 1 and not self.multi_objective:
            raise ValueError(f"strategy {self.name} is single-objective; for several --objectives use "
                             f"{', '.join(n for n in STRATEGIES if STRATEGIES.get(n).multi_objective)}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return self.make_sampler(ctx)


STRATEGIES: Registry[Strategy] = Registry("strategy")


def register_strategy(strategy: Strategy) -> Strategy:
    STRATEGIES.register(strategy.name, strategy)
    return strategy


def _cmaes(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    categorical = sorted(n for n, d in probe_distributions(ctx.space).items() if isinstance(d, CategoricalDistribution))
    if categorical:
        shown = ", ".join(categorical[:3]) + (", ..." if len(categorical) > 3 else "")
        raise ValueError(f"cmaes: space {ctx.space.name!r} has categorical choices ({shown}) and Optuna's CMA-ES "
                         "samples those at random (no continuous encoding is implemented); use tpe, gp or evolution")
    try:
        import cmaes  # noqa: F401
    except ImportError:
        raise ValueError("cmaes needs the `cmaes` package: pip install cmaes") from None
    return optuna.samplers.CmaEsSampler(seed=ctx.seed)


for _strategy in (
    Strategy("random", lambda c: optuna.samplers.RandomSampler(seed=c.seed), "uniform random parameters"),
    Strategy("evolution", lambda c: EvolutionSampler(c.space, population=10, tournament=3, seed=c.seed),
             "regularized evolution: population 10, tournament 3, the space's mutate", multi_objective=False),
    Strategy("tpe", lambda c: optuna.samplers.TPESampler(multivariate=True, seed=c.seed,
                                                         constraints_func=c.constraints_func),
             "multivariate TPE", enforces_constraints=True),
    Strategy("nsga2", lambda c: optuna.samplers.NSGAIISampler(seed=c.seed, constraints_func=c.constraints_func),
             "NSGA-II (population 50)", enforces_constraints=True),
    Strategy("gp", lambda c: optuna.samplers.GPSampler(seed=c.seed, constraints_func=c.constraints_func,
                                                      warn_independent_sampling=False),
             "Gaussian-process Bayesian optimisation", enforces_constraints=True),
    Strategy("qmc", lambda c: optuna.samplers.QMCSampler(scramble=True, seed=c.seed, warn_independent_sampling=False),
             "scrambled Sobol quasi-random sequence (seeded)"),
    Strategy("bananas", lambda c: BananasSampler(c.space, seed=c.seed), "predictor-guided (BANANAS): GBM ensemble + "
             "expected improvement over mutations of the best", multi_objective=False),
    Strategy("cmaes", _cmaes, "CMA-ES: numeric spaces only (refused for categorical choices)", multi_objective=False),
):
    register_strategy(_strategy)


def _smash_has_no_sampler(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    raise ValueError("smash trains a supernet and scores with it instead of sampling trials; "
                     "run it as nas search --strategy smash (dense space, no --evaluator)")


# Registered so its name lists and validates with the others; `nas search` runs it through
# nas.smash (fit the supernet, then score), not through the Optuna loop.
register_strategy(Strategy("smash", _smash_has_no_sampler, about="SMASH: HyperNet supernet, then scoring",
                           multi_objective=False))
