"""The dense-DAG differentiable supernet: gates and factor mixtures have the right shapes, one step
updates weights and architecture parameters, discretisation always gives a valid architecture of
the sub-space (under random parameters), GDAS / proxyless save fewer activations than DARTS, the
expected latency decomposes the predictor exactly and a hard budget holds at every step."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from saved_bytes import saved_bytes

from nas.data import load_dataset
from nas.supernets.differentiable import DiffOptions, make_supernet
from nas.supernets.differentiable.dense_choices import gate_names, nodes_of, picks_in, searched_factors
from nas.supernets.differentiable.dense_latency import ExpectedLatency
from nas.supernets.differentiable.modes import gate_plans
from nas.supernets.differentiable.testing import synthetic_predictor
from predictors.latency_kernels import kernels
from search_spaces.base import Architecture
from search_spaces.dense.space import DenseSpace, DenseSpaceConfig

DATA = "synthetic?subset=120&resolution=8&classes=3&val=0.5"
SPACE = DenseSpace(DenseSpaceConfig(stages=2, max_nodes=3, stem=8, widths=(4, 8), width_growth=2))
TINY = DiffOptions(batch_size=16, warmup=0.0, record_every=1)


@pytest.fixture(scope="module")
def data():
    return load_dataset(DATA, seed=0)


@pytest.fixture(scope="module")
def latency():
    return ExpectedLatency(SPACE, *synthetic_predictor(SPACE, 8))


def supernet(mode: str, steps: int = 2, options: DiffOptions = TINY, **kw):
    return make_supernet(SPACE, mode, 3, 3, 8, options, steps, 0, **kw)


@pytest.mark.parametrize("mode", ["darts", "gdas", "proxyless"])
def test_gates_and_mixtures_have_the_right_shapes(mode: str) -> None:
    net = supernet(mode)
    n_gates = len(gate_names(SPACE))
    assert n_gates == SPACE.config.stages * (3 + 3) and net.gates.shape == (n_gates,)
    assert set(net.alpha) == set(searched_factors(SPACE)) == {"kernel", "dilation", "groups", "width", "bottleneck"}
    for a in net.alpha.values():
        assert a.shape == (len(nodes_of(SPACE)), 2)  # every factor of SPACE has two choices
    gen = torch.Generator().manual_seed(0)
    for arch_step in (False, True):
        plans = gate_plans(net.gates, mode, arch_step=arch_step, tau=1.0, generator=gen)
        assert len(plans) == n_gates
        for on, coef, rest in plans:
            if mode == "darts":
                assert on and 0 < float(coef.detach()) < 1
            elif coef is not None:  # a drawn gate passes its input unscaled
                assert float(coef.detach()) in (0.0, 1.0)
            assert (coef is not None and coef.requires_grad) or (rest is not None) or not arch_step or mode == "darts" \
                or on
            assert rest is None or float(rest.detach()) == pytest.approx(0.0, abs=1e-6)
        assert net(torch.randn(5, 3, 8, 8), arch_step=arch_step, generator=gen).shape == (5, 3)


@pytest.mark.parametrize("mode", ["darts", "gdas", "proxyless"])
def test_one_step_updates_weights_and_architecture(mode: str, data) -> None:
    net = supernet(mode, steps=1)
    before = [p.detach().clone() for p in net.arch_parameters()]
    weights0 = [p.detach().clone() for p in net.net.parameters()]
    out = net.fit(data, quiet=True)
    assert out["steps"] == 1 and out["space"] == "dense"
    assert all(not torch.equal(p.detach(), b) for p, b in zip(net.arch_parameters(), before))
    assert any(not torch.equal(p.detach(), w) for p, w in zip(net.net.parameters(), weights0))
    SPACE.validate(Architecture.from_dict(out["arch"]))


def test_discretisation_is_always_a_valid_architecture_of_the_sub_space() -> None:
    net, rng = supernet("darts"), np.random.default_rng(0)
    for _ in range(60):
        with torch.no_grad():
            for a in net.alpha.values():
                a.copy_(torch.from_numpy(rng.normal(size=tuple(a.shape)) * 3))
            net.gates.copy_(torch.from_numpy(rng.normal(size=tuple(net.gates.shape)) * 3))
        arch = net.discretise()
        SPACE.validate(arch)
        picks, probs = picks_in(SPACE, arch), net.probs()
        geno = SPACE.parse(arch)
        for stage in geno.stages:
            assert len(stage.nodes) == SPACE.config.max_nodes and len(stage.nodes) in stage.output.inputs
            for i, nd in enumerate(stage.nodes, start=1):
                assert i - 1 in nd.inputs.inputs and nd.inputs.merge == "concat"
        for name, p in zip(gate_names(SPACE), probs["gates"]):
            assert picks[name] == (p > 0.5)
        for k, (s, i) in enumerate(nodes_of(SPACE)):
            assert picks[f"s{s}_n{i}_kernel"] == SPACE.config.kernels[int(probs["kernel"][k].argmax())]
        SPACE.validate(net.propose(rng))


def test_gdas_and_proxyless_save_less_than_darts() -> None:
    darts = saved_bytes(supernet("darts"), arch_step=True)
    for mode in ("gdas", "proxyless"):
        net = supernet(mode)
        worst = max(saved_bytes(net, arch_step=a) for a in (False, True))
        assert worst < 0.75 * darts, f"{mode} saves {worst} bytes per forward, darts {darts}"


def test_expected_latency_decomposes_the_predictor(latency) -> None:
    pred, rng = latency.predictor, np.random.default_rng(1)
    per_node, per_edge, const = pred.graph_costs()
    archs = [SPACE.sample(rng) for _ in range(5)]
    for arch, mean in zip(archs, pred.predict(archs)[0]):
        g = SPACE.graph(arch)
        total = pred.kernel_costs(kernels(SPACE, arch, 3, 3, 8)).sum() + per_node * g.number_of_nodes() \
            + per_edge * g.number_of_edges() + const
        assert total == pytest.approx(mean, rel=1e-9)
    net = supernet("darts", latency=latency)
    with torch.no_grad():  # a saturated distribution: the expectation is (nearly) one architecture's cost
        for a in net.alpha.values():
            a.copy_(torch.from_numpy(rng.normal(size=tuple(a.shape)) * 30))
        net.gates.copy_(torch.from_numpy(rng.normal(size=tuple(net.gates.shape)) * 30))
    ratio = net.expected_latency() / pred.predict([net.discretise()])[0][0]
    assert 0.7 < ratio < 1.5


@pytest.mark.parametrize("mode", ["darts", "gdas", "proxyless"])
def test_hard_budget_holds_at_every_step(mode: str, data, latency) -> None:
    free = supernet(mode, latency=latency)
    uniform = free.expected_latency()
    cheap = float(latency.of(*latency.cheapest()))
    budget = cheap + 0.3 * (uniform - cheap)
    net = supernet(mode, steps=5, latency=latency, budget_ms=budget)
    assert net.expected_latency() > budget  # the projection has work to do
    out = net.fit(data, quiet=True)
    trace = [r["expected_latency_ms"] for r in net.trajectory]
    assert len(trace) == 5 and max(trace) <= budget + 1e-4
    assert out["expected_latency_ms"] <= budget + 1e-4 and out["predicted_latency_ms"] <= budget
    with pytest.raises(ValueError, match="below the supernet's cheapest"):
        supernet(mode, steps=1, latency=latency, budget_ms=0.5 * cheap).fit(data, quiet=True)
