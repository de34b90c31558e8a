"""Accuracy predictor models and encodings: shapes, std away from the data, a known function ranked."""

from __future__ import annotations

import numpy as np
import pytest

from predictors.graph_encodings import GraphEncoder, live_nodes, op_graph
from predictors.metrics import kendall_tau
from predictors.models import MODELS, make_model
from predictors.predictor import AccuracyPredictor, PredictorConfig
from predictors.testing import check_model
from search_spaces import default_space


@pytest.mark.parametrize("name", MODELS)
def test_builtin_models_pass_the_contract_and_std_grows_away_from_the_data(name: str) -> None:
    check_model(lambda **kw: make_model(name, **kw), std_grows=True)


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
