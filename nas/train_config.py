"""`TrainConfig`: how to train (light to import: the command line reads it without torch)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")
DEFAULT_LR = {"sgd": 0.1, "adam": 1e-3}


@dataclass(frozen=True)
class TrainConfig:
    """How to train. `lr=None` picks the optimizer's default (SGD 0.1, Adam 1e-3). `amp` and
    `channels_last` take effect on CUDA only; `device` is a torch device string."""

    epochs: int = 30
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    decay_norm_and_bias: bool = True
    schedule: str = "cosine"
    label_smoothing: float = 0.0
    augment: bool = True
    seed: int = 0
    device: str = "cpu"
    amp: bool = True
    channels_last: bool = True
    eval_batch_size: int = 512
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError("epochs and batch sizes must be positive integers")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is unknown; use one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is unknown; use one of {SCHEDULES}")
        if self.lr is not None and not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"learning rate must be a positive number, got {self.lr}")
        if not (0.0 <= self.weight_decay < 1.0 and 0.0 <= self.momentum < 1.0):
            raise ValueError("weight decay and momentum must lie in [0, 1)")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label smoothing must lie in [0, 1), got {self.label_smoothing}")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "lr": self.learning_rate}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        from nas.config_util import strict_from_dict

        return strict_from_dict(cls, data, "training option")
