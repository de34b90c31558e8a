"""Architecture drawings from any space's graph(): rows per stage in topological order, and
`nas describe ARCH --plot FILE.png`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_report import check_png

from nas.archfile import load_arch
from nas.cli import main
from nas.report.archplot import draw_arch, op_label, rows_of
from search_spaces.plugins import resolve_space


def positions(rows: list[list]) -> dict:
    return {n: (r, i) for r, row in enumerate(rows) for i, n in enumerate(row)}


def test_rows_are_stages_in_topological_order() -> None:
    for preset in ("resnet-20", "densenet-40-12", "fractalnet-3-5"):
        g = load_arch(f"preset:{preset}").graph()
        rows = rows_of(g)
        assert sorted(map(str, g.nodes)) == sorted(str(n) for row in rows for n in row)
        pos = positions(rows)
        for u, v in g.edges:
            assert pos[u] < pos[v], (preset, u, v)  # left to right, stage after stage
    assert len(rows_of(load_arch("preset:resnet-20").graph())) == 3


def test_resnet_is_a_chain_with_skips_and_densenet_a_dense_block() -> None:
    g = load_arch("preset:resnet-20").graph()
    row = rows_of(g)[1]
    spans = sorted(row.index(v) - row.index(u) for u, v in g.edges if u in row and v in row)
    assert set(spans) == {1, 3} and spans.count(3) == 3  # one skip over each block's two convs
    g = load_arch("preset:densenet-40-12").graph()
    row = rows_of(g)[0]
    convs = [n for n in row if g.nodes[n].get("kind") == "node"]
    for k, n in enumerate(convs):
        assert set(g.predecessors(n)) >= set(convs[:k])  # every earlier layer feeds every later one


def test_op_labels() -> None:
    assert op_label((1, 1), {"kind": "node", "type": "conv", "kernel": 3, "dilation": 2, "groups": 1}) == "conv 3x3 d2"
    assert op_label("input", {"kind": "input"}) == "input"
    assert op_label(2, {"kernel": 5, "expand": 6}) == "block 5x5 e6"


@pytest.mark.parametrize("space", ["nb201", "mobilenet_chain"])
def test_other_spaces_draw(space: str, tmp_path: Path) -> None:
    arch = resolve_space(space).sample(np.random.default_rng(0))
    check_png(draw_arch(arch, tmp_path / "a.png"))


def test_describe_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "sub" / "resnet.png"
    assert main(["describe", "preset:resnet-20", "--plot", str(out), "--json"]) == 0
    w, h = check_png(out)
    assert w > h  # three rows of ten nodes: wider than tall
    assert main(["describe", "preset:resnet-20", "--plot", str(tmp_path / "x.txt")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
