"""Predictor-guided search (BANANAS-style, White et al. 2021) as an Optuna sampler.

The first `n_init` trials are random. After that, every `batch` trials the sampler fits an
ensemble accuracy predictor (`predictors`: five subsampled gradient-boosting models on path +
live-graph features, fixed hyperparameters, std = their spread, as in BANANAS) on every
complete trial, draws candidates (`n_mutations` mutations, one to `mutation_steps` steps each, of
the `n_parents` best architectures, plus `n_fresh` fresh samples), drops those already evaluated
(by canonical form where the space has one), and queues the `batch` best by the acquisition:
expected improvement over the best value (`ei`), mean + `kappa` std (`ucb`), one draw from
N(mean, std) per candidate (`its`, BANANAS' independent Thompson sampling) or the mean alone
(`mean`). The predictor learns the values as they are (`target="raw"`) or the normal scores of
their ranks (`"copula"`: an untrainable architecture far below the rest no longer dominates the
squared loss, so the model spends its capacity on the top, where the search decides).
A queued architecture becomes the next trial's parameters as in the evolution sampler.
Single-objective; maximises or minimises as the study says.

Like the evolution sampler it is an ordinary Optuna sampler too: in a study whose parameters are
not a NAS space's (or with `space=None`) the "architectures" are the trials' parameters, encoded
as one-hot choices and scaled numbers, mutated one parameter at a time (`mutate_params`), and it
passes Optuna's own sampler test suites (tests/nas/search/test_samplers_contract.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from nas.search.adapter import TargetedSampler, arch_of_trial, mutate_params, params_of, uniform_value
from nas.search.objectives import feasible

ACQUISITIONS = ("ei", "ucb", "its", "mean")
TARGETS = ("raw", "copula", "log_gap")
PARENT_ATTR = "bananas:parent"  # the trial whose architecture a queued child was mutated from
FAST_GBM = {"max_depth": 3, "n_estimators": 100, "learning_rate": 0.1}


class BananasSampler(TargetedSampler):
    name = "bananas"

    def __init__(self, space: Any = None, seed: int | None = None, n_init: int = 10, batch: int = 3,
                 acquisition: str = "ei", kappa: float = 1.0, n_parents: int = 5, n_mutations: int = 100,
                 n_fresh: int = 50, model: str = "gbm", features: Sequence[str] = ("path", "graf", "params"),
                 model_params: dict[str, Any] | None = None, mutation_steps: int = 2, target: str = "copula") -> None:
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition {acquisition!r}: use one of {', '.join(ACQUISITIONS)}")
        if target not in TARGETS:
            raise ValueError(f"target {target!r}: use one of {', '.join(TARGETS)}")
        if n_init < 4 or batch < 1 or mutation_steps < 1 or n_parents < 1:
            raise ValueError(f"need n_init >= 4, batch >= 1, mutation_steps >= 1 and n_parents >= 1, got "
                             f"{n_init}, {batch}, {mutation_steps}, {n_parents}")
        self.space, self.n_init, self.batch, self.acquisition, self.kappa = space, n_init, batch, acquisition, kappa
        self.n_parents, self.n_mutations, self.n_fresh = n_parents, n_mutations, n_fresh
        self.mutation_steps, self.target = mutation_steps, target
        self.model, self.features = model, tuple(features)
        # fixed hyperparameters and no calibration: no out-of-fold work per refit
        self.model_params = FAST_GBM if model_params is None and model == "gbm" else dict(model_params or {})
        self._seed = 0 if seed is None else int(seed)
        super().__init__(seed)
        self._queue: list[tuple[dict[str, Any], int | None]] = []
        self.fits = 0

    def sample_independent(self, study: Study, trial: FrozenTrial, param_name: str,
                           param_distribution: BaseDistribution) -> Any:
        self._single_objective(study)
        return super().sample_independent(study, trial, param_name, param_distribution)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self._single_objective(study)
        if trial.system_attrs.get("fixed_params"):
            return  # an enqueued trial (--init) is evaluated as given
        done = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.value is not None and np.isfinite(t.value)]
        if len(done) < self.n_init:
            return
        if not self._queue:
            self._queue = self._propose(done, study.direction)
        if self._queue:
            params, parent = self._queue.pop(0)
            self._targets[trial._trial_id] = params
            if parent is not None:
                study._storage.set_trial_system_attr(trial._trial_id, PARENT_ATTR, parent)

    def _mode(self, done: list[FrozenTrial]) -> _Archs | _Params:
        if self.space is not None:
            try:
                return _Archs(self, [arch_of_trial(self.space, t) for t in done])
            except (ValueError, KeyError, TypeError):  # not this space's parameters: a plain Optuna study
                pass
        return _Params(self, done)

    def _propose(self, done: list[FrozenTrial], direction: StudyDirection) -> list[tuple[dict[str, Any], int | None]]:
        sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
        y = np.array([sign * float(t.value) for t in done])
        ok = np.array([feasible(t.user_attrs.get("constraint")) for t in done])
        mode = self._mode(done)
        y = transform_target(y, self.target)
        mode.fit(y, self._seed + self.fits)
        self.fits += 1
        seen = {mode.key(a) for a in mode.items}
        order = np.argsort(-np.where(ok, y, -np.inf), kind="stable")[:self.n_parents]
        cands: dict[Any, tuple[Any, int | None]] = {}  # key -> (candidate, the trial it was mutated from)
        for k in range(self.n_mutations):
            parent = int(order[k % len(order)])
            child = mode.items[parent]
            for _ in range(1 + int(self._rng.integers(self.mutation_steps))):
                child = mode.mutate(child, self._rng)
            cands.setdefault(mode.key(child), (child, done[parent].number))
        for _ in range(self.n_fresh):
            a = mode.sample(self._rng)
            cands.setdefault(mode.key(a), (a, None))
        pool = [a for k, (a, _) in cands.items() if k not in seen]
        parents = [p for k, (_, p) in cands.items() if k not in seen]
        if not pool:
            return []
        mean, std = mode.predict(pool)
        score = self._acquire(mean, std, float(np.max(y[ok])) if ok.any() else float(np.max(y)))
        picks = np.argsort(-score, kind="stable")[:self.batch]
        out = [(mode.params(pool[int(i)], done[int(order[0])]), parents[int(i)]) for i in picks]
        return [(p, parent) for p, parent in out if p is not None]

    def _acquire(self, mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
        if self.acquisition == "ucb":
            return mean + self.kappa * std
        if self.acquisition == "its":  # independent Thompson sampling (BANANAS): one draw per candidate
            return mean + std * self._rng.standard_normal(len(mean))
        if self.acquisition == "mean":
            return mean
        s = np.maximum(std, 1e-9)
        z = (mean - best) / s
        return (mean - best) * stats.norm.cdf(z) + s * stats.norm.pdf(z)


def transform_target(y: np.ndarray, how: str) -> np.ndarray:
    """The values the predictor learns (larger is better), monotone in `y`: `raw`; `copula`, normal
    scores of the ranks (outliers such as untrainable cells stop dominating the squared loss);
    `log_gap`, minus the log of the gap to just above the best (stretches the top, where the search
    decides, and squeezes the bottom)."""
    if how == "copula":
        return stats.norm.ppf((stats.rankdata(y) - 0.5) / len(y))
    if how == "log_gap":
        span = float(np.max(y) - np.min(y)) or 1.0
        return -np.log(np.max(y) + 0.01 * span - y)
    return y


class _Archs:
    """The space's architectures, its mutate (preferring children that can inherit, see
    `TargetedSampler.prefer`) / sample, and the graph-feature predictor."""

    def __init__(self, sampler: BananasSampler, archs: list[Any]) -> None:
        self.s, self.space, self.items = sampler, sampler.space, archs

    def fit(self, y: np.ndarray, seed: int) -> None:
        from predictors.predictor import AccuracyPredictor, PredictorConfig

        s = self.s
        config = PredictorConfig(space=str(getattr(self.space, "name", "")), model=s.model, features=s.features,
                                 seed=seed, params=s.model_params, calibrate=False)
        self.predictor = AccuracyPredictor(self.space, config).fit(self.items, y)

    def predict(self, archs: list[Any]) -> tuple[np.ndarray, np.ndarray]:
        return self.predictor.predict(archs)

    def key(self, arch: Any) -> str:
        canonical = getattr(self.space, "canonical", None)
        return (canonical(arch) if callable(canonical) else arch).key()

    def mutate(self, arch: Any, rng: np.random.Generator) -> Any:
        return self.s._mutate(self.space, arch, rng)

    def sample(self, rng: np.random.Generator) -> Any:
        return self.space.sample(rng)

    def params(self, arch: Any, near: FrozenTrial) -> dict[str, Any] | None:
        return params_of(self.space, arch, near.params, near.distributions)


class _Params:
    """A plain Optuna study: parameter dicts over the distributions the trials used (the latest
    trial's distribution of each name), one-hot choices and [0, 1]-scaled numbers (log where the
    distribution is) plus a presence bit, so conditional parameters encode too."""

    def __init__(self, sampler: BananasSampler, done: list[FrozenTrial]) -> None:
        self.s, self.items = sampler, [dict(t.params) for t in done]
        self.dists: dict[str, BaseDistribution] = {}
        for t in sorted(done, key=lambda t: t.number):
            self.dists.update(t.distributions)
        self.names = sorted(self.dists)

    def _encode(self, params: dict[str, Any]) -> list[float]:
        row: list[float] = []
        for name in self.names:
            d, v = self.dists[name], params.get(name)
            if isinstance(d, CategoricalDistribution):
                row += [float(v is not None and c == v) for c in d.choices]
                continue
            low, high = float(d.low), float(d.high)  # type: ignore[attr-defined]
            if d.log:  # type: ignore[attr-defined]
                low, high = np.log(low), np.log(high)
                x = np.log(float(v)) if v is not None else low
            else:
                x = float(v) if v is not None else low
            row += [float(v is not None), float(np.clip((x - low) / (high - low), 0, 1)) if high > low else 0.0]
        return row

    def _x(self, items: list[dict[str, Any]]) -> np.ndarray:
        return np.array([self._encode(p) for p in items], dtype=np.float64).reshape(len(items), -1)

    def fit(self, y: np.ndarray, seed: int) -> None:
        from predictors.models import make_model

        self.model = make_model(self.s.model, seed=seed, tune=False, calibrate=False,
                                **self.s.model_params).fit(self._x(self.items), y)

    def predict(self, items: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(self._x(items))

    def key(self, params: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        return tuple(sorted((k, repr(v)) for k, v in params.items()))

    def mutate(self, params: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        try:
            return mutate_params(params, {n: self.dists[n] for n in params if n in self.dists}, rng)
        except ValueError:  # nothing with a second value: the parent itself (dropped as seen)
            return params

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.names:
            d = self.dists[name]
            if isinstance(d, CategoricalDistribution):
                out[name] = d.choices[int(rng.integers(len(d.choices)))]
            else:
                out[name] = uniform_value(d, rng)
        return out

    def params(self, params: dict[str, Any], near: FrozenTrial) -> dict[str, Any]:
        return params

