"""Contract suites for predictors, shipped with the package.

- `check_model(factory)`: a regressor on feature arrays (what `--model module:attr` names): called as
  `factory(seed=, tune=, calibrate=)`, `fit(X, y)` returns itself, `predict(X) -> (mean, std)` of
  shape (n,), finite, std >= 0, the same for the same seed, `config()` JSON-serialisable, and it
  learns: held-out predictions of a smooth function correlate with it. With `std_grows=True`
  (the built-ins promise it) the std far from the data is larger than near it.
- `check_predictor(predictor, space)`: an architecture-level predictor (`fit(archs, y)`,
  `predict(archs) -> (mean, std)`), e.g. `AccuracyPredictor` or your own, on a known function of the
  space's encoding.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np

from predictors.metrics import kendall_tau


def smooth_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 3))
    return x, np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.05 * rng.normal(size=n)


def _check_output(out: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    assert isinstance(out, tuple) and len(out) == 2, "predict must return (mean, std)"
    mean, std = (np.asarray(v, dtype=np.float64) for v in out)
    assert mean.shape == (n,) and std.shape == (n,), f"mean and std must have shape ({n},)"
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0), "finite, std >= 0"
    return mean, std


def check_model(factory: Callable[..., Any], std_grows: bool = False) -> None:
    x, y = smooth_data(40)
    model = factory(seed=0, tune=False, calibrate=True)
    assert model.fit(x, y) is model, "fit(X, y) returns the model"
    near, _ = smooth_data(25, seed=1)
    mean, std = _check_output(model.predict(near), 25)
    assert np.corrcoef(mean, np.sin(3 * near[:, 0]) + near[:, 1] ** 2)[0, 1] > 0.5, "it learns a smooth function"
    again = factory(seed=0, tune=False, calibrate=True).fit(x, y).predict(near)
    assert np.allclose(again[0], mean) and np.allclose(again[1], std), "the same seed gives the same model"
    json.dumps(model.config())
    if std_grows:
        _, far = _check_output(model.predict(near + 100.0), 25)
        assert far.mean() > 2 * std.mean(), "std grows away from the data"


def check_predictor(predictor: Any, space: Any, n_train: int = 60, n_test: int = 40, seed: int = 0) -> float:
    """Fit on a known linear function of `space.encode`; returns the held-out Kendall tau (asserted > 0.3)."""
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n_train + n_test)]
    w = rng.normal(size=len(space.encode(archs[0])))
    y = np.array([float(space.encode(a) @ w) for a in archs])
    assert predictor.fit(archs[:n_train], y[:n_train]) is predictor, "fit(archs, y) returns the predictor"
    mean, _ = _check_output(predictor.predict(archs[n_train:]), n_test)
    tau = kendall_tau(mean, y[n_train:])
    assert tau > 0.3, f"held-out Kendall tau {tau:.2f} on a linear function of the encoding"
    return tau
