"""The dense DAG space: any genotype validates and builds; a configured sub-space is searched.

The searchable sub-space: `stages` stages, each with n in [min_nodes, max_nodes] nodes; node i
always reads node i-1 (so every node lies on a path to the output) plus any subset of earlier
nodes; each node picks a merge (concat, or sum/mean with an align rule), and a conv op (width,
kernel, dilation, groups, order, optional bottleneck); the stage output concatenates the last
node and any subset of the others; stages are joined by DenseNet transitions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx
import numpy as np

from search_spaces.base import Architecture
from search_spaces.dense.genotype import ALIGNS, MERGES, ORDERS, DenseGenotype
from search_spaces.dense.presets import conv, genotype, node, output
from search_spaces.dense.shapes import NetworkShape, analyze

if TYPE_CHECKING:
    import optuna
    from torch import nn

NAME = "dense"


@dataclass(frozen=True)
class DenseSpaceConfig:
    stages: int = 3
    min_nodes: int = 2
    max_nodes: int = 5
    stem: int = 16
    widths: tuple[int, ...] = (8, 16, 24)  # stage s multiplies these by width_growth**s
    width_growth: int = 2
    kernels: tuple[int, ...] = (3, 5)
    dilations: tuple[int, ...] = (1, 2)
    groups: tuple[int, ...] = (1, 2)
    merges: tuple[str, ...] = MERGES
    aligns: tuple[str, ...] = ALIGNS
    orders: tuple[str, ...] = ORDERS
    bottlenecks: tuple[int, ...] = (0, 1)  # 0: none; 1: a 1x1 conv to the op's width first
    compression: float = 0.5
    max_params: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.stages <= 6:
            raise ValueError(f"stages = {self.stages}: use 1 to 6")
        if not 1 <= self.min_nodes <= self.max_nodes <= 16:
            raise ValueError(f"need 1 <= min_nodes <= max_nodes <= 16, got {self.min_nodes}, {self.max_nodes}")
        for name in ("widths", "kernels", "dilations", "groups", "merges", "orders", "bottlenecks"):
            if not getattr(self, name):
                raise ValueError(f"{name} must list at least one choice")
        bad = [m for m in self.merges if m not in MERGES] + [o for o in self.orders if o not in ORDERS]
        bad += [a for a in self.aligns if a not in ALIGNS]
        if bad:
            raise ValueError(f"unknown choice(s) {bad}; merges: {MERGES}, aligns: {ALIGNS}, orders: {ORDERS}")
        if any(k % 2 == 0 or k < 1 for k in self.kernels):
            raise ValueError(f"kernels must be odd, got {self.kernels}")
        if self.compression not in (0.5, 1.0):
            raise ValueError(f"compression must be 0.5 or 1.0, got {self.compression}")
        g = 2 * max(self.groups)
        if any(w % g for w in (*self.widths, self.stem)):
            raise ValueError(f"widths and stem must be multiples of {g} (twice the largest group count)")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DenseSpaceConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            known = sorted(cls.__dataclass_fields__)
            raise ValueError(f"unknown dense space option(s) {sorted(unknown)}; known: {known}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def smash_subspace(config: DenseSpaceConfig | None = None) -> DenseSpaceConfig:
    """SMASH's sub-space: the configured space with every node's 1x1 conv present (the 1x1 conv is
    what the HyperNet generates)."""
    from dataclasses import replace

    return replace(config or DenseSpaceConfig(), bottlenecks=(1,))


@dataclass
class DenseSpace:
    """The dense DAG space (see `search_spaces/dense/genotype.py` for the genotype)."""

    config: DenseSpaceConfig = field(default_factory=DenseSpaceConfig)
    name: str = NAME

    # --- structure -------------------------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        self.parse(arch)

    def parse(self, arch: Architecture) -> DenseGenotype:
        if arch.space != self.name:
            raise ValueError(f"architecture is of space {arch.space!r}, not {self.name!r}")
        return DenseGenotype.from_dict(arch.genotype)

    def shape(self, arch: Architecture, num_classes: int = 10, in_channels: int = 3,
              input_size: int = 32) -> NetworkShape:
        return analyze(self.parse(arch), num_classes, in_channels, input_size)

    def graph(self, arch: Architecture) -> nx.DiGraph:
        geno = self.parse(arch)
        g = nx.DiGraph()
        g.add_node("input", kind="input")
        prev = "input"
        for s, stage in enumerate(geno.stages, start=1):
            g.add_node((s, 0), kind="transition", **stage.transition.to_dict())
            g.add_edge(prev, (s, 0))
            for i, n in enumerate(stage.nodes, start=1):
                g.add_node((s, i), kind="node", merge=n.inputs.merge, align=n.inputs.align, **n.op.to_dict())
                g.add_edges_from(((s, j), (s, i)) for j in n.inputs.inputs)
            out = (s, "out")
            g.add_node(out, kind="output", merge=stage.output.merge)
            g.add_edges_from(((s, j), out) for j in stage.output.inputs)
            prev = out
        g.add_node("head", kind="head")
        g.add_edge(prev, "head")
        return g

    def build(self, arch: Architecture, num_classes: int, in_channels: int, input_size: int,
              memory_efficient: bool = False) -> nn.Module:
        from search_spaces.dense.builder import DenseNetwork

        return DenseNetwork(self.parse(arch), num_classes, in_channels, input_size, memory_efficient)

    def with_options(self, raw: dict[str, str]) -> DenseSpace:
        """`dense?key=value&...`: options of `DenseSpaceConfig`, or `around=NAME` (`search_spaces.dense.around`)."""
        from dataclasses import replace

        from nas.config_util import typed_options

        if "around" in raw:
            from search_spaces.dense.around import around_space

            return around_space(raw)
        return type(self)(replace(self.config, **typed_options(DenseSpaceConfig, raw, f"space {self.name}")))

    # --- the searchable sub-space ---------------------------------------------------------
    def stage_widths(self, s: int) -> list[int]:
        return [w * self.config.width_growth**s for w in self.config.widths]

    def sample(self, rng: np.random.Generator, choose: Any = None) -> Architecture:
        """A random architecture within the limits: uniform choices, or `choose(name, choices)`'s."""
        choose = choose or (lambda name, choices: choices[int(rng.integers(len(choices)))])
        for _ in range(1000):
            arch = self.from_choices(choose)
            if self.within_limits(arch):
                return arch
        raise ValueError(f"max_params = {self.config.max_params:,} is below what 1000 samples of this space "
                         "reached; raise it or shrink widths / node counts")

    def suggest(self, trial: optuna.Trial) -> Architecture:
        import optuna

        arch = self.from_choices(lambda name, choices: trial.suggest_categorical(name, list(choices)))
        if not self.within_limits(arch):
            raise optuna.TrialPruned(f"over max_params = {self.config.max_params:,}")
        return arch

    def within_limits(self, arch: Architecture) -> bool:
        return self.config.max_params is None or self.shape(arch).params <= self.config.max_params

    def from_choices(self, choose: Any) -> Architecture:
        """One architecture from a `choose(param_name, choices)` function: the single
        definition of the sub-space that sampling and Optuna share."""
        c = self.config
        stages = []
        for s in range(c.stages):
            n = choose(f"s{s}_nodes", tuple(range(c.min_nodes, c.max_nodes + 1)))
            nodes = []
            for i in range(1, n + 1):
                skips = [j for j in range(i - 1) if choose(f"s{s}_n{i}_in{j}", (False, True))]
                merge = choose(f"s{s}_n{i}_merge", c.merges) if i > 1 else "concat"
                align = choose(f"s{s}_n{i}_align", c.aligns) if merge != "concat" else "pad"
                bottleneck = choose(f"s{s}_n{i}_bottleneck", c.bottlenecks)
                width = choose(f"s{s}_n{i}_width", tuple(self.stage_widths(s)))
                op = conv(width, choose(f"s{s}_n{i}_kernel", c.kernels), order=choose(f"s{s}_n{i}_order", c.orders),
                          dilation=choose(f"s{s}_n{i}_dilation", c.dilations),
                          groups=choose(f"s{s}_n{i}_groups", c.groups), bottleneck=width * bottleneck)
                nodes.append(node(sorted(skips + [i - 1]), op, merge=merge, align=align))
            outs = [j for j in range(n) if choose(f"s{s}_out{j}", (False, True))] + [n]
            transition = {"type": "none"} if s == 0 else {"type": "dense", "compression": c.compression}
            stages.append({"transition": transition, "nodes": nodes, "output": output(outs)})
        return Architecture(self.name, genotype(c.stem, stages, stem_bn_relu=True, head_bn_relu=True))

    def mutate(self, arch: Architecture, rng: np.random.Generator) -> Architecture:
        """Change one choice of the sub-space (the architecture must be in it)."""
        params = self.params_of(arch)
        for _ in range(100):
            name = list(params)[int(rng.integers(len(params)))]
            choices = self._choices_of(name)
            if len(choices) < 2:
                continue
            new = {**params, name: choices[int(rng.integers(len(choices)))]}
            if new[name] == params[name]:
                continue
            child = self.from_choices(_replay(new, rng))
            if child != arch and self.within_limits(child):
                return child
        raise ValueError("could not mutate this architecture within the space's limits")

    def params_of(self, arch: Architecture) -> dict[str, Any]:
        """The choices that produce `arch` (inverse of `from_choices`); raises if `arch` is not
        in the searchable sub-space."""
        geno = arch.genotype
        recorded: dict[str, Any] = {}

        def choose(name: str, choices: tuple) -> Any:
            value = _choice_in_genotype(geno, name)
            if value not in choices:
                raise ValueError(f"architecture is outside the searchable sub-space ({name} = {value!r} "
                                 f"is not one of {list(choices)})")
            recorded[name] = value
            return value

        if self.from_choices(choose) != arch:
            raise ValueError("architecture is outside the searchable sub-space (its fixed parts differ)")
        return recorded

    def _choices_of(self, name: str) -> tuple:
        found: dict[str, tuple] = {}

        def choose(n: str, choices: tuple) -> Any:
            found[n] = choices
            return choices[-1]

        self.from_choices(choose)  # the largest arch visits every parameter name
        return found.get(name, ())

    def encode(self, arch: Architecture) -> np.ndarray:
        """Fixed length: per stage and node slot, adjacency bits, merge/align/order one-hots and
        numeric op features; per stage the output set."""
        geno = self.parse(arch)
        m = self.config.max_nodes
        if len(geno.stages) != self.config.stages or any(len(st.nodes) > m for st in geno.stages):
            raise ValueError(f"encode covers architectures with {self.config.stages} stages of at most {m} nodes")
        feats: list[float] = []
        for st in geno.stages:
            for i in range(1, m + 1):
                if i > len(st.nodes):
                    feats += [0.0] * (m + 13)  # the length of a filled slot below
                    continue
                nd = st.nodes[i - 1]
                op = nd.op
                adj = [1.0 if j in nd.inputs.inputs else 0.0 for j in range(m)]
                feats += [1.0, *adj, *(float(nd.inputs.merge == x) for x in MERGES),
                          float(nd.inputs.align == "project"),
                          float(op.order == "pre"), float(op.type == "identity"), math.log2(max(op.width, 1)),
                          float(op.kernel), float(op.dilation), math.log2(op.groups), float(op.bottleneck > 0),
                          float(op.relu)]
            feats += [1.0 if j in st.output.inputs else 0.0 for j in range(m + 1)]
        return np.asarray(feats, dtype=np.float32)

    def size(self) -> int:
        """How many architectures the searchable sub-space holds (ignoring max_params)."""
        c = self.config
        op_choices = len(c.kernels) * len(c.dilations) * len(c.groups) * len(c.orders) * len(c.bottlenecks)
        non_concat = sum(m != "concat" for m in c.merges)
        merge_choices = ("concat" in c.merges) + non_concat * len(c.aligns)
        per_stage = []
        for s in range(c.stages):
            ops = op_choices * len(self.stage_widths(s))
            total = 0
            for n in range(c.min_nodes, c.max_nodes + 1):
                count = 2**n  # outputs: last node plus any subset of nodes 0..n-1
                for i in range(1, n + 1):
                    count *= 2 ** (i - 1) * ops * (merge_choices if i > 1 else 1)
                total += count
            per_stage.append(total)
        return math.prod(per_stage)

    def describe(self) -> dict[str, Any]:
        size = self.size()
        return {"space": self.name, "config": asdict(self.config), "size": size,
                "log10_size": round(math.log10(size), 2)}


def _replay(params: dict[str, Any], rng: np.random.Generator) -> Any:
    """A `choose` that repeats `params` and draws any choice they lack (e.g. a node added by a mutation)."""
    return lambda name, choices: params[name] if name in params else choices[int(rng.integers(len(choices)))]


def _choice_in_genotype(geno: dict[str, Any], name: str) -> Any:
    """Read one sub-space choice (named as in `from_choices`) back out of a genotype."""
    s_str, rest = name[1:].split("_", 1)
    stage = geno["stages"][int(s_str)]
    if rest == "nodes":
        return len(stage["nodes"])
    if rest.startswith("out"):
        return int(rest[3:]) in stage["output"]["inputs"]
    i_str, key = rest[1:].split("_", 1)
    nd = stage["nodes"][int(i_str) - 1]
    op = nd["op"]
    if key.startswith("in"):
        return int(key[2:]) in nd["inputs"]
    if key in ("merge", "align"):
        return nd[key]
    if key == "bottleneck":
        return op["bottleneck"] // op["width"] if op.get("width") else op.get("bottleneck")
    return op.get(key)
