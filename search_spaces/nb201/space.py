"""The NAS-Bench-201 cell space, written only against the public API (`search_spaces.Architecture`).

Genotype: `{"edges": [op, op, op, op, op, op]}`, the ops of the 6 edges in the benchmark's order
1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, each one of none, skip_connect, nor_conv_1x1, nor_conv_3x3,
avg_pool_3x3: 5^6 = 15,625 cells. `from_string` / `to_string` convert to and from the
benchmark's arch strings; `canonical` maps equivalent cells to one representative.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from search_spaces import Architecture
from search_spaces.nb201.cell import (
    EDGES,
    NUM_NODES,
    OPS,
    canonical_edges,
    check_edges,
    format_arch_string,
    parse_arch_string,
)
from search_spaces.nb201.shapes import NB201Shape, analyze

if TYPE_CHECKING:
    import optuna
    from torch import nn

NAME = "nb201"


@dataclass(frozen=True)
class NB201Space:
    """The benchmark's space; `channels` and `cells_per_stage` (C=16, N=5 in the benchmark)
    only change what `build` and `shape` make, not which cells exist."""

    channels: int = 16
    cells_per_stage: int = 5
    name: str = NAME

    def __post_init__(self) -> None:
        if self.channels < 1 or self.cells_per_stage < 0:
            raise ValueError(f"need channels >= 1 and cells_per_stage >= 0, "
                             f"got {self.channels}, {self.cells_per_stage}")

    # --- conversions ----------------------------------------------------------------------
    def edges(self, arch: Architecture) -> tuple[str, ...]:
        """The 6 edge ops of `arch`, in the benchmark's edge order."""
        if arch.space != self.name:
            raise ValueError(f"architecture is of space {arch.space!r}, not {self.name!r}")
        geno = arch.genotype
        if not isinstance(geno, dict) or set(geno) != {"edges"}:
            raise ValueError('an nb201 genotype is {"edges": [6 op names]} (edges 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2)')
        return check_edges(geno["edges"])

    def from_edges(self, edges: Sequence[str]) -> Architecture:
        return Architecture(self.name, {"edges": list(check_edges(edges))})

    def from_string(self, text: str) -> Architecture:
        """Parse the benchmark's arch string; `ValueError` names an unknown op or a wrong edge count."""
        return self.from_edges(parse_arch_string(text))

    def to_string(self, arch: Architecture) -> str:
        return format_arch_string(self.edges(arch))

    def canonical(self, arch: Architecture) -> Architecture:
        """Equivalent cells (edges off every input-output path, nodes 1 and 2 swapped) map to one arch."""
        return self.from_edges(canonical_edges(self.edges(arch)))

    # --- the SearchSpace protocol -----------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        self.edges(arch)

    def sample(self, rng: np.random.Generator) -> Architecture:
        return self.from_edges([OPS[int(i)] for i in rng.integers(len(OPS), size=len(EDGES))])

    def suggest(self, trial: optuna.Trial) -> Architecture:
        """One categorical parameter per edge, named `edge_<to>_<from>`."""
        return self.from_edges([trial.suggest_categorical(f"edge_{t}_{s}", OPS) for t, s in EDGES])

    def params_of(self, arch: Architecture) -> dict[str, str]:
        """The `suggest` parameters that give `arch` (inverse of `suggest`)."""
        return {f"edge_{t}_{s}": op for (t, s), op in zip(EDGES, self.edges(arch))}

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change the op of one edge to another op."""
        edges = list(self.edges(arch))
        i = int(rng.integers(len(EDGES)))
        others = [op for op in OPS if op != edges[i]]
        edges[i] = others[int(rng.integers(len(others)))]
        return self.from_edges(edges)

    def encode(self, arch: Architecture) -> np.ndarray:
        """One-hot op per edge, edges in the benchmark's order: 6 x 5 = 30 values."""
        code = np.zeros((len(EDGES), len(OPS)), dtype=np.float32)
        for i, op in enumerate(self.edges(arch)):
            code[i, OPS.index(op)] = 1.0
        return code.ravel()

    def graph(self, arch: Architecture) -> nx.DiGraph:
        """Nodes 0..3 of the cell (0 input, 3 output); one edge per non-`none` op, with attribute `op`."""
        g = nx.DiGraph()
        for i in range(NUM_NODES):
            g.add_node(i, kind="input" if i == 0 else "output" if i == NUM_NODES - 1 else "node")
        edges = zip(EDGES, self.edges(arch), strict=True)
        g.add_edges_from((s, t, {"op": op}) for (t, s), op in edges if op != "none")
        return g

    def shape(self, arch: Architecture, num_classes: int = 10, in_channels: int = 3,
              input_size: int = 32) -> NB201Shape:
        """Params and MACs (conv and linear) of the built network, without building it."""
        return analyze(self.edges(arch), self.channels, self.cells_per_stage, num_classes, in_channels, input_size)

    def build(self, arch: Architecture, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        from search_spaces.nb201.network import NB201Network

        return NB201Network(self.edges(arch), num_classes, in_channels, input_size, self.channels, self.cells_per_stage)

    # --- the whole space --------------------------------------------------------------------
    def size(self) -> int:
        return len(OPS) ** len(EDGES)

    def archs(self) -> Iterator[Architecture]:
        """All 15,625 cells (the last edge varies fastest)."""
        for edges in itertools.product(OPS, repeat=len(EDGES)):
            yield self.from_edges(edges)

    def describe(self) -> dict[str, Any]:
        config = {k: v for k, v in asdict(self).items() if k != "name"}
        config.update(ops=list(OPS), edges=[f"{t}<-{s}" for t, s in EDGES])
        size = self.size()
        return {"space": self.name, "config": config, "size": size, "log10_size": round(math.log10(size), 2)}
