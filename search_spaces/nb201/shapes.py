"""Parameters and MACs of the NAS-Bench-201 network, counted without building it (pure Python).

The counts follow the benchmark: every parameter (BatchNorm weight and bias included, running
statistics not), and multiply-accumulates of conv and linear layers only (no pooling, no BN, no
biases), which is how the table's `c10_params_mb` and `c10_flops_m` were computed (a test checks
both against the table and against the built modules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from search_spaces.nb201.cell import EDGES, NUM_NODES

KERNELS = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}  # the ops with weights; the others have none


@dataclass(frozen=True)
class NB201Shape:
    params: int
    macs: int
    depth: int  # conv and linear layers on the longest input-to-output path
    sizes: tuple[int, ...]  # spatial size of each stage


def check_input_size(input_size: int) -> None:
    if input_size < 4 or input_size % 4:
        raise ValueError(f"input size {input_size}: the NAS-Bench-201 network halves it twice with a residual "
                         "block whose two branches must agree, so use a multiple of 4 (e.g. 16 or 32)")


def analyze(edges: Sequence[str], channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
            in_channels: int = 3, input_size: int = 32) -> NB201Shape:
    check_input_size(input_size)
    c, size = channels, input_size
    params = 9 * in_channels * c + 2 * c  # stem conv 3x3 + BN
    macs = 9 * in_channels * c * size * size
    cell_depth = _cell_depth(edges)
    depth = 1
    sizes = []
    for stage in range(3):
        if stage:  # residual reduction: ReLU-conv3x3/2-BN, ReLU-conv3x3-BN; shortcut avgpool 2x2 + conv 1x1
            c_in, c, size = c, 2 * c, size // 2
            params += 9 * c_in * c + 2 * c + 9 * c * c + 2 * c + c_in * c
            macs += (9 * c_in * c + 9 * c * c + c_in * c) * size * size
            depth += 2
        sizes.append(size)
        for op in edges:
            k = KERNELS.get(op)
            if k:
                params += cells_per_stage * (k * k * c * c + 2 * c)
                macs += cells_per_stage * k * k * c * c * size * size
        depth += cells_per_stage * cell_depth
    params += 2 * c + c * num_classes + num_classes  # head BN and linear
    macs += c * num_classes
    return NB201Shape(params, macs, depth + 1, tuple(sizes))


def _cell_depth(edges: Sequence[str]) -> int:
    """Weighted layers on the cell's longest input-output path of non-`none` edges (0 if none)."""
    longest: dict[int, int] = {0: 0}
    for (t, s), op in zip(EDGES, edges, strict=True):
        if op != "none" and s in longest:
            longest[t] = max(longest.get(t, 0), longest[s] + (op in KERNELS))
    return longest.get(NUM_NODES - 1, 0)
