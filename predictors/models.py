"""Accuracy regressors on feature arrays: `fit(X, y)`, `predict(X) -> (mean, std)`.

`gbm` (scikit-learn gradient boosting, an ensemble of subsampled boosters), `rf` (random forest),
`gp` (Gaussian process, Matern + white noise), `mlp` (a small torch MLP ensemble) and `ensemble`
(gbm + rf + mlp). Each tunes its hyperparameters by K-fold cross-validation on the training rows
only (Kendall tau of the out-of-fold predictions), then calibrates its std on the same
out-of-fold residuals: std = sqrt((a * spread)^2 + (b * d)^2), with `spread` the model's own
uncertainty (member spread, tree spread, GP std) and `d` the distance to the nearest training row,
a and b >= 0 fitted by non-negative least squares to the squared residuals. So the std means what
it says on held-out data and grows away from the data for every model, trees included
(`calibrate=False` skips the out-of-fold work and returns the raw spread: for fast refits in a
search). Deterministic for a seed.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from scipy import optimize, stats
from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

MODELS = ("gbm", "rf", "gp", "mlp", "ensemble")


class _Scaler:
    def fit(self, x: np.ndarray) -> _Scaler:
        self.mu, self.sd = x.mean(0), x.std(0)
        self.sd[self.sd < 1e-12] = 1.0
        return self

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mu) / self.sd


class Regressor:
    """Base: grid-search CV, std calibration and nearest-neighbour distance; subclasses give
    `grid` and `_fit_raw(X, y, params) -> state`, `_predict_raw(state, X) -> (mean, spread)`."""

    name = "base"
    grid: dict[str, list[Any]] = {}

    def __init__(self, seed: int = 0, tune: bool = True, calibrate: bool = True, **params: Any) -> None:
        self.seed, self.tune, self.calibrate, self.fixed = seed, tune, calibrate, params
        self.params: dict[str, Any] = {}
        self.calibration = (1.0, 0.0)

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _predict_raw(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _configs(self) -> list[dict[str, Any]]:
        grid = {k: v for k, v in self.grid.items() if k not in self.fixed}
        keys = sorted(grid)
        configs = [dict(zip(keys, vals, strict=True)) for vals in itertools.product(*(grid[k] for k in keys))]
        return [{**c, **self.fixed} for c in configs] or [dict(self.fixed)]

    def fit(self, x: np.ndarray, y: np.ndarray) -> Regressor:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or len(x) != len(y) or len(y) < 4:
            raise ValueError(f"need at least 4 training rows with matching targets, got X {x.shape}, y {y.shape}")
        self.scaler = _Scaler().fit(x)
        xs = self.scaler(x)
        self.x_train, self.cv_kendall = xs, float("nan")
        configs = self._configs()
        if not self.calibrate and (not self.tune or len(configs) == 1):  # no out-of-fold work at all
            self.params, self.calibration = configs[0], (1.0, 0.0)
            self.state = self._fit_raw(xs, y, configs[0])
            return self
        folds = self._folds(len(y))
        best, best_tau, best_oof = configs[0], -np.inf, None
        for params in configs if (self.tune and len(configs) > 1) else configs[:1]:
            oof = self._oof(xs, y, folds, params)
            tau = stats.kendalltau(oof[0], y).statistic
            tau = -1.0 if not np.isfinite(tau) else tau
            if tau > best_tau:
                best, best_tau, best_oof = params, tau, oof
        self.params, self.cv_kendall = best, float(best_tau)
        if self.calibrate:
            self._calibrate(y, *best_oof)
        self.state = self._fit_raw(xs, y, best)
        return self

    def _folds(self, n: int) -> list[np.ndarray]:
        k = min(3, max(2, n // 8))
        return np.array_split(np.random.default_rng(self.seed).permutation(n), k)

    def _oof(self, xs: np.ndarray, y: np.ndarray, folds: list[np.ndarray],
             params: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, spread, dist = np.zeros(len(y)), np.zeros(len(y)), np.zeros(len(y))
        for f in folds:
            train = np.setdiff1d(np.arange(len(y)), f)
            state = self._fit_raw(xs[train], y[train], params)
            mean[f], spread[f] = self._predict_raw(state, xs[f])
            dist[f] = _nearest(xs[f], xs[train])
        return mean, spread, dist

    def _calibrate(self, y: np.ndarray, mean: np.ndarray, spread: np.ndarray, dist: np.ndarray) -> None:
        r2 = (y - mean) ** 2
        (a2, b2), _ = optimize.nnls(np.stack([spread**2, dist**2], axis=1), r2)
        floor = 1e-3 * (np.std(y) + 1e-12) / (np.median(dist) + 1e-12)  # keep std growing with distance
        self.calibration = (float(np.sqrt(a2)), float(max(np.sqrt(b2), floor)))

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = self.scaler(np.asarray(x, dtype=np.float64))
        mean, spread = self._predict_raw(self.state, xs)
        a, b = self.calibration
        std = np.sqrt((a * spread) ** 2 + (b * _nearest(xs, self.x_train)) ** 2) if b > 0 else a * spread
        return mean, std

    def config(self) -> dict[str, Any]:
        return {"model": self.name, "seed": self.seed, "params": self.params}


def _nearest(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a**2).sum(1)[:, None] + (b**2).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2.min(1), 0.0))


class GBM(Regressor):
    name = "gbm"
    grid = {"max_depth": [2, 4], "n_estimators": [200], "learning_rate": [0.05]}
    members = 5

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Any:
        return [GradientBoostingRegressor(subsample=0.8, max_features=0.5, random_state=self.seed + k,
                                          **params).fit(x, y) for k in range(self.members)]

    def _predict_raw(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.stack([m.predict(x) for m in state])
        return p.mean(0), p.std(0)


class RF(Regressor):
    name = "rf"
    grid = {"max_features": [0.3, 1.0], "min_samples_leaf": [1, 3], "n_estimators": [200]}

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Any:
        return RandomForestRegressor(random_state=self.seed, n_jobs=1, **params).fit(x, y)

    def _predict_raw(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.stack([t.predict(x) for t in state.estimators_])
        return p.mean(0), p.std(0)


class GP(Regressor):
    """Hyperparameters by marginal likelihood (sklearn's optimiser, seeded restarts); `nu` by CV."""

    name = "gp"
    grid = {"nu": [1.5, 2.5]}

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Any:
        kernel = ConstantKernel(1.0) * Matern(length_scale=float(np.sqrt(x.shape[1])), nu=params["nu"],
                                              length_scale_bounds=(1e-2, 1e4)) + WhiteKernel(0.1, (1e-6, 1.0))
        return GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=1,
                                        random_state=self.seed).fit(x, y)

    def _predict_raw(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = state.predict(x, return_std=True)
        return mean, std


class MLP(Regressor):
    """An ensemble of small ReLU MLPs (2 x `hidden`), full-batch Adam; members differ by init seed."""

    name = "mlp"
    grid = {"weight_decay": [1e-4, 1e-2], "hidden": [64], "epochs": [200]}
    members = 5

    def _fit_raw(self, x: np.ndarray, y: np.ndarray, params: dict[str, Any]) -> Any:
        mu, sd = y.mean(), y.std() + 1e-12
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor((y - mu) / sd, dtype=torch.float32)
        nets = []
        for k in range(self.members):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed * 1000 + k)
                net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], params["hidden"]), torch.nn.ReLU(),
                                          torch.nn.Linear(params["hidden"], params["hidden"]), torch.nn.ReLU(),
                                          torch.nn.Linear(params["hidden"], 1))
            opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=params["weight_decay"])
            for _ in range(params["epochs"]):
                opt.zero_grad()
                torch.nn.functional.mse_loss(net(xt).squeeze(1), yt).backward()
                opt.step()
            nets.append(net.eval())
        return nets, mu, sd

    def _predict_raw(self, state: Any, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nets, mu, sd = state
        with torch.no_grad():
            xt = torch.as_tensor(x, dtype=torch.float32)
            p = np.stack([n(xt).squeeze(1).numpy().astype(np.float64) for n in nets]) * sd + mu
        return p.mean(0), p.std(0)


class Ensemble(Regressor):
    """gbm + rf + mlp, each tuned and calibrated on its own; mean of their means, std of the mixture."""

    name = "ensemble"
    parts = ("gbm", "rf", "mlp")

    def fit(self, x: np.ndarray, y: np.ndarray) -> Ensemble:
        self.models = [make_model(p, seed=self.seed, tune=self.tune, calibrate=self.calibrate).fit(x, y)
                       for p in self.parts]
        self.cv_kendall = float(np.mean([m.cv_kendall for m in self.models]))
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        preds = [m.predict(x) for m in self.models]
        means = np.stack([p[0] for p in preds])
        var = np.stack([p[1] ** 2 for p in preds]).mean(0) + means.var(0)
        return means.mean(0), np.sqrt(var)

    def config(self) -> dict[str, Any]:
        return {"model": self.name, "seed": self.seed, "parts": [m.config() for m in self.models]}


def make_model(name: str, seed: int = 0, tune: bool = True, calibrate: bool = True, **params: Any) -> Regressor:
    """A built-in regressor by name, or `module:attr` naming your own: a class (or factory) called as
    `attr(seed=, tune=, calibrate=, **params)` whose instances have `fit(X, y) -> self`,
    `predict(X) -> (mean, std)` and `config() -> dict` (contract: `predictors.testing.check_model`)."""
    if ":" in name:
        from search_spaces.plugins import import_attr

        factory = import_attr(name, "predictor model", "my_pkg.models:MyRegressor")
        if not callable(factory):
            raise ValueError(f"predictor model {name!r} is not a class or factory")
        model = factory(seed=seed, tune=tune, calibrate=calibrate, **params)
        lacks = [m for m in ("fit", "predict", "config") if not callable(getattr(model, m, None))]
        if lacks:
            raise ValueError(f"predictor model {name!r}: a {type(model).__name__} lacks {', '.join(lacks)}")
        return model
    classes = {c.name: c for c in (GBM, RF, GP, MLP, Ensemble)}
    if name not in classes:
        raise ValueError(f"unknown predictor model {name!r}; use one of {', '.join(MODELS)} or module:attr")
    return classes[name](seed=seed, tune=tune, calibrate=calibrate, **params)
