"""Function-preserving transformations: the child computes the parent's function in eval mode."""

from __future__ import annotations

import pytest
import torch

from search_spaces.dense.builder import DenseNetwork
from search_spaces.dense.genotype import DenseGenotype
from search_spaces.dense.morph import add_connection, deepen, widen
from search_spaces.dense.presets import conv, densenet, genotype, node, output, resnet

BUILD = {"num_classes": 3, "in_channels": 3, "input_size": 8}


def chain(order: str) -> dict:
    nodes = [node([0], conv(4, order=order)), node([1], conv(6, order=order, bottleneck=4)),
             node([2], conv(4, order=order)), node([2, 3], conv(4, order=order))]
    stages = [{"transition": {"type": "none"}, "nodes": nodes, "output": output([4])},
              {"transition": {"type": "dense", "compression": 0.5}, "nodes": [node([0], conv(4, order=order))],
               "output": output([0, 1])}]
    return genotype(4, stages, stem_bn_relu=True, head_bn_relu=True)


def trained(geno: dict) -> DenseNetwork:
    """A parent with non-trivial weights and BatchNorm statistics (a few training-mode passes)."""
    gen = torch.Generator().manual_seed(0)
    model = DenseNetwork(DenseGenotype.from_dict(geno), **BUILD)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
        model.train()
        for _ in range(3):
            model(torch.randn(4, 3, 8, 8, generator=gen))
    return model.eval()


def same_function(geno: dict, transform, *args) -> None:
    parent = trained(geno)
    child_geno, state = transform(geno, parent.state_dict(), *args, build=BUILD)
    assert child_geno != geno
    child = DenseNetwork(DenseGenotype.from_dict(child_geno), **BUILD)
    child.load_state_dict(state)
    child.eval()
    x = torch.randn(5, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = parent(x), child(x)
    assert a.abs().max() > 1e-3  # a parent that outputs nothing would make the check vacuous
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("order", ["pre", "post"])
def test_add_connection(order: str) -> None:
    same_function(chain(order), add_connection, 0, 3, 1)  # a node with a bottleneck reader
    same_function(chain(order), add_connection, 0, 4, 0)  # the new input first in the concatenation


@pytest.mark.parametrize("order", ["pre", "post"])
def test_widen(order: str) -> None:
    same_function(chain(order), widen, 0, 2, 10)  # read by a bottleneck node
    same_function(chain(order), widen, 0, 3, 7)  # read by a node that concatenates two inputs


def test_widen_a_last_stage_node_read_by_the_head() -> None:
    same_function(densenet(10, 4), widen, 2, 1, 6)  # every DenseNet node feeds the concatenated output
    same_function(chain("post"), widen, 1, 1, 8)


@pytest.mark.parametrize("geno", [chain("pre"), chain("post"), resnet(8), densenet(7, 4)],
                         ids=["pre", "post", "resnet", "densenet"])
def test_deepen(geno: dict) -> None:
    same_function(geno, deepen, 0, 1)
    same_function(geno, deepen, len(geno["stages"]) - 1, len(geno["stages"][-1]["nodes"]))


def test_refusals() -> None:
    with pytest.raises(ValueError, match="widen needs"):
        widen(resnet(8), trained(resnet(8)).state_dict(), 0, 3, 32, build=BUILD)  # a summing identity node
    with pytest.raises(ValueError, match="widen needs"):
        widen(densenet(10, 4), {}, 0, 1, 6, build=BUILD)  # the next stage's widths would change
    with pytest.raises(ValueError, match="already reads"):
        add_connection(chain("pre"), {}, 0, 4, 3, build=BUILD)
