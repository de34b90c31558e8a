"""`Result`: the one shape of an evaluation, in Python and in every JSON file; the `Evaluator` protocol."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from search_spaces.base import Architecture

STATES = ("complete", "failed", "pruned", "infeasible")


@dataclass
class Result:
    """Accuracies are fractions in [0, 1]; `flops` are MACs; latency in ms (device, batch and
    threads recorded in `extra`); `cost_s` is the (possibly simulated) evaluation cost."""

    score: float | None = None  # a proxy evaluator's (supernet, predictor): any real, higher is better
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    flops: int | None = None
    latency_ms: float | None = None
    cost_s: float = 0.0
    state: str = "complete"
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"result state {self.state!r} is unknown; use one of {STATES}")
        if self.score is not None and not math.isfinite(self.score):
            raise ValueError(f"score = {self.score} is not a finite number")
        for name in ("val_accuracy", "test_accuracy"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and 0.0 <= v <= 1.0):
                raise ValueError(f"{name} = {v} is not a fraction in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        from nas.config_util import strict_from_dict

        return strict_from_dict(cls, data, "result field")


# Called once per epoch with (epoch, val_accuracy); may raise optuna.TrialPruned to stop early.
EpochCallback = Callable[[int, float], None]


class Evaluator(Protocol):
    """Scores architectures for a search. `evaluate` returns validation numbers only
    (`test_accuracy` stays None); `test` measures test accuracy once, for the final pick."""

    def evaluate(self, arch: Architecture, fidelity: int | None = None,
                 on_epoch: EpochCallback | None = None) -> Result: ...

    def test(self, arch: Architecture) -> Result: ...
