"""The one step-based training loop of every supernet: `nas.training`'s optimizer, per-step
schedule and divergence check, plus gradient clipping and an atomic, resumable checkpoint.

Epoch-based training of single networks stays in `nas.training.train`; a supernet trains for a
number of minibatch steps (a different architecture per step), so its loop counts steps.

Data-parallel under torchrun (`nas.supernets.distributed`): the step function runs its share of
the batch through the DDP-wrapped module; the loop sums the loss over ranks, lets every rank stop
at the same step, and only rank 0 writes the checkpoint (every rank reads it to resume).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nas.supernets.distributed import Ranks
from nas.training import TrainConfig, TrainingDiverged, make_optimizer, make_schedule

# one minibatch: forward through the model it is given (the module, or its DDP wrapper), backward (gradients
# accumulate); returns this rank's share of the loss (summed over ranks: the global batch's loss)
StepFn = Callable[[Any, nn.Module], float]


def fit_steps(module: nn.Module, config: TrainConfig, steps: int, step_fn: StepFn,
              batches: Callable[[], Iterator[Any]], *, checkpoint: Path | None = None, checkpoint_every: int = 250,
              state: Callable[[], dict[str, Any]] | None = None,
              restore: Callable[[dict[str, Any]], None] | None = None, clip_norm: float | None = None,
              quiet: bool = False, desc: str = "supernet", deadline: float | None = None) -> dict[str, Any]:
    """Train `module` for `steps` minibatches with `config`'s optimizer and schedule (cosine per
    step over `steps`). `batches()` starts a new pass over the data (called again when one ends);
    `state()` / `restore(d)` save and restore the caller's own random state with the checkpoint,
    written every `checkpoint_every` steps and at the end (atomically: a kill never leaves half a
    file), and read back when it exists. At `deadline` (a `time.monotonic()` value) it saves a
    checkpoint and stops early. Raises `TrainingDiverged` on a NaN or infinite loss. In a process
    group of several ranks the module is trained data-parallel (see the module's docstring)."""
    ranks = Ranks.current(next(module.parameters()).device)
    model = ranks.wrap(module)
    opt = make_optimizer(module, config)
    sched = make_schedule(opt, config, steps)
    step, losses, seconds = 0, [], 0.0
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=True, map_location="cpu")
        module.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["schedule"])
        if restore is not None:
            restore(saved["extra"])
        step, losses, seconds = int(saved["step"]), list(saved["losses"]), float(saved["seconds"])
    module.train()
    from tqdm import tqdm

    bar = tqdm(total=steps, initial=step, desc=desc, file=sys.stderr, disable=quiet or not ranks.writer,
               dynamic_ncols=True)
    t0 = time.perf_counter() - seconds
    it: Iterator[Any] = iter(())

    def save() -> None:
        if checkpoint is not None and ranks.writer:
            save_checkpoint(checkpoint, {"model": module.state_dict(), "optimizer": opt.state_dict(),
                                         "schedule": sched.state_dict(), "extra": state() if state else {},
                                         "step": step, "losses": losses, "seconds": time.perf_counter() - t0})

    try:
        while step < steps:
            if deadline is not None and ranks.any(time.monotonic() >= deadline):
                save()
                break
            batch = next(it, None)
            if batch is None:
                it = batches()
                continue
            opt.zero_grad(set_to_none=True)
            loss = step_fn(batch, model)
            if ranks.parallel:
                loss = ranks.sum([loss])[0]
            if not math.isfinite(loss):
                raise TrainingDiverged(f"supernet training diverged: the loss is {loss} at step {step + 1}; "
                                       "lower the learning rate or check the data")
            if clip_norm is not None:
                nn.utils.clip_grad_norm_(module.parameters(), clip_norm)
            opt.step()
            sched.step()
            step += 1
            losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.3f}")
            if step % checkpoint_every == 0 or step == steps:
                save()
    finally:
        bar.close()
    tail = losses[-50:]
    return {"steps": step, "losses": losses, "final_loss": sum(tail) / len(tail) if tail else None,
            "train_seconds": time.perf_counter() - t0}


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """`torch.save` via a temporary file and a rename (loadable with `weights_only=True`)."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def read_losses(path: Path) -> list[float]:
    """The per-step losses a checkpoint holds."""
    return list(torch.load(path, weights_only=True, map_location="cpu")["losses"])
