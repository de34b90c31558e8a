"""The dense supernet's decisions named as the sub-space names them (`DenseSpace.from_choices`), and
the architectures its learned distribution gives (argmax, samples, log-probability). numpy only: the
proposer reads them from `supernet.json` without torch.

The supernet searches, per stage of `max_nodes` nodes: every optional connection j -> i (j < i - 1)
and j -> output (j < last) as a gate (`s{s}_n{i}_in{j}`, `s{s}_out{j}`), and each node's op factors
with two or more choices (`FACTORS`: kernel, dilation, groups, width, bottleneck). Node i always
reads node i - 1 and the output always keeps the last node (so every node is used and has an input);
merges are concatenations and the op order is the sub-space's first (`orders[0]`): both are fixed.

`probs` (what `supernet.json` holds): `{factor: [[p per choice] per node], "gates": [p per gate]}`,
nodes in order (stage, node), gates in `gate_names` order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from search_spaces.base import Architecture

FACTORS = ("kernel", "dilation", "groups", "width", "bottleneck")


def check_config(config: Any) -> None:
    if "concat" not in config.merges:
        raise ValueError("the dense supernet merges a node's inputs by concatenation: include concat in the "
                         "space's merges (dense?merges=concat,sum,mean)")


def factor_choices(space: Any, factor: str, stage: int) -> tuple[int, ...]:
    c = space.config
    if factor == "width":
        return tuple(space.stage_widths(stage))
    by_name = {"kernel": c.kernels, "dilation": c.dilations, "groups": c.groups, "bottleneck": c.bottlenecks}
    return tuple(by_name[factor])


def searched_factors(space: Any) -> list[str]:
    """The factors with two or more choices (the others are fixed to their one choice)."""
    return [f for f in FACTORS if len(factor_choices(space, f, 0)) > 1]


def nodes_of(space: Any) -> list[tuple[int, int]]:
    """(stage, node) of every node the supernet holds, node 1..max_nodes."""
    return [(s, i) for s in range(space.config.stages) for i in range(1, space.config.max_nodes + 1)]


def gate_names(space: Any) -> list[str]:
    n = space.config.max_nodes
    names = []
    for s in range(space.config.stages):
        names += [f"s{s}_n{i}_in{j}" for i in range(1, n + 1) for j in range(i - 1)]
        names += [f"s{s}_out{j}" for j in range(n)]
    return names


def arch_of(space: Any, picks: dict[str, Any]) -> Architecture:
    """The architecture of the sub-space with these picks (`from_choices` names); node count
    `max_nodes`, merges concat, order `orders[0]`, anything else unpicked its first choice."""
    c = space.config

    def choose(name: str, choices: tuple) -> Any:
        if name in picks:
            return picks[name]
        if name.endswith("_nodes"):
            return c.max_nodes
        if name.endswith("_merge"):
            return "concat"
        return choices[0]

    return space.from_choices(choose)


def picks_of(space: Any, probs: dict[str, Any], pick: Callable[[np.ndarray], int],
             gate: Callable[[float], bool]) -> dict[str, Any]:
    """Picks from `probs`: `pick(p)` an index per factor distribution, `gate(p)` per gate."""
    out: dict[str, Any] = {}
    for f in searched_factors(space):
        for (s, i), p in zip(nodes_of(space), probs[f]):
            out[f"s{s}_n{i}_{f}"] = factor_choices(space, f, s)[pick(np.asarray(p, dtype=np.float64))]
    for name, p in zip(gate_names(space), probs["gates"]):
        out[name] = bool(gate(float(p)))
    return out


def argmax_picks(space: Any, probs: dict[str, Any]) -> dict[str, Any]:
    """The strongest choice of every factor, every gate above 0.5."""
    return picks_of(space, probs, lambda p: int(np.argmax(p)), lambda p: p > 0.5)


def sample_arch(space: Any, probs: dict[str, Any], rng: np.random.Generator) -> Architecture:
    """An architecture drawn from the learned distribution (factors and gates independently)."""
    return arch_of(space, picks_of(space, probs, lambda p: int(rng.choice(len(p), p=p / p.sum())),
                                   lambda p: rng.random() < p))


def log_prob(space: Any, probs: dict[str, Any], picks: dict[str, Any]) -> float:
    """log P(picks) under the learned distribution (only the searched decisions count)."""
    total = 0.0
    for f in searched_factors(space):
        for (s, i), p in zip(nodes_of(space), probs[f]):
            k = factor_choices(space, f, s).index(picks[f"s{s}_n{i}_{f}"])
            total += math.log(max(float(p[k]), 1e-12))
    for name, p in zip(gate_names(space), probs["gates"]):
        total += math.log(max(float(p) if picks[name] else 1.0 - float(p), 1e-12))
    return total


def picks_in(space: Any, arch: Architecture) -> dict[str, Any]:
    """The searched decisions of an architecture the supernet can give (`space.params_of`'s names)."""
    params = space.params_of(arch)
    names = set(gate_names(space)) | {f"s{s}_n{i}_{f}" for f in searched_factors(space) for s, i in nodes_of(space)}
    return {k: v for k, v in params.items() if k in names}
