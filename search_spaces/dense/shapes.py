"""Static analysis of a dense genotype at an input size: resolutions, parameters, MACs, depth.

Pure Python (no torch), so describe, sampling under a parameter limit and encodings are cheap;
a test checks it against the built modules.
"""

from __future__ import annotations

from dataclasses import dataclass

from search_spaces.dense.genotype import DenseGenotype, Merge, Stage, merged_width, stage_widths


@dataclass(frozen=True)
class StageShape:
    widths: tuple[int, ...]  # node 0 .. node n, then the stage output
    sizes: tuple[int, ...]  # spatial size of the same


@dataclass(frozen=True)
class NetworkShape:
    params: int
    macs: int
    depth: int  # conv and linear layers on the longest input-to-output path
    stages: tuple[StageShape, ...]


def conv_params(cin: int, cout: int, k: int, groups: int = 1) -> int:
    return cout * (cin // groups) * k * k


def merge_size(merge: Merge, sizes: list[int], where: str) -> int:
    """The merged spatial size; raises when the inputs cannot be aligned."""
    ins = [sizes[i] for i in merge.inputs]
    target = min(ins)
    if merge.merge == "concat" and len(set(ins)) > 1:
        raise ValueError(f"{where} concatenates inputs at different resolutions {sorted(set(ins))}; "
                         "use merge 'sum' or 'mean' (which align resolutions), or read same-resolution nodes")
    for r in ins:
        f = max(1, round(r / target))
        if -(-r // f) != target:
            raise ValueError(f"{where}: cannot align resolution {r} to {target} by striding; "
                             "use an even input size")
    return target


def align_cost(merge: Merge, widths: list[int], sizes: list[int], target_w: int, target_r: int) -> tuple[int, int]:
    """Params and MACs of the 1x1 projections that align a sum/mean's inputs."""
    if merge.merge == "concat" or merge.align != "project":
        return 0, 0
    params = macs = 0
    for i in merge.inputs:
        if widths[i] != target_w or sizes[i] != target_r:
            params += conv_params(widths[i], target_w, 1) + 2 * target_w
            macs += conv_params(widths[i], target_w, 1) * target_r * target_r
    return params, macs


def analyze(geno: DenseGenotype, num_classes: int = 10, in_channels: int = 3, input_size: int = 32) -> NetworkShape:
    if input_size < 1:
        raise ValueError(f"input size must be positive, got {input_size}")
    stem = geno.stem
    params = conv_params(in_channels, stem.channels, stem.kernel) + (2 * stem.channels if stem.bn_relu else 0)
    macs = conv_params(in_channels, stem.channels, stem.kernel) * input_size * input_size
    depth, size, stages, prev = 1, input_size, [], stem.channels
    all_widths = stage_widths(geno)
    for s, (stage, widths) in enumerate(zip(geno.stages, all_widths), start=1):
        p, m, d, sizes = _stage(stage, widths, prev, size, f"stage {s}")
        params, macs, depth = params + p, macs + m, depth + d
        size, prev = sizes[-1], widths[-1]
        stages.append(StageShape(tuple(widths), tuple(sizes)))
    c = all_widths[-1][-1]
    params += (2 * c if geno.head_bn_relu else 0) + c * num_classes + num_classes
    macs += c * num_classes
    return NetworkShape(params, macs, depth + 1, tuple(stages))


def _stage(stage: Stage, widths: list[int], prev: int, size: int, where: str) -> tuple[int, int, int, list[int]]:
    t = stage.transition
    params = macs = 0
    depth0 = 0
    if t.type != "none":
        if size < 2:
            raise ValueError(f"{where}: the {t.type} transition would pool a {size}x{size} map; the "
                             "network downsamples more than the input size allows (use a larger input size)")
        if t.type == "dense":
            params += 2 * prev + conv_params(prev, widths[0], 1)
            macs += conv_params(prev, widths[0], 1) * size * size
            depth0 = 1
        size //= 2
    sizes = [size]
    depth = [depth0]
    for i, node in enumerate(stage.nodes, start=1):
        nw = f"{where} node {i}"
        r = merge_size(node.inputs, sizes, nw)
        w_in = merged_width(node.inputs, widths)
        p, m = align_cost(node.inputs, widths, sizes, w_in, r)
        params, macs = params + p, macs + m
        d = max(depth[j] for j in node.inputs.inputs)
        op = node.op
        if op.type == "conv":
            conv_in = op.bottleneck or w_in
            if op.bottleneck:
                params += conv_params(w_in, op.bottleneck, 1) + 2 * (w_in if op.order == "pre" else op.bottleneck)
                macs += conv_params(w_in, op.bottleneck, 1) * r * r
                d += 1
            if r < op.stride:  # a padded strided conv would keep 1x1 at 1x1: no downsampling happens
                raise ValueError(f"{nw}: a stride-{op.stride} conv on a {r}x{r} map; the network downsamples "
                                 "more than the input size allows (use a larger input size)")
            r_out = -(-r // op.stride)
            params += conv_params(conv_in, op.width, op.kernel, op.groups)
            params += 2 * (conv_in if op.order == "pre" else op.width)
            macs += conv_params(conv_in, op.width, op.kernel, op.groups) * r_out * r_out
            r, d = r_out, d + 1
        sizes.append(r)
        depth.append(d)
    out = stage.output
    r = merge_size(out, sizes, f"{where} output")
    p, m = align_cost(out, widths, sizes, widths[-1], r)
    sizes.append(r)
    return params + p, macs + m, max(depth[j] for j in out.inputs), sizes

