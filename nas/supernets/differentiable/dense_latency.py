"""Expected latency of the dense supernet's distribution, differentiable in its architecture
parameters, and the hard budget (HardCoRe-NAS's idea: the expected latency never exceeds it).

`ExpectedLatency` is the latency predictor's network mean (`predictors.latency`: per-kernel
predictions weighted by the correction's category weights, plus activation traffic, graph nodes and
edges, a constant) taken in expectation over the distribution, with the factors and gates
independent:
- a node's op: sum over its op configurations (kernel x dilation x groups x width x bottleneck) of
  P(config) x cost(config, E[input width]); the cost is linear in the input width between two
  anchors the kernel model predicts (the smallest and the largest input), so its expectation is exact
  in that linearisation;
- a connection j -> i: gate probability x (the cost of a two-input concatenation + one graph edge);
- transitions and the head: linear in the expected stage-output width; the stem: constant.
The learned correction's non-linear part does not exist here (it is linear); the random forests of
the kernel models are evaluated once, at the anchors, when the model is built.

`project` keeps a budget after an architecture step: if the expected latency is over it, the
parameters move toward the cheapest configuration, by bisection on the mixing weight, to the first
point under it. `repair` discretises under the budget with the full predictor: while the argmax
architecture is predicted over it (mean + `latency_margin` x the predictor's std), apply the single
change (a gate off, a cheaper factor choice) that saves the most ms per unit of log-probability
lost. The confirm stage's measurement (median + 2 IQR <= budget) is the guarantee; these keep the
search where that can hold.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nas.supernets.differentiable.dense_choices import (
    FACTORS,
    arch_of,
    factor_choices,
    gate_names,
    log_prob,
    nodes_of,
    searched_factors,
)
from predictors.latency_kernels import _merge_kernel, kernel

SATURATE = 10.0  # logit gap of the cheapest configuration (softmax / sigmoid within 5e-5 of one-hot)


class ExpectedLatency:
    def __init__(self, space: Any, predictor: Any, settings: Any) -> None:
        self.space, self.predictor, self.settings = space, predictor, settings
        c = space.config
        self.n, self.factors = c.max_nodes, searched_factors(space)
        cost = predictor.kernel_costs
        per_node, per_edge, const = predictor.graph_costs()
        size, self.r = settings.input_size, []
        for s in range(c.stages):
            self.r.append(max(1, size // 2**s))
        pre = int(c.orders[0] == "pre")
        w0 = c.stem
        self.a, self.b, self.merge, self.out_merge, self.trans, self.w0max = [], [], [], [], [], []
        for s in range(c.stages):
            widths = factor_choices(space, "width", s)
            wmax, r = max(widths), self.r[s]
            if s:
                w0 = max(1, int(self.out_max * c.compression))
                lo_c, hi_c = min(factor_choices(space, "width", s - 1)), self.out_max
                ks = [kernel("transition", kind=2, cin=v, cout=max(1, int(v * c.compression)), r=self.r[s - 1])
                      for v in (lo_c, hi_c)]
                self.trans.append(_line(cost(ks), lo_c, hi_c))
            self.w0max.append(w0)
            choices = [factor_choices(space, f, s) for f in FACTORS]
            for i in range(1, self.n + 1):
                lo, hi = min(widths), w0 + (i - 1) * wmax
                hi = hi if hi > lo else lo + wmax
                configs = list(itertools.product(*choices))
                ks = [kernel("op", conv=1, pre=pre, relu=1, w_in=w_in, bottleneck=wd * bn, width=wd, k=k, dilation=d,
                             groups=g, stride=1, r=r) for w_in in (lo, hi) for k, d, g, wd, bn in configs]
                costs = cost(ks).reshape(2, len(configs))
                slope = (costs[1] - costs[0]) / (hi - lo)
                shape = [len(ch) for ch in choices]
                self.a.append(torch.tensor(costs[0] - slope * lo, dtype=torch.float32).view(shape))
                self.b.append(torch.tensor(slope, dtype=torch.float32).view(shape))
                wj = [w0] + [wmax] * (i - 1)
                ms = cost([_merge_kernel("concat", "pad", [wj[j], wj[i - 1]], [r, r], wj[j] + wj[i - 1], r)
                           for j in range(i - 1)]) if i > 1 else np.zeros(0)
                self.merge.append(torch.tensor(ms + per_edge, dtype=torch.float32))
            wj = [w0] + [wmax] * self.n
            ms = cost([_merge_kernel("concat", "pad", [wj[j], wmax], [r, r], wj[j] + wmax, r) for j in range(self.n)])
            self.out_merge.append(torch.tensor(ms + per_edge, dtype=torch.float32))
            self.out_max = w0 + self.n * wmax
        lo_c, hi_c = min(factor_choices(space, "width", c.stages - 1)), self.out_max
        ks = [kernel("head", c=v, classes=settings.num_classes, bn_relu=1, r=self.r[-1]) for v in (lo_c, hi_c)]
        self.head = _line(cost(ks), lo_c, hi_c)
        stem = cost([kernel("stem", cin=settings.in_channels, cout=c.stem, k=3, bn_relu=1, r=size)])[0]
        graph_nodes = 2 + c.stages * (self.n + 2)  # input, head; per stage node 0, its nodes, its output
        fixed_edges = 1 + c.stages * (self.n + 2)  # into each stage, node i-1 -> i, last -> output, output -> next
        self.const = float(stem + const + per_node * graph_nodes + per_edge * fixed_edges)

    def __call__(self, probs: dict[str, Tensor], gates: Tensor) -> Tensor:
        """Expected ms; `probs[f]` (nodes x choices) for the searched factors, `gates` (gate probabilities)."""
        c = self.space.config
        total = torch.tensor(self.const)
        per_stage, node = self.n * (self.n - 1) // 2 + self.n, 0
        e_w0 = e_out = torch.tensor(float(c.stem))
        for s in range(c.stages):
            g = gates[s * per_stage:(s + 1) * per_stage]
            if s:
                total = total + self.trans[s - 1](e_out)
                e_w0 = e_out * c.compression
            widths = torch.tensor(factor_choices(self.space, "width", s), dtype=torch.float32)
            e_w, used = [e_w0], 0
            for i in range(1, self.n + 1):
                pg = g[used:used + i - 1]
                used += i - 1
                e_in = e_w[i - 1] + sum((p * w for p, w in zip(pg, e_w[:i - 1])), torch.tensor(0.0))
                joint = None
                for f in FACTORS:
                    p = probs[f][node] if f in probs else torch.ones(1)
                    joint = p if joint is None else joint.unsqueeze(-1) * p
                total = total + (joint * (self.a[node] + self.b[node] * e_in)).sum() + (pg * self.merge[node]).sum()
                p_w = probs["width"][node] if "width" in probs else torch.ones(1)
                e_w.append((p_w * widths[:len(p_w)]).sum())
                node += 1
            po = g[used:used + self.n]
            total = total + (po * self.out_merge[s]).sum()
            e_out = e_w[self.n] + sum((p * w for p, w in zip(po, e_w[:self.n])), torch.tensor(0.0))
        return total + self.head(e_out)

    def of(self, alpha: dict[str, Tensor], beta: Tensor) -> Tensor:
        return self({f: torch.softmax(a, -1) for f, a in alpha.items()}, torch.sigmoid(beta))

    def cheapest(self) -> tuple[dict[str, Tensor], Tensor]:
        """Logits of the cheapest configuration: per node the op configuration that costs least at
        its smallest input, every optional gate off."""
        alpha = {}
        picks = [np.unravel_index(int(torch.argmin(a + b * min(self.space.stage_widths(0)))), a.shape)
                 for a, b in zip(self.a, self.b)]
        for f in self.factors:
            k = FACTORS.index(f)
            n_choices = self.a[0].shape[k]
            onehot = torch.zeros(len(picks), n_choices)
            onehot[torch.arange(len(picks)), torch.tensor([int(p[k]) for p in picks])] = SATURATE
            alpha[f] = onehot - onehot.mean(-1, keepdim=True)
        return alpha, torch.full((len(gate_names(self.space)),), -SATURATE)


def _line(costs: np.ndarray, lo: float, hi: float) -> Any:
    slope = float(costs[1] - costs[0]) / max(hi - lo, 1e-9)
    return lambda v: float(costs[0]) + slope * (v - lo)


@torch.no_grad()
def project(model: ExpectedLatency, alpha: dict[str, Tensor], beta: Tensor, budget: float,
            iterations: int = 30) -> float:
    """Move (alpha, beta) in place to the first point under `budget` on the way to the cheapest
    configuration (bisection on the mixing weight); returns the expected ms after it."""
    now = float(model.of(alpha, beta))
    if now <= budget:
        return now
    cheap_a, cheap_b = model.cheapest()
    start_a, start_b = {f: a.detach().clone() for f, a in alpha.items()}, beta.detach().clone()

    def mix(t: float) -> tuple[dict[str, Tensor], Tensor]:
        return {f: (1 - t) * start_a[f] + t * cheap_a[f] for f in alpha}, (1 - t) * start_b + t * cheap_b

    lo, hi = 0.0, 1.0
    hi_ms = float(model.of(*mix(1.0)))
    if hi_ms > budget:
        raise ValueError(f"--max-latency-ms {budget:g} is below the supernet's cheapest configuration "
                         f"(expected {hi_ms:.3f} ms): raise it or search a smaller space")
    for _ in range(iterations):
        mid = (lo + hi) / 2
        ms = float(model.of(*mix(mid)))
        if ms <= budget:
            hi, hi_ms = mid, ms
        else:
            lo = mid
    new_a, new_b = mix(hi)
    for f in alpha:
        alpha[f].copy_(new_a[f])
    beta.copy_(new_b)
    return hi_ms


def repair(space: Any, picks: dict[str, Any], probs: dict[str, Any], predictor: Any, budget: float,
           margin: float = 0.0, rounds: int = 60) -> tuple[dict[str, Any], float]:
    """Greedy: the argmax `picks` changed one decision at a time until the predicted mean + `margin`
    x its std is <= budget (or no change lowers it); returns the picks and that bound in ms."""
    def bound(archs: list[Any]) -> np.ndarray:
        mean, std = predictor.predict(archs)
        return mean + margin * std

    now = float(bound([arch_of(space, picks)])[0])
    widths = {f"s{s}_n{i}_": s for s, i in nodes_of(space)}
    for _ in range(rounds):
        if now <= budget:
            break
        cands = []
        for name, v in picks.items():
            if isinstance(v, bool):
                if v:
                    cands.append({**picks, name: False})
                continue
            prefix, f = name.rsplit("_", 1)
            for other in factor_choices(space, f, widths[prefix + "_"]):
                if other != v:
                    cands.append({**picks, name: other})
        if not cands:
            break
        ms = bound([arch_of(space, c) for c in cands])
        base = log_prob(space, probs, picks)
        score = [(now - m) / (base - log_prob(space, probs, c) + 1e-3) if m < now else -np.inf
                 for c, m in zip(cands, ms)]
        best = int(np.argmax(score))
        if not np.isfinite(score[best]):
            break
        picks, now = cands[best], float(ms[best])
    return picks, now


def budget_predictor(space: Any, device: str, data: Any, cache_dir: Any = None, clock: str = "wall") -> tuple[Any, Any]:
    """(predictor, settings) for a hard budget: the cached profile at batch 1, this process's threads,
    the data's input shape; none cached raises with the one command that makes it."""
    from nas.search.limits import search_latency_settings
    from predictors.latency import load_predictor

    s = search_latency_settings(device, data, clock=clock)
    predictor = load_predictor(space, s, cache_dir)
    if predictor is None:
        raise ValueError(f"--max-latency-ms with a differentiable strategy needs the per-kernel latency model: no "
                         f"profile is cached for space {space.name} at batch 1, {s.threads} thread(s), "
                         f"{s.input_size}x{s.input_size}x{s.in_channels}, {s.device}; make one with `nas latency "
                         f"profile --space {space.name} --device {s.device} --threads {s.threads} --input-size "
                         f"{s.input_size} --in-channels {s.in_channels} --num-classes {s.num_classes}"
                         f"{' --clock cpu' if clock == 'cpu' else ''}`")
    return predictor, s
