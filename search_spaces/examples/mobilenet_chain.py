"""A MobileNet-like chain: the README's worked example of a custom search space.

Five inverted-residual blocks (1x1 expand, k x k depthwise, 1x1 project; a residual where shapes
match), each choosing a kernel (3, 5, 7) and an expansion (1, 3, 6): 9^5 = 59,049 networks.
Use it with `--space search_spaces.examples.mobilenet_chain:MobileNetChain`.
"""

from __future__ import annotations

import inspect

import networkx as nx
import numpy as np
from torch import nn

from search_spaces import Architecture

KERNELS, EXPANSIONS = (3, 5, 7), (1, 3, 6)
WIDTHS, STRIDES = (16, 24, 32, 64, 96), (1, 2, 1, 2, 1)


class MobileNetChain:
    name = "mobilenet_chain"

    def validate(self, arch: Architecture) -> None:
        g = arch.genotype
        blocks = g.get("blocks") if isinstance(g, dict) and set(g) == {"blocks"} else None
        if arch.space != self.name or not isinstance(blocks, list) or len(blocks) != len(WIDTHS):
            raise ValueError(f'a {self.name} genotype is {{"blocks": [{len(WIDTHS)} x {{"kernel": k, "expand": e}}]}}')
        for i, b in enumerate(blocks):
            if not isinstance(b, dict) or set(b) != {"kernel", "expand"} or b["kernel"] not in KERNELS \
                    or b["expand"] not in EXPANSIONS:
                raise ValueError(f"block {i} is {b!r}; use kernel in {KERNELS} and expand in {EXPANSIONS}")

    def _arch(self, choose) -> Architecture:  # choose(name, choices): the one definition of the space
        return Architecture(self.name, {"blocks": [
            {"kernel": choose(f"b{i}_kernel", KERNELS), "expand": choose(f"b{i}_expand", EXPANSIONS)}
            for i in range(len(WIDTHS))]})

    def sample(self, rng: np.random.Generator) -> Architecture:
        return self._arch(lambda name, choices: choices[int(rng.integers(len(choices)))])

    def suggest(self, trial) -> Architecture:  # an optuna.Trial
        return self._arch(trial.suggest_categorical)

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        blocks = arch.genotype["blocks"]
        b = blocks[int(rng.integers(len(blocks)))]
        key, choices = ("kernel", KERNELS) if rng.random() < 0.5 else ("expand", EXPANSIONS)
        others = [c for c in choices if c != b[key]]
        b[key] = others[int(rng.integers(len(others)))]
        return Architecture(self.name, {"blocks": blocks})

    def encode(self, arch: Architecture) -> np.ndarray:  # one-hot kernel and expansion per block
        return np.array([[b["kernel"] == k for k in KERNELS] + [b["expand"] == e for e in EXPANSIONS]
                         for b in arch.genotype["blocks"]], dtype=np.float32).ravel()

    def graph(self, arch: Architecture) -> nx.DiGraph:
        g = nx.DiGraph()
        nx.add_path(g, ["stem", *range(len(WIDTHS)), "head"])
        for i, b in enumerate(arch.genotype["blocks"]):
            g.nodes[i].update(b, width=WIDTHS[i], stride=STRIDES[i])
        return g

    def build(self, arch: Architecture, num_classes: int, in_channels: int, input_size: int) -> nn.Module:
        return ChainNetwork(arch.genotype["blocks"], num_classes, in_channels)

    def source(self, arch: Architecture) -> str:
        """Optional capability for `nas export --format py`: stand-alone code (only torch) defining
        `Network(num_classes, in_channels, input_size)` with the same state_dict as `build`."""
        self.validate(arch)
        code = [f"WIDTHS, STRIDES = {WIDTHS!r}, {STRIDES!r}", f"BLOCKS = {arch.genotype['blocks']!r}",
                inspect.getsource(InvertedResidual), inspect.getsource(ChainNetwork), NETWORK_SOURCE]
        return "from torch import nn\n\n\n" + "\n\n".join(code)


class ChainNetwork(nn.Sequential):
    """stem conv-BN-ReLU -> the inverted-residual blocks -> global average pool -> linear."""

    def __init__(self, blocks: list[dict], num_classes: int, in_channels: int) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        c = 16
        for b, width, stride in zip(blocks, WIDTHS, STRIDES, strict=True):
            layers.append(InvertedResidual(c, width, b["kernel"], b["expand"], stride))
            c = width
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


class InvertedResidual(nn.Module):
    def __init__(self, c_in: int, c_out: int, kernel: int, expand: int, stride: int) -> None:
        super().__init__()
        h = c_in * expand
        expand_1x1 = [] if expand == 1 else [nn.Conv2d(c_in, h, 1, bias=False), nn.BatchNorm2d(h), nn.ReLU6()]
        depthwise = [nn.Conv2d(h, h, kernel, stride, kernel // 2, groups=h, bias=False), nn.BatchNorm2d(h), nn.ReLU6()]
        project = [nn.Conv2d(h, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.body = nn.Sequential(*expand_1x1, *depthwise, *project)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):  # (B, c_in, H, W) -> (B, c_out, H / stride, W / stride)
        return x + self.body(x) if self.residual else self.body(x)


NETWORK_SOURCE = """
class Network(ChainNetwork):
    def __init__(self, num_classes: int, in_channels: int, input_size: int) -> None:
        super().__init__(BLOCKS, num_classes, in_channels)
"""
