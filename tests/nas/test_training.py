from __future__ import annotations

import math

import optuna
import pytest
import torch
from torch import nn

from nas.data import load_dataset
from nas.training import TrainConfig, TrainingDiverged, accuracy, make_optimizer, train


def tiny_model(in_channels: int = 3, num_classes: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, num_classes))


@pytest.fixture(scope="module")
def data():
    return load_dataset("synthetic?resolution=8", seed=0)


def quick(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 3, "batch_size": 32, "quiet": True, **kw})


def test_trains_above_chance_with_history_and_test_once(data) -> None:
    model = tiny_model()
    before = accuracy(model, data, "val")
    result = train(model, data, quick())
    assert len(result.history) == 3 and [h.epoch for h in result.history] == [1, 2, 3]
    assert result.val_accuracy == result.history[-1].val_accuracy
    assert result.val_accuracy > max(0.5, before) and result.test_accuracy > 0.5
    assert all(0 <= h.val_accuracy <= 1 and 0 <= h.train_accuracy <= 1 for h in result.history)
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert result.train_seconds > 0 and result.history[-1].lr < 1e-3  # cosine decays to zero
    assert train(tiny_model(), data, quick(epochs=1), test=False).test_accuracy is None


def test_same_seed_same_weights_other_seed_differs(data) -> None:
    a, b, c = tiny_model(), tiny_model(), tiny_model()
    train(a, data, quick(epochs=1))
    train(b, data, quick(epochs=1))
    train(c, data, quick(epochs=1, seed=1))
    wa, wb, wc = (m[0].weight.detach() for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_epoch_callback_sees_every_epoch_and_pruning_propagates(data) -> None:
    seen: list[tuple[int, float]] = []

    def on_epoch(epoch: int, val: float) -> None:
        seen.append((epoch, val))
        if epoch == 2:
            raise optuna.TrialPruned()

    with pytest.raises(optuna.TrialPruned):
        train(tiny_model(), data, quick(epochs=5), on_epoch=on_epoch)
    assert [e for e, _ in seen] == [1, 2] and all(0 <= v <= 1 for _, v in seen)


def test_adam_label_smoothing_and_no_augmentation_train(data) -> None:
    result = train(tiny_model(), data, quick(optimizer="adam", lr=0.01, label_smoothing=0.1, augment=False))
    assert result.val_accuracy > 0.5


def test_nan_loss_raises_a_clear_error(data) -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x.mean((2, 3))) * math.nan

    with pytest.raises(TrainingDiverged, match="diverged.*epoch 1"):
        train(Broken(), data, quick())


def test_weight_decay_groups() -> None:
    model = tiny_model()
    all_groups = make_optimizer(model, TrainConfig()).param_groups
    assert len(all_groups) == 1 and all_groups[0]["weight_decay"] == 5e-4 and all_groups[0]["nesterov"]
    split = make_optimizer(model, TrainConfig(decay_norm_and_bias=False)).param_groups
    assert [g["weight_decay"] for g in split] == [5e-4, 0.0]
    assert all(p.ndim <= 1 for p in split[1]["params"]) and all(p.ndim > 1 for p in split[0]["params"])


@pytest.mark.parametrize("bad, message", [
    ({"optimizer": "rmsprop"}, "optimizer 'rmsprop' is unknown"), ({"epochs": 0}, "must be positive integers"),
    ({"lr": -1.0}, "learning rate must be a positive number"), ({"schedule": "step"}, "schedule 'step' is unknown"),
    ({"label_smoothing": 1.0}, r"label smoothing must lie in \[0, 1\)")])
def test_config_validation(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**bad)


def test_config_dict_round_trip_and_unknown_keys() -> None:
    cfg = TrainConfig(optimizer="adam", epochs=2)
    d = cfg.to_dict()
    assert d["lr"] == 1e-3 and TrainConfig.from_dict({**d, "lr": None}) == cfg
    with pytest.raises(ValueError, match="unknown training option"):
        TrainConfig.from_dict({"epoch": 3})
