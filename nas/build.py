"""Seed, build and count: one helper for every place that instantiates an architecture."""

from __future__ import annotations

from typing import Any

from search_spaces.base import Architecture


def seeded_model(space: Any, arch: Architecture, num_classes: int, in_channels: int, input_size: int,
                 seed: int) -> Any:
    """`space.build(...)` with initial weights from `seed` alone; the caller's torch RNG is left alone."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, num_classes, in_channels, input_size)


def count(space: Any, arch: Architecture, model: Any, num_classes: int, in_channels: int,
          input_size: int) -> tuple[int, int | None]:
    """(params, MACs): from the space's static `shape` when it has one, else params counted on the
    module and MACs unknown (None)."""
    from search_spaces.capabilities import has

    if has(space, "shape"):
        shape = space.shape(arch, num_classes, in_channels, input_size)
        return int(shape.params), int(shape.macs)
    return sum(p.numel() for p in model.parameters()), None
