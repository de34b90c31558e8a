"""The differentiable NB201 supernet: mode plans and mixtures have the right shapes, one step
updates weights and architecture parameters (none during warm-up), discretisation always gives a
valid cell, GDAS / proxyless save fewer activations than DARTS, GDAS's temperature anneals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from saved_bytes import saved_bytes

from nas.data import load_dataset
from nas.supernets.differentiable import Differentiable, DiffOptions
from nas.supernets.differentiable.model import param_free_share
from nas.supernets.differentiable.modes import mixed, plan, tau_at
from search_spaces.nb201 import EDGES, OPS
from search_spaces.nb201.space import NB201Space

DATA = "synthetic?subset=120&resolution=8&classes=3&val=0.5"
TINY = DiffOptions(channels=4, cells=1, batch_size=16, warmup=0.0, record_every=1)


@pytest.fixture(scope="module")
def data():
    return load_dataset(DATA, seed=0)


def supernet(mode: str, options: DiffOptions = TINY, steps: int = 2) -> Differentiable:
    return Differentiable(NB201Space(), mode, 3, 3, 8, options, steps=steps, seed=0)


@pytest.mark.parametrize("mode", ["darts", "gdas", "proxyless"])
def test_plans_and_mixtures_have_the_right_shapes(mode: str) -> None:
    alpha = torch.randn(len(EDGES), len(OPS), requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    for arch_step in (False, True):
        plans = plan(alpha, mode, arch_step=arch_step, tau=1.0, generator=gen)
        assert len(plans) == len(EDGES)
        for idx, coef, rest in plans:
            assert len(idx) == len(coef) and len(set(idx)) == len(idx) and all(0 <= k < len(OPS) for k in idx)
            expected = {"darts": len(OPS), "gdas": 1, "proxyless": 2 if arch_step else 1}[mode]
            assert len(idx) == expected
            if mode == "darts":
                assert torch.isclose(coef.sum(), torch.tensor(1.0))
            else:  # one path's output passes unscaled (a hard gate), the rest adds zero
                assert sorted(coef.detach().tolist())[-1] == pytest.approx(1.0)
                assert rest is None or float(rest.detach()) == pytest.approx(0.0, abs=1e-6)
            assert coef.requires_grad == arch_step  # weight steps give alpha no gradient
    ops = [torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity(), torch.nn.Identity()]
    x = torch.randn(2, 4, 8, 8)
    out = mixed(ops, x, plan(alpha, mode, arch_step=True, generator=gen)[0])
    assert out.shape == x.shape and torch.allclose(out, x, atol=1e-5)  # weights of a mixture sum to one
    net = supernet(mode)
    assert net(torch.randn(5, 3, 8, 8), generator=gen).shape == (5, 3)


@pytest.mark.parametrize("mode", ["darts", "gdas", "proxyless"])
def test_one_step_updates_weights_and_architecture(mode: str, data) -> None:
    net = supernet(mode, steps=1)
    alpha0 = net.alpha.detach().clone()
    weights0 = [p.detach().clone() for p in net.net.parameters()]
    out = net.fit(data, quiet=True)
    assert out["steps"] == 1 and out["mode"] == mode
    assert not torch.equal(net.alpha.detach(), alpha0)
    assert any(not torch.equal(p.detach(), w) for p, w in zip(net.net.parameters(), weights0))
    assert len(net.trajectory) == 1 and net.trajectory[0]["step"] == 1


def test_warmup_trains_weights_only(data) -> None:
    net = supernet("gdas", DiffOptions(channels=4, batch_size=16, warmup=0.5, record_every=1), steps=4)
    alpha0 = net.alpha.detach().clone().tolist()
    net.fit(data, quiet=True)
    alphas = [r["alpha"] for r in net.trajectory]
    assert alphas[0] == alpha0 and alphas[1] == alpha0  # steps 1-2: warm-up
    assert alphas[2] != alpha0 and alphas[3] != alphas[2]


def test_discretisation_is_always_a_valid_cell() -> None:
    space, rng = NB201Space(), np.random.default_rng(0)
    for exclude_none in (False, True):
        net = supernet("darts", DiffOptions(channels=4, exclude_none=exclude_none))
        for _ in range(50):
            with torch.no_grad():
                net.alpha.copy_(torch.from_numpy(rng.normal(size=(len(EDGES), len(OPS))) * 3))
            arch = net.discretise()
            space.validate(arch)
            edges = space.edges(arch)
            assert list(edges) == [OPS[int(k)] for k in (net.probs() - (np.array(OPS) == "none") * 9 * exclude_none)
                                   .argmax(1)]
            assert 0.0 <= param_free_share(edges) <= 1.0
            space.validate(net.propose(rng))
        if exclude_none:
            assert "none" not in edges


def test_gdas_and_proxyless_save_less_than_darts() -> None:
    darts = saved_bytes(supernet("darts"), arch_step=True)
    for mode in ("gdas", "proxyless"):
        net = supernet(mode)
        worst = max(saved_bytes(net, arch_step=a) for a in (False, True))
        assert worst < 0.75 * darts, f"{mode} saves {worst} bytes per forward, darts {darts}"


def test_gdas_temperature_anneals_from_max_to_min() -> None:
    taus = [tau_at(s, 10, 109, 10.0, 0.1) for s in range(0, 120)]
    assert taus[10] == 10.0 and taus[109] == pytest.approx(0.1) and taus[-1] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(taus, taus[1:]))


@pytest.mark.parametrize("select, proxy", [("pt", "naswot"), ("zc", "naswot_out"), ("zc", "synflow")])
def test_perturbation_selection_is_a_valid_cell_and_deterministic(select: str, proxy: str, data) -> None:
    options = DiffOptions(channels=4, batch_size=16, warmup=0.0, select=select, pt_proxy=proxy, pt_batches=2,
                          exclude_none=select == "pt")
    runs = []
    for _ in range(2):
        net = supernet("darts", options, steps=1)
        out = net.fit(data, quiet=True)
        NB201Space().validate(net.discretise())
        assert out["arch_string"] == NB201Space().to_string(net.discretise()) and out["select"] == select
        runs.append(out["selection"])
    assert [r["edges"] for r in runs[:1]] == [runs[1]["edges"]]  # the same scores, edge by edge
    edges = runs[0]["edges"]
    assert sorted(r["edge"] for r in edges) == list(range(len(EDGES)))
    assert all(r["keep"] in OPS for r in edges) and (select == "zc" or all(r["keep"] != "none" for r in edges))


def test_perturbation_options_are_validated() -> None:
    for bad, text in ((dict(select="best"), "select='best'"), (dict(pt_proxy="flops"), "pt_proxy='flops'"),
                      (dict(pt_order="reverse"), "pt_order='reverse'"), (dict(pt_batches=0), "pt_batches")):
        with pytest.raises(ValueError, match=text) as err:
            DiffOptions(**bad)
        assert "\n" not in str(err.value)
    from nas.supernets.differentiable.config import PT_PROXIES
    from predictors.proxies import PROXIES

    assert set(PROXIES) <= set(PT_PROXIES)
