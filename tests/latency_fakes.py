"""A network slower than any prediction of it, for tests of measured latency checks.

    from latency_fakes import SlowFor
    space = SlowFor(arch.key(), seconds=0.08)   # that architecture sleeps 80 ms per forward pass
"""

from __future__ import annotations

import time

import torch

from search_spaces.nb201 import NB201Space


class Sleepy(torch.nn.Module):
    """`inner`, sleeping `seconds` every forward pass."""

    def __init__(self, inner: torch.nn.Module, seconds: float) -> None:
        super().__init__()
        self.inner, self.seconds = inner, seconds

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)
        return self.inner(x)


class SlowFor(NB201Space):
    """A tiny NB201 space (4 channels, 1 cell per stage) whose build of one architecture sleeps."""

    def __init__(self, slow_key: str, seconds: float) -> None:
        super().__init__(channels=4, cells_per_stage=1)
        self.slow_key, self.seconds = slow_key, seconds

    def build(self, arch, num_classes, in_channels, input_size):  # type: ignore[no-untyped-def]
        model = super().build(arch, num_classes, in_channels, input_size)
        return Sleepy(model, self.seconds) if arch.key() == self.slow_key else model
