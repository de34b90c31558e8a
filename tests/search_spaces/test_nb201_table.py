"""NB201 space against the published table (../shared/nb201 beside the repository, as in CI)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from search_spaces import default_space

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


def count_macs(model: nn.Module) -> int:
    total = 0

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out[0].numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 32, 32))
    for h in handles:
        h.remove()
    return total


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
        macs = count_macs(model)
        assert (params, macs) == (SPACE.shape(arch).params, SPACE.shape(arch).macs), r["idx"]
        assert six_digits(params / 1e6) == float(r["c10_params_mb"]), r["idx"]
        assert six_digits((macs + 10) / 1e6) == float(r["c10_flops_m"]), r["idx"]
