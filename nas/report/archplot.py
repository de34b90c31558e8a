"""Draw an architecture from its space's `graph()` (a `networkx.DiGraph`), any space.

One row per stage (nodes named `(stage, i)` are grouped by stage; other nodes join the first or
last row), nodes in topological order left to right, coloured by op. Consecutive nodes are joined
by a straight line, every longer connection by an arc above the row (higher for longer), so a
ResNet reads as a chain with skips over two nodes and a DenseNet's block as a fan of arcs. The
marker says how a node merges several inputs (concat, sum, mean). Edges that carry an `op` (cell
spaces such as NAS-Bench-201) are coloured by it instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import networkx as nx

MERGE_MARKERS = {"concat": "s", "sum": "P", "mean": "D"}
MAX_ROW_NODES = 400  # wider rows are drawn, but cramped; this bounds the figure size


def op_label(name: Any, attrs: dict[str, Any]) -> str:
    """A short op name from a node's attributes, e.g. `conv 3x3`, `conv 3x3 d2 g4`, `identity`."""
    kind = attrs.get("kind")
    base = attrs.get("op") or attrs.get("type")
    if kind in ("input", "output", "head"):
        return str(kind)
    if kind == "transition":
        return "stage input" if base in (None, "none") else f"transition {base}"
    if base is None:
        base = kind if kind is not None else (name if isinstance(name, str) else "block")
    parts = [str(base)]
    k = attrs.get("kernel")
    if isinstance(k, int):
        parts.append(f"{k}x{k}")
    for key, tag in (("dilation", "d"), ("groups", "g"), ("expand", "e")):
        v = attrs.get(key)
        if isinstance(v, int) and v > 1:
            parts.append(f"{tag}{v}")
    if attrs.get("bottleneck"):
        parts.append("bottleneck")
    return " ".join(parts)


def _structural(label: str) -> str | None:
    """Fixed greys for the nodes that are no op (the same in every drawing); None for ops."""
    if label in ("input", "head"):
        return "0.2"
    if label == "output":
        return "white"
    return "0.65" if label == "stage input" or label.startswith("transition") else None


def _natural(n: Any) -> tuple:
    parts = n if isinstance(n, tuple) else (n,)
    return tuple((0, p, "") if isinstance(p, (int, float)) else (1, 0, str(p)) for p in parts)


def rows_of(g: nx.DiGraph) -> list[list[Any]]:
    """Nodes grouped into rows (stages), each in topological order."""
    order = list(nx.lexicographical_topological_sort(g, key=_natural))
    stage_of = {n: n[0] for n in order if isinstance(n, tuple) and len(n) == 2}
    stages = sorted(set(stage_of.values()), key=_natural)
    if not stages:
        return [order]
    rows: dict[Any, list[Any]] = {s: [] for s in stages}
    seen_stage = False
    for n in order:
        if n in stage_of:
            seen_stage = True
            rows[stage_of[n]].append(n)
        else:  # input-like nodes before the first stage, head-like after the last
            rows[stages[-1] if seen_stage else stages[0]].append(n)
    return [rows[s] for s in stages]


def draw_graph(g: nx.DiGraph, path: Path, title: str = "", dpi: int = 100) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MPath

    rows = rows_of(g)
    width = max(len(r) for r in rows)
    row_gap = 2.4  # arcs rise at most 1.5 above their row
    pos = {n: (float(i), -row_gap * r) for r, row in enumerate(rows) for i, n in enumerate(row)}
    row_of = {n: r for r, row in enumerate(rows) for n in row}
    labels = {n: op_label(n, d) for n, d in g.nodes(data=True)}
    edge_ops = {(u, v): str(d["op"]) for u, v, d in g.edges(data=True) if "op" in d}
    ops = sorted({n for n in labels.values() if _structural(n) is None} | set(edge_ops.values()))
    cmap = plt.get_cmap("tab20" if len(ops) > 10 else "tab10")
    colour = {name: cmap(i % cmap.N) for i, name in enumerate(ops)}
    colour.update({n: _structural(n) for n in labels.values() if _structural(n) is not None})

    fig_w = min(max(6.0, 0.32 * min(width, MAX_ROW_NODES) + 3.0), 40.0)
    fig, ax = plt.subplots(figsize=(fig_w, 1.2 + 1.2 * len(rows)))
    max_span = {r: max(len(row) - 1, 1) for r, row in enumerate(rows)}
    for u, v in g.edges():
        (x0, y0), (x1, y1) = pos[u], pos[v]
        op = edge_ops.get((u, v))
        c = colour[op] if op is not None else "0.45"
        lw = 2.0 if op is not None else 0.8
        if row_of[u] != row_of[v]:  # between stages: a faint dashed line
            ax.plot([x0, x1], [y0, y1], ls=":", color="0.7", lw=0.7, zorder=1)
            continue
        span = abs(x1 - x0)
        if span <= 1 and op is None:
            ax.plot([x0, x1], [y0, y1], color=c, lw=1.2, zorder=1)
            continue
        h = 0.3 + 1.2 * max(span - 1, 0) / max(max_span[row_of[u]] - 1, 1)
        curve = MPath([(x0, y0), ((x0 + x1) / 2, y0 + 2 * h), (x1, y1)], [MPath.MOVETO, MPath.CURVE3, MPath.CURVE3])
        ax.add_patch(PathPatch(curve, fill=False, color=c, lw=lw, alpha=0.85 if op else 0.45, zorder=1))
    for n in g.nodes():
        merge = g.nodes[n].get("merge")
        marker = MERGE_MARKERS.get(merge, "o") if g.in_degree(n) > 1 else "o"
        ax.scatter(*pos[n], s=90, marker=marker, color=colour[labels[n]], edgecolors="black", linewidths=0.6,
                   zorder=3)
    for r in range(len(rows) if len(rows) > 1 else 0):
        ax.text(-0.8, -row_gap * r, f"stage {r + 1}", ha="right", va="center", fontsize=9)
    handles = [Line2D([], [], ls="", marker="o", color=colour[name], markeredgecolor="black", label=name)
               for name in sorted(set(labels.values()))]
    handles += [Line2D([], [], color=colour[name], lw=2, label=f"edge: {name}")
                for name in sorted(set(edge_ops.values()))]
    merges = sorted({g.nodes[n].get("merge") for n in g.nodes() if g.in_degree(n) > 1} & set(MERGE_MARKERS))
    handles += [Line2D([], [], ls="", marker=MERGE_MARKERS[m], color="white", markeredgecolor="black",
                       label=f"merge: {m}") for m in merges]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xlim(-2.2 if len(rows) > 1 else -0.6, width - 0.4)
    ax.set_ylim(-row_gap * (len(rows) - 1) - 0.5, 1.7)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10, loc="left")
    from nas.report.plots import save_figure

    return save_figure(fig, path, dpi)


def draw_arch(arch: Any, path: str | Path, title: str | None = None, dpi: int = 100) -> Path:
    """Draw `arch` (an `Architecture`) with its space's `graph()`; `ValueError` when the space has none."""
    from search_spaces.plugins import resolve_space

    space = resolve_space(arch.space)
    if not callable(getattr(space, "graph", None)):
        raise ValueError(f"space {arch.space!r} has no graph() view to draw; add one (a networkx.DiGraph)")
    g = space.graph(arch)
    if title is None:
        title = f"{arch.space} {arch.key()}"
    return draw_graph(g, Path(path), title, dpi)
