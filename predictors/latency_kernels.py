"""An architecture as the kernels its forward pass runs (nn-Meter's unit of latency prediction).

A kernel is a type and a flat dict of plain numbers: the op's configuration and its input shape
(batch excluded: the profile fixes it). `kernels(space, arch, ...)` walks `space.graph(arch)`
(node / edge attributes name the ops; the space's shape analysis gives widths and resolutions);
`kernel_module` builds a kernel alone, with its inputs, so it can be timed. Kernels that run no
computation (a one-input concatenation, an identity without ReLU) are left out.

Dense space types: stem, transition, merge (concat / sum / mean with its align rule), op (conv
with optional bottleneck, pre or post order; or a ReLU), head. NAS-Bench-201 types: cell_op (one
edge's op at C channels and resolution r; `none` is a multiply by zero, as the network runs it),
cell_sum (a node adding its n inputs) and fixed (stem, reductions and head: the network with no cells).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

Kernel = tuple[str, tuple[tuple[str, Any], ...]]  # (type, sorted (feature, value) pairs): hashable

MERGE_KINDS = ("concat", "sum", "mean")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
WIDTH_BANDS = (16, 32, 64, math.inf)  # output-width bands of plain convolutions in the correction
# The numeric features a kernel model of each type sees, in order (log sizes are added by `features`).
FEATURES: dict[str, tuple[str, ...]] = {
    "stem": ("cin", "cout", "k", "bn_relu", "r"),
    "transition": ("kind", "cin", "cout", "r"),
    "merge": ("kind", "project", "n", "sum_w", "max_w", "out_w", "r", "max_r", "n_proj", "n_sub", "n_pad"),
    "op": ("conv", "pre", "relu", "w_in", "bottleneck", "width", "k", "dilation", "groups", "stride", "r"),
    "head": ("c", "classes", "bn_relu", "r"),
    "cell_op": ("op", "c", "r"),
    "cell_sum": ("n", "c", "r"),
    "fixed": ("c", "cells", "r", "cin", "classes"),
}


def kernel(kind: str, /, **values: Any) -> Kernel:
    assert set(values) >= set(FEATURES[kind]), (kind, values)
    return kind, tuple(sorted((k, v) for k, v in values.items()))


def kernels(space: Any, arch: Any, num_classes: int, in_channels: int, input_size: int) -> list[Kernel]:
    """The kernels of one architecture, in execution order (repeats kept: they all run)."""
    name = getattr(space, "name", None)
    if name not in DECOMPOSE:
        raise ValueError(f"no kernel decomposition for space {name!r} (known: {', '.join(DECOMPOSE)}); "
                         "measure its latency with `nas latency measure` instead")
    return DECOMPOSE[name](space, arch, num_classes, in_channels, input_size)


def category(k: Kernel) -> str:
    """The kernel's group in the network-level correction, each group with its own learned weight:
    its type; NB201 cell ops by op; convolutions split by the slow paths (dilated, grouped) and
    plain ones by kernel (1x1 or larger) and output width band, so a network that repeats one kind
    of convolution dozens of times (a ResNet) is corrected by that kind's weight, not the average's."""
    kind, pairs = k
    d = dict(pairs)
    if kind == "cell_op":
        return f"cell_op:{NB201_OPS[int(d['op'])]}"
    if kind != "op":
        return kind
    if not d["conv"]:
        return "op:relu"
    if d["dilation"] > 1 or d["groups"] > 1:
        return "op:dilated" if d["dilation"] > 1 else "op:grouped"
    band = next(b for b in WIDTH_BANDS if d["width"] <= b)
    return f"op:conv{'1' if d['k'] == 1 else 'k'}:w{band if band < math.inf else 'max'}"


def features(k: Kernel) -> list[float]:
    """The model's input for a kernel: its configuration plus log MACs, input and output sizes."""
    kind, pairs = k
    d = dict(pairs)
    macs, n_in, n_out = _sizes(kind, d)
    return [float(d[f]) for f in FEATURES[kind]] + [math.log1p(macs), math.log1p(n_in), math.log1p(n_out)]


# --- the dense space ------------------------------------------------------------------------------
def _dense(space: Any, arch: Any, num_classes: int, in_channels: int, input_size: int) -> list[Kernel]:
    geno = space.parse(arch)
    shape = space.shape(arch, num_classes, in_channels, input_size)
    g = space.graph(arch)
    out: list[Kernel] = [kernel("stem", cin=in_channels, cout=geno.stem.channels, k=geno.stem.kernel,
                                bn_relu=int(geno.stem.bn_relu), r=input_size)]
    prev_c, prev_r = geno.stem.channels, input_size
    for s, st in enumerate(shape.stages, start=1):
        w, r = st.widths, st.sizes
        t = g.nodes[(s, 0)]
        if t["type"] != "none":
            kind = ("maxpool", "avgpool", "dense").index(t["type"])
            out.append(kernel("transition", kind=kind, cin=prev_c, cout=w[0], r=prev_r))
        n_nodes = len(w) - 2
        for i in range(1, n_nodes + 2):
            is_out = i == n_nodes + 1
            attrs = g.nodes[(s, "out") if is_out else (s, i)]
            ins = sorted(j for j, _ in g.in_edges((s, "out") if is_out else (s, i)))
            ins = [j[1] for j in ins]
            ws, rs = [w[j] for j in ins], [r[j] for j in ins]
            kind = attrs["merge"]
            w_in = sum(ws) if kind == "concat" else max(ws)
            r_in = min(rs)
            align = attrs.get("align", geno.stages[s - 1].output.align)
            if not (kind == "concat" and len(ins) == 1):
                out.append(_merge_kernel(kind, align, ws, rs, w_in, r_in))
            if is_out:
                continue
            if attrs["type"] == "identity":
                if attrs["relu"]:
                    out.append(kernel("op", conv=0, pre=0, relu=1, w_in=w_in, bottleneck=0, width=w_in, k=0,
                                      dilation=1, groups=1, stride=1, r=r_in))
                continue
            out.append(kernel("op", conv=1, pre=int(attrs["order"] == "pre"), relu=int(attrs["relu"]), w_in=w_in,
                              bottleneck=attrs["bottleneck"], width=attrs["width"], k=attrs["kernel"],
                              dilation=attrs["dilation"], groups=attrs["groups"], stride=attrs["stride"], r=r_in))
        prev_c, prev_r = w[-1], r[-1]
    out.append(kernel("head", c=prev_c, classes=num_classes, bn_relu=int(geno.head_bn_relu), r=prev_r))
    return out


def _merge_kernel(kind: str, align: str, ws: list[int], rs: list[int], w_out: int, r_out: int) -> Kernel:
    differs = [(wi != w_out or ri != r_out) for wi, ri in zip(ws, rs)]
    project = int(kind != "concat" and align == "project")
    n_proj = sum(differs) if project else 0
    n_sub = 0 if project or kind == "concat" else sum(ri != r_out for ri in rs)
    n_pad = 0 if project or kind == "concat" else sum(wi != w_out for wi in ws)
    return kernel("merge", kind=MERGE_KINDS.index(kind), project=project, n=len(ws), sum_w=sum(ws), max_w=max(ws),
                  out_w=w_out, r=r_out, max_r=max(rs), n_proj=n_proj, n_sub=n_sub, n_pad=n_pad,
                  widths=tuple(ws), sizes=tuple(rs))


# --- NAS-Bench-201 --------------------------------------------------------------------------------
def _nb201(space: Any, arch: Any, num_classes: int, in_channels: int, input_size: int) -> list[Kernel]:
    g = space.graph(arch)
    nodes = sorted(g.nodes)
    ops = {(s, t): g.edges[s, t]["op"] for s, t in g.edges}
    out = [kernel("fixed", c=space.channels, cells=space.cells_per_stage, r=input_size, cin=in_channels,
                  classes=num_classes)]
    c, r = space.channels, input_size
    for stage in range(3):
        if stage:
            c, r = 2 * c, r // 2
        for t in nodes[1:]:
            for s in nodes[:nodes.index(t)]:  # an edge the graph leaves out is `none`: a multiply by zero
                op = ops.get((s, t), "none")
                out += [kernel("cell_op", op=NB201_OPS.index(op), c=c, r=r)] * space.cells_per_stage
            out += [kernel("cell_sum", n=nodes.index(t), c=c, r=r)] * space.cells_per_stage
    return out


DECOMPOSE: dict[str, Callable[..., list[Kernel]]] = {"dense": _dense, "nb201": _nb201}


def traffic(k: Kernel) -> float:
    """Input plus output elements of one sample through the kernel."""
    _, n_in, n_out = _sizes(k[0], {n: v for n, v in k[1] if not isinstance(v, tuple)})
    return n_in + n_out


# --- sizes and modules ----------------------------------------------------------------------------
def _sizes(kind: str, d: dict[str, float]) -> tuple[float, float, float]:
    """(MACs, input elements, output elements) of one sample through the kernel."""
    r = d.get("r", 1.0)
    if kind == "stem":
        return d["cin"] * d["cout"] * d["k"] ** 2 * r * r, d["cin"] * r * r, d["cout"] * r * r
    if kind == "transition":
        return d["cin"] * d["cout"] * r * r, d["cin"] * r * r, d["cout"] * (r // 2) ** 2
    if kind == "merge":
        return d["n_proj"] * d["max_w"] * d["out_w"] * r * r, d["sum_w"] * d["max_r"] ** 2, d["out_w"] * r * r
    if kind == "op":
        ro = -(-r // d["stride"])
        cin = d["bottleneck"] or d["w_in"]
        macs = d["w_in"] * d["bottleneck"] * r * r + cin * d["width"] / d["groups"] * d["k"] ** 2 * ro * ro
        return macs * d["conv"], d["w_in"] * r * r, d["width"] * ro * ro
    if kind == "head":
        return d["c"] * d["classes"], d["c"] * r * r, d["classes"]
    if kind == "cell_op":
        k = {2: 1, 3: 9}.get(int(d["op"]), 0)
        return k * d["c"] ** 2 * r * r, d["c"] * r * r, d["c"] * r * r
    if kind == "cell_sum":
        return 0.0, d["n"] * d["c"] * r * r, d["c"] * r * r
    return d["c"] * d["cin"] * 9 * r * r, d["cin"] * r * r, d["classes"]


def kernel_module(k: Kernel, batch_size: int) -> tuple[Any, Callable[[Any, Any], Any]]:
    """(module, make_inputs(device, dtype) -> the module's call arguments) for timing a kernel alone."""
    import torch
    from torch import nn

    kind, pairs = k
    d = {key: v for key, v in pairs if not isinstance(v, tuple)}
    b = batch_size

    def images(c: int, r: int) -> Callable[[Any, Any], Any]:
        return lambda device, dtype: (torch.randn(b, c, r, r, device=device, dtype=dtype),)

    if kind in ("stem", "transition", "op", "head", "merge"):
        from search_spaces.dense.builder import Merger, bn_relu, conv2d, op_parts, transition
        from search_spaces.dense.genotype import Merge, Op, Transition
    if kind == "stem":
        layers = [conv2d(d["cin"], d["cout"], d["k"])] + (bn_relu(d["cout"]) if d["bn_relu"] else [])
        return nn.Sequential(*layers), images(d["cin"], d["r"])
    if kind == "transition":
        t = Transition(("maxpool", "avgpool", "dense")[d["kind"]], 0.5)
        return transition(t, d["cin"], d["cout"]), images(d["cin"], d["r"])
    if kind == "op":
        if d["conv"]:
            op = Op("conv", bool(d["relu"]), d["width"], d["k"], d["dilation"], d["groups"], d["stride"],
                    d["bottleneck"], "pre" if d["pre"] else "post")
        else:
            op = Op("identity", True)
        return nn.Sequential(*op_parts(op, d["w_in"])), images(d["w_in"], d["r"])
    if kind == "head":
        layers = (bn_relu(d["c"]) if d["bn_relu"] else []) + [nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                                nn.Linear(d["c"], d["classes"])]
        return nn.Sequential(*layers), images(d["c"], d["r"])
    if kind == "merge":
        n = d["n"]
        ws, rs = list(dict(pairs)["widths"]), list(dict(pairs)["sizes"])
        merge = Merge(tuple(range(n)), MERGE_KINDS[d["kind"]], "project" if d["project"] else "pad")
        module = Merger(merge, tuple(ws), tuple(rs), d["out_w"], d["r"])

        def feats(device: Any, dtype: Any) -> Any:
            return ([torch.randn(b, wi, ri, ri, device=device, dtype=dtype) for wi, ri in zip(ws, rs)],)
        return module, feats
    from search_spaces.nb201.network import NB201Network, make_op

    if kind == "cell_op":
        return make_op(NB201_OPS[d["op"]], d["c"]), images(d["c"], d["r"])
    if kind == "cell_sum":
        n = d["n"]

        class NodeSum(nn.Module):  # `Cell.forward`'s Python `sum` over a node's n inputs
            def forward(self, x: Any) -> Any:
                return sum(x for _ in range(n))
        return NodeSum(), images(d["c"], d["r"])
    net = NB201Network(["none"] * 6, d["classes"], d["cin"], d["r"], d["c"], 0)
    return net, images(d["cin"], d["r"])
