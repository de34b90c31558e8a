"""Predictor-guided search (BANANAS-style, White et al. 2021) as an Optuna sampler.

The first `n_init` trials are random. After that, every `batch` trials the sampler fits an
ensemble accuracy predictor (`predictors`: five subsampled gradient-boosting models on path +
live-graph features, fixed hyperparameters, std = their spread, as in BANANAS) on every
complete trial, draws candidates (`n_mutations` mutations, one to two steps each, of the
`n_parents` best architectures, plus `n_fresh` fresh samples), drops those already evaluated (by
canonical form where the space has one), and queues the `batch` best by the acquisition:
expected improvement over the best value (`ei`) or mean + `kappa` std (`ucb`). A queued
architecture becomes the next trial's parameters as in the evolution sampler. Single-objective;
maximises or minimises as the study says.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from optuna.distributions import BaseDistribution
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState
from scipy import stats

from nas.search.adapter import TargetedSampler, arch_of_trial, params_of
from nas.search.objectives import feasible

ACQUISITIONS = ("ei", "ucb")
PARENT_ATTR = "bananas:parent"  # the trial whose architecture a queued child was mutated from
FAST_GBM = {"max_depth": 3, "n_estimators": 100, "learning_rate": 0.1}


class BananasSampler(TargetedSampler):
    def __init__(self, space: Any, seed: int | None = None, n_init: int = 10, batch: int = 10,
                 acquisition: str = "ei", kappa: float = 1.0, n_parents: int = 5, n_mutations: int = 100,
                 n_fresh: int = 50, model: str = "gbm", features: Sequence[str] = ("path", "graf", "params"),
                 model_params: dict[str, Any] | None = None) -> None:
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition {acquisition!r}: use one of {', '.join(ACQUISITIONS)}")
        if n_init < 4 or batch < 1:
            raise ValueError(f"need n_init >= 4 and batch >= 1, got {n_init}, {batch}")
        self.space, self.n_init, self.batch, self.acquisition, self.kappa = space, n_init, batch, acquisition, kappa
        self.n_parents, self.n_mutations, self.n_fresh = n_parents, n_mutations, n_fresh
        self.model, self.features = model, tuple(features)
        # fixed hyperparameters and no calibration: no out-of-fold work per refit
        self.model_params = FAST_GBM if model_params is None and model == "gbm" else dict(model_params or {})
        self._seed = 0 if seed is None else int(seed)
        self._rng = np.random.default_rng(seed)
        super().__init__(seed)
        self._queue: list[tuple[dict[str, Any], int | None]] = []
        self.fits = 0

    def reseed_rng(self) -> None:
        self._rng = np.random.default_rng()
        self._random.reseed_rng()

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: Study, trial: FrozenTrial,
                        search_space: dict[str, BaseDistribution]) -> dict[str, Any]:
        return {}

    def _key(self, arch: Any) -> str:
        canonical = getattr(self.space, "canonical", None)
        return (canonical(arch) if callable(canonical) else arch).key()

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        if study._is_multi_objective():
            raise ValueError("bananas is single-objective; use nsga2, tpe or gp for several objectives")
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

    def _propose(self, done: list[FrozenTrial], direction: StudyDirection) -> list[tuple[dict[str, Any], int | None]]:
        from predictors.predictor import AccuracyPredictor, PredictorConfig

        sign = 1.0 if direction == StudyDirection.MAXIMIZE else -1.0
        archs = [arch_of_trial(self.space, t) for t in done]
        y = np.array([sign * float(t.value) for t in done])
        ok = np.array([feasible(t.user_attrs.get("constraint")) for t in done])
        config = PredictorConfig(space=str(getattr(self.space, "name", "")), model=self.model,
                                 features=self.features, seed=self._seed + self.fits, params=self.model_params,
                                 calibrate=False)
        predictor = AccuracyPredictor(self.space, config).fit(archs, y)
        self.fits += 1
        seen = {self._key(a) for a in archs}
        order = np.argsort(-np.where(ok, y, -np.inf), kind="stable")[:self.n_parents]
        cands: dict[str, tuple[Any, int | None]] = {}  # key -> (architecture, the trial it was mutated from)
        for k in range(self.n_mutations):
            parent = int(order[k % len(order)])
            child = archs[parent]
            for _ in range(1 + int(self._rng.integers(2))):
                child = self._mutate(self.space, child, self._rng)
            cands.setdefault(self._key(child), (child, done[parent].number))
        for _ in range(self.n_fresh):
            a = self.space.sample(self._rng)
            cands.setdefault(self._key(a), (a, None))
        pool = [a for k, (a, _) in cands.items() if k not in seen]
        parents = [p for k, (_, p) in cands.items() if k not in seen]
        if not pool:
            return []
        mean, std = predictor.predict(pool)
        best = float(np.max(y[ok])) if ok.any() else float(np.max(y))
        if self.acquisition == "ucb":
            score = mean + self.kappa * std
        else:
            s = np.maximum(std, 1e-9)
            z = (mean - best) / s
            score = (mean - best) * stats.norm.cdf(z) + s * stats.norm.pdf(z)
        picks = np.argsort(-score, kind="stable")[:self.batch]
        out = []
        for i in picks:
            params = params_of(self.space, pool[int(i)], done[int(order[0])].params, done[int(order[0])].distributions)
            if params is not None:
                out.append((params, parents[int(i)]))
        return out
