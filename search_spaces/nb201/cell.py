"""The NAS-Bench-201 cell as data: ops, edges, the benchmark's arch strings, canonical forms.

A cell is a DAG over 4 nodes (node 0 is the cell input, node 3 its output); each of the 6 edges
j -> i (j < i) carries one of 5 ops, and a node sums its incoming edges. Edges are kept in the
benchmark's order 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2, which is also the order in which they
appear in an arch string such as
`|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|`
(node i's incoming edges as `op~source`, nodes separated by `+`). Pure Python: no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (target, source), the benchmark's order
NUM_NODES = 4
EDGES_PER_NODE = tuple(sum(t == i for t, _ in EDGES) for i in range(1, NUM_NODES))  # (1, 2, 3)


def check_edges(edges: object, where: str = "nb201 genotype") -> tuple[str, ...]:
    """The 6 edge ops as a tuple; raises `ValueError` saying what is wrong."""
    if not isinstance(edges, (list, tuple)):
        raise ValueError(f"{where}: 'edges' must be a list of {len(EDGES)} op names, got {type(edges).__name__}")
    if len(edges) != len(EDGES):
        raise ValueError(f"{where}: {len(edges)} edge(s); a NAS-Bench-201 cell has {len(EDGES)} "
                         f"(in the order {', '.join(f'{t}<-{s}' for t, s in EDGES)})")
    for op, (t, s) in zip(edges, EDGES, strict=True):
        if op not in OPS:
            raise ValueError(f"{where}: unknown op {op!r} on edge {t}<-{s}; use one of {', '.join(OPS)}")
    return tuple(edges)


def parse_arch_string(text: str) -> tuple[str, ...]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> the 6 edge ops in the benchmark's order."""
    if not isinstance(text, str):
        raise ValueError(f"a NAS-Bench-201 arch string must be a string, got {type(text).__name__}")
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise ValueError(f"arch string {text!r} has {len(nodes)} node(s) separated by '+'; a NAS-Bench-201 cell has "
                         f"{NUM_NODES - 1} (e.g. |nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|)")
    edges: dict[tuple[int, int], str] = {}
    for i, part in enumerate(nodes, start=1):
        if not (part.startswith("|") and part.endswith("|")) or len(part) < 2:
            raise ValueError(f"arch string {text!r}: node {i} is {part!r}; write it as |op~source|op~source|")
        tokens = part[1:-1].split("|")
        if len(tokens) != i:
            raise ValueError(f"arch string {text!r}: node {i} has {len(tokens)} edge(s), it needs {i} "
                             f"(one from each of nodes {', '.join(map(str, range(i)))}); a cell has {len(EDGES)} edges")
        for token in tokens:
            op, sep, src = token.partition("~")
            if not sep or not src.isdigit():
                raise ValueError(f"arch string {text!r}: edge {token!r} of node {i} is not op~source")
            if op not in OPS:
                raise ValueError(f"arch string {text!r}: unknown op {op!r} on edge {i}<-{src}; "
                                 f"use one of {', '.join(OPS)}")
            s = int(src)
            if s >= i or (i, s) in edges:
                raise ValueError(f"arch string {text!r}: node {i} reads node {s} "
                                 f"{'twice' if (i, s) in edges else 'which is not before it'}")
            edges[(i, s)] = op
    return tuple(edges[e] for e in EDGES)


def format_arch_string(edges: Sequence[str]) -> str:
    """The benchmark's string for 6 edge ops (inverse of `parse_arch_string`)."""
    ops = dict(zip(EDGES, check_edges(edges), strict=True))
    return "+".join("|" + "|".join(f"{ops[(i, s)]}~{s}" for s in range(i)) + "|" for i in range(1, NUM_NODES))


def live_edges(edges: Sequence[str]) -> tuple[bool, ...]:
    """Which edges lie on a path of non-`none` edges from the cell input (node 0) to its output (node 3).

    The others cannot change the cell's output as a function of its input: their target never
    reaches the output, or their source is never reached from the input (it holds zeros, up to the
    constant a BatchNorm shift adds to a convolution of zeros)."""
    present = [op != "none" for op in edges]
    reached = {0}
    for (t, s), on in zip(EDGES, present, strict=True):  # EDGES is in topological order of targets
        if on and s in reached:
            reached.add(t)
    reaches = {NUM_NODES - 1}
    for (t, s), on in reversed(list(zip(EDGES, present, strict=True))):
        if on and t in reaches:
            reaches.add(s)
    return tuple(on and s in reached and t in reaches for (t, s), on in zip(EDGES, present, strict=True))


def canonical_edges(edges: Sequence[str]) -> tuple[str, ...]:
    """One representative of the cells that compute the same function.

    Edges off every input-output path become `none`; when nodes 1 and 2 are not connected they
    play symmetric roles, so the pair (1<-0, 3<-1) and the pair (2<-0, 3<-2) are put in a fixed
    order. Equivalent cells (with these two rules) give equal tuples; the result is idempotent."""
    ops = [op if live else "none" for op, live in zip(check_edges(edges), live_edges(edges), strict=True)]
    e10, e20, e21, e30, e31, e32 = ops
    if e21 == "none":
        a, b = (e10, e31), (e20, e32)
        if (OPS.index(b[0]), OPS.index(b[1])) < (OPS.index(a[0]), OPS.index(a[1])):
            (e10, e31), (e20, e32) = b, a
    return (e10, e20, e21, e30, e31, e32)
