"""`BilevelFit`: the first-order bilevel loop every differentiable supernet shares (NB201's cell in
`model.py`, the dense DAG in `dense_model.py`): weights on the training split, architecture
parameters on the validation split (two halves of the dataset's TRAINING images with `?val=0.5`;
the test split is never read), warm-up steps on weights only, checkpoint and resume.

Every random draw of a step (its batches, their augmentation, Gumbel noise, sampled paths) comes
from generators seeded by (seed, step), so a run resumed from its checkpoint after a SIGKILL
follows the same trajectory as one never interrupted.

A subclass holds `net` (the weights), `mode`, `options` (`DiffOptions`), `steps`, `seed`,
`trajectory`, is callable as `self(x, arch_step=, tau=, generator=)`, and gives the hooks below.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.supernets.differentiable.modes import tau_at
from nas.supernets.loop import fit_steps
from nas.train_config import TrainConfig

Batch = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], int]


class BilevelFit(nn.Module):
    net: nn.Module
    trajectory: list[dict[str, Any]]

    # --- hooks ---------------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        raise NotImplementedError

    def arch_regulariser(self) -> torch.Tensor:
        """The beta-DARTS term (scaled by beta_t in the loop)."""
        raise NotImplementedError

    def center_arch_grads(self) -> None:
        """Drop the part of the gradient the distribution ignores (a common shift of logits)."""

    def after_arch_step(self) -> None:
        """Called after every architecture update (and once before training): a hard budget projects here."""

    def arch_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_arch_state(self, saved: dict[str, Any]) -> None:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        """What `supernet.json` records beside the loop's numbers (the discretised arch first of all)."""
        raise NotImplementedError

    def _record(self, step: int, tau: float) -> None:
        raise NotImplementedError

    # --- the loop --------------------------------------------------------------------------------
    def fit(self, data: Any, checkpoint: Path | None = None, quiet: bool = False,
            deadline: float | None = None) -> dict[str, Any]:
        """`steps` bilevel steps (the first `warmup` share on weights only), resuming `checkpoint`."""
        cfg, steps = self.options, self.steps
        warm = cfg.warmup_steps(steps)
        arch_opt = torch.optim.Adam(self.arch_parameters(), lr=cfg.arch_lr, betas=(0.5, 0.999),
                                    weight_decay=cfg.arch_weight_decay)
        recipe = TrainConfig(optimizer="sgd", lr=cfg.lr, momentum=0.9, nesterov=False, weight_decay=cfg.weight_decay,
                             schedule="cosine", seed=self.seed)
        state = {"next": 0}
        device = self.arch_parameters()[0].device
        if not (checkpoint is not None and checkpoint.exists()):
            self.after_arch_step()  # a hard budget holds from the first step

        def tau(s: int) -> float:
            return tau_at(s, warm, steps - 1, cfg.tau_max, cfg.tau_min)

        def step(batch: Batch, model: nn.Module) -> float:  # one process only (torchrun refuses these modes)
            (xt, yt), (xv, yv), s = batch
            gen = torch.Generator().manual_seed(_seed(self.seed, "mode", s))
            if s >= warm:
                arch_opt.zero_grad(set_to_none=True)
                loss_a = F.cross_entropy(self(xv, arch_step=True, tau=tau(s), generator=gen), yv)
                if cfg.beta:  # beta-DARTS: keeps the softmax from saturating (the collapse's symptom)
                    ramp = (s - warm + 1) / max(1, steps - warm)
                    loss_a = loss_a + cfg.beta * ramp * self.arch_regulariser()
                loss_a.backward()
                self.center_arch_grads()
                arch_opt.step()
                self.after_arch_step()
                self.net.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self(xt, tau=tau(s), generator=gen), yt)
            loss.backward()
            if (s + 1) % cfg.record_every == 0 or s + 1 == steps:
                self._record(s + 1, tau(s))
            return float(loss.detach())

        def batches() -> Iterator[Batch]:
            for s in itertools.count(state["next"]):
                state["next"] = s + 1
                yield (self._batch(data, "train", s, device), self._batch(data, "val", s, device), s)

        def save() -> dict[str, Any]:
            return {"next": state["next"], **self.arch_state(), "arch_opt": arch_opt.state_dict(),
                    "trajectory": self.trajectory, "mode": self.mode, "options": cfg.to_dict()}

        def restore(extra: dict[str, Any]) -> None:
            state["next"] = int(extra["next"])
            self.load_arch_state(extra)
            arch_opt.load_state_dict(extra["arch_opt"])
            self.trajectory = list(extra["trajectory"])

        out = fit_steps(self.net, recipe, steps, step, batches, checkpoint=checkpoint,
                        checkpoint_every=cfg.checkpoint_every, state=save, restore=restore, clip_norm=5.0,
                        quiet=quiet, desc=f"{self.mode} supernet", deadline=deadline)
        self.last_losses = out.pop("losses")
        return {**out, "mode": self.mode, **self.summary()}

    def _batch(self, data: Any, split: str, s: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch `s` of `split`: passes over it in orders drawn from (seed, split, pass), augmented
        with a generator seeded by (seed, split, s); the same for a resumed run."""
        from nas.data.loader import iterate_batches

        part = data.split(split)
        size = min(self.options.batch_size, len(part))
        per_pass = max(1, len(part) // size)
        pass_gen = torch.Generator().manual_seed(_seed(self.seed, split, s // per_pass))
        order = torch.randperm(len(part), generator=pass_gen)
        idx = order[(s % per_pass) * size:(s % per_pass + 1) * size]
        gen = torch.Generator().manual_seed(_seed(self.seed, split + "-augment", s))
        return next(iterate_batches(part.x[idx], part.y[idx], size, mean=data.mean, std=data.std,
                                    augment=data.augment, generator=gen, device=device))


def _seed(seed: int, what: str, k: int) -> int:
    """A generator seed for draw `k` of kind `what` (stable across processes, unlike `hash`)."""
    return int(np.random.SeedSequence([seed, sum(map(ord, what)) * 7919 + len(what), k]).generate_state(1)[0])
