"""The NAS-Bench-201 supernet: the benchmark's macro skeleton (stem, 3 stages of cells with two
residual reductions, head) where each of the cell's 6 edges mixes the 5 ops; one set of
architecture parameters is shared by every cell, as in the benchmark's search baselines.

Search ops use BatchNorm without affine parameters (DARTS, GDAS): a learned BN scale would let
the weights, not the architecture parameters, decide how much each op contributes."""

from __future__ import annotations

import torch
from torch import nn

from nas.supernets.differentiable.modes import Plan, mixed
from search_spaces.nb201.cell import EDGES, NUM_NODES, OPS
from search_spaces.nb201.network import ResidualReduction, Zero
from search_spaces.nb201.shapes import check_input_size

PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def search_op(op: str, c: int) -> nn.Module:
    if op in ("nor_conv_1x1", "nor_conv_3x3"):
        k = int(op[-1])
        return nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, k, padding=k // 2, bias=False),
                             nn.BatchNorm2d(c, affine=False))
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    return Zero() if op == "none" else nn.Identity()


class MixedCell(nn.Module):
    """Node i = sum over j < i of edge (i, j)'s mixture; returns node 3."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(search_op(op, c) for op in OPS) for _ in EDGES)

    def forward(self, x: torch.Tensor, plans: list[Plan]) -> torch.Tensor:  # (B, C, H, W) -> same
        nodes = [x]
        for i in range(1, NUM_NODES):
            nodes.append(sum(mixed(ops, nodes[s], p) for (t, s), ops, p in zip(EDGES, self.edges, plans, strict=True)
                             if t == i))
        return nodes[-1]


class NB201Supernet(nn.Module):
    """stem -> `cells` mixed cells at C -> reduction -> at 2C -> reduction -> at 4C -> head."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int, channels: int, cells: int) -> None:
        super().__init__()
        check_input_size(input_size)
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.layers = nn.ModuleList()
        for stage in range(3):
            if stage:
                self.layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            self.layers.extend(MixedCell(c) for _ in range(cells))
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor, plans: list[Plan]) -> torch.Tensor:  # (B, in_channels, H, W)
        x = self.stem(x)  # (B, C, H, W)
        for layer in self.layers:
            x = layer(x, plans) if isinstance(layer, MixedCell) else layer(x)
        return self.classifier(self.head(x))  # (B, num_classes)
