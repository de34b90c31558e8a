"""`Differentiable`: the NB201 supernet with its architecture parameters, trained by first-order
bilevel steps (weights on the training split, alpha on the validation split: two halves of the
dataset's TRAINING images with `?val=0.5`; the test split is never read), then discretised.

Every random draw of a step (its batches, their augmentation, Gumbel noise, sampled paths) comes
from generators seeded by (seed, step), so a run resumed from its checkpoint after a SIGKILL
follows the same trajectory as one never interrupted.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.supernets.differentiable.config import DiffOptions
from nas.supernets.differentiable.modes import plan, tau_at
from nas.supernets.differentiable.nb201 import PARAMETER_FREE, NB201Supernet
from nas.supernets.loop import fit_steps
from nas.train_config import TrainConfig
from search_spaces.base import Architecture
from search_spaces.nb201.cell import EDGES, OPS

Batch = tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor], int]


def param_free_share(edges: tuple[str, ...] | list[str]) -> float:
    """Share of a cell's edges whose op has no parameters (none, skip_connect, avg_pool_3x3)."""
    return sum(op in PARAMETER_FREE for op in edges) / len(edges)


class Differentiable(nn.Module):
    """Supernet weights (`net`) and architecture parameters (`alpha`, edges x ops) of one search."""

    def __init__(self, space: Any, mode: str, num_classes: int, in_channels: int, input_size: int,
                 options: DiffOptions, steps: int, seed: int) -> None:
        super().__init__()
        if getattr(space, "name", None) != "nb201":
            raise ValueError("the differentiable supernet covers the nb201 space: use --space nb201 "
                             "(the dense-DAG supernet is not built yet)")
        if mode not in ("darts", "gdas", "proxyless"):
            raise ValueError(f"unknown differentiable mode {mode!r}; use darts, gdas or proxyless")
        self.space, self.mode, self.options, self.steps, self.seed = space, mode, options, steps, seed
        with torch.random.fork_rng():  # initial weights from the seed alone; the caller's RNG is left alone
            torch.manual_seed(seed)
            self.net = NB201Supernet(num_classes, in_channels, input_size, options.channels, options.cells)
            self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))
        self.trajectory: list[dict[str, Any]] = []

    def forward(self, x: torch.Tensor, arch_step: bool = False, tau: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return self.net(x, plan(self.alpha, self.mode, arch_step=arch_step, tau=tau, generator=generator))

    # --- what was learned ------------------------------------------------------------------------
    def probs(self) -> np.ndarray:
        """softmax(alpha) per edge: the learned distribution over ops (edges x ops)."""
        return F.softmax(self.alpha.detach().float(), -1).numpy()

    def discretise(self) -> Architecture:
        """The strongest op of every edge (without `none` when `exclude_none`): always a valid cell."""
        p = self.probs().copy()
        if self.options.exclude_none:
            p[:, OPS.index("none")] = -1.0
        return self.space.from_edges([OPS[int(k)] for k in p.argmax(1)])

    def propose(self, rng: np.random.Generator) -> Architecture:
        """A cell drawn from the learned distribution, edge by edge."""
        p = self.probs().astype(np.float64)
        return self.space.from_edges([OPS[int(rng.choice(len(OPS), p=row / row.sum()))] for row in p])

    def scored(self, arch: Architecture, data: Any = None) -> dict[str, Any]:
        """The cell's log-probability under the learned distribution (higher is better)."""
        p = self.probs()
        logp = sum(math.log(max(float(p[e, OPS.index(op)]), 1e-12)) for e, op in enumerate(self.space.edges(arch)))
        return {"score": logp, "param_free_share": param_free_share(self.space.edges(arch))}

    # --- training --------------------------------------------------------------------------------
    def fit(self, data: Any, checkpoint: Path | None = None, quiet: bool = False,
            deadline: float | None = None) -> dict[str, Any]:
        """`steps` bilevel steps (the first `warmup` share on weights only), resuming `checkpoint`."""
        cfg, steps = self.options, self.steps
        warm = cfg.warmup_steps(steps)
        arch_opt = torch.optim.Adam([self.alpha], lr=cfg.arch_lr, betas=(0.5, 0.999),
                                    weight_decay=cfg.arch_weight_decay)
        recipe = TrainConfig(optimizer="sgd", lr=cfg.lr, momentum=0.9, nesterov=False, weight_decay=cfg.weight_decay,
                             schedule="cosine", seed=self.seed)
        state = {"next": 0}
        device = self.alpha.device

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
                    loss_a = loss_a + cfg.beta * ramp * torch.logsumexp(self.alpha, -1).mean()
                loss_a.backward()
                # softmax ignores a shift of an edge's alpha: drop that part of the gradient, or Adam's
                # per-coordinate scaling turns a common push (the regulariser's) into steps of full size
                # that drown the differences between ops
                self.alpha.grad -= self.alpha.grad.mean(-1, keepdim=True)
                arch_opt.step()
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
            return {"next": state["next"], "alpha": self.alpha.detach().cpu(), "arch_opt": arch_opt.state_dict(),
                    "trajectory": self.trajectory, "mode": self.mode, "options": cfg.to_dict()}

        def restore(extra: dict[str, Any]) -> None:
            state["next"] = int(extra["next"])
            with torch.no_grad():
                self.alpha.copy_(extra["alpha"])
            arch_opt.load_state_dict(extra["arch_opt"])
            self.trajectory = list(extra["trajectory"])

        out = fit_steps(self.net, recipe, steps, step, batches, checkpoint=checkpoint,
                        checkpoint_every=cfg.checkpoint_every, state=save, restore=restore, clip_norm=5.0,
                        quiet=quiet, desc=f"{self.mode} supernet", deadline=deadline)
        self.last_losses = out.pop("losses")
        arch = self.discretise()
        return {**out, "mode": self.mode, "arch": arch.to_dict(), "arch_string": self.space.to_string(arch),
                "param_free_share": param_free_share(self.space.edges(arch)),
                "alpha": self.alpha.detach().cpu().tolist(), "probs": self.probs().round(4).tolist()}

    def _record(self, step: int, tau: float) -> None:
        arch = self.discretise()
        self.trajectory.append({"step": step, "alpha": self.alpha.detach().cpu().tolist(),
                                "tau": tau if self.mode == "gdas" else None,
                                "argmax": self.space.to_string(arch),
                                "param_free_share": param_free_share(self.space.edges(arch))})

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
