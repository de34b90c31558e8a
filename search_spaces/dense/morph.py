"""Function-preserving transformations of a dense genotype and its trained weights (Net2Net / EAS).

Each takes a genotype (dict), the parent's `state_dict` and the build arguments, and returns the
child genotype and a `state_dict` for it whose network computes the parent's function in eval mode
(BatchNorm on running statistics), so a child can be judged by fine-tuning instead of training:
- `add_connection`: node i also reads node j (concatenated); the new input's conv weights are zero;
- `widen`: node i gets more output channels, copies of its own, whose outgoing weights are zero;
- `deepen`: a conv node initialised to the identity (dirac kernel, BatchNorm undoing its statistics)
  is inserted after node i, and node i's readers read it instead.
Indices: `stage` counts from 0, nodes from 1 (node 0 is the stage input), as in the genotype.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from search_spaces.base import Architecture
from search_spaces.dense.genotype import DenseGenotype, stage_widths
from search_spaces.dense.presets import conv

BUILD = {"num_classes": 10, "in_channels": 3, "input_size": 32}


def _build(geno: dict[str, Any], build: dict[str, int]) -> torch.nn.Module:
    from search_spaces.dense.builder import DenseNetwork

    Architecture("dense", geno)  # validates
    return DenseNetwork(DenseGenotype.from_dict(geno), **build)


def _node(geno: dict[str, Any], stage: int, i: int) -> dict[str, Any]:
    nodes = geno["stages"][stage]["nodes"]
    if not 1 <= i <= len(nodes):
        raise ValueError(f"stage {stage} has nodes 1..{len(nodes)}, not {i}")
    return nodes[i - 1]


def _prefix(stage: int, i: int) -> str:
    return f"stages.{stage}.nodes.{i - 1}."


def add_connection(geno: dict[str, Any], state: dict[str, Tensor], stage: int, i: int, j: int,
                   build: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Node i (a concatenating conv node) also reads node j < i; zero weights on the new channels."""
    build = build or BUILD
    nd = _node(geno, stage, i)
    child = connect_genotype(geno, stage, i, j)
    widths = stage_widths(DenseGenotype.from_dict(geno))[stage]
    offset, count = sum(widths[k] for k in nd["inputs"] if k < j), widths[j]

    def resized(key: str, old: Tensor, new: Tensor, dim: int) -> Tensor:
        value = new.clone() if new.dim() == 1 else torch.zeros_like(new)  # BN: fresh (1, 0, 0, 1); conv: zero
        keep = [k for k in range(new.shape[dim]) if not offset <= k < offset + count]
        return value.index_copy_(dim, torch.tensor(keep), old)

    return child, _carry(_build(child, build).state_dict(), state, resized)


def widen(geno: dict[str, Any], state: dict[str, Tensor], stage: int, i: int, width: int,
          build: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Node i (an ungrouped conv read only by concatenating ungrouped conv nodes and, in the last
    stage, by a concatenating stage output) gets `width` channels: copies of its own, with zero
    outgoing weights. (An earlier stage's output would change the next stage's widths.)"""
    build = build or BUILD
    st = geno["stages"][stage]
    child = widen_genotype(geno, stage, i, width)
    w = _node(geno, stage, i)["op"]["width"]
    widths = stage_widths(DenseGenotype.from_dict(geno))[stage]
    source = torch.arange(width) % w  # new channel c copies channel c mod w

    def resized(key: str, old: Tensor, new: Tensor, dim: int) -> Tensor:
        if key.startswith(_prefix(stage, i)):  # the node's own output channels: copies
            return old.index_select(dim, source)
        if key.startswith(("head.", "classifier.")):  # the last stage's output, read by the head
            inputs = st["output"]["inputs"]
        else:
            inputs = st["nodes"][int(key[len(f"stages.{stage}.nodes."):].split(".", 1)[0])]["inputs"]
        offset = sum(widths[m] for m in inputs if m < i)
        index = torch.arange(new.shape[dim])
        index = torch.where(index < offset + w, index, index - (width - w))  # later inputs move up
        grown = torch.arange(new.shape[dim])
        is_new = (grown >= offset + w) & (grown < offset + width)
        index = torch.where(is_new, offset + (grown - offset) % w, index)
        value = old.index_select(dim, index)
        if new.dim() > 1:  # a conv reading the new channels: zero weights keep the function
            value.index_fill_(dim, grown[is_new], 0.0)
        return value

    return child, _carry(_build(child, build).state_dict(), state, resized)


def deepen(geno: dict[str, Any], state: dict[str, Tensor], stage: int, i: int, kernel: int = 3,
           build: dict[str, int] | None = None) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """Insert an identity-initialised conv node after node i; node i's readers read it instead."""
    build = build or BUILD
    width = stage_widths(DenseGenotype.from_dict(geno))[stage][i]
    child = deepen_genotype(geno, stage, i, kernel)
    prefix = f"stages.{stage}.nodes."
    renamed = {}
    for key, value in state.items():
        if key.startswith(prefix):
            k, rest = key[len(prefix):].split(".", 1)
            key = f"{prefix}{int(k) + 1 if int(k) >= i else int(k)}.{rest}"
        renamed[key] = value
    fresh = _build(child, build).state_dict()
    out = {key: renamed[key].clone() if key in renamed else value.clone() for key, value in fresh.items()}
    new = f"{prefix}{i}.rest."
    weight = torch.zeros_like(out[new + "0.weight"])
    torch.nn.init.dirac_(weight)
    out[new + "0.weight"] = weight
    bn = torch.nn.BatchNorm2d(width)
    out[new + "1.running_mean"] = torch.zeros(width)
    out[new + "1.running_var"] = torch.ones(width)
    out[new + "1.weight"] = torch.full((width,), (1.0 + bn.eps) ** 0.5)
    out[new + "1.bias"] = torch.zeros(width)
    return child, out


def connect_genotype(geno: dict[str, Any], stage: int, i: int, j: int) -> dict[str, Any]:
    """`add_connection`'s child genotype (no weights); `ValueError` when the transformation does not apply."""
    nd = _node(geno, stage, i)
    if nd["merge"] != "concat" or nd["op"]["type"] != "conv" or nd["op"]["groups"] != 1:
        raise ValueError("add_connection needs a concatenating, ungrouped conv node")
    if not 0 <= j < i or j in nd["inputs"]:
        raise ValueError(f"node {i} already reads node {j} or {j} is not an earlier node")
    child = copy.deepcopy(geno)
    _node(child, stage, i)["inputs"] = sorted([*nd["inputs"], j])
    return child


def widen_genotype(geno: dict[str, Any], stage: int, i: int, width: int) -> dict[str, Any]:
    """`widen`'s child genotype (no weights); `ValueError` when the transformation does not apply."""
    nd = _node(geno, stage, i)
    st = geno["stages"][stage]
    readers = [k for k, n in enumerate(st["nodes"], start=1) if i in n["inputs"]]
    to_head = i in st["output"]["inputs"]
    if nd["op"]["type"] != "conv" or nd["op"]["groups"] != 1 or any(
            st["nodes"][k - 1]["merge"] != "concat" or st["nodes"][k - 1]["op"]["type"] != "conv"
            or st["nodes"][k - 1]["op"]["groups"] != 1 for k in readers) or (
            to_head and (stage != len(geno["stages"]) - 1 or st["output"]["merge"] != "concat")):
        raise ValueError("widen needs an ungrouped conv node read only by concatenating ungrouped conv nodes "
                         "(or, in the last stage, by a concatenating output)")
    if width <= nd["op"]["width"]:
        raise ValueError(f"widen to more than the node's {nd['op']['width']} channels")
    child = copy.deepcopy(geno)
    _node(child, stage, i)["op"]["width"] = width
    return child


def deepen_genotype(geno: dict[str, Any], stage: int, i: int, kernel: int = 3) -> dict[str, Any]:
    """`deepen`'s child genotype (no weights): an identity-initialisable conv node after node i."""
    _node(geno, stage, i)
    width = stage_widths(DenseGenotype.from_dict(geno))[stage][i]
    child = copy.deepcopy(geno)
    st = child["stages"][stage]

    def moved(k: int) -> int:
        return k + 1 if k >= i else k  # node i's readers read the new node i + 1

    for n in st["nodes"]:
        n["inputs"] = [moved(k) for k in n["inputs"]]
    st["output"]["inputs"] = [moved(k) for k in st["output"]["inputs"]]
    st["nodes"].insert(i, {"inputs": [i], "merge": "concat", "align": "pad", "op": conv(width, kernel, relu=False)})
    return child


def _carry(fresh: dict[str, Tensor], state: dict[str, Tensor],
           resized: Callable[[str, Tensor, Tensor, int], Tensor]) -> dict[str, Tensor]:
    """The parent's `state` in the child's shapes (`fresh`): unchanged tensors copied, each resized one
    (`key`, old, new, the dimension that changed) from `resized`."""
    out = {}
    for key, new in fresh.items():
        old = state[key]
        if old.shape == new.shape:
            out[key] = old.clone()
        else:
            out[key] = resized(key, old, new, next(d for d in range(new.dim()) if new.shape[d] != old.shape[d]))
    return out
