"""`Differentiable`: the NB201 supernet with its architecture parameters (`alpha`, edges x ops),
fitted by the shared first-order bilevel loop (`bilevel.py`), then discretised."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.supernets.differentiable.bilevel import BilevelFit
from nas.supernets.differentiable.config import DiffOptions
from nas.supernets.differentiable.modes import plan
from nas.supernets.differentiable.nb201 import PARAMETER_FREE, NB201Supernet
from search_spaces.base import Architecture
from search_spaces.nb201.cell import EDGES, OPS


def param_free_share(edges: tuple[str, ...] | list[str]) -> float:
    """Share of a cell's edges whose op has no parameters (none, skip_connect, avg_pool_3x3)."""
    return sum(op in PARAMETER_FREE for op in edges) / len(edges)


class Differentiable(BilevelFit):
    """Supernet weights (`net`) and architecture parameters (`alpha`, edges x ops) of one search."""

    def __init__(self, space: Any, mode: str, num_classes: int, in_channels: int, input_size: int,
                 options: DiffOptions, steps: int, seed: int) -> None:
        super().__init__()
        if getattr(space, "name", None) != "nb201":
            raise ValueError("this supernet covers the nb201 cell; for --space dense use DenseDifferentiable "
                             "(nas.supernets.differentiable.make_supernet picks the one of a space)")
        if mode not in ("darts", "gdas", "proxyless"):
            raise ValueError(f"unknown differentiable mode {mode!r}; use darts, gdas or proxyless")
        self.space, self.mode, self.options, self.steps, self.seed = space, mode, options, steps, seed
        with torch.random.fork_rng():  # initial weights from the seed alone; the caller's RNG is left alone
            torch.manual_seed(seed)
            self.net = NB201Supernet(num_classes, in_channels, input_size, options.channels, options.cells)
            self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))
        self.trajectory: list[dict[str, Any]] = []
        self.selected: Architecture | None = None  # the cell select=pt|zc chose (None: argmax)
        self.selection: dict[str, Any] | None = None  # its scores, edge by edge

    def forward(self, x: torch.Tensor, arch_step: bool = False, tau: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        return self.net(x, plan(self.alpha, self.mode, arch_step=arch_step, tau=tau, generator=generator))

    # --- what was learned ------------------------------------------------------------------------
    def probs(self) -> np.ndarray:
        """softmax(alpha) per edge: the learned distribution over ops (edges x ops)."""
        return F.softmax(self.alpha.detach().float(), -1).numpy()

    def fit(self, data: Any, checkpoint: Any = None, quiet: bool = False, deadline: float | None = None
            ) -> dict[str, Any]:
        """The bilevel fit, then (with `select=pt|zc`, once every step is done) the perturbation-based
        choice of the cell (`perturb.py`; recomputed identically after a resume)."""
        out = super().fit(data, checkpoint, quiet=quiet, deadline=deadline)
        if self.options.select == "argmax" or out["steps"] < self.steps:
            return out
        from nas.supernets.differentiable.perturb import select_cell

        cell, self.selection = select_cell(self, data)
        self.selected = self.space.from_edges(cell)
        return {**out, **self.summary()}

    def discretise(self) -> Architecture:
        """The perturbation-selected cell once there is one, else the argmax cell."""
        return self.selected if self.selected is not None else self.argmax()

    def argmax(self) -> Architecture:
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

    # --- hooks of the bilevel loop (`BilevelFit.fit`) ------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha]

    def arch_regulariser(self) -> torch.Tensor:
        """beta-DARTS: mean over edges of logsumexp(alpha), which keeps the softmax from saturating."""
        return torch.logsumexp(self.alpha, -1).mean()

    def center_arch_grads(self) -> None:
        # softmax ignores a shift of an edge's alpha: drop that part of the gradient, or Adam's
        # per-coordinate scaling turns a common push (the regulariser's) into steps of full size
        # that drown the differences between ops
        self.alpha.grad -= self.alpha.grad.mean(-1, keepdim=True)

    def arch_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha.detach().cpu()}

    def load_arch_state(self, saved: dict[str, Any]) -> None:
        with torch.no_grad():
            self.alpha.copy_(saved["alpha"])

    def summary(self) -> dict[str, Any]:
        arch, argmax = self.discretise(), self.argmax()
        return {"arch": arch.to_dict(), "arch_string": self.space.to_string(arch),
                "param_free_share": param_free_share(self.space.edges(arch)), "select": self.options.select,
                "selection": self.selection, "argmax_string": self.space.to_string(argmax),
                "argmax_param_free_share": param_free_share(self.space.edges(argmax)),
                "alpha": self.alpha.detach().cpu().tolist(), "probs": self.probs().round(4).tolist()}

    def _record(self, step: int, tau: float) -> None:
        arch = self.argmax()
        self.trajectory.append({"step": step, "alpha": self.alpha.detach().cpu().tolist(),
                                "tau": tau if self.mode == "gdas" else None,
                                "argmax": self.space.to_string(arch),
                                "param_free_share": param_free_share(self.space.edges(arch))})
