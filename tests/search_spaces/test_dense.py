from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest
import torch
from torch import nn

from search_spaces import Architecture, default_space
from search_spaces.dense import DenseSpace, DenseSpaceConfig, preset_genotype
from search_spaces.testing import check_space, count_macs

SPACE = default_space("dense")


def preset(name: str) -> Architecture:
    return Architecture("dense", preset_genotype(name))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name,params", [
    ("resnet-20", 269_722), ("resnet-32", 464_154), ("resnet-44", 658_586), ("resnet-56", 853_018),
    ("resnet-110", 1_727_962), ("densenet-40-12", 1_019_722), ("densenet-bc-100-12", 769_162),
])
def test_published_parameter_counts(name: str, params: int) -> None:
    arch = preset(name)
    assert SPACE.shape(arch).params == params
    assert n_params(SPACE.build(arch, 10, 3, 32)) == params


def test_resnet20_macs() -> None:
    arch = preset("resnet-20")
    assert SPACE.shape(arch).macs == 40_551_040
    assert count_macs(SPACE.build(arch, 10, 3, 32), 32) == 40_551_040


def test_depths_match_names() -> None:
    for name, depth in [("resnet-20", 20), ("resnet-110", 110), ("densenet-40-12", 40), ("densenet-bc-100-12", 100)]:
        assert SPACE.shape(preset(name)).depth == depth


@pytest.mark.parametrize("columns", [1, 2, 3, 4])
def test_fractalnet_structure(columns: int) -> None:
    geno = preset_genotype(f"fractalnet-{columns}-3")
    for s, stage in enumerate(geno["stages"]):
        assert stage["transition"]["type"] == ("none" if s == 0 else "maxpool")
        g = nx.DiGraph()
        for i, node in enumerate(stage["nodes"], start=1):
            g.add_edges_from((j, i) for j in node["inputs"])
        convs = {i for i, n in enumerate(stage["nodes"], start=1) if n["op"]["type"] == "conv"}
        joins = [n for n in stage["nodes"] if n["op"]["type"] == "identity"]
        assert len(convs) == 2**columns - 1
        assert all(n["merge"] == "mean" and len(n["inputs"]) >= 2 for n in joins)
        # deepest path from the block input to its output, counted in convs
        longest = {0: 0}
        for v in nx.topological_sort(g):
            if v:
                longest[v] = max(longest[u] for u in g.predecessors(v)) + (v in convs)
        assert longest[len(stage["nodes"])] == 2 ** (columns - 1)
    arch = preset(f"fractalnet-{columns}-3")
    assert n_params(SPACE.build(arch, 10, 3, 32)) == SPACE.shape(arch).params


@pytest.mark.parametrize("name", ["resnet-20-b", "hardnet-8-16", "vovnet-4-32", "fractalnet-3-5", "densenet-bc-100-12"])
def test_analysis_matches_built_model(name: str) -> None:
    arch = preset(name)
    model = SPACE.build(arch, 10, 3, 32)
    shape = SPACE.shape(arch)
    assert n_params(model) == shape.params
    assert count_macs(model, 32) == shape.macs


@pytest.mark.slow
def test_200_sampled_archs_build_with_exact_counts() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        arch = SPACE.sample(rng)
        model = SPACE.build(arch, num_classes=5, in_channels=1, input_size=8)
        shape = SPACE.shape(arch, 5, 1, 8)
        assert n_params(model) == shape.params
        assert count_macs(model, 8, 1) == shape.macs
        out = model(torch.randn(2, 1, 8, 8))
        assert out.shape == (2, 5)


def test_contract_suite() -> None:
    check_space(DenseSpace(DenseSpaceConfig(widths=(8, 16), stem=8, max_nodes=3)), input_size=8)


def test_memory_efficient_gives_same_outputs_and_grads() -> None:
    arch = preset("densenet-bc-16-4")
    torch.manual_seed(0)
    a = SPACE.build(arch, 10, 3, 16)
    b = SPACE.build(arch, 10, 3, 16, memory_efficient=True)
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 3, 16, 16)
    ya, yb = a(x), b(x)
    assert torch.allclose(ya, yb, atol=1e-5)
    ya.sum().backward()
    yb.sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.allclose(pa.grad, pb.grad, atol=1e-4), name


def test_architecture_round_trip_key_and_immutability() -> None:
    arch = preset("densenet-40-12")
    back = Architecture.from_json(arch.to_json())
    assert back == arch and back.key() == arch.key() and hash(back) == hash(arch)
    g = arch.genotype
    g["stages"][0]["nodes"][0]["op"]["width"] = 99
    assert arch.genotype["stages"][0]["nodes"][0]["op"]["width"] == 12
    assert arch.key() != preset("densenet-40-24").key()
    assert isinstance(arch.graph(), nx.DiGraph) and nx.is_directed_acyclic_graph(arch.graph())


def test_sample_is_seeded_and_mutate_changes_one_choice() -> None:
    a = SPACE.sample(np.random.default_rng(3))
    assert a == SPACE.sample(np.random.default_rng(3))
    rng = np.random.default_rng(4)
    for _ in range(30):
        parent = SPACE.sample(rng)
        child = SPACE.mutate(parent, rng)
        pa, pc = SPACE.params_of(parent), SPACE.params_of(child)
        # exactly one recorded choice changes; choices it switches on or off (a node's inputs, an
        # align for a sum) may appear or vanish, but every other shared choice stays
        assert sum(pa[k] != pc[k] for k in set(pa) & set(pc)) == 1


def test_max_params_is_respected() -> None:
    space = DenseSpace(DenseSpaceConfig(max_params=150_000))
    rng = np.random.default_rng(0)
    assert all(space.shape(space.sample(rng)).params <= 150_000 for _ in range(10))
    with pytest.raises(ValueError, match="max_params"):
        DenseSpace(DenseSpaceConfig(max_params=100)).sample(rng)


def test_space_size_counts_choices() -> None:
    tiny = DenseSpace(DenseSpaceConfig(stages=1, min_nodes=1, max_nodes=1, widths=(16,), kernels=(3,), dilations=(1,),
                                       groups=(1,), orders=("pre",), bottlenecks=(0,)))
    # one node reading node 0; output: node 1 alone or with node 0
    assert tiny.size() == 2
    assert DenseSpace().size() > 10**40


def _mutated(name: str, edit) -> dict:
    geno = preset_genotype(name)
    edit(geno)
    return geno


@pytest.mark.parametrize("edit,message", [
    (lambda g: g["stages"][0]["nodes"][0].update(inputs=[1]), "not an earlier node"),
    (lambda g: g["stages"][0]["nodes"][0].update(inputs=[7]), "not an earlier node"),
    (lambda g: g["stages"][0]["nodes"][0]["op"].update(type="sepconv"), "unknown"),
    (lambda g: g["stages"][0]["nodes"][0]["op"].update(width="wide"), "integer"),
    (lambda g: g["stages"][0]["nodes"][0]["op"].update(width=10**9), "out of range"),
    (lambda g: g["stages"][0]["nodes"][0]["op"].update(kernel=4), "odd"),
    (lambda g: g["stages"][0]["nodes"][0].update(merge="max"), "unknown"),
    (lambda g: g["stages"][0]["nodes"][0].update(extra=1), "unknown"),
    (lambda g: g["stages"][0].update(output={"inputs": [1], "merge": "concat", "align": "pad"}), "feed neither"),
    (lambda g: g["stages"][0]["nodes"][1]["op"].update(groups=5), "groups"),
    (lambda g: g.update(stages=[]), "1 to"),
])
def test_invalid_genotypes_say_what_is_wrong(edit, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Architecture("dense", _mutated("resnet-20", edit))


def test_hostile_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="20,000 items; the limit is 10,000"):
        out = {"inputs": [1], "merge": "concat", "align": "pad"}
        Architecture("dense", {"stem": {"channels": 16, "kernel": 3, "bn_relu": True}, "head": {"bn_relu": True},
                               "stages": [{"transition": {"type": "none"}, "output": out,
                                           "nodes": [{"inputs": [0]}] * 20_000}]})
    deep: object = 1
    for _ in range(100):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        Architecture("dense", deep)
    with pytest.raises(ValueError, match='exactly the keys "space" and "genotype"'):
        Architecture.from_json(json.dumps({"space": "dense", "genotype": {}, "extra": 1}))


def test_downsampling_beyond_input_size_is_an_error() -> None:
    with pytest.raises(ValueError, match="downsamples more than the input size"):
        SPACE.shape(preset("fractalnet-2-5"), input_size=8)
