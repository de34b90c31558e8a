"""A predictor's feature vector: graph encodings, zero-cost proxies from a table, low fidelity.

`features` is a list of names: the graph groups of `predictors.graph_encodings` (`onehot`,
`path`, `graf`, `params`), `zc` (all five proxies) or `zc:NAME` (one proxy), read from a table
that `bench/nb201_proxies.py` writes (keyed by the canonical cell), and `lowfi` (a cheap,
lower-fidelity accuracy such as NB201's 12-epoch `c10_valid_hp12`, given as a function).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from predictors.graph_encodings import FEATURE_GROUPS, GraphEncoder
from predictors.proxies import PROXIES, proxy_feature
from search_spaces import Architecture

MAX_TABLE_BYTES = 64 << 20


def parse_features(text: str | Sequence[str]) -> tuple[str, ...]:
    names = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    names = [n for n in names if n]
    for n in names:
        base, _, proxy = n.partition(":")
        ok = n in FEATURE_GROUPS or n in ("zc", "lowfi") or (base == "zc" and proxy in PROXIES)
        if not ok:
            raise ValueError(f"unknown feature {n!r}; use some of {', '.join(FEATURE_GROUPS)}, zc, "
                             f"zc:<{'|'.join(PROXIES)}>, lowfi (comma-separated)")
    if not names:
        raise ValueError("--features is empty; e.g. --features graf,params,zc")
    return tuple(names)


class ProxyTable:
    """Proxy values by canonical cell; a missing value (e.g. NASWOT of a disconnected cell, whose
    kernel is singular) reads as the column's worst value."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"proxy table {str(self.path)!r} not found; write it with bench/nb201_proxies.py")
        if self.path.stat().st_size > MAX_TABLE_BYTES:
            raise ValueError(f"proxy table {self.path} is over {MAX_TABLE_BYTES >> 20} MiB; is it the right file?")
        with self.path.open(newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("time_s", "x")]  # skip a row still being written
        if not rows or any(c not in rows[0] for c in ("arch", *PROXIES)):
            raise ValueError(f"proxy table {self.path.name} needs columns arch, {', '.join(PROXIES)}")
        values = np.array([[proxy_feature(p, float(r[p] or "nan")) for p in PROXIES] for r in rows])
        worst = np.nanmin(np.where(np.isfinite(values), values, np.nan), axis=0)
        values = np.where(np.isfinite(values), values, worst)
        self.values = {r["arch"]: values[i] for i, r in enumerate(rows)}

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def key(self, space: Any, arch: Architecture) -> str:
        canon = space.canonical(arch) if callable(getattr(space, "canonical", None)) else arch
        return space.to_string(canon) if callable(getattr(space, "to_string", None)) else canon.key()

    def lookup(self, space: Any, arch: Architecture) -> np.ndarray:
        key = self.key(space, arch)
        if key not in self.values:
            raise ValueError(f"cell {key} is not in proxy table {self.path.name} ({len(self.values)} cells); "
                             "compute it with bench/nb201_proxies.py --pool N, or drop zc from --features")
        return self.values[key]


class Features:
    def __init__(self, space: Any, features: Sequence[str], proxies: ProxyTable | None = None,
                 low_fidelity: Callable[[Architecture], float] | None = None) -> None:
        self.space, self.features = space, parse_features(features)
        self.graph = GraphEncoder(space, [f for f in self.features if f in FEATURE_GROUPS])
        self.proxy_cols = [PROXIES.index(f.partition(":")[2]) for f in self.features if f.startswith("zc:")]
        if "zc" in self.features:
            self.proxy_cols = list(range(len(PROXIES)))
        if self.proxy_cols and proxies is None:
            raise ValueError("features zc need a proxy table (--proxies FILE, written by bench/nb201_proxies.py)")
        if "lowfi" in self.features and low_fidelity is None:
            raise ValueError("feature lowfi needs a low-fidelity source (a tabular evaluator with a val_low column)")
        self.proxies, self.low_fidelity = proxies, low_fidelity

    def fit(self, archs: Sequence[Architecture]) -> Features:
        self.graph.fit(archs)
        return self

    def transform(self, archs: Sequence[Architecture]) -> np.ndarray:
        parts = [self.graph.transform(archs)]
        if self.proxy_cols:
            assert self.proxies is not None
            parts.append(np.array([self.proxies.lookup(self.space, a)[self.proxy_cols] for a in archs]))
        if "lowfi" in self.features:
            assert self.low_fidelity is not None
            values = [self.low_fidelity(a) for a in archs]
            parts.append(np.array([[v if v is not None and math.isfinite(v) else 0.0] for v in values]))
        return np.concatenate([p.reshape(len(archs), -1) for p in parts], axis=1)
