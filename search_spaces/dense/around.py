"""`dense?around=NAME`: a searchable sub-space that contains a given network and its neighbourhood.

NAME is a preset (`resnet-20`, `densenet-40-12`, ...) or an architecture JSON file of the dense space.
The network's stem, head, transitions, op order, bottleneck ratio and strided first convs are kept;
per stage the search chooses
- `s{s}_pattern`: how the stage's conv nodes connect: `chain`, `residual` (a chain with a sum skip
  every `s{s}_skip` convs through an identity node, as in ResNet), `dense` (every node reads all
  earlier ones), `harmonic` (HarDNet's links and widths), `osa` (a chain aggregated once by a 1x1
  conv, VoVNet), or `given` (the network's own stage, for stages no pattern reproduces);
- `s{s}_depth`: the conv count as a factor of the network's (so ResNet-56's 18 convs per stage
  scale without per-edge choices);
- `s{s}_width` (width / growth factor), `s{s}_kernel`;
- `s{s}_toggle{t}`: flip the edge from node i-2 into node i for one of the stage's last conv nodes
  (edge toggles near the pattern; a flip that would make the network invalid is skipped).
A stage whose network starts with a strided conv keeps it as an entry node that the pattern follows.
With every factor at 1 and the recognised pattern, the sub-space gives back the network itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from search_spaces.base import Architecture
from search_spaces.dense.genotype import DenseGenotype
from search_spaces.dense.presets import EXAMPLES, conv, identity, node, output, preset_genotype
from search_spaces.dense.shapes import analyze
from search_spaces.dense.space import DenseSpace, DenseSpaceConfig

PATTERNS = ("chain", "residual", "dense", "harmonic", "osa")
TOGGLES = 2


@dataclass(frozen=True)
class AroundConfig:
    around: str = "resnet-20"
    depths: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
    widths: tuple[float, ...] = (0.5, 0.75, 1.0, 1.5, 2.0)
    kernels: tuple[int, ...] = (3, 5)
    skips: tuple[int, ...] = (2, 3)
    max_params: int | None = None

    def __post_init__(self) -> None:
        for name in ("depths", "widths", "kernels", "skips"):
            if not getattr(self, name):
                raise ValueError(f"around: {name} must list at least one choice")
        if any(f <= 0 for f in (*self.depths, *self.widths)):
            raise ValueError("around: depth and width factors must be positive")
        if any(k % 2 == 0 or k < 1 for k in self.kernels):
            raise ValueError(f"around: kernels must be odd, got {self.kernels}")


def load_base(spec: str) -> dict[str, Any]:
    """The genotype `around=` names: a preset name, `preset:NAME`, or an architecture JSON file."""
    name = spec.removeprefix("preset:")
    if name.endswith(".json"):
        from nas.archfile import load_arch

        arch = load_arch(name)
        if arch.space != "dense":
            raise ValueError(f"around={spec}: the file holds a {arch.space!r} architecture; use a dense one")
        return arch.genotype
    return preset_genotype(name)


@dataclass(frozen=True)
class StageTemplate:
    """What a stage keeps from the network, and its recognised pattern."""

    convs: int  # conv nodes of the stage (the strided entry included)
    width: int
    kernel: int
    order: str
    bottleneck: float  # bottleneck width / width
    align: str
    strided: bool
    pattern: str  # recognised, or "given"
    skip: int


class AroundSpace(DenseSpace):
    """The dense space's sub-space around one network (see the module docstring)."""

    def __init__(self, config: AroundConfig | None = None, name: str = "dense") -> None:
        self.around = config or AroundConfig()
        self.base = DenseGenotype.from_dict(load_base(self.around.around)).to_dict()
        super().__init__(DenseSpaceConfig(stages=len(self.base["stages"]), max_params=self.around.max_params), name)
        self.templates: list[StageTemplate] = []
        for s, stage in enumerate(self.base["stages"]):
            self.templates.append(self._recognise(s, stage))

    # --- the sub-space ---------------------------------------------------------------------------
    def choices(self, s: int) -> dict[str, tuple]:
        t = self.templates[s]
        patterns = PATTERNS + (("given",) if t.pattern == "given" else ())
        return {f"s{s}_pattern": patterns, f"s{s}_skip": tuple(sorted({*self.around.skips, t.skip})),
                f"s{s}_depth": tuple(sorted({*self.around.depths, 1.0})),
                f"s{s}_width": tuple(sorted({*self.around.widths, 1.0})),
                f"s{s}_kernel": tuple(sorted({*self.around.kernels, t.kernel})),
                **{f"s{s}_toggle{i}": (False, True) for i in range(TOGGLES)}}

    def from_choices(self, choose: Any) -> Architecture:
        geno = {k: v for k, v in self.base.items() if k != "stages"}
        stages: list[dict[str, Any]] = []
        for s in range(len(self.templates)):
            c = self.choices(s)
            pattern = choose(f"s{s}_pattern", c[f"s{s}_pattern"])
            picked = {"pattern": pattern, "skip": self.templates[s].skip, "depth": 1.0}
            if pattern == "residual":
                picked["skip"] = choose(f"s{s}_skip", c[f"s{s}_skip"])
            if pattern != "given":
                picked["depth"] = choose(f"s{s}_depth", c[f"s{s}_depth"])
            picked["width"] = choose(f"s{s}_width", c[f"s{s}_width"])
            picked["kernel"] = choose(f"s{s}_kernel", c[f"s{s}_kernel"])
            toggles = [choose(f"s{s}_toggle{i}", (False, True)) for i in range(TOGGLES)]
            stage = self._stage(s, **picked)
            stages.append(self._toggled(geno, stages, stage, toggles))
        return Architecture(self.name, {**geno, "stages": stages})

    def params_of(self, arch: Architecture) -> dict[str, Any]:
        """The choices that give `arch` (stage by stage); raises if `arch` is outside the sub-space."""
        target = arch.genotype
        if {k: v for k, v in target.items() if k != "stages"} != {k: v for k, v in self.base.items() if k != "stages"} \
                or len(target["stages"]) != len(self.templates):
            raise ValueError(f"architecture is outside the sub-space around {self.around.around} (stem, head or "
                             "stage count differ)")
        params: dict[str, Any] = {}
        geno = {k: v for k, v in self.base.items() if k != "stages"}
        stages: list[dict[str, Any]] = []
        for s in range(len(self.templates)):
            found = self._match_stage(s, geno, stages, target["stages"][s])
            if found is None:
                raise ValueError(f"architecture is outside the sub-space around {self.around.around} (stage {s + 1})")
            params.update(found)
            stages.append(target["stages"][s])
        return params

    def _match_stage(self, s: int, geno: dict, prev: list, want: dict) -> dict[str, Any] | None:
        c = self.choices(s)
        for pattern in c[f"s{s}_pattern"]:
            skips = c[f"s{s}_skip"] if pattern == "residual" else (None,)
            depths = c[f"s{s}_depth"] if pattern != "given" else (None,)
            for skip, depth in itertools.product(skips, depths):
                for width, kernel in itertools.product(c[f"s{s}_width"], c[f"s{s}_kernel"]):
                    stage = self._stage(s, pattern, self.templates[s].skip if skip is None else skip,
                                        1.0 if depth is None else depth, width, kernel)
                    if len(stage["nodes"]) != len(want["nodes"]):
                        break  # node count is set by pattern, skip and depth alone
                    if _ops(stage) != _ops(want):
                        continue  # toggles change inputs only
                    for toggles in itertools.product((False, True), repeat=TOGGLES):
                        if self._toggled(geno, prev, stage, list(toggles)) == want:
                            p: dict[str, Any] = {f"s{s}_pattern": pattern, f"s{s}_width": width,
                                                 f"s{s}_kernel": kernel}
                            if skip is not None:
                                p[f"s{s}_skip"] = skip
                            if depth is not None:
                                p[f"s{s}_depth"] = depth
                            p.update({f"s{s}_toggle{i}": v for i, v in enumerate(toggles)})
                            return p
        return None

    def _choices_of(self, name: str) -> tuple:
        s = int(name[1:].split("_", 1)[0])
        return self.choices(s).get(name, (False, True) if "toggle" in name else ())

    def encode(self, arch: Architecture) -> np.ndarray:
        """The choices as numbers: pattern one-hot, log depth and width factors, kernel, skip, toggles."""
        p = self.params_of(arch)
        feats: list[float] = []
        for s in range(len(self.templates)):
            feats += [float(p[f"s{s}_pattern"] == q) for q in (*PATTERNS, "given")]
            feats += [math.log2(p.get(f"s{s}_depth", 1.0)), math.log2(p[f"s{s}_width"]), float(p[f"s{s}_kernel"]),
                      float(p.get(f"s{s}_skip", 0))]
            feats += [float(p[f"s{s}_toggle{i}"]) for i in range(TOGGLES)]
        return np.asarray(feats, dtype=np.float32)

    def size(self) -> int:
        """Parameter combinations (an upper bound: a skipped toggle repeats an architecture)."""
        total = 1
        for s in range(len(self.templates)):
            c = self.choices(s)
            per = 0
            for pattern in c[f"s{s}_pattern"]:
                n = len(c[f"s{s}_skip"]) if pattern == "residual" else 1
                n *= len(c[f"s{s}_depth"]) if pattern != "given" else 1
                per += n
            total *= per * len(c[f"s{s}_width"]) * len(c[f"s{s}_kernel"]) * 2**TOGGLES
        return total

    def contains(self, genotype: dict[str, Any]) -> bool:
        try:
            self.params_of(Architecture(self.name, genotype))
            return True
        except ValueError:
            return False

    def describe(self) -> dict[str, Any]:
        from dataclasses import asdict

        size = self.size()
        name = self.around.around.removeprefix("preset:")
        named = EXAMPLES + ([name] if name not in EXAMPLES and not name.endswith(".json") else [])
        presets = [p for p in named if self.contains(preset_genotype(p))]  # the network it is around, too
        return {"space": self.name, "around": self.around.around, "config": asdict(self.around), "size": size,
                "log10_size": round(math.log10(size), 2), "contains_presets": presets,
                "stage_patterns": [t.pattern for t in self.templates]}

    # --- stages ------------------------------------------------------------------------------------
    def _recognise(self, s: int, stage: dict[str, Any]) -> StageTemplate:
        convs = [n for n in stage["nodes"] if n["op"]["type"] == "conv"]
        first = convs[0]["op"] if convs else {"width": 16, "kernel": 3, "order": "post", "bottleneck": 0, "stride": 1}
        sums = [n["align"] for n in stage["nodes"] if n["merge"] != "concat"]
        base = StageTemplate(len(convs), first["width"], first["kernel"], first["order"],
                             first["bottleneck"] / first["width"], sums[0] if sums else "pad", first["stride"] == 2,
                             "given", 2)
        self.templates.append(base)  # _stage reads the template of stage s
        try:
            for pattern in PATTERNS:
                for skip in sorted({2, 3, *self.around.skips}):
                    t = StageTemplate(**{**base.__dict__, "pattern": pattern, "skip": skip})
                    if pattern == "osa":
                        t = StageTemplate(**{**t.__dict__, "convs": max(1, len(convs) - 1)})
                    self.templates[s] = t
                    if self._stage(s, pattern, skip, 1.0, 1.0, t.kernel) == stage:
                        return t
                    if pattern != "residual":
                        break
            return base
        finally:
            self.templates.pop()

    def _stage(self, s: int, pattern: str, skip: int, depth: float, width: float, kernel: int) -> dict[str, Any]:
        t = self.templates[s]
        stage = self.base["stages"][s]
        w = max(1, _round(t.width * width))
        if pattern == "given":
            nodes = [_rescale(n, width, kernel, t.kernel) for n in stage["nodes"]]
            return {**stage, "nodes": nodes}
        n = max(1, _round(t.convs * depth))

        def op(width_: int = w, k: int = kernel, stride: int = 1, relu: bool = True) -> dict[str, Any]:
            return conv(width_, k, order=t.order, stride=stride, relu=relu, bottleneck=round(t.bottleneck * width_))

        if pattern == "residual":
            nodes: list[dict[str, Any]] = []
            post = t.order == "post"
            for b in range(max(1, _round(t.convs * depth / skip))):
                x = (skip + 1) * b
                for j in range(skip):
                    last = j == skip - 1
                    nodes.append(node([x + j], op(stride=2 if t.strided and b == 0 and j == 0 else 1,
                                                  relu=not (last and post))))
                nodes.append(node([x, x + skip], identity(relu=post), merge="sum", align=t.align))
            return {"transition": stage["transition"], "nodes": nodes, "output": output([len(nodes)])}
        entry = [node([0], op(stride=2))] if t.strided else []
        o = len(entry)  # the pattern's node 0 is the entry node when there is one
        m = max(1, n - o) if pattern != "osa" else n
        if pattern == "chain":
            body = [node([o + i], op()) for i in range(m)]
            outs = [o + m]
        elif pattern == "dense":
            body = [node(list(range(o, o + i + 1)), op()) for i in range(m)]
            outs = list(range(o, o + m + 1))
        elif pattern == "harmonic":
            body = []
            for k in range(1, m + 1):
                top = max(j for j in range(10) if k % 2**j == 0)
                links = [o + k - 2**j for j in range(10) if k % 2**j == 0 and k - 2**j >= 0]
                body.append(node(sorted(links), op(width_=int(int(w * 1.7**top + 1) / 2) * 2)))
            outs = [o + k for k in sorted({k for k in range(1, m + 1) if k % 2 == 1} | {m})]
        else:  # osa: a chain, then one 1x1 conv reading the chain and its input
            body = [node([o + i], op()) for i in range(m)]
            body.append(node(list(range(o, o + m + 1)), op(width_=2 * w, k=1)))
            outs = [o + m + 1]
        return {"transition": stage["transition"], "nodes": entry + body, "output": output(outs)}

    def _toggled(self, geno: dict, prev: list, stage: dict[str, Any], toggles: list[bool]) -> dict[str, Any]:
        """`stage` with the chosen edges flipped, each kept only if the network up to here stays valid."""
        convs = [i for i, n in enumerate(stage["nodes"], start=1)
                 if n["op"]["type"] == "conv" and n["merge"] == "concat" and i >= 3]
        for t, dst in zip(toggles, reversed(convs)):
            if not t:
                continue
            nd = stage["nodes"][dst - 1]
            src = dst - 2
            inputs = sorted(set(nd["inputs"]) ^ {src})
            if not inputs:
                continue
            nodes = list(stage["nodes"])
            nodes[dst - 1] = {**nd, "inputs": inputs}
            candidate = {**stage, "nodes": nodes}
            try:
                analyze(DenseGenotype.from_dict({**geno, "stages": [*prev, candidate]}), 10, 3, 32)
            except ValueError:
                continue
            stage = candidate
        return stage


def _round(x: float) -> int:
    return math.floor(x + 0.5)  # half up: 4.5 blocks is 5, as ResNet-32 is 1.5x ResNet-20


def _ops(stage: dict[str, Any]) -> list[Any]:
    return [(n["op"], n["merge"]) for n in stage["nodes"]]


def _rescale(nd: dict[str, Any], width: float, kernel: int, base_kernel: int) -> dict[str, Any]:
    op = nd["op"]
    if op["type"] != "conv":
        return nd
    w = max(1, round(op["width"] * width))
    k = kernel if op["kernel"] == base_kernel else op["kernel"]
    return {**nd, "op": {**op, "width": w, "kernel": k, "bottleneck": round(op["bottleneck"] * w / op["width"])}}


def around_space(raw: dict[str, str]) -> AroundSpace:
    """`dense?around=NAME&depths=...` options (text) as an `AroundSpace`."""
    from nas.config_util import typed_options

    return AroundSpace(AroundConfig(**typed_options(AroundConfig, raw, "space dense?around")))
