"""What a search optimises (`--objectives`) and the hard limits it must respect.

Accuracy is maximised; latency (ms), params and flops (MACs) are minimised. A result over a hard
limit (`--max-latency-ms`, `--max-params`, `--max-flops` in MACs) is infeasible: its constraint
values (Optuna's convention, feasible when every value is <= 0) are stored on the trial as the user attribute
`constraint`, which the samplers that enforce constraints (TPE, NSGA-II, GP) read; for all
samplers the framework itself never reports an infeasible trial as best or on the Pareto front.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nas.results import Result
from search_spaces.registry import unknown_name_message

METRICS = {"val_accuracy": "maximize", "score": "maximize", "latency_ms": "minimize", "params": "minimize",
           "flops": "minimize"}
ALIASES = {"accuracy": "val_accuracy", "acc": "val_accuracy", "latency": "latency_ms", "macs": "flops"}


@dataclass(frozen=True)
class Objectives:
    """The metrics a search optimises (the first is accuracy) and its hard limits."""

    metrics: tuple[str, ...] = ("val_accuracy",)
    max_latency_ms: float | None = None
    max_params: int | None = None
    max_flops: int | None = None  # MACs, as `flops` everywhere

    def __post_init__(self) -> None:
        if not self.metrics or self.metrics[0] not in ("val_accuracy", "score"):
            raise ValueError("the first objective must be accuracy, e.g. --objectives accuracy,latency_ms")
        if "score" in self.metrics[1:]:
            raise ValueError("score (a proxy evaluator's) can only be the first objective")
        if len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"--objectives lists a metric twice: {','.join(self.metrics)}")
        for m in self.metrics:
            if m not in METRICS:
                raise ValueError(unknown_name_message("objective", m, sorted(METRICS)))
        if self.max_latency_ms is not None and not self.max_latency_ms > 0:
            raise ValueError(f"--max-latency-ms must be positive, got {self.max_latency_ms}")
        for name in ("max_params", "max_flops"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")

    @classmethod
    def parse(cls, text: str | Sequence[str], max_latency_ms: float | None = None,
              max_params: int | None = None, max_flops: int | None = None) -> Objectives:
        names = text.split(",") if isinstance(text, str) else list(text)
        metrics = tuple(ALIASES.get(n.strip(), n.strip()) for n in names if n.strip())
        return cls(metrics, max_latency_ms, max_params, max_flops)

    def scored(self) -> Objectives:
        """The same objectives for a proxy evaluator: its score stands in for accuracy."""
        from dataclasses import replace

        return replace(self, metrics=("score", *self.metrics[1:]))

    @property
    def first(self) -> str:
        return self.metrics[0]

    @property
    def directions(self) -> list[str]:
        return [METRICS[m] for m in self.metrics]

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    @property
    def has_limits(self) -> bool:
        return any(v is not None for v in (self.max_latency_ms, self.max_params, self.max_flops))

    def values(self, result: Result) -> list[float]:
        """The objective values of a complete result; `ValueError` names a metric it lacks."""
        out = []
        for m in self.metrics:
            v = getattr(result, m)
            if v is None:
                hint = " (a table names its column: tabular:FILE.csv?latency=COLUMN)" if m == "latency_ms" else ""
                raise ValueError(f"the evaluator reported no {m}, which --objectives needs{hint}")
            out.append(float(v))
        return out

    @property
    def constraint_names(self) -> list[str]:
        """What each value of `constraint` measures."""
        return [n for n, v in (("latency_ms", self.max_latency_ms), ("params", self.max_params),
                               ("flops", self.max_flops)) if v is not None]

    def constraint(self, result: Result) -> list[float] | None:
        """Optuna-style constraint values (<= 0 is feasible), or None without limits."""
        if not self.has_limits:
            return None
        values = []
        if self.max_latency_ms is not None:
            if result.latency_ms is None:
                raise ValueError("the evaluator reported no latency_ms, which --max-latency-ms needs (a table names "
                                 "its column: tabular:FILE.csv?latency=COLUMN)")
            values.append(float(result.latency_ms) - self.max_latency_ms)
        if self.max_params is not None:
            if result.params is None:
                raise ValueError("the evaluator reported no params, which --max-params needs")
            values.append(float(result.params - self.max_params))
        if self.max_flops is not None:
            if result.flops is None:
                raise ValueError("the evaluator reported no flops (MACs), which --max-flops needs")
            values.append(float(result.flops - self.max_flops))
        return values

    def to_dict(self) -> dict[str, Any]:
        return {"objectives": list(self.metrics), "max_latency_ms": self.max_latency_ms, "max_params": self.max_params,
                "max_flops": self.max_flops}


def feasible(constraint: Sequence[float] | None) -> bool:
    return constraint is None or all(c <= 0 for c in constraint)


def pareto_front(points: Sequence[Sequence[float]], directions: Sequence[str]) -> list[int]:
    """Indices of the non-dominated points (duplicates of a front point are all kept)."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]
    scored = [[s * v for s, v in zip(signs, p)] for p in points]  # larger is better everywhere

    def dominates(a: list[float], b: list[float]) -> bool:
        return all(x >= y for x, y in zip(a, b)) and any(x > y for x, y in zip(a, b))

    return [i for i, p in enumerate(scored) if not any(dominates(q, p) for q in scored)]
