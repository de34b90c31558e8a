"""Planning function-preserving transformations between two genotypes, and replaying them on weights."""

from __future__ import annotations

import copy

import numpy as np
import torch
from test_morph import BUILD, chain, trained

from search_spaces.dense.builder import DenseNetwork
from search_spaces.dense.genotype import DenseGenotype
from search_spaces.dense.morph import connect_genotype, deepen_genotype, widen_genotype
from search_spaces.dense.morph_plan import inherit, plan
from search_spaces.dense.space import DenseSpace, DenseSpaceConfig


def test_plan_finds_each_transformation_and_their_composition() -> None:
    g = chain("pre")
    assert plan(g, connect_genotype(g, 0, 3, 1)) == [("connect", (0, 3, 1))]
    assert plan(g, widen_genotype(g, 0, 2, 10)) == [("widen", (0, 2, 10))]
    assert plan(g, deepen_genotype(g, 1, 1, 3)) == [("deepen", (1, 1, 3))]
    two = widen_genotype(connect_genotype(g, 0, 4, 0), 0, 3, 8)
    steps = plan(g, two)
    assert steps is not None and sorted(steps) == [("connect", (0, 4, 0)), ("widen", (0, 3, 8))]
    assert plan(g, two, max_steps=1) is None
    assert plan(g, g) == []


def test_plan_refuses_what_no_transformation_makes() -> None:
    g = chain("pre")
    other = copy.deepcopy(g)
    other["stages"][0]["nodes"][0]["op"]["kernel"] = 5
    assert plan(g, other) is None
    assert plan(connect_genotype(g, 0, 3, 1), g) is None  # removing an edge is not function-preserving
    narrower = copy.deepcopy(g)
    narrower["stages"][0]["nodes"][0]["op"]["width"] = 2
    assert plan(g, narrower) is None


def test_inherited_weights_compute_the_parents_function() -> None:
    g = chain("post")
    child = deepen_genotype(widen_genotype(connect_genotype(g, 0, 3, 1), 0, 2, 10), 1, 1, 3)
    steps = plan(g, child)
    assert steps is not None and len(steps) == 3
    parent = trained(g)
    geno, state = inherit(g, parent.state_dict(), steps, BUILD)
    assert geno == child
    model = DenseNetwork(DenseGenotype.from_dict(child), **BUILD)
    model.load_state_dict(state)
    x = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), parent(x), rtol=1e-4, atol=1e-5)


def test_some_mutations_of_a_concat_space_are_reachable() -> None:
    space = DenseSpace(DenseSpaceConfig(stages=2, max_nodes=3, widths=(4, 8), stem=8, groups=(1,),
                                        merges=("concat",), bottlenecks=(0,)))
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(20)]
    found = sum(plan(a.genotype, space.mutate(a, rng).genotype) is not None for a in archs)
    assert 0 < found < len(archs)  # edge additions and wider nodes are; removals and kernel changes are not
