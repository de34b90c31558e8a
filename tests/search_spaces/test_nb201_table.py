"""NB201 space against the published table (../shared/nb201 beside the repository, as in CI)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from search_spaces import default_space
from search_spaces.testing import count_macs

TABLE = Path(__file__).resolve().parents[2].parent / "shared" / "nb201" / "nb201_cifar10.csv"
SPACE = default_space("nb201")

pytestmark = pytest.mark.skipif(not TABLE.is_file(), reason=f"{TABLE} not present")


def rows() -> list[dict[str, str]]:
    with TABLE.open(newline="") as f:
        return list(csv.DictReader(f))


def six_digits(x: float) -> float:
    """The table's precision: six significant digits."""
    return float(f"{x:.6g}")


def test_every_row_parses_prints_and_matches_the_counts() -> None:
    table = rows()
    assert len(table) == 15_625
    assert {SPACE.from_string(r["arch"]).key() for r in table} == {a.key() for a in SPACE.archs()}
    for r in table:
        arch = SPACE.from_string(r["arch"])
        assert SPACE.to_string(arch) == r["arch"]
        shape = SPACE.shape(arch)
        assert six_digits(shape.params / 1e6) == float(r["c10_params_mb"]), r["idx"]
        # the table's FLOPs count the classifier's bias additions too (10 classes)
        assert six_digits((shape.macs + 10) / 1e6) == float(r["c10_flops_m"]), r["idx"]


@pytest.mark.slow
def test_200_built_networks_match_the_table() -> None:
    """Build 200 sampled benchmark cells: module parameter count and hooked MACs equal the table."""
    table = rows()
    picks = np.random.default_rng(201).choice(len(table), size=200, replace=False)
    for i in picks:
        r = table[int(i)]
        arch = SPACE.from_string(r["arch"])
        model = SPACE.build(arch, 10, 3, 32)
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model, 32)
        assert (params, macs) == (SPACE.shape(arch).params, SPACE.shape(arch).macs), r["idx"]
        assert six_digits(params / 1e6) == float(r["c10_params_mb"]), r["idx"]
        assert six_digits((macs + 10) / 1e6) == float(r["c10_flops_m"]), r["idx"]
