"""Perturbation-based discretisation of the fitted NB201 supernet (`select=pt` or `select=zc`).

Edge by edge (index order, or an order drawn from the seed with `pt_order=random`), each op in
turn is removed from the edge's mixture and the perturbed supernet is scored; the edge keeps the
op whose removal hurts the score most, and runs that op alone from then on (`pt_order=once`:
every edge is scored on the whole supernet, nothing decided before, so no edge's score depends on
earlier decisions). Scores:
- `pt`, DARTS-PT (Wang et al., ICLR 2021): the supernet's accuracy (ties: its loss) on
  `pt_batches` minibatches of the architecture half (the `val` split: TRAINING images);
- `zc`, Zero-Cost-PT (Xiang et al., AAAI 2023): a zero-cost proxy of the supernet
  (`predictors.proxies`, `pt_proxy`) on the same minibatches, summed; the removal that leaves the
  lowest score marks the op to keep. It needs little or no supernet training. NASWOT counts the
  ReLUs inside the convolution ops, so removing a convolution always lowers it; `naswot_out`
  counts only the ReLUs outside the mixed cells (the reductions' and the head's).
Undecided edges mix by softmax(alpha); the removed op is dropped without renormalising the others
(both papers). With `exclude_none` the `none` op stays in the mixtures but is never kept (removing
it changes nothing, so it would win exactly when every other removal helps, which is drift of the
partly discretised supernet rather than a signal). BatchNorm uses batch statistics and its
running statistics are left unchanged.
`pt_tune` weight steps (SGD at `lr`, training half) on the partly discretised supernet follow each
decision (DARTS-PT's tuning; 0 by default). Everything is seeded: the same fitted supernet and
seed give the same scores and cell.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.supernets.differentiable.modes import Plan
from search_spaces.nb201.cell import EDGES, OPS


def select_cell(model: Any, data: Any) -> tuple[list[str], dict[str, Any]]:
    """(the cell's ops edge by edge, a record of every score) for the fitted `Differentiable`."""
    cfg = model.options
    start = time.process_time()
    rng = np.random.default_rng([model.seed, 201])
    order = [int(e) for e in rng.permutation(len(EDGES))] if cfg.pt_order == "random" else list(range(len(EDGES)))
    device = model.alpha.device
    batches = _eval_batches(data, cfg.pt_batches, cfg.batch_size, model.seed, device)
    weights = torch.softmax(model.alpha.detach().float(), -1)
    decided: dict[int, int] = {}
    edges_log = []
    candidates = [k for k, op in enumerate(OPS) if not (cfg.exclude_none and op == "none")]
    for n, e in enumerate(order):
        fixed = {} if cfg.pt_order == "once" else decided
        scores = {k: _score(model.net, _plans(weights, fixed, removed=(e, k)), batches, cfg) for k in candidates}
        keep = min(candidates, key=lambda k: _key(scores[k]))
        decided[e] = keep
        edges_log.append({"edge": e, "keep": OPS[keep], "scores": {OPS[k]: v for k, v in scores.items()}})
        if cfg.pt_tune and cfg.pt_order != "once" and n + 1 < len(order):
            _tune(model, data, weights, decided, n)
    model.net.zero_grad(set_to_none=True)
    cell = [OPS[decided[e]] for e in range(len(EDGES))]
    return cell, {"select": cfg.select, "order": order, "edges": edges_log, "cpu_s": time.process_time() - start}


def _eval_batches(data: Any, n: int, size: int, seed: int, device: torch.device
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """`n` minibatches of the architecture half, drawn from the seed, without augmentation."""
    from nas.data.loader import iterate_batches

    part = data.split("val")
    gen = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, 201]).generate_state(1)[0]))
    idx = torch.randperm(len(part), generator=gen)[:n * size]
    return [b for b in iterate_batches(part.x[idx], part.y[idx], size, mean=data.mean, std=data.std, device=device)
            if len(b[1]) > 1]  # train-mode BatchNorm needs two images


def _plans(weights: torch.Tensor, decided: dict[int, int], removed: tuple[int, int] | None = None) -> list[Plan]:
    """Decided edges run their op alone; the others mix by `weights`, less the `removed` (edge, op)."""
    out: list[Plan] = []
    for e in range(len(EDGES)):
        if e in decided:
            out.append(([decided[e]], torch.ones(1), None))
            continue
        idx = [k for k in range(len(OPS)) if (e, k) != removed]
        out.append((idx, weights[e, idx], None))
    return out


def _key(score: Any) -> Any:
    """What the kept op minimises: the score left after its removal (pt: accuracy, then -loss)."""
    return (score["accuracy"], -score["loss"]) if isinstance(score, dict) else score


class _Fixed(nn.Module):
    """The supernet under fixed plans, callable as a plain network (for the proxies)."""

    def __init__(self, net: nn.Module, plans: list[Plan]) -> None:
        super().__init__()
        self.net, self.plans = net, plans

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x, self.plans)


@contextmanager
def _batch_statistics(net: nn.Module) -> Iterator[None]:
    """Train-mode BatchNorm (batch statistics) whose running statistics stay as they are (momentum 0)."""
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, m.num_batches_tracked.clone() if m.num_batches_tracked is not None else None) for m in bns]
    was = net.training
    net.train()
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved, strict=True):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)
        net.train(was)


def _score(net: nn.Module, plans: list[Plan], batches: list[tuple[torch.Tensor, torch.Tensor]], cfg: Any) -> Any:
    with _batch_statistics(net):
        if cfg.select == "pt":
            correct = total = 0
            loss = 0.0
            with torch.no_grad():
                for x, y in batches:
                    logits = net(x, plans)
                    loss += float(F.cross_entropy(logits, y, reduction="sum"))
                    correct += int((logits.argmax(1) == y).sum())
                    total += len(y)
            return {"accuracy": correct / total, "loss": loss / total}
        return sum(_proxy(_Fixed(net, plans), x, y, cfg.pt_proxy) for x, y in batches)


def _proxy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, name: str) -> float:
    from predictors.proxies import batch_proxies, naswot, synflow

    if name == "synflow":
        return synflow(model, x)
    if name == "naswot":  # one forward pass is enough for NASWOT
        return naswot(model, x)
    if name == "naswot_out":
        from nas.supernets.differentiable.nb201 import MixedCell

        inside = {id(r) for c in model.modules() if isinstance(c, MixedCell) for r in c.modules()}
        return naswot(model, x, keep=lambda m: id(m) not in inside)
    return float(batch_proxies(model, x, y)[name])


def _tune(model: Any, data: Any, weights: torch.Tensor, decided: dict[int, int], n: int) -> None:
    """`pt_tune` SGD steps on the weights of the partly discretised supernet (training half)."""
    cfg, net = model.options, model.net
    opt = torch.optim.SGD(net.parameters(), lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
    plans = _plans(weights, decided)
    net.train()
    for j in range(cfg.pt_tune):
        x, y = model._batch(data, "train", model.steps + n * cfg.pt_tune + j, weights.device)
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, plans), y).backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
