"""`DenseDifferentiable`: the dense-DAG supernet (`dense.py`) with its architecture parameters, a
logit per choice of each node's searched op factors (`alpha[factor]`, nodes x choices) and a logit
per optional connection (`gates`, on with probability sigmoid), fitted by the shared bilevel loop
(`bilevel.py`) and discretised into an architecture of the configured sub-space
(`dense_choices.py`: node i keeps reading node i-1, the output keeps the last node, a gate above
0.5 keeps a connection, the strongest choice of every factor).

With a latency budget (`--max-latency-ms`) and the per-kernel latency model, the expected latency
(`dense_latency.py`) is kept under the budget at every step (projection after each architecture
update, and once before the first), and the discretised architecture is repaired until the full
predictor puts it under the budget.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.supernets.differentiable.bilevel import BilevelFit
from nas.supernets.differentiable.config import DiffOptions
from nas.supernets.differentiable.dense import DenseSupernet
from nas.supernets.differentiable.dense_choices import (
    FACTORS,
    arch_of,
    argmax_picks,
    check_config,
    factor_choices,
    gate_names,
    log_prob,
    nodes_of,
    picks_in,
    sample_arch,
    searched_factors,
)
from nas.supernets.differentiable.modes import gate_plans, plan
from search_spaces.base import Architecture


class DenseDifferentiable(BilevelFit):
    def __init__(self, space: Any, mode: str, num_classes: int, in_channels: int, input_size: int,
                 options: DiffOptions, steps: int, seed: int, latency: Any = None,
                 budget_ms: float | None = None) -> None:
        super().__init__()
        if getattr(space, "name", None) != "dense" or not hasattr(space, "config"):
            raise ValueError("the dense supernet covers the dense space's configured sub-space (--space dense?...)")
        if mode not in ("darts", "gdas", "proxyless"):
            raise ValueError(f"unknown differentiable mode {mode!r}; use darts, gdas or proxyless")
        check_config(space.config)
        if input_size < 2 ** (space.config.stages - 1):
            raise ValueError(f"input size {input_size} is too small for {space.config.stages} stages")
        if budget_ms is not None and latency is None:
            raise ValueError("a latency budget needs the expected-latency model (dense_latency.ExpectedLatency)")
        self.space, self.mode, self.options, self.steps, self.seed = space, mode, options, steps, seed
        self.latency, self.budget_ms = latency, budget_ms
        self.factors = searched_factors(space)
        n_nodes, n_gates = len(nodes_of(space)), len(gate_names(space))
        n_choices = {f: len(factor_choices(space, f, 0)) for f in self.factors}
        with torch.random.fork_rng():  # initial weights from the seed alone; the caller's RNG is left alone
            torch.manual_seed(seed)
            self.net = DenseSupernet(space, num_classes, in_channels)
            self.alpha = nn.ParameterDict({f: nn.Parameter(1e-3 * torch.randn(n_nodes, n_choices[f]))
                                           for f in self.factors})
            self.gates = nn.Parameter(1e-3 * torch.randn(n_gates))
        self.trajectory: list[dict[str, Any]] = []
        self.fixed = [([0], None, None)] * n_nodes  # the plan of a factor with one choice

    def forward(self, x: torch.Tensor, arch_step: bool = False, tau: float = 1.0,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if self.mode == "proxyless" and arch_step:
            paths = self._two_paths(generator)
        else:
            by_factor = {f: plan(self.alpha[f], self.mode, arch_step=arch_step, tau=tau, generator=generator)
                         if f in self.alpha else self.fixed for f in FACTORS}
            paths = [[({f: p[k] for f, p in by_factor.items()}, None)] for k in range(len(self.fixed))]
        gates = gate_plans(self.gates, self.mode, arch_step=arch_step, tau=tau, generator=generator)
        return self.net(x, paths, gates)

    def _two_paths(self, generator: torch.Generator | None) -> list[list[tuple[dict[str, Any], torch.Tensor]]]:
        """ProxylessNAS on a node's whole op: two configurations drawn (each factor from its softmax),
        their probabilities renormalised over the pair, one gate open, straight-through; so two
        sliced convs run per node, however many factors and choices there are."""
        logp = {f: F.log_softmax(a, -1) for f, a in self.alpha.items()}
        out = []
        for k in range(len(self.fixed)):
            draws = [{f: int(torch.multinomial(lp[k].detach().exp(), 1, generator=generator)) for f, lp in logp.items()}
                     for _ in range(2)]
            if draws[0] == draws[1]:  # the same configuration twice: its one path, with a gate of value 1
                p = torch.stack([sum((lp[k][draws[0][f]] for f, lp in logp.items()), torch.tensor(0.0))])
                gate = (p - p.detach() + 1.0).view(1)
                draws = draws[:1]
            else:
                pair = torch.stack([sum((lp[k][d[f]] for f, lp in logp.items()), torch.tensor(0.0)) for d in draws])
                q = F.softmax(pair, 0)
                j = int(torch.multinomial(q.detach(), 1, generator=generator))
                gate = torch.zeros(2).scatter_(0, torch.tensor([j]), 1.0) - q.detach() + q
            out.append([({f: ([d[f]], None, None) if f in d else self.fixed[k] for f in FACTORS}, gate[m])
                        for m, d in enumerate(draws)])
        return out

    # --- what was learned ------------------------------------------------------------------------
    def probs(self) -> dict[str, np.ndarray]:
        out = {f: F.softmax(a.detach().float(), -1).numpy() for f, a in self.alpha.items()}
        out["gates"] = torch.sigmoid(self.gates.detach().float()).numpy()
        return out

    def expected_latency(self) -> float | None:
        if self.latency is None:
            return None
        with torch.no_grad():
            return float(self.latency.of(dict(self.alpha.items()), self.gates))

    def discretise(self, repair: bool = True) -> Architecture:
        """The argmax architecture (valid for any parameters); with a budget, repaired until the
        latency predictor puts it under the budget."""
        probs = self.probs()
        picks = argmax_picks(self.space, probs)
        if repair and self.budget_ms is not None:
            from nas.supernets.differentiable.dense_latency import repair as repair_picks

            self.argmax_ms = float(self.latency.predictor.predict([arch_of(self.space, picks)])[0][0])
            repaired, self.predicted_ms = repair_picks(self.space, picks, probs, self.latency.predictor,
                                                       self.budget_ms, self.options.latency_margin)
            self.repairs = sum(repaired[k] != v for k, v in picks.items())
            picks = repaired
        return arch_of(self.space, picks)

    def propose(self, rng: np.random.Generator) -> Architecture:
        return sample_arch(self.space, self.probs(), rng)

    def scored(self, arch: Architecture, data: Any = None) -> dict[str, Any]:
        return {"score": log_prob(self.space, self.probs(), picks_in(self.space, arch))}

    # --- hooks of the bilevel loop ---------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [*self.alpha.values(), self.gates]

    def arch_regulariser(self) -> torch.Tensor:
        """beta-DARTS per factor (logsumexp of its logits) and per gate (logsumexp over {off, on}
        centred: its gradient pulls the gate's probability towards 0.5, never to a side)."""
        terms = [torch.logsumexp(a, -1).mean() for a in self.alpha.values()]
        terms.append((F.softplus(self.gates) - self.gates / 2).mean())
        return torch.stack(terms).mean()

    def center_arch_grads(self) -> None:
        for a in self.alpha.values():  # softmax ignores a common shift of a node's logits
            if a.grad is not None:
                a.grad -= a.grad.mean(-1, keepdim=True)

    def after_arch_step(self) -> None:
        if self.budget_ms is not None:
            from nas.supernets.differentiable.dense_latency import project

            project(self.latency, dict(self.alpha.items()), self.gates, self.budget_ms)

    def arch_state(self) -> dict[str, Any]:
        return {"alpha": {f: a.detach().cpu() for f, a in self.alpha.items()}, "gates": self.gates.detach().cpu()}

    def load_arch_state(self, saved: dict[str, Any]) -> None:
        with torch.no_grad():
            for f, a in self.alpha.items():
                a.copy_(saved["alpha"][f])
            self.gates.copy_(saved["gates"])

    def summary(self) -> dict[str, Any]:
        arch = self.discretise()
        out = {"space": "dense", "arch": arch.to_dict(), "alpha": self._logits(),
               "probs": {k: np.round(v, 4).tolist() for k, v in self.probs().items()},
               "expected_latency_ms": self.expected_latency(), "max_latency_ms": self.budget_ms}
        if self.budget_ms is not None:
            out.update(predicted_latency_ms=self.predicted_ms, argmax_predicted_ms=self.argmax_ms, repairs=self.repairs)
        return out

    def _logits(self) -> dict[str, Any]:
        return {**{f: a.detach().cpu().tolist() for f, a in self.alpha.items()}, "gates": self.gates.detach().tolist()}

    def _record(self, step: int, tau: float) -> None:
        self.trajectory.append({"step": step, "alpha": self._logits(), "tau": tau if self.mode == "gdas" else None,
                                "argmax": self.discretise(repair=False).key(),
                                "expected_latency_ms": self.expected_latency()})
