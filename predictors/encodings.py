"""Architecture encodings: fixed-length vectors or rows of features a model reads.

`hypernet_rows` is SMASH's encoding of a dense-space architecture: one row per (node, bank it
reads, chunk of that bank's channels), from which the HyperNet generates a block of the node's 1x1
conv. Scalars are points on the unit quarter circle and choices one-hot, so every row of a given
space has the same norm (MIP's constant-norm input).
"""

from __future__ import annotations

import math
from typing import Any

from search_spaces.dense.genotype import MERGES, DenseGenotype, stage_widths


def ratio(x: float) -> list[float]:
    """A scalar in [0, 1] as a point on the unit quarter circle (MIP's constant-norm encoding)."""
    return [math.cos(math.pi / 2 * x), math.sin(math.pi / 2 * x)]


def onehot(i: int, n: int) -> list[float]:
    return match(i, tuple(range(n)))


def match(value: object, choices: tuple) -> list[float]:
    return [float(value == ch) for ch in choices]


def hypernet_encoding_size(bounds: Any, config: Any) -> int:
    """The length of one `hypernet_rows` row (`bounds`: the supernet's `Bounds`; `config`: the
    `DenseSpaceConfig`)."""
    b, c = bounds, config
    node = b.stages + b.max_nodes + 3 + len(c.kernels) + len(c.dilations) + len(c.groups) + 2 + 3 + 2
    bank = (b.max_nodes + 1) + 2 + len(c.kernels) + len(c.dilations) + 2
    return node + bank + (b.max_nodes + 1) + b.chunks


def hypernet_rows(geno: DenseGenotype, bounds: Any, config: Any,
                  chunk: int) -> tuple[list[list[float]], list[list[list[int]]]]:
    """All rows for an architecture, and for each stage / node / bank the indices of its rows."""
    b, c = bounds, config
    rows: list[list[float]] = []
    index: list[list[list[int]]] = []
    for s, (stage, widths) in enumerate(zip(geno.stages, stage_widths(geno))):
        ops = [None] + [n.op for n in stage.nodes]
        stage_index = []
        for i, nd in enumerate(stage.nodes, start=1):
            op = nd.op
            reads = [float(j in nd.inputs.inputs) for j in range(b.max_nodes + 1)]
            node_feats = (onehot(s, b.stages) + onehot(i, b.max_nodes + 1) + ratio(op.width / b.widths[s])
                          + match(op.kernel, c.kernels) + match(op.dilation, c.dilations)
                          + match(op.groups, c.groups) + match(op.order, ("pre", "post"))
                          + match(nd.inputs.merge, MERGES) + match(nd.inputs.align, ("pad", "project")))
            node_index = []
            for j in nd.inputs.inputs:
                src = ops[j]
                bank_feats = (onehot(j, b.max_nodes + 1) + ratio(widths[j] / max(b.widths[s], b.bank0[s]))
                              + (match(src.kernel, c.kernels) + match(src.dilation, c.dilations)
                                 + match(src.order, ("pre", "post")) if src else
                                 [0.0] * (len(c.kernels) + len(c.dilations) + 2)))
                first = len(rows)
                for k in range(math.ceil(widths[j] / chunk)):
                    rows.append(node_feats + bank_feats + reads + onehot(k, b.chunks))
                node_index.append(list(range(first, len(rows))))
            stage_index.append(node_index)
        index.append(stage_index)
    return rows, index
