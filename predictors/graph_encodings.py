"""Architecture encodings for predictors, read from any space's `graph()` (falling back to `encode()`).

Feature groups (`FEATURE_GROUPS`):
- `onehot`: the space's own fixed-length `encode()` (for NB201: adjacency is fixed, so this is the
  op one-hot of the 6 edges; for the dense space its adjacency + op code).
- `path`: counts of the op sequences along input-to-output paths (the BANANAS path encoding).
- `graf`: "live graph" features in the spirit of GRAF: whether any input-to-output path survives
  (not cut by a zero / `none` op), op counts on all and on live ops, the number of live paths by
  length, conv depth along the longest and the shortest live path, and the longest/shortest live
  path length.
- `params`: log parameters and log MACs from the space's `shape()` when it has one.

Graphs come in two styles and both work: ops on edges (NB201: an edge `s -> t` with `op`) or ops on
nodes (the dense space: a node with `kind="node"` and its op fields). Edge ops are turned into op
nodes first. The vocabularies (op tokens, path sequences) are learned by `fit` from the training
architectures, sorted, so the same archs give the same columns.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np

from search_spaces import Architecture

FEATURE_GROUPS = ("onehot", "path", "graf", "params")
MAX_PATHS = 5000  # path enumeration stops here (dense DAGs can hold exponentially many paths)
MAX_LENGTH = 12  # live-path counts by length are kept up to this many ops
IO_KINDS = ("input", "output", "head", "transition")
MAX_SUBSET_TOKENS = 6  # op-subset path features only for small op vocabularies (2^k - 1 subsets)
_PARSED: dict[tuple[str, str], dict[str, Any]] = {}  # (space, arch key) -> parsed graph, shared by encoders


def op_graph(g: nx.DiGraph) -> tuple[nx.DiGraph, Any, Any]:
    """(graph whose nodes carry a `token`, source, sink): edge ops become nodes of their own."""
    h = nx.DiGraph()
    edge_ops = any("op" in d for _, _, d in g.edges(data=True))
    for n, d in g.nodes(data=True):
        kind = d.get("kind", "node")
        if edge_ops or kind in IO_KINDS:
            h.add_node(n, token=f"<{kind}>" if kind in IO_KINDS else "", is_op=False)
        else:
            fields = "|".join(f"{k}={d[k]}" for k in sorted(d) if k != "kind")
            h.add_node(n, token=fields or kind, is_op=True)
    for s, t, d in g.edges(data=True):
        if "op" in d:
            e = ("op", s, t)
            h.add_node(e, token=str(d["op"]), is_op=True)
            h.add_edges_from([(s, e), (e, t)])
        else:
            h.add_edge(s, t)
    kinds = nx.get_node_attributes(g, "kind")
    sources = [n for n in g if kinds.get(n) == "input"] or [n for n in g if g.in_degree(n) == 0]
    sinks = [n for n in g if kinds.get(n) in ("output", "head") and g.out_degree(n) == 0] or \
        [n for n in g if g.out_degree(n) == 0]
    if not sources or not sinks:
        raise ValueError("the space's graph() has no input or no output node; set kind='input'/'output' on them")
    return h, sources[0], sinks[-1]


def live_nodes(h: nx.DiGraph, source: Any, sink: Any) -> set[Any]:
    """Nodes on some source-to-sink path (empty when the graph is cut)."""
    if not nx.has_path(h, source, sink):
        return set()
    return (nx.descendants(h, source) | {source}) & (nx.ancestors(h, sink) | {sink})


def _paths(h: nx.DiGraph, source: Any, sink: Any) -> list[tuple[str, ...]]:
    out = []
    for k, path in enumerate(nx.all_simple_paths(h, source, sink)):
        if k >= MAX_PATHS:
            break
        out.append(tuple(h.nodes[n]["token"] for n in path if h.nodes[n]["is_op"]))
    if source == sink:
        out.append(())
    return out


def _is_conv(token: str) -> bool:
    return "conv" in token or token.startswith("kernel=") or "|kernel=" in token


class GraphEncoder:
    """Features of architectures from `space.graph()`; `fit` learns the vocabularies."""

    def __init__(self, space: Any, groups: Sequence[str] = ("onehot", "path", "graf", "params")) -> None:
        unknown = [g for g in groups if g not in FEATURE_GROUPS]
        if unknown:
            raise ValueError(f"unknown feature group {unknown[0]!r}; use some of {', '.join(FEATURE_GROUPS)}")
        self.space, self.groups = space, tuple(groups)
        self.has_graph = callable(getattr(space, "graph", None))
        self.tokens: list[str] = []
        self.path_vocab: list[tuple[str, ...]] = []

    def _parse(self, arch: Architecture) -> dict[str, Any]:
        key = (str(getattr(self.space, "name", "")), arch.key())
        if key not in _PARSED:
            if len(_PARSED) > 100_000:
                _PARSED.clear()
            h, src, snk = op_graph(self.space.graph(arch))
            live = live_nodes(h, src, snk)
            paths = _paths(h, src, snk) if live else []
            _PARSED[key] = {"h": h, "live": live, "paths": paths}
        return _PARSED[key]

    def _subsets(self) -> list[tuple[str, ...]]:
        if len(self.tokens) > MAX_SUBSET_TOKENS:
            return []
        return [c for r in range(1, len(self.tokens) + 1) for c in itertools.combinations(self.tokens, r)]

    def fit(self, archs: Sequence[Architecture]) -> GraphEncoder:
        if not self.has_graph:
            return self
        tokens: set[str] = set()
        paths: Counter[tuple[str, ...]] = Counter()
        for a in archs:
            p = self._parse(a)
            tokens.update(d["token"] for _, d in p["h"].nodes(data=True) if d["is_op"])
            paths.update(set(p["paths"]))
        self.tokens = sorted(tokens)
        self.path_vocab = sorted(paths, key=lambda s: (-paths[s], len(s), s))[:512]
        self.path_vocab.sort(key=lambda s: (len(s), s))
        return self

    def names(self) -> list[str]:
        names: list[str] = []
        for g in self.groups:
            if g == "onehot":
                names += [f"onehot_{i}" for i in range(self._onehot_len())]
            elif g == "path" and self.has_graph:
                names += ["path:" + ">".join(p) for p in self.path_vocab]
            elif g == "graf" and self.has_graph:
                names += ["live", "n_live_paths", "longest", "shortest", "conv_longest", "conv_shortest",
                          "conv_min_path", "conv_max_path"]
                names += [f"count:{t}" for t in self.tokens] + [f"live:{t}" for t in self.tokens]
                names += [f"paths_len{k}" for k in range(MAX_LENGTH + 1)]
                names += [f"{w}:{'+'.join(c)}" for c in self._subsets() for w in ("n_paths", "min_len", "max_len")]
            elif g == "params" and callable(getattr(self.space, "shape", None)):
                names += ["log_params", "log_macs"]
        return names

    def _onehot_len(self) -> int:
        return len(np.asarray(self.space.encode(self.space.sample(np.random.default_rng(0)))).ravel())

    def transform(self, archs: Sequence[Architecture]) -> np.ndarray:
        return np.array([self.encode_one(a) for a in archs], dtype=np.float64).reshape(len(archs), -1)

    def encode_one(self, arch: Architecture) -> list[float]:
        row: list[float] = []
        for g in self.groups:
            if g == "onehot":
                row += np.asarray(self.space.encode(arch), dtype=np.float64).ravel().tolist()
            elif g == "path" and self.has_graph:
                counts = Counter(self._parse(arch)["paths"])
                row += [float(counts.get(p, 0)) for p in self.path_vocab]
            elif g == "graf" and self.has_graph:
                row += self._graf(arch)
            elif g == "params" and callable(getattr(self.space, "shape", None)):
                shape = self.space.shape(arch)
                row += [float(np.log(max(shape.params, 1))), float(np.log(max(shape.macs, 1)))]
        return row

    def _graf(self, arch: Architecture) -> list[float]:
        p = self._parse(arch)
        h, live, paths = p["h"], p["live"], p["paths"]
        lengths = [len(q) for q in paths] or [0]
        convs = [sum(_is_conv(t) for t in q) for q in paths] or [0]
        longest, shortest = int(np.argmax(lengths)), int(np.argmin(lengths))
        all_ops = Counter(d["token"] for _, d in h.nodes(data=True) if d["is_op"])
        live_ops = Counter(h.nodes[n]["token"] for n in live if h.nodes[n]["is_op"])
        by_len = Counter(min(k, MAX_LENGTH) for k in (len(q) for q in paths))
        return ([float(bool(live)), float(len(paths)), float(lengths[longest]), float(lengths[shortest]),
                 float(convs[longest]), float(convs[shortest]), float(min(convs)), float(max(convs))]
                + [float(all_ops.get(t, 0)) for t in self.tokens] + [float(live_ops.get(t, 0)) for t in self.tokens]
                + [float(by_len.get(k, 0)) for k in range(MAX_LENGTH + 1)] + self._subset_features(paths))

    def _subset_features(self, paths: list[tuple[str, ...]]) -> list[float]:
        """GRAF's op-subset features: live paths made only of ops in S, and their min / max length."""
        out: list[float] = []
        for subset in self._subsets():
            lens = [len(q) for q in paths if q and set(q) <= set(subset)]
            out += [float(len(lens)), float(min(lens, default=0)), float(max(lens, default=0))]
        return out
