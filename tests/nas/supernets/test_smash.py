from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from nas.data import load_dataset
from nas.supernets import Supernet
from nas.supernets.smash import Smash, SmashConfig
from nas.supernets.smash.network import PARAMETRISATIONS, SmashNet
from predictors.zero_cost import ActivationKernel
from search_spaces.dense import DenseSpace, DenseSpaceConfig
from search_spaces.dense import smash_subspace as smash_config
from search_spaces.dense.genotype import stage_widths

TINY = DenseSpaceConfig(widths=(8, 16), stem=8, max_nodes=3)


def tiny_smash(steps: int = 30, **kw) -> tuple[Smash, DenseSpace]:
    space = DenseSpace(smash_config(TINY))
    return Smash(space, 4, 3, SmashConfig(steps=steps, batch_size=32, checkpoint_every=10, **kw)), space


def synthetic():
    return load_dataset("synthetic?subset=400&resolution=8&classes=4")


@pytest.mark.parametrize("parametrisation", PARAMETRISATIONS)
def test_generated_weights_have_the_right_shapes(parametrisation: str) -> None:
    smash, space = tiny_smash(parametrisation=parametrisation, noise=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        geno = space.parse(space.sample(rng))
        weights = smash.hyper(geno, torch.randn(3))
        for stage, widths, ws in zip(geno.stages, stage_widths(geno), weights):
            for node, w in zip(stage.nodes, ws):
                reads = sum(widths[j] for j in node.inputs.inputs)
                assert w.shape == (node.op.width, reads)
                if parametrisation == "weightnorm":
                    assert torch.allclose(w.norm(dim=1), torch.ones(node.op.width), atol=1e-4)


def test_noise_changes_the_weights_except_for_plain_weight_sharing() -> None:
    for parametrisation in PARAMETRISATIONS:
        smash, space = tiny_smash(parametrisation=parametrisation, noise=4)
        geno = space.parse(space.sample(np.random.default_rng(0)))
        a, b = smash.hyper(geno, torch.ones(4)), smash.hyper(geno, -torch.ones(4))
        assert torch.equal(a[0][0], b[0][0]) == (parametrisation == "shared")


def test_even_sampler_keeps_to_the_space_limits() -> None:
    from dataclasses import replace

    space = DenseSpace(smash_config(replace(TINY, max_params=100_000)))
    smash = Smash(space, 4, 3, SmashConfig(steps=1, sampler="even"))
    rng = np.random.default_rng(0)
    assert all(space.shape(smash._training_arch(None, None, rng)).params <= 100_000 for _ in range(30))


def test_even_sampler_trains_every_choice_equally_often() -> None:
    smash, _ = tiny_smash(sampler="even")
    rng = np.random.default_rng(0)
    for _ in range(24):
        smash._training_arch(None, None, rng)
    for name, counts in smash.choice_counts.items():
        assert max(counts) - min(counts) <= 1, (name, counts)
    assert smash.choice_counts["s0_nodes"] == [12, 12]  # 2 or 3 nodes


def test_supernet_with_copied_weights_equals_the_built_network() -> None:
    """Concat merges, post-activation, one stage: the supernet is exactly the built network."""
    space = DenseSpace(smash_config(DenseSpaceConfig(merges=("concat",), orders=("post",), stages=1, kernels=(3,),
                                                     dilations=(1,), groups=(1,))))
    arch = space.sample(np.random.default_rng(1))
    geno = space.parse(arch)
    torch.manual_seed(0)
    built = space.build(arch, 10, 1, 8)
    for p in built.parameters():
        p.data.normal_(0, 0.3)
    net = SmashNet(space.config, 10, 1)

    def copy_bn(dst, src, lo: int = 0, hi: int | None = None) -> None:
        hi = src.weight.shape[0] if hi is None else hi
        dst.weight.data[:hi - lo] = src.weight.data[lo:hi]
        dst.bias.data[:hi - lo] = src.bias.data[lo:hi]

    net.stem.data.copy_(built.stem[0].weight.data)
    copy_bn(net.stem_bn, built.stem[1])
    generated = [[]]
    for i, node in enumerate(built.stages[0].nodes, start=1):
        generated[0].append(node.first[0].weight.data[:, :, 0, 0])
        copy_bn(net.mid_bn[0][i], node.first[1])
        w = node.rest[0].weight.data
        net.convs[0].data[i, :w.shape[0], :w.shape[1]] = w
        copy_bn(net.out_bn[0][i], node.rest[1])
    widths, offset = stage_widths(geno)[0], 0
    for j in geno.stages[0].output.inputs:
        copy_bn(net.bank_bn[-1][j], built.head[0], offset, offset + widths[j])
        net.classifier.data[j, :, :widths[j]] = built.classifier.weight.data[:, offset:offset + widths[j]]
        offset += widths[j]
    net.classifier_bias.data.copy_(built.classifier.bias.data)
    x = torch.randn(16, 1, 8, 8)
    assert torch.allclose(built.train()(x), net.train()(x, geno, generated), atol=1e-4)


def test_training_loss_falls() -> None:
    smash, _ = tiny_smash(steps=80)
    smash.fit(synthetic(), quiet=True)
    losses = smash.last_losses
    assert np.mean(losses[-20:]) < np.mean(losses[:20]) - 0.1


@pytest.mark.parametrize("scoring", [
    {}, {"score_by": "loss"}, {"score_by": "accuracy", "calibration_batches": 4},
    {"calibration_batches": 0, "score_images": 50, "score_by": "loss"},
    {"noise": 2, "noise_at_scoring": "resample", "score_by": "accuracy"}, {"noise": 2, "noise_at_scoring": "average"},
    {"sampler": "even", "parametrisation": "weightnorm"}, {"sampler": "attentive", "parametrisation": "shared"},
    {"archs_per_step": 4}, {"kxk_per_slot": False}])
def test_scoring_is_deterministic(scoring: dict) -> None:
    data = synthetic()
    a, space = tiny_smash(steps=10, **scoring)
    a.fit(data, quiet=True)
    b, _ = tiny_smash(steps=10, **scoring)
    b.fit(data, quiet=True)
    arch = space.sample(np.random.default_rng(3))
    assert a.score(arch, data) == a.score(arch, data) == b.score(arch, data)
    m = a.measure(arch, data)
    expected = {"accuracy": m["accuracy"], "loss": -m["loss"]}.get(scoring.get("score_by", "loss+naswot"))
    if expected is None:  # the default: minus the loss plus NASWOT, weighted by the reference spreads
        expected = -m["loss"] + a._naswot_weight(data) * m["naswot"]
    assert a.score(arch, data) == pytest.approx(expected) and np.isfinite(expected)
    assert 0.0 <= m["accuracy"] <= 1.0 and m["loss"] > 0


def test_activation_kernel_counts_agreeing_relus() -> None:
    x = torch.randn(5, 3, 4, 4)
    y = torch.randn(5, 7)
    kernel = ActivationKernel(images=4)
    kernel.add(x)
    kernel.add(y)
    codes = torch.cat([x[:4].flatten(1), y[:4]], 1) > 0
    agree = (codes[:, None, :] == codes[None, :, :]).sum(-1).float()
    assert torch.equal(kernel.k, agree)
    same = ActivationKernel(images=4)
    same.add(torch.ones(4, 10))  # identical images: a singular kernel, still a finite log det
    assert np.isfinite(same.logdet())


def test_naswot_weight_gives_both_terms_the_same_spread() -> None:
    data = synthetic()
    smash, space = tiny_smash(steps=10, reference_archs=8)
    smash.fit(data, quiet=True)
    weight = smash._naswot_weight(data)
    rng = np.random.default_rng([smash.config.seed, 1])  # the reference architectures
    ms = [smash.measure(space.sample(rng), data) for _ in range(8)]
    assert weight > 0
    assert np.std([weight * m["naswot"] for m in ms]) == pytest.approx(np.std([m["loss"] for m in ms]))


def test_batch_statistics_scoring_uses_exactly_score_images() -> None:
    data = synthetic()
    smash, space = tiny_smash(calibration_batches=0, score_images=37)
    probs, labels = smash._predict(space.parse(space.sample(np.random.default_rng(0))),
                                   smash.hyper(space.parse(space.sample(np.random.default_rng(0)))), data)
    assert probs.shape == (37, 4) and len(labels) == 37
    assert torch.allclose(probs.sum(1), torch.ones(37))


def test_bad_smash_settings_raise_clear_errors() -> None:
    for bad, needle in [({"parametrisation": "mpi"}, "parametrisation"), ({"sampler": "evenly"}, "sampler"),
                        ({"noise": -1}, "noise"), ({"score_by": "f1"}, "score_by"),
                        ({"noise_at_scoring": "mean"}, "noise_at_scoring"), ({"archs_per_step": 0}, "archs_per_step"),
                        ({"lr": 0.0}, "lr"), ({"hidden": 0}, "hidden"), ({"weight_decay": -1.0}, "weight decay"),
                        ({"naswot_images": 1}, "naswot_images"), ({"reference_archs": 0}, "reference_archs")]:
        with pytest.raises(ValueError, match=needle):
            SmashConfig(**bad)


def test_training_resumes_from_its_checkpoint(tmp_path: Path) -> None:
    data = synthetic()
    first, _ = tiny_smash(steps=20)
    first.fit(data, tmp_path / "supernet.pt", quiet=True)
    state = torch.load(tmp_path / "supernet.pt", weights_only=True)
    assert state["step"] == 20
    resumed, _ = tiny_smash(steps=30)
    info = resumed.fit(data, tmp_path / "supernet.pt", quiet=True)
    assert info["steps"] == 30 and len(resumed.last_losses) == 30
    assert resumed.last_losses[:20] == first.last_losses


def test_even_sampler_resumes_with_its_counts(tmp_path: Path) -> None:
    data = synthetic()
    straight, _ = tiny_smash(steps=20, sampler="even", noise=2)
    straight.fit(data, quiet=True)
    first, _ = tiny_smash(steps=10, sampler="even", noise=2)
    first.fit(data, tmp_path / "supernet.pt", quiet=True)
    resumed, _ = tiny_smash(steps=20, sampler="even", noise=2)
    resumed.fit(data, tmp_path / "supernet.pt", quiet=True)
    assert resumed.choice_counts == straight.choice_counts  # the same 20 architectures were drawn


def test_initial_weights_come_from_the_seed_alone() -> None:
    """A fresh process has an unseeded global RNG: the supernet must not depend on it, nor change it."""
    space = DenseSpace(smash_config(TINY))
    torch.manual_seed(1)
    a = Smash(space, 4, 3, SmashConfig())
    torch.manual_seed(2)
    before = torch.random.get_rng_state()
    b = Smash(space, 4, 3, SmashConfig())
    assert torch.equal(torch.random.get_rng_state(), before)
    other = Smash(space, 4, 3, SmashConfig(seed=1))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), other.state_dict().values()))


def test_smash_is_a_supernet_and_its_checkpoint_is_atomic(tmp_path: Path) -> None:
    smash, space = tiny_smash(steps=4)
    assert isinstance(smash, Supernet)
    smash.fit(synthetic(), tmp_path / "supernet.pt", quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["supernet.pt"]  # no temporary file left behind
    assert space.validate(smash.propose(np.random.default_rng(0))) is None


def test_a_diverging_supernet_stops_with_a_clear_error() -> None:
    from nas.training import TrainingDiverged

    smash, _ = tiny_smash(steps=5, lr=1e30, optimizer="sgd")
    with pytest.raises(TrainingDiverged, match="supernet training diverged"):
        smash.fit(synthetic(), quiet=True)


def test_fit_stops_at_a_deadline_and_resumes(tmp_path: Path) -> None:
    import time

    data = synthetic()
    smash, _ = tiny_smash(steps=40)
    out = smash.fit(data, tmp_path / "supernet.pt", quiet=True, deadline=time.monotonic())
    assert out["steps"] == 0 and (tmp_path / "supernet.pt").exists()
    again, _ = tiny_smash(steps=40)
    assert again.fit(data, tmp_path / "supernet.pt", quiet=True)["steps"] == 40

