"""Build a dense genotype as a plain PyTorch module (the semantics are in genotype.py)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from search_spaces.dense.genotype import DenseGenotype, Merge, Op, Stage, Transition
from search_spaces.dense.shapes import StageShape, analyze


def conv2d(cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=dilation * (k - 1) // 2, dilation=dilation,
                     groups=groups, bias=False)


def bn_relu(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]


class Merger(nn.Module):
    """Merges a node's inputs: concat, or sum / mean after aligning widths and resolutions."""

    def __init__(self, merge: Merge, widths: tuple[int, ...], sizes: tuple[int, ...], target_w: int, target_r: int):
        super().__init__()
        self.inputs = list(merge.inputs)
        self.kind = merge.merge
        self.align = nn.ModuleList()
        self.steps: list[tuple[int, int]] = []  # (subsample factor, channels to pad) per input
        for i in self.inputs:
            f = max(1, round(sizes[i] / target_r)) if self.kind != "concat" else 1
            pad = target_w - widths[i] if self.kind != "concat" else 0
            if merge.align == "project" and (f > 1 or pad):
                self.align.append(nn.Sequential(conv2d(widths[i], target_w, 1, stride=f), nn.BatchNorm2d(target_w)))
                f, pad = 1, 0
            else:
                self.align.append(nn.Identity())
            self.steps.append((f, pad))

    def forward(self, feats: list[Tensor]) -> Tensor:  # the stage's node outputs -> N x target_w x r x r
        xs = [feats[i] for i in self.inputs]
        if self.kind == "concat":
            return xs[0] if len(xs) == 1 else torch.cat(xs, 1)
        out = None
        for x, proj, (f, pad) in zip(xs, self.align, self.steps):
            x = proj(x)
            if f > 1:
                x = x[:, :, ::f, ::f]
            if pad:
                x = F.pad(x, (0, 0, 0, 0, 0, pad))
            out = x if out is None else out + x
        return out / len(xs) if self.kind == "mean" else out


def op_parts(op: Op, w_in: int) -> tuple[nn.Module, nn.Module]:
    """An op as (first, rest): `first` is what memory-efficient mode recomputes with the merge."""
    if op.type == "identity":
        return nn.Identity(), nn.ReLU() if op.relu else nn.Identity()
    conv_in = op.bottleneck or w_in
    main = conv2d(conv_in, op.width, op.kernel, op.stride, op.dilation, op.groups)
    if op.order == "pre":
        if op.bottleneck:
            return nn.Sequential(*bn_relu(w_in), conv2d(w_in, op.bottleneck, 1)), nn.Sequential(*bn_relu(conv_in), main)
        return nn.Sequential(*bn_relu(w_in)), main
    first = nn.Sequential(conv2d(w_in, op.bottleneck, 1), *bn_relu(op.bottleneck)) if op.bottleneck else nn.Identity()
    rest = [main, nn.BatchNorm2d(op.width)] + ([nn.ReLU(inplace=True)] if op.relu else [])
    return first, nn.Sequential(*rest)


class DagNode(nn.Module):
    def __init__(self, merger: Merger, op: Op, w_in: int, memory_efficient: bool):
        super().__init__()
        self.merger = merger
        self.first, self.rest = op_parts(op, w_in)
        # checkpointing pays off where a concatenation is followed by BN-ReLU(-conv): DenseNet layers
        self.checkpointed = memory_efficient and merger.kind == "concat" and len(merger.inputs) > 1 \
            and not isinstance(self.first, nn.Identity)

    def _first(self, *xs: Tensor) -> Tensor:
        return self.first(torch.cat(xs, 1))

    def forward(self, feats: list[Tensor]) -> Tensor:  # the stage's node outputs -> N x op.width x r x r
        if self.checkpointed and torch.is_grad_enabled():
            x = checkpoint(self._first, *[feats[i] for i in self.merger.inputs], use_reentrant=False)
        else:
            x = self.first(self.merger(feats))
        return self.rest(x)


def transition(t: Transition, cin: int, cout: int) -> nn.Module:
    if t.type == "dense":
        return nn.Sequential(*bn_relu(cin), conv2d(cin, cout, 1), nn.AvgPool2d(2))
    return {"none": nn.Identity, "maxpool": lambda: nn.MaxPool2d(2), "avgpool": lambda: nn.AvgPool2d(2)}[t.type]()


class DagStage(nn.Module):
    """Transition, then the DAG's nodes in order; node outputs are dropped after their last use."""

    def __init__(self, stage: Stage, shape: StageShape, cin: int, memory_efficient: bool):
        super().__init__()
        w, r = shape.widths, shape.sizes
        self.transition = transition(stage.transition, cin, w[0])
        nodes = []
        for nd in stage.nodes:
            w_in = (sum if nd.inputs.merge == "concat" else max)(w[j] for j in nd.inputs.inputs)
            r_in = min(r[j] for j in nd.inputs.inputs)
            nodes.append(DagNode(Merger(nd.inputs, w, r, w_in, r_in), nd.op, w_in, memory_efficient))
        self.nodes = nn.ModuleList(nodes)
        self.output = Merger(stage.output, w, r, w[-1], r[-1])
        last_use: dict[int, int] = {}
        for i, nd in enumerate(stage.nodes, start=1):
            for j in nd.inputs.inputs:
                last_use[j] = i
        kept = set(stage.output.inputs)
        self.release = [[j for j, last in last_use.items() if last == i and j not in kept]
                        for i in range(len(nodes) + 1)]

    def forward(self, x: Tensor) -> Tensor:  # N x C_in x H x W -> N x widths[-1] x sizes[-1] x sizes[-1]
        feats: list[Tensor] = [self.transition(x)]  # node 0: N x widths[0] x sizes[0] x sizes[0]
        for i, node in enumerate(self.nodes, start=1):
            feats.append(node(feats))
            for j in self.release[i]:
                feats[j] = None  # type: ignore[call-overload]  # free memory early
        return self.output(feats)


class DenseNetwork(nn.Module):
    """stem -> stages -> head (BN-ReLU optional, global average pooling, linear)."""

    def __init__(self, geno: DenseGenotype, num_classes: int, in_channels: int, input_size: int,
                 memory_efficient: bool = False):
        super().__init__()
        shape = analyze(geno, num_classes, in_channels, input_size)  # raises on impossible sizes
        stem = geno.stem
        self.stem = nn.Sequential(conv2d(in_channels, stem.channels, stem.kernel),
                                  *(bn_relu(stem.channels) if stem.bn_relu else []))
        stages, cin = [], stem.channels
        for stage, st_shape in zip(geno.stages, shape.stages):
            stages.append(DagStage(stage, st_shape, cin, memory_efficient))
            cin = st_shape.widths[-1]
        self.stages = nn.Sequential(*stages)
        self.head = nn.Sequential(*(bn_relu(cin) if geno.head_bn_relu else []), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(cin, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # N x stem x H x W
        x = self.stages(x)  # N x C x h x w
        return self.classifier(self.head(x))  # N x classes
