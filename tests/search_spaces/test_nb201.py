from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import optuna
import pytest
import torch
from torch import nn

from search_spaces import Architecture, default_space
from search_spaces.nb201 import EDGES, OPS, NB201Space, canonical_edges, live_edges, parse_arch_string
from search_spaces.testing import check_space, count_macs

SPACE = default_space("nb201")
TINY = NB201Space(channels=4, cells_per_stage=1)  # same cells, a network small enough to train in a test
IDX1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"

# (benchmark idx, arch string, params, MACs of conv and linear layers, the table's c10_flops_m)
PUBLISHED = [
    (0, "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
     129_306, 15_647_360, 15.6474),
    (1, IDX1, 802_426, 113_951_360, 113.951),
    (3, "|avg_pool_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|skip_connect~2|", 73_306, 7_783_040, 7.78305),
    (1462, "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
     1_531_546, 220_119_680, 220.12),
]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_contract_suite() -> None:
    check_space(SPACE)
    check_space(TINY, input_size=8)


@pytest.mark.parametrize("idx,text,params,macs,flops_m", PUBLISHED)
def test_published_counts(idx: int, text: str, params: int, macs: int, flops_m: float) -> None:
    arch = SPACE.from_string(text)
    shape = SPACE.shape(arch)
    assert (shape.params, shape.macs) == (params, macs)
    model = SPACE.build(arch, 10, 3, 32)
    assert n_params(model) == params and count_macs(model, 32) == macs
    # the table's FLOPs also count the classifier's 10 bias additions (the benchmark's counter does)
    assert float(f"{(macs + 10) / 1e6:.6g}") == flops_m


def test_network_structure() -> None:
    model = SPACE.build(SPACE.from_string(IDX1), 10, 3, 32)
    assert len(model.cells) == 3 * 5 + 2 and model.classifier.in_features == 64
    assert [type(m).__name__ for m in model.cells].count("ResidualReduction") == 2
    pool = [m for m in model.modules() if isinstance(m, nn.AvgPool2d) and m.kernel_size == 3][0]
    assert pool.stride == 1 and pool.padding == 1 and not pool.count_include_pad
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("input_size", [8, 16, 32, 64])
def test_shape_matches_built_network_at_sizes(input_size: int) -> None:
    rng = np.random.default_rng(input_size)
    for _ in range(3):
        arch = TINY.sample(rng)
        model = TINY.build(arch, 7, 3, input_size)
        shape = TINY.shape(arch, 7, 3, input_size)
        assert n_params(model) == shape.params and count_macs(model, input_size) == shape.macs


def test_input_size_must_be_a_multiple_of_four() -> None:
    arch = SPACE.sample(np.random.default_rng(0))
    for size in (2, 6, 30):
        with pytest.raises(ValueError, match="multiple of 4"):
            SPACE.shape(arch, input_size=size)
        with pytest.raises(ValueError, match="multiple of 4"):
            SPACE.build(arch, 10, 3, size)


def test_arch_strings_round_trip_for_every_cell() -> None:
    archs = list(SPACE.archs())
    assert len(archs) == SPACE.size() == 15_625 == len({a.key() for a in archs})
    for arch in archs:
        text = SPACE.to_string(arch)
        assert SPACE.from_string(text) == arch and text.count("~") == 6


def test_string_format_and_edge_order() -> None:
    arch = SPACE.from_string(IDX1)
    assert arch.genotype == {"edges": ["nor_conv_3x3", "nor_conv_3x3", "avg_pool_3x3",
                                       "skip_connect", "nor_conv_3x3", "skip_connect"]}
    assert SPACE.to_string(arch) == IDX1
    assert SPACE.from_string(f"  {IDX1}\n") == arch  # surrounding whitespace is fine


@pytest.mark.parametrize("text,match", [
    ("|nor_conv_5x5~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'nor_conv_5x5' on edge 1<-0"),
    ("|none~0|+|none~0|none~1|+|none~0|conv~1|none~2|", "unknown op 'conv' on edge 3<-1"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "node 2 has 1 edge"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|none~3|", "node 3 has 4 edge"),
    ("|none~0|+|none~0|none~1|", "2 node"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "4 node"),
    ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "node 2 reads node 0 twice"),
    ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "not before it"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "not op~source"),
    ("none~0+|none~0|none~1|+|none~0|none~1|none~2|", "node 1"),
    ("", "1 node"),
])
def test_bad_arch_strings(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_arch_string(text)


def test_genotype_validation() -> None:
    with pytest.raises(ValueError, match="5 edge"):
        Architecture("nb201", {"edges": ["none"] * 5})
    with pytest.raises(ValueError, match="unknown op 'conv' on edge 3<-2"):
        Architecture("nb201", {"edges": ["none"] * 5 + ["conv"]})
    with pytest.raises(ValueError, match="edges"):
        Architecture("nb201", {"edges": ["none"] * 6, "extra": 1})
    with pytest.raises(ValueError, match="not 'nb201'"):
        SPACE.validate(Architecture("elsewhere", {"edges": ["none"] * 6}))


def test_mutate_changes_one_edge() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        arch = SPACE.sample(rng)
        child = SPACE.mutate(arch, rng)
        diff = [a != b for a, b in zip(SPACE.edges(arch), SPACE.edges(child), strict=True)]
        assert sum(diff) == 1


def test_encode_is_one_hot_per_edge() -> None:
    rng = np.random.default_rng(1)
    codes = {SPACE.encode(SPACE.sample(rng)).tobytes() for _ in range(30)}
    for code in (np.frombuffer(c, dtype=np.float32) for c in codes):
        assert code.shape == (30,) and (code.reshape(6, 5).sum(axis=1) == 1).all()
    assert len(codes) > 25


def test_suggest_names_one_parameter_per_edge() -> None:
    trial = optuna.trial.FixedTrial({f"edge_{t}_{s}": OPS[(t + s) % 5] for t, s in EDGES})
    arch = SPACE.suggest(trial)
    assert SPACE.edges(arch) == tuple(OPS[(t + s) % 5] for t, s in EDGES)


def test_graph_has_the_non_none_edges() -> None:
    g = SPACE.from_string(IDX1).graph()
    assert isinstance(g, nx.DiGraph) and sorted(g.nodes) == [0, 1, 2, 3]
    assert g.edges[1, 2]["op"] == "avg_pool_3x3" and g.number_of_edges() == 6
    g = SPACE.from_string("|none~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|").graph()
    assert list(g.edges(data="op")) == [(0, 3, "nor_conv_1x1")]


def test_canonical_drops_edges_off_every_path() -> None:
    # node 1 feeds nothing that reaches the output; node 2 reads only the zero node 1
    arch = SPACE.from_string("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    assert SPACE.to_string(SPACE.canonical(arch)) == "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert live_edges(SPACE.edges(arch)) == (False, False, False, True, False, False)
    everything_cut = SPACE.from_string("|nor_conv_3x3~0|+|none~0|avg_pool_3x3~1|+|none~0|none~1|none~2|")
    assert SPACE.edges(SPACE.canonical(everything_cut)) == ("none",) * 6


def test_canonical_swaps_unconnected_middle_nodes() -> None:
    a = SPACE.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|")
    b = SPACE.from_string("|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    assert a != b and SPACE.canonical(a) == SPACE.canonical(b)
    assert SPACE.shape(a) == SPACE.shape(b)


def test_canonical_properties_over_the_space() -> None:
    classes: dict[tuple[str, ...], int] = {}
    for edges in itertools.product(OPS, repeat=6):
        c = canonical_edges(edges)
        assert canonical_edges(c) == c
        assert all(on == (op != "none") for on, op in zip(live_edges(c), c, strict=True))
        assert SPACE.shape(SPACE.from_edges(c)).params <= SPACE.shape(SPACE.from_edges(edges)).params
        classes[c] = classes.get(c, 0) + 1
    assert 5_000 < len(classes) < 15_625 and max(classes.values()) > 100  # the all-cut class is large


def test_canonical_cell_computes_the_same_function() -> None:
    """Dropping dead edges keeps the output: load the cell's weights into its canonical form."""
    rng = np.random.default_rng(5)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    checked = 0
    while checked < 10:
        arch = TINY.sample(rng)
        edges = SPACE.edges(arch)
        pruned = tuple(op if live else "none" for op, live in zip(edges, live_edges(edges), strict=True))
        if pruned == edges:
            continue
        full, canon = TINY.build(arch, 5, 3, 8), TINY.build(TINY.from_edges(pruned), 5, 3, 8)
        canon.load_state_dict(full.state_dict(), strict=False)
        full.eval(), canon.eval()
        with torch.no_grad():
            assert torch.allclose(full(x), canon(x), atol=1e-6)
        checked += 1


def test_tiny_network_trains() -> None:
    torch.manual_seed(0)
    arch = SPACE.from_string(IDX1)
    model = TINY.build(arch, 4, 3, 8)
    x, y = torch.randn(32, 3, 8, 8), torch.randint(0, 4, (32,))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_describe() -> None:
    info = SPACE.describe()
    assert info["space"] == "nb201" and info["size"] == 15_625 and info["config"]["cells_per_stage"] == 5


def test_params_of_inverts_suggest() -> None:
    import optuna

    from search_spaces.nb201 import NB201Space

    space = NB201Space()
    arch = space.sample(np.random.default_rng(11))
    assert space.suggest(optuna.trial.FixedTrial(space.params_of(arch))) == arch
