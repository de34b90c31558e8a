"""A synthetic NAS-Bench-201 table: every cell, accuracy a function of its canonical form plus noise."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from search_spaces.nb201 import EDGES, OPS, canonical_edges, format_arch_string


@pytest.fixture(scope="session")
def nb201_table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every cell; accuracy a function of its canonical form (+ noise), hp12 lower."""
    rng = np.random.default_rng(0)
    lines = ["arch,c10_valid,c10_test,c10_valid_hp12"]
    for edges in itertools.product(OPS, repeat=len(EDGES)):
        c = canonical_edges(edges)
        v = 40 + 8 * c.count("nor_conv_3x3") + 4 * c.count("nor_conv_1x1") + rng.normal()
        lines.append(f"{format_arch_string(edges)},{v:.3f},{v + rng.normal():.3f},{v - 20:.3f}")
    path = tmp_path_factory.mktemp("nb201") / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    return path
