"""Optional capabilities of a search space, as small Protocols checked in one place.

Every space implements `SearchSpace` (search_spaces/base.py). Some offer more, and the framework
uses it when present:
- `shape(arch, num_classes, in_channels, input_size)`: static params and MACs without building;
- `graph(arch)`: the architecture as a `networkx.DiGraph` (reports, graph encodings);
- `params_of(arch)`: the Optuna parameters `suggest` would need to return `arch` (enqueue, mutate);
- `source(arch, ...)`: stand-alone PyTorch source of the network (export).

    if has(space, "shape"): params = space.shape(arch).params
"""

from __future__ import annotations

import functools
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class HasShape(Protocol):
    def shape(self, arch: Any, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> Any: ...


@runtime_checkable
class HasGraph(Protocol):
    def graph(self, arch: Any) -> Any: ...


@runtime_checkable
class HasParamsOf(Protocol):
    def params_of(self, arch: Any) -> dict[str, Any]: ...


@runtime_checkable
class HasSource(Protocol):
    def source(self, arch: Any, *args: Any, **kwargs: Any) -> str: ...


CAPABILITIES: dict[str, type] = {"shape": HasShape, "graph": HasGraph, "params_of": HasParamsOf, "source": HasSource}


@functools.cache
def _of_type(cls: type) -> frozenset[str]:
    return frozenset(name for name in CAPABILITIES if callable(getattr(cls, name, None)))


def capabilities(space: Any) -> frozenset[str]:
    """The optional capabilities `space` offers (checked once per class; an instance's own
    attributes count too)."""
    found = _of_type(type(space))
    extra = {name for name in CAPABILITIES if name not in found and callable(getattr(space, name, None))}
    return found | extra if extra else found


def has(space: Any, capability: str) -> bool:
    if capability not in CAPABILITIES:
        raise ValueError(f"unknown capability {capability!r}; known: {', '.join(CAPABILITIES)}")
    return capability in capabilities(space)
