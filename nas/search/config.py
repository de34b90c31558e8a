"""`SearchConfig`: everything that defines a search (what config.json holds). Light to import:
the command line reads its defaults for --help without loading Optuna."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nas.search.objectives import Objectives

# The Optuna strategy `nas search` uses without --strategy once a --space other than dense or an
# --evaluator is given (with neither, `nas search` runs SMASH: nas/commands/search.py).
DEFAULT_STRATEGY = "tpe"


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; `storage=None` is `study.db` in the run directory."""

    space: str = "dense"
    evaluator: str = "train"
    strategy: str = DEFAULT_STRATEGY
    trials: int = 20
    seed: int = 0
    dataset: str = "digits"
    epochs: int = 10
    objectives: tuple[str, ...] = ("val_accuracy",)
    max_latency_ms: float | None = None
    max_params: int | None = None
    pruner: str = "none"
    storage: str | None = None
    study_name: str = "search"

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ValueError(f"--trials must be at least 1 (one trial = one architecture evaluated), got {self.trials}")
        if self.epochs < 1:
            raise ValueError(f"--epochs must be at least 1, got {self.epochs}")
        from nas.search.pruners import PRUNERS
        from nas.search.strategies import STRATEGIES

        STRATEGIES.get(self.strategy)  # unknown -> close matches
        PRUNERS.get(self.pruner)
        object.__setattr__(self, "objectives", self.objective_set.metrics)
        if self.pruner != "none" and len(self.objectives) > 1:
            raise ValueError("--pruner applies to single-objective searches (Optuna does not prune multi-objective "
                             "studies); drop --pruner or use one objective")

    @property
    def objective_set(self) -> Objectives:
        from nas.search.objectives import Objectives

        return Objectives.parse(self.objectives, self.max_latency_ms, self.max_params)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "objectives": list(self.objectives)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown search config key(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
