"""Weight-sharing supernets: one small protocol and one step-based training loop (`loop.py`).

A supernet is fitted once (`fit`: N minibatch steps, checkpointed, resumable), then judges and
proposes architectures of its space cheaply. SMASH (`smash/`) is the first; a differentiable
supernet is the next. The search pipeline fits a supernet strategy's supernet before proposing,
and the `smash:RUN_DIR` evaluator scores with a fitted one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from search_spaces.base import Architecture


@runtime_checkable
class Supernet(Protocol):
    """What the pipeline needs of a supernet (an `nn.Module`, so `state_dict` / `load_state_dict`
    save and load it)."""

    def fit(self, data: Any, checkpoint: Path | None = None, quiet: bool = False) -> dict[str, Any]:
        """Train for the configured number of steps, resuming from `checkpoint` when it exists;
        returns a summary (`steps`, `final_loss`, `train_seconds`)."""
        ...

    def scored(self, arch: Architecture, data: Any) -> dict[str, Any]:
        """`{"score": float (higher is better), ...the measurements it is made of}`."""
        ...

    def propose(self, rng: np.random.Generator) -> Architecture:
        """An architecture drawn from what the supernet learned (uniform for SMASH)."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> Any: ...
