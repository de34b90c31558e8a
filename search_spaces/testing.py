"""Contract tests any `SearchSpace` must pass, installed with the package (like `optuna.testing`).

Use in your own test file:

    from search_spaces.testing import check_space
    def test_my_space():
        check_space(MySpace())
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from search_spaces.base import Architecture, SearchSpace


def check_space(space: Any, n: int = 5, build: bool = True, num_classes: int = 3, in_channels: int = 3,
                input_size: int = 16) -> None:
    """Run every contract check on `space`; raises AssertionError naming the first that fails."""
    assert isinstance(space, SearchSpace), f"{type(space).__name__} lacks SearchSpace methods or `name`"
    check_sample_validates(space, n)
    check_json_round_trip(space, n)
    check_same_seed_same_arch(space)
    check_encoding_fixed_length(space, n)
    check_mutate_changes(space, n)
    check_suggest(space)
    if build:
        check_build_forward_backward(space, num_classes, in_channels, input_size)


def check_sample_validates(space: Any, n: int = 5) -> None:
    rng = np.random.default_rng(0)
    for _ in range(n):
        arch = space.sample(rng)
        assert isinstance(arch, Architecture), "sample() must return an Architecture"
        assert arch.space == space.name, f"sampled arch names space {arch.space!r}, not {space.name!r}"
        space.validate(arch)


def check_json_round_trip(space: Any, n: int = 5) -> None:
    rng = np.random.default_rng(1)
    for _ in range(n):
        arch = space.sample(rng)
        back = Architecture.from_dict(json.loads(json.dumps(arch.to_dict())))
        assert back == arch and back.key() == arch.key(), "JSON round trip changed the architecture"


def check_same_seed_same_arch(space: Any) -> None:
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1], "the same seed gave different architectures"
    others = {space.sample(np.random.default_rng(s)).key() for s in range(8)}
    assert len(others) > 1, "eight seeds gave the same architecture: does sample() use its rng?"


def check_encoding_fixed_length(space: Any, n: int = 5) -> None:
    rng = np.random.default_rng(2)
    codes = [np.asarray(space.encode(space.sample(rng))) for _ in range(n)]
    lengths = {c.shape for c in codes}
    assert len(lengths) == 1 and codes[0].ndim == 1, f"encodings differ in shape: {lengths}"
    assert all(np.isfinite(c).all() for c in codes), "encoding has non-finite values"


def check_mutate_changes(space: Any, n: int = 5) -> None:
    rng = np.random.default_rng(3)
    for _ in range(n):
        arch = space.sample(rng)
        child = space.mutate(arch, rng)
        assert isinstance(child, Architecture) and child != arch, "mutate() must return a different Architecture"
        space.validate(child)


def check_suggest(space: Any) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(3):
        trial = study.ask()
        try:
            arch = space.suggest(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        assert isinstance(arch, Architecture), "suggest() must return an Architecture"
        space.validate(arch)
        # the same parameters give the same architecture again
        fixed = optuna.trial.FixedTrial(trial.params)
        assert space.suggest(fixed) == arch, "suggest() is not a function of the trial's parameters"
        study.tell(trial, 0.0)


def check_build_forward_backward(space: Any, num_classes: int = 3, in_channels: int = 3, input_size: int = 16) -> None:
    import torch

    arch = space.sample(np.random.default_rng(4))
    model = space.build(arch, num_classes=num_classes, in_channels=in_channels, input_size=input_size)
    x = torch.randn(2, in_channels, input_size, input_size)
    out = model(x)
    assert out.shape == (2, num_classes), f"built model gives shape {tuple(out.shape)}, expected (2, {num_classes})"
    out.sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None for g in grads), "some parameters got no gradient"


def count_macs(model: Any, input_size: int, in_channels: int = 3) -> int:
    """MACs of conv and linear layers, counted on the built module with forward hooks (to check a
    space's static `shape(...).macs`)."""
    import torch
    from torch import nn

    total = 0

    def hook(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out[0].numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, input_size, input_size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total
