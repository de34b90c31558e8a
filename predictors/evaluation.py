"""The predictor protocol on a NAS-Bench-201 style table.

Per seed: draw `n_test` held-out cells uniformly from the universe (all cells, or those without
the disconnected ones, or those in a proxy table), then `train_size` training cells from the
cells whose canonical form (`NB201Space.canonical`) no held-out cell shares, so no held-out
cell is isomorphic to a training cell. Fit on `c10_valid` (what a search sees), rank the held-out
cells, report Kendall tau, Spearman and top-5% recall against `c10_valid` and against `c10_test`,
and the coverage of the predicted std (the fraction of held-out errors within 1 and 2 std).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from predictors.metrics import kendall_tau, spearman, top_k_recall
from search_spaces import Architecture
from search_spaces.nb201 import NB201Space, canonical_edges, parse_arch_string

DEAD = ("none",) * 6


@dataclass
class Table:
    space: NB201Space
    archs: list[Architecture]
    keys: list[tuple[str, ...]]  # canonical edges
    valid: np.ndarray  # fractions
    test: np.ndarray
    low: np.ndarray

    @property
    def disconnected(self) -> np.ndarray:
        return np.array([k == DEAD for k in self.keys])


def load_table(path: str | Path, valid: str = "c10_valid", test: str = "c10_test",
               low: str = "c10_valid_hp12") -> Table:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"table {str(path)!r} not found (a NAS-Bench-201 style CSV)")
    space = NB201Space()
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in ("arch", valid, test) if rows and c not in rows[0]]
    if not rows or missing:
        raise ValueError(f"table {path.name} lacks column(s) {', '.join(missing) or 'rows'}")
    edges = [parse_arch_string(r["arch"]) for r in rows]

    def col(name: str) -> np.ndarray:
        return np.array([float(r.get(name) or "nan") / 100.0 for r in rows])

    return Table(space, [space.from_edges(e) for e in edges], [canonical_edges(e) for e in edges],
                 col(valid), col(test), col(low) if low in rows[0] else np.full(len(rows), np.nan))


def split(table: Table, train_size: int, seed: int, n_test: int = 1000,
          universe: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, held-out indices); no canonical key on both sides."""
    rng = np.random.default_rng(seed)
    pool = np.flatnonzero(universe if universe is not None else np.ones(len(table.archs), bool))
    pool = pool[np.isfinite(table.valid[pool])]
    if len(pool) < n_test + train_size:
        raise ValueError(f"only {len(pool)} cells to draw {n_test} held-out and {train_size} training cells from")
    test = rng.choice(pool, size=n_test, replace=False)
    held = {table.keys[i] for i in test}
    rest = np.array([i for i in pool if table.keys[i] not in held])
    if len(rest) < train_size:
        raise ValueError(f"only {len(rest)} cells are not isomorphic to a held-out cell; "
                         f"use --train-size <= {len(rest)}")
    return rng.choice(rest, size=train_size, replace=False), test


def scores(pred: np.ndarray, valid: np.ndarray, test: np.ndarray, std: np.ndarray | None = None) -> dict[str, float]:
    k = max(1, round(0.05 * len(valid)))  # top 5%
    out = {"kendall_tau": kendall_tau(pred, valid), "spearman": spearman(pred, valid),
           "top_recall": top_k_recall(pred, valid, k), "kendall_tau_test": kendall_tau(pred, test),
           "spearman_test": spearman(pred, test), "top_recall_test": top_k_recall(pred, test, k)}
    if std is not None:
        err = np.abs(pred - valid)
        out["coverage_1std"] = float(np.mean(err <= std))  # 0.68 if Gaussian and calibrated
        out["coverage_2std"] = float(np.mean(err <= 2 * std))  # 0.95
    return out


def summarize(per_seed: Sequence[dict[str, float]]) -> dict[str, Any]:
    keys = per_seed[0].keys()
    out: dict[str, Any] = {k: float(np.mean([s[k] for s in per_seed])) for k in keys}
    out["kendall_tau_stderr"] = float(np.std([s["kendall_tau"] for s in per_seed], ddof=1) /
                                      np.sqrt(len(per_seed))) if len(per_seed) > 1 else 0.0
    out["per_seed"] = list(per_seed)
    return out


def run_protocol(table: Table, make: Callable[[int], Any], train_size: int, seeds: Sequence[int],
                 n_test: int = 1000, universe: np.ndarray | None = None) -> dict[str, Any]:
    """`make(seed)` returns an unfitted predictor with fit(archs, y) / predict(archs)."""
    per_seed = []
    for seed in seeds:
        train, test = split(table, train_size, seed, n_test, universe)
        predictor = make(seed).fit([table.archs[i] for i in train], table.valid[train])
        mean, std = predictor.predict([table.archs[i] for i in test])
        per_seed.append(scores(mean, table.valid[test], table.test[test], std))
    return summarize(per_seed)
