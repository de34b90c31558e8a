"""Predictor models are plug-ins: a user's regressor passes the shipped contract and `--model module:attr`
uses it; a regressor that breaks the contract fails it; architecture-level predictors have their own check."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsRegressor
from test_cli_predictor import run

from predictors.predictor import AccuracyPredictor, PredictorConfig
from predictors.testing import check_model, check_predictor
from search_spaces import default_space
from search_spaces.examples.mobilenet_chain import MobileNetChain

HERE = Path(__file__).resolve()


class KNN:
    """A user's regressor: k nearest neighbours, std = the neighbours' spread."""

    def __init__(self, seed: int = 0, tune: bool = True, calibrate: bool = True, k: int = 5) -> None:
        self.k = k

    def fit(self, x: np.ndarray, y: np.ndarray) -> KNN:
        self.y = np.asarray(y, dtype=np.float64)
        self.model = KNeighborsRegressor(n_neighbors=min(self.k, len(y))).fit(x, self.y)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = self.model.kneighbors(x, return_distance=False)
        return self.model.predict(x), self.y[idx].std(axis=1)

    def config(self) -> dict[str, Any]:
        return {"model": "knn", "k": self.k}


class Unseeded(KNN):
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = super().predict(x)
        return mean + 1e-3 * np.random.default_rng().normal(size=len(mean)), std


class NegativeStd(KNN):
    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean, std = super().predict(x)
        return mean, -std - 1


def test_a_users_model_passes_and_the_cli_takes_it(nb201_table: Path, capsys: pytest.CaptureFixture) -> None:
    check_model(KNN)
    code, out, err = run(capsys, "predictor", "evaluate", "--space", "nb201", "--evaluator", f"tabular:{nb201_table}",
                         "--train-size", "24", "--seeds", "1", "--held-out", "100", "--model", f"{HERE}:KNN",
                         "--features", "graf,params", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["kendall_tau"] > 0.3


@pytest.mark.parametrize("broken, words", [(Unseeded, "same seed"), (NegativeStd, "std >= 0")])
def test_a_model_that_breaks_the_contract_fails_it(broken: type, words: str) -> None:
    with pytest.raises(AssertionError, match=words):
        check_model(broken)


def test_bad_model_names_are_one_line(nb201_table: Path, capsys: pytest.CaptureFixture) -> None:
    for name, words in (("xgb", "use one of"), (f"{HERE}:Nope", "has no attribute"), (f"{HERE}:HERE", "not a class")):
        code, _, err = run(capsys, "predictor", "evaluate", "--evaluator", f"tabular:{nb201_table}", "--model", name)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize("space", [default_space("nb201"), MobileNetChain()], ids=["nb201", "example"])
def test_accuracy_predictor_passes_the_architecture_contract(space: Any) -> None:
    predictor = AccuracyPredictor(space, PredictorConfig(space=space.name, model="rf", features=("onehot",),
                                                         calibrate=False))
    assert check_predictor(predictor, space) > 0.3
