"""The NAS-Bench-201 network as plain torch modules (the benchmark's `TinyNetwork` and `InferCell`).

stem (conv 3x3 + BN) -> N cells at C -> residual reduction -> N cells at 2C -> residual reduction
-> N cells at 4C -> BN-ReLU -> global average pool -> linear. Ops: `nor_conv_kxk` is
ReLU-conv-BN, `avg_pool_3x3` is a 3x3 average pool (stride 1, padding 1, padding not counted),
`skip_connect` the identity and `none` multiplies by zero (as the benchmark does, so gradients
reach every parameter).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search_spaces.nb201.cell import EDGES, NUM_NODES
from search_spaces.nb201.shapes import check_input_size


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False),
                         nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
                         nn.BatchNorm2d(c_out))


class Zero(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mul(0.0)


def make_op(op: str, c: int) -> nn.Module:
    if op == "none":
        return Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1)
    if op == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NAS-Bench-201 op {op!r}")


class Cell(nn.Module):
    """Node i = sum over j < i of op_ij(node j); the cell returns node 3."""

    def __init__(self, edges: Sequence[str], c: int) -> None:
        super().__init__()
        self.edges = tuple(EDGES)
        self.ops = nn.ModuleList(make_op(op, c) for op in edges)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H, W)
        nodes = [x]
        for i in range(1, NUM_NODES):
            nodes.append(sum(op(nodes[s]) for (t, s), op in zip(self.edges, self.ops, strict=True) if t == i))
        return nodes[-1]


class ResidualReduction(nn.Module):
    """ResNet basic block with stride 2; the shortcut is a 2x2 average pool then a 1x1 conv."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 2C, H/2, W/2)
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NB201Network(nn.Module):
    def __init__(self, edges: Sequence[str], num_classes: int, in_channels: int = 3, input_size: int = 32,
                 channels: int = 16, cells_per_stage: int = 5) -> None:
        super().__init__()
        check_input_size(input_size)
        c = channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage:
                layers.append(ResidualReduction(c, 2 * c))
                c *= 2
            layers.extend(Cell(edges, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, in_channels, H, W)
        x = self.stem(x)  # (B, C, H, W)
        x = self.cells(x)  # (B, 4C, H/4, W/4)
        return self.classifier(self.head(x))  # (B, num_classes)
