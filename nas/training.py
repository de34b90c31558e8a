"""The one training loop every command uses (nas train, search evaluators, SMASH retraining).

Recipe defaults are the standard CIFAR ResNet ones: SGD with Nesterov momentum 0.9, cosine decay
per step to zero, weight decay on every parameter (BatchNorm and biases included, as in He et al.
2016 and the usual CIFAR recipes; set `decay_norm_and_bias=False` to exempt them).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from nas.data.dataset import Dataset
from nas.train_config import DEFAULT_LR, OPTIMIZERS, SCHEDULES, TrainConfig  # noqa: F401  (re-exported)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""




@dataclass
class EpochStats:
    epoch: int  # 1-based
    train_loss: float
    train_accuracy: float
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass
class TrainResult:
    """Accuracies are fractions in [0, 1]; `val_accuracy` is the last epoch's; `test_accuracy` is
    None unless `train(..., test=True)`; `train_seconds` covers the epochs (validation included),
    not the test pass."""

    history: list[EpochStats] = field(default_factory=list)
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    train_seconds: float = 0.0
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


EpochCallback = Callable[[int, float], None]


def train(model: nn.Module, data: Dataset, config: TrainConfig, *, on_epoch: EpochCallback | None = None,
          on_stats: Callable[[list[EpochStats]], None] | None = None, test: bool = True) -> TrainResult:
    """Train `model` in place on `data.train`; validation accuracy after every epoch (passed to
    `on_epoch(epoch, val_accuracy)`, 1-based, which may raise e.g. `optuna.TrialPruned`: it
    propagates; `on_stats(history)` gets every epoch's statistics so far, e.g. to save them);
    test accuracy once at the end when `test`. Raises `TrainingDiverged` on a NaN loss.
    """
    device = torch.device(config.device)
    cuda = device.type == "cuda"
    torch.manual_seed(config.seed)  # ops that draw at train time (dropout, drop-path)
    gen = torch.Generator().manual_seed(config.seed)  # batch order and augmentation
    channels_last = cuda and config.channels_last
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    data = _on_device(data, device)
    opt = make_optimizer(model, config)
    steps_per_epoch = _steps(len(data.train), config.batch_size)
    sched = make_schedule(opt, config, config.epochs * steps_per_epoch)
    amp_dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda and config.amp else None
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    result = TrainResult(device=str(device))
    bar = _progress(config, config.epochs * steps_per_epoch)
    start = time.perf_counter()
    try:
        for epoch in range(1, config.epochs + 1):
            t0 = time.perf_counter()
            bar.set_description(f"epoch {epoch}/{config.epochs}")
            loss, acc = _train_epoch(model, data, config, opt, sched, scaler, loss_fn, amp_dtype, gen, bar, epoch,
                                     channels_last)
            val = None
            if len(data.val):
                val = accuracy(model, data, "val", config.eval_batch_size, amp_dtype, channels_last)
            lr = opt.param_groups[0]["lr"]
            result.history.append(EpochStats(epoch, loss, acc, val, lr, time.perf_counter() - t0))
            result.val_accuracy = val
            bar.set_postfix(loss=f"{loss:.3f}", train=f"{acc:.3f}", val="-" if val is None else f"{val:.3f}")
            if on_stats is not None:
                on_stats(result.history)
            if on_epoch is not None and val is not None:
                on_epoch(epoch, val)
    finally:
        bar.close()
    result.train_seconds = time.perf_counter() - start
    if test:
        result.test_accuracy = accuracy(model, data, "test", config.eval_batch_size, amp_dtype, channels_last)
    return result


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.decay_norm_and_bias or config.weight_decay == 0:
        groups: list[dict[str, Any]] = [{"params": params, "weight_decay": config.weight_decay}]
    else:  # 1-d parameters are BatchNorm scales/shifts and biases
        groups = [{"params": [p for p in params if p.ndim > 1], "weight_decay": config.weight_decay},
                  {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.learning_rate, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0)
    return torch.optim.Adam(groups, lr=config.learning_rate)


def make_schedule(opt: torch.optim.Optimizer, config: TrainConfig, total_steps: int) -> Any:
    """A `LambdaLR` stepped once per batch: cosine from the base rate to 0 over all steps, or constant."""
    total = max(1, total_steps)

    def factor(step: int) -> float:
        if config.schedule == "constant":
            return 1.0
        return 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, split: str, batch_size: int = 512,
             amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> float:
    """Top-1 accuracy (a fraction) of `model` in eval mode on a split; the model's mode is restored."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = total = 0
    try:
        for x, y in data.batches(split, batch_size, device=device, channels_last=channels_last):
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x)
            correct += int((logits.argmax(1) == y).sum())
            total += len(y)
    finally:
        model.train(was_training)
    return correct / total if total else 0.0


def _train_epoch(model: nn.Module, data: Dataset, config: TrainConfig, opt: torch.optim.Optimizer, sched: Any,
                 scaler: Any, loss_fn: nn.Module, amp_dtype: torch.dtype | None, gen: torch.Generator, bar: Any,
                 epoch: int, channels_last: bool) -> tuple[float, float]:
    model.train()
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    batches = data.batches("train", config.batch_size, train=True, augment=config.augment, generator=gen,
                           device=device, channels_last=channels_last)
    for step, (x, y) in enumerate(batches):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
            loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        sched.step()
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        seen += len(y)
        if device.type == "cpu" or step % 20 == 0:  # a GPU sync every 20 steps, every step on CPU (free)
            _check_finite(loss_sum, epoch, step)
        bar.update(1)
    _check_finite(loss_sum, epoch, -1)
    return float(loss_sum) / max(seen, 1), int(correct) / max(seen, 1)


def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    if not torch.isfinite(loss_sum):
        where = f"epoch {epoch}" + (f", step {step + 1}" if step >= 0 else "")
        raise TrainingDiverged(f"training diverged: the loss is {float(loss_sum)} at {where}; "
                               "lower the learning rate (--lr) or check the data")


def _steps(n: int, batch_size: int) -> int:
    steps = -(-n // batch_size)
    return steps - 1 if n > 1 and n % batch_size == 1 else steps  # a final single-image batch is dropped


def _on_device(data: Dataset, device: torch.device) -> Dataset:
    """On a GPU keep the uint8 splits there (small: CIFAR-10 is 180 MB), so batches never cross PCIe."""
    if device.type == "cpu":
        return data
    from dataclasses import replace

    return replace(data, train=data.train.to(device), val=data.val.to(device), test=data.test.to(device))


def _progress(config: TrainConfig, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="train", unit="step", file=sys.stderr, disable=config.quiet, leave=False,
                dynamic_ncols=True)
