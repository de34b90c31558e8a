"""The dense-DAG supernet's modules: per stage `max_nodes` mixed nodes, a gate on every optional
connection, a mixture over each node's op factors with ENTANGLED weights.

Shared tensors hold the largest sizes; a choice is a slice of them (as SMASH's supernet slices):
- a node's input is the concatenation of its included inputs at their actual widths; the conv weight
  takes the columns of those inputs' channels (slot j of the layout starts at `offsets[j]`), so a
  narrower width or a dropped connection is a slice of the wider weight;
- width w is the first w output channels; kernel k is the centre k x k of the largest kernel;
  groups g is a block-diagonal mask on the same weight; dilation changes only how the weight is
  applied. A bottleneck (1x1 conv to the width first) has its own k x k weight (its input differs).
One path (GDAS; ProxylessNAS's weight steps) runs one sliced conv per node: memory near one network's.
A soft mixture (DARTS) mixes kernels and groups in weight space (one conv), widths by an output
mask, and runs one conv per dilation and bottleneck choice it mixes (2 x 2 at most by default).

BatchNorm uses the batch's statistics (the supernet is only ever run in training mode).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.supernets.differentiable.dense_choices import factor_choices
from nas.supernets.differentiable.modes import GatePlan, Plan

NodePlan = dict[str, Plan]  # factor -> (choice indices, coefficients, rest)
Slot = tuple[int, Tensor, Tensor | None]  # (slot index, tensor, gate coefficient or None)


def _bn(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return F.batch_norm(x, None, None, w, b, True, 0.0, 1e-5)


def _weight(*shape: int) -> nn.Parameter:
    w = torch.empty(*shape)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))  # torch's default conv init, as the built networks use
    return nn.Parameter(w)


def _cols(w: Tensor, cols: Sequence[tuple[int, int]]) -> Tensor:
    """The input columns of `w` for a layout of (offset, channels) slots."""
    parts = [w[:, off:off + c] for off, c in cols]
    return parts[0] if len(parts) == 1 else torch.cat(parts, 1)


def _group_mask(groups: int, cout: int, cin: int) -> Tensor:
    """Block-diagonal mask that makes a dense weight a grouped conv's (contiguous groups)."""
    o = torch.arange(cout) // (cout // groups)
    i = torch.arange(cin) // (cin // groups)
    return (o[:, None] == i[None, :]).float()[:, :, None, None]


def _centre(k: int, size: int) -> Tensor:
    m = torch.zeros(size, size)
    c = (size - k) // 2
    m[c:c + k, c:c + k] = 1.0
    return m


class Gathered(nn.Module):
    """Reads a layout of slots: per-slot BN-ReLU (pre-activation: the gate scales after it, so BN
    does not undo the gate; folded into BN's affine, so it costs no activation memory), times the
    gate (post-activation), concatenated."""

    def __init__(self, size: int, offsets: Sequence[int], bn: bool) -> None:
        super().__init__()
        self.offsets = list(offsets)
        self.bn_w = nn.Parameter(torch.ones(size)) if bn else None
        self.bn_b = nn.Parameter(torch.zeros(size)) if bn else None

    def forward(self, slots: Sequence[Slot]) -> tuple[list[Tensor], list[tuple[int, int]]]:
        parts, cols = [], []
        for j, f, g in slots:
            off, c = self.offsets[j], f.shape[1]
            if self.bn_w is not None:  # a gate g >= 0 folds into BN's affine: relu(g * bn(f)) = g * relu(bn(f))
                w, b = self.bn_w[off:off + c], self.bn_b[off:off + c]
                f = F.relu(_bn(f, w if g is None else w * g, b if g is None else b * g), inplace=True)
            elif g is not None:
                f = f * g
            parts.append(f)
            cols.append((off, c))
        return parts, cols


class MixedNode(nn.Module):
    def __init__(self, offsets: Sequence[int], cin: int, wmax: int, kmax: int, order: str,
                 bottlenecks: Sequence[int]) -> None:
        super().__init__()
        self.pre, self.kmax = order == "pre", kmax
        self.gather = Gathered(cin, offsets, bn=self.pre)
        if 0 in bottlenecks:
            self.wk_d = _weight(wmax, cin, kmax, kmax)
        if 1 in bottlenecks:
            self.w1 = _weight(wmax, cin, 1, 1)
            self.bn_mid_w, self.bn_mid_b = nn.Parameter(torch.ones(wmax)), nn.Parameter(torch.zeros(wmax))
            self.wk_b = _weight(wmax, wmax, kmax, kmax)
        if not self.pre:
            self.bn_out_w, self.bn_out_b = nn.Parameter(torch.ones(wmax)), nn.Parameter(torch.zeros(wmax))

    def forward(self, slots: Sequence[Slot], paths: Sequence[tuple[NodePlan, Tensor | None]],
                choices: dict[str, tuple[int, ...]], rests: list[Tensor]) -> Tensor:  # -> (B, width, r, r)
        """The sum over `paths` of coefficient x the op under that plan (one path but ProxylessNAS's
        architecture steps, which run two whole configurations of the node)."""
        parts, cols = self.gather(slots)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, 1)
        outs = [self._path(x, cols, plan, choices, rests) for plan, _ in paths]
        if len(outs) == 1 and paths[0][1] is None:
            return outs[0]
        w = max(o.shape[1] for o in outs)
        return sum(c * F.pad(o, (0, 0, 0, 0, 0, w - o.shape[1])) for (_, c), o in zip(paths, outs))

    def _path(self, x: Tensor, cols: list[tuple[int, int]], plan: NodePlan, choices: dict[str, tuple[int, ...]],
              rests: list[Tensor]) -> Tensor:
        scale: list[Tensor] = []

        def take(f: str) -> tuple[list[int], Tensor | None]:
            idx, coef, rest = plan[f]
            if rest is not None:
                rests.append(rest)
            if len(idx) == 1:  # one path: its coefficient (1, with a gradient) scales the node's output
                if coef is not None and coef.requires_grad:
                    scale.append(coef[0])
                return [choices[f][idx[0]]], None
            return [choices[f][k] for k in idx], coef

        widths, wc = take("width")
        kernels, kc = take("kernel")
        dils, dc = take("dilation")
        groups, gc = take("groups")
        bots, bc = take("bottleneck")
        w, k = max(widths), max(kernels)
        wmask = None if wc is None else sum(c * (torch.arange(w) < v).float()
                                            for v, c in zip(widths, wc))[None, :, None, None]
        crop = (self.kmax - k) // 2
        out: Tensor | float = 0.0
        for n, b in enumerate(bots):
            if b:
                y = _bn(F.conv2d(x, _cols(self.w1[:w], cols)), self.bn_mid_w[:w], self.bn_mid_b[:w])
                y = F.relu(y, inplace=True)
                y = y if wmask is None else y * wmask
                weight = self.wk_b[:w, :w]
            else:
                y, weight = x, _cols(self.wk_d[:w], cols)
            weight = weight[:, :, crop:crop + k, crop:crop + k]
            if kc is not None:
                weight = weight * sum(c * _centre(v, k) for v, c in zip(kernels, kc))
            if gc is not None:
                weight = weight * sum(c * _group_mask(g, w, weight.shape[1]) for g, c in zip(groups, gc))
            elif groups[0] > 1:
                weight = weight * _group_mask(groups[0], w, weight.shape[1])
            zs = [F.conv2d(y, weight, padding=d * (k - 1) // 2, dilation=d) for d in dils]
            z = zs[0] if dc is None else sum(c * zi for c, zi in zip(dc, zs))
            out = out + (z if bc is None else bc[n] * z)
        assert isinstance(out, Tensor)
        if not self.pre:
            out = F.relu(_bn(out, self.bn_out_w[:w], self.bn_out_b[:w]), inplace=True)
        if wmask is not None:
            out = out * wmask
        if scale:  # one multiply by the product: each would save another copy of the output
            out = out * torch.stack(scale).prod()
        return out


class DenseSupernet(nn.Module):
    """stem -> stages of mixed nodes (DenseNet transitions between) -> BN-ReLU-GAP-linear head."""

    def __init__(self, space: Any, num_classes: int, in_channels: int) -> None:
        super().__init__()
        c = self.config = space.config
        self.space, self.n = space, c.max_nodes
        self.order, kmax = c.orders[0], max(c.kernels)
        self.choices = [{f: factor_choices(space, f, s) for f in ("kernel", "dilation", "groups", "width",
                                                                    "bottleneck")} for s in range(c.stages)]
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c.stem, 3, padding=1, bias=False), nn.BatchNorm2d(c.stem),
                                  nn.ReLU())
        self.offsets, self.out_max = [], []
        self.transitions, self.stages = nn.ModuleList(), nn.ModuleList()
        w0 = c.stem
        for s in range(c.stages):
            if s:
                w0 = max(1, int(self.out_max[-1] * c.compression))
                t = Gathered(self.out_max[-1], self.offsets[-1], bn=True)
                t.weight = _weight(w0, self.out_max[-1], 1, 1)
                self.transitions.append(t)
            wmax = max(space.stage_widths(s))
            offsets = [0] + [w0 + m * wmax for m in range(self.n)]
            self.offsets.append(offsets)
            self.out_max.append(w0 + self.n * wmax)
            self.stages.append(nn.ModuleList(MixedNode(offsets[:i], offsets[i], wmax, kmax, self.order,
                                                       c.bottlenecks) for i in range(1, self.n + 1)))
        self.head = Gathered(self.out_max[-1], self.offsets[-1], bn=True)
        self.classifier = nn.Linear(self.out_max[-1], num_classes)

    def gate_count(self) -> int:
        return self.n * (self.n - 1) // 2 + self.n  # per stage: optional inputs, then optional outputs

    def forward(self, x: Tensor, plans: list[list[tuple[NodePlan, Tensor | None]]], gates: list[GatePlan]) -> Tensor:
        x = self.stem(x)  # (B, stem, H, W)
        per_stage, rests = self.gate_count(), []
        out: list[Slot] = []
        for s, nodes in enumerate(self.stages):
            g = gates[s * per_stage:(s + 1) * per_stage]
            if s:
                t = self.transitions[s - 1]
                parts, cols = t(out)
                y = torch.cat(parts, 1) if len(parts) > 1 else parts[0]
                cout = max(1, int(y.shape[1] * self.config.compression))
                x = F.avg_pool2d(F.conv2d(y, _cols(t.weight[:cout], cols)), 2)  # (B, cout, H/2, W/2)
            feats, used = [x], 0
            for i, node in enumerate(nodes, start=1):
                slots: list[Slot] = []
                for j in range(i - 1):
                    on, coef, rest = g[used]
                    used += 1
                    if on:
                        slots.append((j, feats[j], coef))
                    if rest is not None:
                        rests.append(rest)
                slots.append((i - 1, feats[i - 1], None))
                k = s * self.n + i - 1
                node_rests: list[Tensor] = []
                y = node(slots, plans[k], self.choices[s], node_rests)
                feats.append(y + sum(node_rests) if node_rests else y)
            out = []
            for j in range(self.n):
                on, coef, rest = g[used + j]
                if on:
                    out.append((j, feats[j], coef))
                if rest is not None:
                    rests.append(rest)
            out.append((self.n, feats[self.n], None))
        parts, cols = self.head(out)
        w = self.classifier.weight
        logits = sum(p.mean((2, 3)) @ w[:, off:off + c].t() for p, (off, c) in zip(parts, cols))
        return logits + self.classifier.bias + (sum(rests) if rests else 0.0)  # (B, num_classes)
