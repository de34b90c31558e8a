"""How each mode turns the architecture parameters `alpha` (edges x ops) into the per-edge plan a
forward pass follows, and how a mixed edge computes with a plan.

An edge's plan is `(idx, coef, rest)`: the edge outputs `sum_m coef[m] * op[idx[m]](x) + rest`.
- darts: every op, `coef = softmax(alpha)` (the continuous relaxation; memory grows with the ops);
- gdas: one op per edge drawn by Gumbel-softmax at temperature tau, straight-through: `coef` is the
  hard one-hot's entry (value 1, gradient of the soft sample) and `rest` the other entries (value 0,
  GDAS's way of passing their gradient), so one op runs per edge;
- proxyless: binary gates. Weight steps run one path drawn from softmax(alpha), without a gradient to
  alpha; architecture steps draw two paths, renormalise their probabilities, open one gate and
  pass ProxylessNAS's gate gradient dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) through a
  straight-through estimator over the two, so at most two ops run per edge.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

Plan = tuple[list[int], torch.Tensor, torch.Tensor | None]


def plan(alpha: torch.Tensor, mode: str, *, arch_step: bool, tau: float = 1.0,
         generator: torch.Generator | None = None) -> list[Plan]:
    """The plan of every edge for one forward pass (`arch_step`: alpha receives a gradient)."""
    a = alpha if arch_step else alpha.detach()
    if mode == "darts":
        w = F.softmax(a, dim=-1)
        every = list(range(a.shape[1]))
        return [(every, w[e], None) for e in range(a.shape[0])]
    if mode == "gdas":
        return [_gdas(a[e], tau, generator) for e in range(a.shape[0])]
    if mode == "proxyless":
        probs = F.softmax(a, dim=-1)
        if not arch_step:
            draws = torch.multinomial(probs.detach(), 1, generator=generator).view(-1)
            return [([int(k)], torch.ones(1), None) for k in draws]
        return [_two_paths(a[e], generator) for e in range(a.shape[0])]
    raise ValueError(f"unknown differentiable mode {mode!r}; use darts, gdas or proxyless")


def _gdas(a: torch.Tensor, tau: float, generator: torch.Generator | None) -> Plan:
    u = torch.rand(a.shape, generator=generator).clamp_(1e-10, 1 - 1e-10)
    soft = F.softmax((a - torch.log(-torch.log(u))) / tau, dim=-1)
    k = int(soft.argmax())
    hard = torch.zeros_like(soft).scatter_(0, torch.tensor([k]), 1.0) - soft.detach() + soft
    return [k], hard[k:k + 1], hard.sum() - hard[k]


def _two_paths(a: torch.Tensor, generator: torch.Generator | None) -> Plan:
    pair = torch.multinomial(F.softmax(a.detach(), -1), 2, replacement=False, generator=generator)
    p = F.softmax(a[pair], dim=-1)
    j = int(torch.multinomial(p.detach(), 1, generator=generator))
    gate = torch.zeros(2).scatter_(0, torch.tensor([j]), 1.0) - p.detach() + p
    return [int(i) for i in pair], gate, None


def mixed(ops: Sequence[nn.Module], x: torch.Tensor, edge_plan: Plan) -> torch.Tensor:
    """One edge's output under its plan."""
    idx, coef, rest = edge_plan
    out = sum(c * ops[k](x) for k, c in zip(idx, coef, strict=True))
    return out if rest is None else out + rest


def tau_at(step: int, first: int, last: int, tau_max: float, tau_min: float) -> float:
    """GDAS's temperature: tau_max at the first architecture step, linearly down to tau_min at the last."""
    if last <= first:
        return tau_min
    t = min(max(step - first, 0), last - first) / (last - first)
    return tau_max - (tau_max - tau_min) * t


# One connection's gate in a forward pass: (included, coefficient or None (a constant 1), rest (a
# zero with a gradient, added to the node's output as GDAS does for the ops it did not run) or None).
GatePlan = tuple[bool, torch.Tensor | None, torch.Tensor | None]


def gate_plans(beta: torch.Tensor, mode: str, *, arch_step: bool, tau: float = 1.0,
               generator: torch.Generator | None = None) -> list[GatePlan]:
    """Binary gates from logits `beta` (a gate is on with probability sigmoid(beta)):
    - darts: every connection, scaled by sigmoid(beta);
    - gdas: on when sigmoid((beta + logistic noise) / tau) > 0.5 (Gumbel-softmax over {off, on}),
      straight-through; an off gate runs nothing and passes its gradient as `rest`;
    - proxyless: on with probability sigmoid(beta); a weight step runs the drawn state only, an
      architecture step runs both states of the gate (on and off: its two paths), the drawn one
      with value 1, straight-through for the gradient."""
    b = beta if arch_step else beta.detach()
    if mode == "darts":
        p = torch.sigmoid(b)
        return [(True, p[k], None) for k in range(len(b))]
    u = torch.rand(b.shape, generator=generator).clamp_(1e-10, 1 - 1e-10)
    if mode == "gdas":
        soft = torch.sigmoid((b + torch.log(u) - torch.log1p(-u)) / tau)
        hard = (soft > 0.5).float()
        st = hard - soft.detach() + soft
        if not arch_step:
            return [(bool(h), None, None) for h in hard]
        return [(True, st[k], None) if hard[k] else (False, None, st[k]) for k in range(len(b))]
    if mode == "proxyless":
        p = torch.sigmoid(b)
        hard = (u < p.detach()).float()
        if not arch_step:
            return [(bool(h), None, None) for h in hard]
        st = hard - p.detach() + p
        return [(True, st[k], None) for k in range(len(b))]
    raise ValueError(f"unknown differentiable mode {mode!r}; use darts, gdas or proxyless")
