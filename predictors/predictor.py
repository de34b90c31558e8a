"""`AccuracyPredictor`: features + a regressor behind `fit(archs, y)`, `predict(archs) -> (mean, std)`,
and its file: JSON with the training architectures, their targets, the model config and the
seed, refitted on load (never a pickle; a foreign or corrupt file raises one line)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from predictors.features import Features, ProxyTable, parse_features
from predictors.models import MODELS, make_model
from search_spaces import Architecture

FORMAT = "densedag-predictor"
VERSION = 1
MAX_FILE_BYTES = 64 << 20
DEFAULT_FEATURES = ("path", "graf", "params")


@dataclass(frozen=True)
class PredictorConfig:
    space: str = "nb201"  # the --space spec it was fitted on
    model: str = "gbm"
    features: tuple[str, ...] = DEFAULT_FEATURES
    seed: int = 0
    proxies: str | None = None  # proxy table path, for zc features
    low_fidelity: str | None = None  # tabular evaluator spec, for the lowfi feature
    params: dict[str, Any] = field(default_factory=dict)  # fixed model hyperparameters (skip their tuning)
    calibrate: bool = True  # calibrate std out of fold (off: the raw ensemble spread, faster)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", parse_features(self.features))
        if ":" not in self.model and self.model not in MODELS:
            raise ValueError(f"unknown predictor model {self.model!r}; use one of {', '.join(MODELS)} or module:attr")


def low_fidelity_source(spec: str, space: Any) -> Any:
    """arch -> the table's low-fidelity validation accuracy (e.g. NB201's 12-epoch column)."""
    from nas.evaluators.tabular import TabularEvaluator

    ev = TabularEvaluator.from_spec(spec)
    ev.space = space
    if ev.columns.get("val_low") is None:
        raise ValueError(f"feature lowfi: table {spec} has no low-fidelity column (val_low=...)")
    return lambda arch: ev.evaluate(arch, fidelity=ev.low_epochs).val_accuracy


class AccuracyPredictor:
    def __init__(self, space: Any, config: PredictorConfig, proxies: ProxyTable | None = None,
                 low_fidelity: Any = None) -> None:
        self.space, self.config = space, config
        if proxies is None and config.proxies:
            proxies = ProxyTable(config.proxies)
        if low_fidelity is None and config.low_fidelity and "lowfi" in config.features:
            low_fidelity = low_fidelity_source(config.low_fidelity, space)
        self.features = Features(space, config.features, proxies, low_fidelity)
        self.archs: list[Architecture] = []
        self.targets: list[float] = []

    def fit(self, archs: Sequence[Architecture], y: Sequence[float]) -> AccuracyPredictor:
        y = np.asarray(y, dtype=np.float64)
        if len(archs) != len(y) or not np.all(np.isfinite(y)):
            raise ValueError(f"need one finite target per architecture, got {len(archs)} archs, {len(y)} targets")
        self.archs, self.targets = list(archs), y.tolist()
        x = self.features.fit(self.archs).transform(self.archs)
        self.model = make_model(self.config.model, seed=self.config.seed, calibrate=self.config.calibrate,
                                **self.config.params).fit(x, y)
        return self

    def predict(self, archs: Sequence[Architecture]) -> tuple[np.ndarray, np.ndarray]:
        if not self.archs:
            raise ValueError("the predictor is not fitted; call fit(archs, y) first")
        return self.model.predict(self.features.transform(list(archs)))

    # --- the file ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        cfg = asdict(self.config)
        cfg["features"] = list(cfg["features"])
        return {"format": FORMAT, "version": VERSION, "config": cfg, "fitted": self.model.config(),
                "archs": [a.to_dict() for a in self.archs], "targets": self.targets}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path, space: Any = None) -> AccuracyPredictor:
        """Read a predictor file and refit it (deterministic: the same seed gives the same model)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"predictor file {str(path)!r} not found; write one with nas predictor fit --out")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path} is over {MAX_FILE_BYTES >> 20} MiB: not a predictor file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"{path} is not a predictor file (not JSON: {str(e).splitlines()[0]})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{path} is not a predictor file (no \"format\": \"{FORMAT}\"); "
                             "write one with nas predictor fit --out")
        if data.get("version") != VERSION:
            raise ValueError(f"{path}: predictor file version {data.get('version')!r}, this code reads {VERSION}")
        try:
            config = PredictorConfig(**{**data["config"], "features": tuple(data["config"]["features"])})
            archs = [Architecture.from_dict(a) for a in data["archs"]]
            targets = [float(t) for t in data["targets"]]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{path}: corrupt predictor file ({type(e).__name__}: {str(e).splitlines()[0]})") \
                from None
        if not all(math.isfinite(t) for t in targets):
            raise ValueError(f"{path}: corrupt predictor file (non-finite targets)")
        if space is None:
            from search_spaces.plugins import resolve_space

            space = resolve_space(config.space)
        return cls(space, config).fit(archs, targets)
