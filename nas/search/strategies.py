"""`--strategy NAME`: the STRATEGIES registry. Every strategy runs through the same ask/tell loop
(`nas.search.runner`), storage, resume and workers: an Optuna sampler over the space's `suggest`,
or a proposer (SMASH's) that hands the loop architectures itself.

Register your own: `STRATEGIES.register("mine", Strategy("mine", make_sampler, about="..."))`
where `make_sampler(ctx: StrategyContext) -> optuna.samplers.BaseSampler`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial

from nas.search.adapter import probe_distributions
from nas.search.bananas import ACQUISITIONS, TARGETS, BananasSampler
from nas.search.config import DEFAULT_STRATEGY  # noqa: F401  (re-exported)
from nas.search.evolution import EvolutionSampler
from nas.supernets.differentiable.config import DiffOptions
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
    options: Any = None  # the strategy's options dataclass, from --strategy NAME?key=value

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
    # proposers that are not an Optuna sampler over `space.suggest`: `make_proposer(search)` returns an
    # object with `propose(trial) -> Architecture | None` (None: nothing left to propose)
    make_proposer: Callable[[Any], Any] | None = None
    supernet: str | None = None  # the supernet the pipeline fits before proposing
    options: type | None = None  # a dataclass of its settings: --strategy NAME?key=value&... (typed, checked)

    def sampler(self, ctx: StrategyContext) -> optuna.samplers.BaseSampler:
        if ctx.options is None and self.options is not None:
            from dataclasses import replace

            ctx = replace(ctx, options=self.options())
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


@dataclass(frozen=True)
class EvolutionOptions:
    population: int = 10
    tournament: int = 3

    def __post_init__(self) -> None:
        if not 1 <= self.tournament <= self.population:
            raise ValueError("evolution needs 1 <= tournament <= population")


@dataclass(frozen=True)
class TPEOptions:
    multivariate: bool = True
    n_startup_trials: int = 10


@dataclass(frozen=True)
class BananasOptions:
    """`--strategy bananas?acquisition=its&batch=5`: the sampler's settings (nas.search.bananas)."""

    n_init: int = 10
    batch: int = 3
    acquisition: str = "ei"
    kappa: float = 1.0
    n_parents: int = 5
    n_mutations: int = 100
    n_fresh: int = 50
    mutation_steps: int = 2
    model: str = "gbm"
    target: str = "copula"

    def __post_init__(self) -> None:
        from predictors.models import MODELS

        if self.acquisition not in ACQUISITIONS:
            raise ValueError(f"bananas acquisition={self.acquisition}: use one of {', '.join(ACQUISITIONS)}")
        if self.target not in TARGETS:
            raise ValueError(f"bananas target={self.target}: use one of {', '.join(TARGETS)}")
        if self.model not in MODELS and ":" not in self.model:  # module:attr: a plug-in model
            raise ValueError(f"bananas model={self.model}: use one of {', '.join(MODELS)} or module:attr")
        if self.n_init < 4 or min(self.batch, self.n_parents, self.mutation_steps) < 1 or self.n_mutations < 0 \
                or self.n_fresh < 0:
            raise ValueError("bananas needs n_init >= 4, batch, n_parents, mutation_steps >= 1, n_mutations, "
                             "n_fresh >= 0")


@dataclass(frozen=True)
class NSGA2Options:
    population_size: int = 50


def strategy_of(spec: str) -> tuple[Strategy, Any]:
    """The registered strategy `spec` names and its parsed options (`ValueError` with one line)."""
    from nas.config_util import options_of, split_spec

    name, arg, raw = split_spec(spec)
    if arg:
        raise ValueError(f"--strategy {spec!r}: strategies take options as NAME?key=value, not NAME:ARG")
    strategy = STRATEGIES.get(name)
    return strategy, options_of(strategy.options, name, raw, "strategy")


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
    Strategy("evolution", lambda c: EvolutionSampler(c.space, population=c.options.population,
                                                     tournament=c.options.tournament, seed=c.seed),
             "regularized evolution: population 10, tournament 3, the space's mutate", multi_objective=False,
             options=EvolutionOptions),
    Strategy("tpe", lambda c: optuna.samplers.TPESampler(multivariate=c.options.multivariate,
                                                         n_startup_trials=c.options.n_startup_trials, seed=c.seed,
                                                         constraints_func=c.constraints_func),
             "multivariate TPE", enforces_constraints=True, options=TPEOptions),
    Strategy("nsga2", lambda c: optuna.samplers.NSGAIISampler(population_size=c.options.population_size, seed=c.seed,
                                                              constraints_func=c.constraints_func),
             "NSGA-II (population 50)", enforces_constraints=True, options=NSGA2Options),
    Strategy("gp", lambda c: optuna.samplers.GPSampler(seed=c.seed, constraints_func=c.constraints_func,
                                                      warn_independent_sampling=False),
             "Gaussian-process Bayesian optimisation", enforces_constraints=True),
    Strategy("qmc", lambda c: optuna.samplers.QMCSampler(scramble=True, seed=c.seed, warn_independent_sampling=False),
             "scrambled Sobol quasi-random sequence (seeded)"),
    Strategy("bananas", lambda c: BananasSampler(c.space, seed=c.seed, **asdict(c.options)),
             "predictor-guided (BANANAS): GBM ensemble on rank-normal targets, EI over mutations of the best",
             multi_objective=False, options=BananasOptions),
    Strategy("cmaes", _cmaes, "CMA-ES: numeric spaces only (refused for categorical choices)", multi_objective=False),
):
    register_strategy(_strategy)


def _smash_proposer(search: Any) -> Any:
    from nas.supernets.smash.strategy import SmashProposer

    return SmashProposer(search.space, search.config.smash, search.config.trials, search.study)


# SMASH fits its supernet first (the pipeline does that for a `supernet` strategy), then proposes
# sampled architectures and hill-climbs around the best scored; its sampler only seeds the study.
register_strategy(Strategy("smash", lambda c: optuna.samplers.RandomSampler(seed=c.seed),
                           about="SMASH: fit the HyperNet supernet, score samples, hill-climb around the best",
                           multi_objective=False, make_proposer=_smash_proposer, supernet="smash"))


def _differentiable_proposer(search: Any) -> Any:
    from nas.supernets.differentiable.strategy import DifferentiableProposer

    return DifferentiableProposer(search.space, search.run_dir, search.config.trials, search.study,
                                  search.config.seed)


def _differentiable_sampler(ctx: StrategyContext) -> optuna.samplers.BaseSampler:
    ctx.options.check_space(ctx.space.name)  # refused here, before the run directory is opened
    return optuna.samplers.RandomSampler(seed=ctx.seed)


# Differentiable supernets (nas/supernets/differentiable/): fit the supernet's weights and architecture
# parameters by bilevel steps, then propose the discretised cell first and samples of the learned
# distribution after it; options: --strategy darts?channels=8&cells=1&beta=2 (DiffOptions)
for _mode, _about in (("darts", "DARTS: softmax mixture of every op, first-order bilevel, beta-DARTS regulariser"),
                      ("gdas", "GDAS: one Gumbel-softmax op per edge per step, temperature 10 -> 0.1"),
                      ("proxyless", "ProxylessNAS binary gates: one path per weight step, two for the gate gradient")):
    register_strategy(Strategy(_mode, _differentiable_sampler, about=_about + " (nb201, dense)",
                               multi_objective=False, make_proposer=_differentiable_proposer, supernet=_mode,
                               options=DiffOptions))
