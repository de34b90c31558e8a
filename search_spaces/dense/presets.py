"""Published networks as data: each preset is a genotype of the dense space, not a code path.

Names: resnet-<depth>, densenet-<L>-<k>, densenet-bc-<L>-<k>, fractalnet-<C>-<B>,
hardnet-<layers>-<k>, vovnet-<layers>-<width>.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from search_spaces.registry import unknown_name_message


def conv(width: int, kernel: int = 3, *, order: str = "post", relu: bool = True, stride: int = 1,
         bottleneck: int = 0, dilation: int = 1, groups: int = 1) -> dict[str, Any]:
    return {"type": "conv", "width": width, "kernel": kernel, "dilation": dilation, "groups": groups,
            "stride": stride, "bottleneck": bottleneck, "order": order, "relu": relu}


def identity(relu: bool = False) -> dict[str, Any]:
    return {"type": "identity", "relu": relu}


def node(inputs: list[int], op: dict[str, Any], merge: str = "concat", align: str = "pad") -> dict[str, Any]:
    return {"inputs": inputs, "merge": merge, "align": align, "op": op}


def output(inputs: list[int], merge: str = "concat", align: str = "pad") -> dict[str, Any]:
    return {"inputs": inputs, "merge": merge, "align": align}


def genotype(stem: int, stages: list[dict[str, Any]], *, stem_bn_relu: bool, head_bn_relu: bool) -> dict[str, Any]:
    return {"stem": {"channels": stem, "kernel": 3, "bn_relu": stem_bn_relu}, "stages": stages,
            "head": {"bn_relu": head_bn_relu}}


def resnet(depth: int, shortcut: str = "pad") -> dict[str, Any]:
    """CIFAR ResNet (He et al. 2016): 3 stages of n basic blocks, 16/32/64 channels; a block is
    conv-BN-ReLU, conv-BN, add the shortcut, ReLU (3 nodes)."""
    if (depth - 2) % 6 or depth < 8:
        raise ValueError(f"ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    n = (depth - 2) // 6
    stages = []
    for s, width in enumerate((16, 32, 64)):
        nodes: list[dict[str, Any]] = []
        for b in range(n):
            x = 3 * b  # index of the block input
            stride = 2 if s > 0 and b == 0 else 1
            nodes.append(node([x], conv(width, stride=stride)))
            nodes.append(node([x + 1], conv(width, relu=False)))
            nodes.append(node([x, x + 2], identity(relu=True), merge="sum", align=shortcut))
        stages.append({"transition": {"type": "none"}, "nodes": nodes, "output": output([3 * n])})
    return genotype(16, stages, stem_bn_relu=True, head_bn_relu=False)


def densenet(depth: int, growth: int, bc: bool = False) -> dict[str, Any]:
    """DenseNet (Huang et al. 2017) for CIFAR: 3 dense blocks; BC adds 4k bottlenecks and
    compression 0.5."""
    per_block = (depth - 4) // (6 if bc else 3)
    if per_block < 1 or (depth - 4) % (6 if bc else 3):
        raise ValueError(f"DenseNet{'-BC' if bc else ''} depth must be {'6' if bc else '3'}n+4, got {depth}")
    stages = []
    for s in range(3):
        nodes = [node(list(range(i)), conv(growth, order="pre", bottleneck=4 * growth if bc else 0))
                 for i in range(1, per_block + 1)]
        transition = {"type": "none"} if s == 0 else {"type": "dense", "compression": 0.5 if bc else 1.0}
        stages.append({"transition": transition, "nodes": nodes, "output": output(list(range(per_block + 1)))})
    return genotype(2 * growth if bc else 16, stages, stem_bn_relu=False, head_bn_relu=True)


def fractalnet(columns: int, blocks: int, widths: tuple[int, ...] = (64, 128, 256, 512, 512)) -> dict[str, Any]:
    """FractalNet (Larsson et al. 2017): f_1 = conv, f_{C+1}(z) = join(f_C(f_C(z)), conv(z)),
    joins are element-wise means, max pooling between blocks."""
    if not 1 <= columns <= 6 or not 1 <= blocks <= len(widths):
        raise ValueError(f"FractalNet needs 1-6 columns and 1-{len(widths)} blocks, got {columns}, {blocks}")
    stages = []
    for b in range(blocks):
        nodes = _fractal_block(columns, widths[b])
        stages.append({"transition": {"type": "none" if b == 0 else "maxpool"}, "nodes": nodes,
                       "output": output([len(nodes)])})
    return genotype(widths[0], stages, stem_bn_relu=True, head_bn_relu=False)


def _fractal_block(columns: int, width: int) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []

    def add(inputs: list[int], op: dict[str, Any], merge: str = "concat") -> int:
        nodes.append(node(inputs, op, merge=merge))
        return len(nodes)  # nodes are created after their inputs

    def join(branches: list[int]) -> int:
        return branches[0] if len(branches) == 1 else add(branches, identity(), merge="mean")

    def fractal(c: int, z: int) -> list[int]:
        if c == 1:
            return [add([z], conv(width))]
        inner = join(fractal(c - 1, z))
        return fractal(c - 1, inner) + [add([z], conv(width))]

    join(fractal(columns, 0))  # the final join is the block's last node
    return nodes


def hardnet(layers: int, growth: int, multiplier: float = 1.7,
            widths: tuple[int, ...] = (64, 96, 160)) -> dict[str, Any]:
    """HarDNet-style harmonic dense blocks (Chao et al. 2019): layer k reads layer k - 2^n for
    every 2^n dividing k; its width is growth * multiplier^n for the largest such n; the block
    outputs the odd layers and the last; a 1x1 conv + average pooling between blocks."""
    if layers < 2:
        raise ValueError(f"HarDNet needs at least 2 layers per block, got {layers}")
    stages = []
    for s in range(len(widths)):
        nodes = []
        for k in range(1, layers + 1):
            links = [k - 2**n for n in range(10) if k % 2**n == 0 and k - 2**n >= 0]
            top = max(n for n in range(10) if k % 2**n == 0)
            w = int(int(growth * multiplier**top + 1) / 2) * 2
            nodes.append(node(sorted(links), conv(w, order="post")))
        outs = sorted({k for k in range(1, layers + 1) if k % 2 == 1} | {layers})
        # every node must feed something: an even layer feeds the later layer that reads it
        transition = {"type": "none"} if s == 0 else {"type": "dense", "compression": 0.5}
        stages.append({"transition": transition, "nodes": nodes, "output": output(outs)})
    return genotype(widths[0], stages, stem_bn_relu=True, head_bn_relu=True)


def vovnet(layers: int, width: int, stages: int = 3) -> dict[str, Any]:
    """VoVNet one-shot aggregation (Lee et al. 2019): a chain of 3x3 convs whose outputs (and the
    block input) are concatenated once, at the end, by a 1x1 conv; max pooling between stages."""
    if layers < 1:
        raise ValueError(f"VoVNet needs at least 1 layer per block, got {layers}")
    stage_list = []
    for s in range(stages):
        w = width * 2**s
        nodes = [node([i], conv(w)) for i in range(layers)]
        nodes.append(node(list(range(layers + 1)), conv(2 * w, kernel=1)))
        stage_list.append({"transition": {"type": "none" if s == 0 else "maxpool"}, "nodes": nodes,
                           "output": output([layers + 1])})
    return genotype(width, stage_list, stem_bn_relu=True, head_bn_relu=False)


PATTERNS: dict[str, tuple[str, Callable[..., dict[str, Any]]]] = {
    r"resnet-(\d+)": ("resnet-20, -32, -44, -56, -110 (any 6n+2)", lambda d: resnet(d)),
    r"resnet-(\d+)-b": ("resnet-<depth>-b: projection (option B) shortcuts", lambda d: resnet(d, "project")),
    r"densenet-(\d+)-(\d+)": ("densenet-<L>-<k>, e.g. densenet-40-12", lambda d, k: densenet(d, k)),
    r"densenet-bc-(\d+)-(\d+)": ("densenet-bc-<L>-<k>, e.g. densenet-bc-100-12", lambda d, k: densenet(d, k, True)),
    r"fractalnet-(\d+)-(\d+)": ("fractalnet-<C>-<B>, e.g. fractalnet-3-5", fractalnet),
    r"hardnet-(\d+)-(\d+)": ("hardnet-<layers>-<k>, e.g. hardnet-8-16", hardnet),
    r"vovnet-(\d+)-(\d+)": ("vovnet-<layers>-<width>, e.g. vovnet-4-32", vovnet),
}
EXAMPLES = ["resnet-20", "resnet-32", "resnet-44", "resnet-56", "resnet-110", "resnet-20-b", "densenet-40-12",
            "densenet-bc-100-12", "fractalnet-3-5", "fractalnet-4-3", "hardnet-8-16", "vovnet-4-32"]
MAX_PRESET_NODES = 512


def preset_genotype(name: str) -> dict[str, Any]:
    """The genotype of a preset by name; an unknown name raises with close matches."""
    for pattern, (_, fn) in PATTERNS.items():
        m = re.fullmatch(pattern, name)
        if m:
            args = [int(g) for g in m.groups()]
            if any(a > 1000 for a in args):
                raise ValueError(f"preset {name!r}: numbers above 1000 are not sensible here")
            return fn(*args)
    raise ValueError(unknown_name_message("preset", name, EXAMPLES) + "; patterns: "
                     + "; ".join(desc for desc, _ in PATTERNS.values()))
