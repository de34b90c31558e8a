"""Accuracy predictor models and encodings: shapes, std away from the data, a known function ranked."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.graph_encodings import GraphEncoder, live_nodes, op_graph
from predictors.metrics import kendall_tau
from predictors.models import MODELS, make_model
from predictors.predictor import AccuracyPredictor, PredictorConfig
from search_spaces import default_space


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, size=(n, 3))
    return x, np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + 0.05 * rng.normal(size=n)


@pytest.mark.parametrize("name", MODELS)
def test_fit_predict_shapes_and_std_grows_away_from_the_data(name: str) -> None:
    x, y = _data(30)
    model = make_model(name, seed=0, tune=False).fit(x, y)
    near, _ = _data(25, seed=1)
    far = near + 100.0
    mean, std = model.predict(near)
    assert mean.shape == (25,) and std.shape == (25,) and np.all(np.isfinite(mean)) and np.all(std >= 0)
    assert np.corrcoef(mean, np.sin(3 * near[:, 0]) + near[:, 1] ** 2)[0, 1] > 0.5
    _, std_far = model.predict(far)
    assert std_far.mean() > 2 * std.mean()


@pytest.mark.parametrize("name", ["gbm", "rf"])
def test_models_are_deterministic_for_a_seed(name: str) -> None:
    x, y = _data(30)
    a = make_model(name, seed=3, n_estimators=50).fit(x, y).predict(x[:5])
    b = make_model(name, seed=3, n_estimators=50).fit(x, y).predict(x[:5])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_unknown_model_is_one_line() -> None:
    with pytest.raises(ValueError, match="use one of"):
        make_model("xgb")


@pytest.mark.parametrize(("model", "params"), [("gp", {"nu": 2.5}), ("mlp", {"weight_decay": 1e-4})])
def test_a_known_function_of_the_encoding_is_ranked_above_0_9(model: str, params: dict) -> None:
    space = default_space("nb201")
    rng = np.random.default_rng(0)
    w = rng.normal(size=30)
    archs = [space.sample(rng) for _ in range(250)]
    y = np.array([space.encode(a) @ w for a in archs])
    pred = AccuracyPredictor(space, PredictorConfig(model=model, features=("onehot",), seed=0, params=params,
                                                    calibrate=False))
    mean, _ = pred.fit(archs[:150], y[:150]).predict(archs[150:])
    assert kendall_tau(mean, y[150:]) > 0.9


def test_live_graph_features_see_cut_cells() -> None:
    space = default_space("nb201")
    cut = space.from_edges(["nor_conv_3x3", "none", "nor_conv_3x3", "none", "none", "none"])  # nothing reaches 3
    h, src, snk = op_graph(space.graph(cut))
    assert live_nodes(h, src, snk) == set()
    enc = GraphEncoder(space, ("graf",)).fit([cut, space.from_edges(["nor_conv_3x3"] * 6)])
    row = dict(zip(enc.names(), enc.encode_one(cut), strict=True))
    assert row["live"] == 0.0 and row["count:nor_conv_3x3"] == 2.0 and row["live:nor_conv_3x3"] == 0.0
    full = dict(zip(enc.names(), enc.encode_one(space.from_edges(["nor_conv_3x3"] * 6)), strict=True))
    assert full["live"] == 1.0 and full["n_live_paths"] == 4 and full["conv_max_path"] == 3


def test_encoder_works_on_the_dense_space_graph() -> None:
    space = default_space("dense")
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(4)]
    enc = GraphEncoder(space, ("onehot", "path", "graf")).fit(archs)
    x = enc.transform(archs)
    assert x.shape == (4, len(enc.names())) and np.all(np.isfinite(x))
    assert np.all(x[:, enc.names().index("live")] == 1.0)
