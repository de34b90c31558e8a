"""The dense DAG space's genotype: typed, validated, JSON round-trip.

Semantics (the builder and the shape analysis both follow this):
- network: stem -> stages -> head. Stem: k x k conv (stride 1) to `channels`, then BN-ReLU if
  `bn_relu`. Head: BN-ReLU if `bn_relu`, then global average pooling and a linear classifier.
- stage: `transition` on the previous stage's output gives node 0; then nodes 1..n in order;
  the stage output merges `output.inputs`. Transitions: `none`; `maxpool` / `avgpool` (2x2,
  stride 2); `dense` (DenseNet: BN-ReLU-1x1 conv to floor(compression * C) channels, 2x2 avg pool).
- node: merge its inputs, then apply its op.
  merge `concat` stacks channels (inputs must share a resolution); `sum` / `mean` combine
  element-wise after aligning every input to the widest width and the lowest resolution:
  align `pad` subsamples (x[..., ::f, ::f]) and zero-pads channels (ResNet option A); align
  `project` uses a strided 1x1 conv + BN on each input that differs (ResNet option B).
- op `conv`: optional 1x1 bottleneck to `bottleneck` channels, then a k x k conv (`stride`,
  `dilation`, `groups`, same padding) to `width`. Order `pre` is BN-ReLU-conv for each conv
  (DenseNet); order `post` is conv-BN-ReLU for each conv, the ReLU after the last conv only if
  `relu` (ResNet adds first, then applies ReLU in an `identity` node).
  Op `identity`: passes the merged tensor on, with a ReLU if `relu`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MERGES = ("concat", "sum", "mean")
ALIGNS = ("pad", "project")
ORDERS = ("pre", "post")
TRANSITIONS = ("none", "maxpool", "avgpool", "dense")
OP_TYPES = ("conv", "identity")

MAX_STAGES = 12
MAX_NODES = 512
MAX_WIDTH = 8192
MAX_KERNEL = 11
MAX_DILATION = 8
MAX_CHANNELS = 65536


@dataclass(frozen=True)
class Op:
    type: str
    relu: bool
    width: int = 0
    kernel: int = 0
    dilation: int = 1
    groups: int = 1
    stride: int = 1
    bottleneck: int = 0
    order: str = "post"

    def to_dict(self) -> dict[str, Any]:
        if self.type == "identity":
            return {"type": "identity", "relu": self.relu}
        return {"type": "conv", "width": self.width, "kernel": self.kernel, "dilation": self.dilation,
                "groups": self.groups, "stride": self.stride, "bottleneck": self.bottleneck,
                "order": self.order, "relu": self.relu}


@dataclass(frozen=True)
class Merge:
    inputs: tuple[int, ...]
    merge: str
    align: str

    def to_dict(self) -> dict[str, Any]:
        return {"inputs": list(self.inputs), "merge": self.merge, "align": self.align}


@dataclass(frozen=True)
class Node:
    inputs: Merge
    op: Op

    def to_dict(self) -> dict[str, Any]:
        return {**self.inputs.to_dict(), "op": self.op.to_dict()}


@dataclass(frozen=True)
class Transition:
    type: str
    compression: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        if self.type == "dense":
            return {"type": "dense", "compression": self.compression}
        return {"type": self.type}


@dataclass(frozen=True)
class Stage:
    transition: Transition
    nodes: tuple[Node, ...]
    output: Merge

    def to_dict(self) -> dict[str, Any]:
        return {"transition": self.transition.to_dict(), "nodes": [n.to_dict() for n in self.nodes],
                "output": self.output.to_dict()}


@dataclass(frozen=True)
class Stem:
    channels: int
    kernel: int
    bn_relu: bool

    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "kernel": self.kernel, "bn_relu": self.bn_relu}


@dataclass(frozen=True)
class DenseGenotype:
    stem: Stem
    stages: tuple[Stage, ...]
    head_bn_relu: bool

    def to_dict(self) -> dict[str, Any]:
        return {"stem": self.stem.to_dict(), "stages": [s.to_dict() for s in self.stages],
                "head": {"bn_relu": self.head_bn_relu}}

    @classmethod
    def from_dict(cls, data: Any) -> DenseGenotype:
        d = _obj(data, "genotype", {"stem", "stages", "head"})
        stem_d = _obj(d["stem"], "stem", {"channels", "kernel", "bn_relu"})
        stem = Stem(_int(stem_d["channels"], "stem.channels", 1, MAX_WIDTH),
                    _kernel(stem_d["kernel"], "stem.kernel"), _bool(stem_d["bn_relu"], "stem.bn_relu"))
        stages_d = d["stages"]
        if not isinstance(stages_d, list) or not 1 <= len(stages_d) <= MAX_STAGES:
            raise ValueError(f"genotype.stages must be a list of 1 to {MAX_STAGES} stages")
        stages = tuple(_stage(s, f"stage {i + 1}") for i, s in enumerate(stages_d))
        head = _obj(d["head"], "head", {"bn_relu"})
        geno = cls(stem, stages, _bool(head["bn_relu"], "head.bn_relu"))
        stage_widths(geno)  # width and grouping checks
        return geno


def _obj(value: Any, where: str, keys: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a JSON object with keys {sorted(keys)}")
    missing, extra = keys - set(value), set(value) - keys
    if missing or extra:
        parts = ([f"missing {sorted(missing)}"] if missing else []) + ([f"unknown {sorted(extra)}"] if extra else [])
        raise ValueError(f"{where}: {', '.join(parts)} (expected keys {sorted(keys)})")
    return value


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{where} = {value} is out of range; use {lo} to {hi}")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where} must be true or false, got {value!r}")
    return value


def _choice(value: Any, where: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{where} = {value!r} is unknown; use one of {', '.join(choices)}")
    return value


def _kernel(value: Any, where: str) -> int:
    k = _int(value, where, 1, MAX_KERNEL)
    if k % 2 == 0:
        raise ValueError(f"{where} = {k} must be odd (same padding needs an odd kernel)")
    return k


def _merge(value: dict[str, Any], where: str, index: int) -> Merge:
    inputs = value["inputs"]
    if not isinstance(inputs, list) or not inputs:
        raise ValueError(f"{where}.inputs must be a non-empty list of earlier node indices")
    ints = [_int(i, f"{where}.inputs", 0, MAX_NODES) for i in inputs]
    for i in ints:
        if i >= index:
            raise ValueError(f"{where} reads node {i}, which is not an earlier node (a node may only read "
                             f"nodes 0..{index - 1}; reading later nodes would make a cycle)")
    if len(set(ints)) != len(ints) or ints != sorted(ints):
        raise ValueError(f"{where}.inputs must be sorted and without repeats, got {ints}")
    return Merge(tuple(ints), _choice(value["merge"], f"{where}.merge", MERGES),
                 _choice(value["align"], f"{where}.align", ALIGNS))


def _op(value: Any, where: str) -> Op:
    if not isinstance(value, dict) or value.get("type") not in OP_TYPES:
        got = value.get("type") if isinstance(value, dict) else value
        raise ValueError(f"{where}.type = {got!r} is unknown; use one of {', '.join(OP_TYPES)}")
    if value["type"] == "identity":
        d = _obj(value, where, {"type", "relu"})
        return Op("identity", _bool(d["relu"], f"{where}.relu"))
    d = _obj(value, where, {"type", "width", "kernel", "dilation", "groups", "stride", "bottleneck", "order", "relu"})
    return Op("conv", _bool(d["relu"], f"{where}.relu"), width=_int(d["width"], f"{where}.width", 1, MAX_WIDTH),
              kernel=_kernel(d["kernel"], f"{where}.kernel"),
              dilation=_int(d["dilation"], f"{where}.dilation", 1, MAX_DILATION),
              groups=_int(d["groups"], f"{where}.groups", 1, MAX_WIDTH),
              stride=_int(d["stride"], f"{where}.stride", 1, 2),
              bottleneck=_int(d["bottleneck"], f"{where}.bottleneck", 0, MAX_WIDTH),
              order=_choice(d["order"], f"{where}.order", ORDERS))


def _stage(value: Any, where: str) -> Stage:
    d = _obj(value, where, {"transition", "nodes", "output"})
    t = d["transition"]
    if not isinstance(t, dict) or t.get("type") not in TRANSITIONS:
        got = t.get("type") if isinstance(t, dict) else t
        raise ValueError(f"{where}.transition.type = {got!r} is unknown; use one of {', '.join(TRANSITIONS)}")
    if t["type"] == "dense":
        td = _obj(t, f"{where}.transition", {"type", "compression"})
        c = td["compression"]
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 1:
            raise ValueError(f"{where}.transition.compression = {c!r} must be a number in (0, 1]")
        transition = Transition("dense", float(c))
    else:
        transition = Transition(_obj(t, f"{where}.transition", {"type"})["type"])
    nodes_d = d["nodes"]
    if not isinstance(nodes_d, list) or not 1 <= len(nodes_d) <= MAX_NODES:
        raise ValueError(f"{where}.nodes must be a list of 1 to {MAX_NODES} nodes")
    nodes = []
    for i, nd in enumerate(nodes_d, start=1):
        nw = f"{where} node {i}"
        nd = _obj(nd, nw, {"inputs", "merge", "align", "op"})
        nodes.append(Node(_merge(nd, nw, i), _op(nd["op"], f"{nw}.op")))
    output = _merge(_obj(d["output"], f"{where}.output", {"inputs", "merge", "align"}), f"{where}.output",
                    len(nodes) + 1)
    used = set(output.inputs)
    for n in nodes:
        used.update(n.inputs.inputs)
    dead = [i for i in range(1, len(nodes) + 1) if i not in used]
    if dead:
        raise ValueError(f"{where}: node(s) {dead} feed neither a later node nor the output; "
                         "connect them or remove them")
    return Stage(transition, tuple(nodes), output)


def merged_width(merge: Merge, widths: list[int]) -> int:
    ws = [widths[i] for i in merge.inputs]
    return sum(ws) if merge.merge == "concat" else max(ws)


def transition_width(t: Transition, channels: int) -> int:
    return max(1, int(channels * t.compression)) if t.type == "dense" else channels


def stage_widths(geno: DenseGenotype) -> list[list[int]]:
    """Channel count of every node (node 0 first, the stage output last) per stage; checks
    that groups divide the channels they split."""
    channels = geno.stem.channels
    result = []
    for s, stage in enumerate(geno.stages, start=1):
        widths = [transition_width(stage.transition, channels)]
        for i, node in enumerate(stage.nodes, start=1):
            w_in = merged_width(node.inputs, widths)
            if w_in > MAX_CHANNELS:
                raise ValueError(f"stage {s} node {i} merges {w_in:,} channels; the limit is {MAX_CHANNELS:,}")
            op = node.op
            if op.type == "identity":
                widths.append(w_in)
                continue
            conv_in = op.bottleneck or w_in
            if conv_in % op.groups or op.width % op.groups:
                raise ValueError(f"stage {s} node {i}: groups={op.groups} must divide the conv's input "
                                 f"({conv_in}) and output ({op.width}) channels")
            widths.append(op.width)
        channels = merged_width(stage.output, widths)
        if channels > MAX_CHANNELS:
            raise ValueError(f"stage {s} outputs {channels:,} channels; the limit is {MAX_CHANNELS:,}")
        result.append(widths + [channels])
    return result
