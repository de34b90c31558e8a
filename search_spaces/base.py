"""Core types every package shares: `Architecture`, the `SearchSpace` protocol and the space registry."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import networkx as nx
import numpy as np

from search_spaces.registry import Registry

if TYPE_CHECKING:
    import optuna
    from torch import nn

# Limits that keep a hostile or broken file from exhausting memory before any space looks at it.
MAX_JSON_CHARS = 1_000_000
MAX_NESTING = 32
MAX_CONTAINER_LEN = 10_000


@dataclass(frozen=True, init=False)
class Architecture:
    """An immutable architecture: the space's name and its genotype (plain JSON data).

    Construction checks that the genotype is plain JSON within size limits and, when `space`
    is registered, asks that space to validate it, so an invalid architecture never exists.
    """

    space: str
    _genotype_json: str = field(repr=False)

    def __init__(self, space: str, genotype: Any) -> None:
        if not isinstance(space, str) or not space:
            raise ValueError(f"architecture 'space' must be a non-empty string, got {space!r}")
        _check_plain_json(genotype, "genotype", 0)
        text = json.dumps(genotype, sort_keys=True, separators=(",", ":"))
        if len(text) > MAX_JSON_CHARS:
            raise ValueError(f"genotype is {len(text):,} characters of JSON; the limit is {MAX_JSON_CHARS:,}")
        object.__setattr__(self, "space", space)
        object.__setattr__(self, "_genotype_json", text)
        registered = SPACES.find(space)
        if registered is not None:
            default_space(space).validate(self)

    @property
    def genotype(self) -> Any:
        """A fresh copy of the genotype (mutating it does not change the architecture)."""
        return json.loads(self._genotype_json)

    def key(self) -> str:
        """A stable hash: equal architectures have equal keys across processes and machines."""
        text = f"{self.space}:{self._genotype_json}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "genotype": self.genotype}

    @classmethod
    def from_dict(cls, data: Any) -> Architecture:
        if not isinstance(data, dict) or set(data) != {"space", "genotype"}:
            raise ValueError('an architecture is a JSON object with exactly the keys "space" and "genotype"')
        return cls(data["space"], data["genotype"])

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        if len(text) > MAX_JSON_CHARS + 1000:
            raise ValueError(f"architecture JSON is {len(text):,} characters; the limit is {MAX_JSON_CHARS:,}")
        depth = json_depth(text)
        if depth > MAX_NESTING + 2:  # the architecture object and its genotype add two levels
            raise ValueError(f"architecture JSON is nested {depth} levels deep; genotypes may not be nested deeper "
                             f"than {MAX_NESTING} levels")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"architecture file is not valid JSON: {e}") from None
        return cls.from_dict(data)

    def graph(self) -> nx.DiGraph:
        """The architecture as a `networkx.DiGraph` (the registered space draws it)."""
        return default_space(self.space).graph(self)


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def json_depth(text: str) -> int:
    """The deepest bracket nesting of JSON text, strings skipped; checked before `json.loads`, which
    recurses once per level and fails with a `RecursionError` near 1,000 levels."""
    brackets = np.frombuffer(re.sub(r"[^\[\]{}]", "", _JSON_STRING.sub("", text)).encode(), dtype=np.uint8)
    if not len(brackets):
        return 0
    steps = np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def _check_plain_json(value: Any, where: str, depth: int) -> None:
    if depth > MAX_NESTING:
        raise ValueError(f"{where}: nested deeper than {MAX_NESTING} levels")
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{where}: {value} is not a finite number")
        return
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_CONTAINER_LEN:
            raise ValueError(f"{where}: {len(value):,} items; the limit is {MAX_CONTAINER_LEN:,}")
        for i, item in enumerate(value):
            _check_plain_json(item, f"{where}[{i}]", depth + 1)
        return
    if isinstance(value, dict):
        if len(value) > MAX_CONTAINER_LEN:
            raise ValueError(f"{where}: {len(value):,} keys; the limit is {MAX_CONTAINER_LEN:,}")
        for k, item in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: key {k!r} is not a string")
            _check_plain_json(item, f"{where}.{k}", depth + 1)
        return
    raise ValueError(f"{where}: {type(value).__name__} is not plain JSON data (use dicts, lists, str, numbers)")


@runtime_checkable
class SearchSpace(Protocol):
    """What every strategy, predictor and exporter needs of a space.

    Only `build` touches torch. `validate` checks structure (not membership of a sub-space)
    and raises `ValueError` saying what is wrong and how to fix it.
    """

    name: str

    def sample(self, rng: np.random.Generator) -> Architecture: ...

    def suggest(self, trial: optuna.Trial) -> Architecture: ...

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture: ...

    def validate(self, arch: Architecture) -> None: ...

    def encode(self, arch: Architecture) -> np.ndarray: ...

    def build(self, arch: Architecture, num_classes: int, in_channels: int, input_size: int) -> nn.Module: ...


SPACES: Registry[Any] = Registry("search space")
_DEFAULTS: dict[str, Any] = {}


def register_space(name: str, factory: Any) -> Any:
    """Register a space class or zero-argument factory under `name` (its default instance
    validates architectures of that name)."""
    SPACES.register(name, factory)
    return factory


def default_space(name: str) -> Any:
    """The default instance of a registered space."""
    if name not in _DEFAULTS:
        factory = SPACES.get(name)
        _DEFAULTS[name] = factory() if isinstance(factory, type) or not hasattr(factory, "sample") else factory
    return _DEFAULTS[name]

