"""The code of one architecture's network for `model.py`, per space.

Every generator returns code that defines `Network(num_classes, in_channels, input_size)`, an
`nn.Module` with the same parameters and state_dict keys as `space.build(arch, ...)`:
- the dense space: the builder's module classes as they are in search_spaces/dense/builder.py,
  the genotype's dataclasses (fields only) and the genotype as data, which the builder's loops read;
- NAS-Bench-201: search_spaces/nb201/network.py as it is, and the cell's six ops as data;
- any other space: its optional `source(arch) -> str` capability (the same contract; see
  search_spaces/examples/mobilenet_chain.py). A space without it still exports `pt2` / `onnx`.
"""

from __future__ import annotations

from typing import Any

from nas.export.codegen import Code, module_code, objects_code, split_source
from search_spaces.base import Architecture

CAPABILITY = "source(arch)"

DENSE_GLUE = '''
def genotype(data: dict) -> DenseGenotype:
    """The genotype dataclasses from the architecture's JSON (it was validated on export)."""
    def merge(m: dict) -> Merge:
        return Merge(tuple(m["inputs"]), m["merge"], m["align"])

    stages = tuple(Stage(Transition(**s["transition"]), tuple(Node(merge(n), Op(**n["op"])) for n in s["nodes"]),
                         merge(s["output"])) for s in data["stages"])
    return DenseGenotype(Stem(**data["stem"]), stages, data["head"]["bn_relu"])


# Channels, then spatial size, of node 0 .. node n and the stage output, per stage: worked out on
# export (search_spaces/dense/shapes.py) for INPUT_SIZE x INPUT_SIZE inputs.
STAGE_SHAPES = {shapes}


def analyze(geno: DenseGenotype, num_classes: int, in_channels: int, input_size: int) -> SimpleNamespace:
    """The builder asks for every node's width and resolution: here they are data."""
    if input_size != INPUT_SIZE:
        raise ValueError(f"this network was exported for {{INPUT_SIZE}} x {{INPUT_SIZE}} inputs, not {{input_size}}")
    return SimpleNamespace(stages=[StageShape(tuple(w), tuple(r)) for w, r in STAGE_SHAPES])


class Network(DenseNetwork):
    """The exported architecture (ARCH) as the dense space builds it."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int) -> None:
        super().__init__(genotype(ARCH["genotype"]), num_classes, in_channels, input_size)
'''

NB201_DATA = '''
EDGES = {edges}  # (to, from) of the cell's six edges
NUM_NODES = {nodes}
EDGE_OPS = {ops}  # this architecture: the op on each edge, in the order of EDGES
'''

NB201_GLUE = '''
class Network(NB201Network):
    """The exported NAS-Bench-201 cell, {cells} cells per stage, {channels} channels in the first stage."""

    def __init__(self, num_classes: int, in_channels: int, input_size: int) -> None:
        super().__init__(EDGE_OPS, num_classes, in_channels, input_size, channels={channels}, cells_per_stage={cells})
'''


def has_source(space: Any) -> bool:
    from search_spaces.dense.space import DenseSpace
    from search_spaces.nb201 import NB201Space

    return isinstance(space, (DenseSpace, NB201Space)) or callable(getattr(space, "source", None))


def require_source(space: Any) -> None:
    if not has_source(space):
        raise ValueError(f"space {space.name!r} cannot write model.py: it lacks the optional {CAPABILITY} capability "
                         "(see search_spaces/examples/mobilenet_chain.py); --format pt2 or onnx still work")


def network_code(space: Any, arch: Architecture, input_size: int) -> Code:
    """Code defining `Network(num_classes, in_channels, input_size)` for `arch`; `ValueError` names the
    missing capability when the space cannot give one."""
    from search_spaces.dense.space import DenseSpace
    from search_spaces.nb201 import NB201Space

    if isinstance(space, DenseSpace):
        return _dense(space, arch, input_size)
    if isinstance(space, NB201Space):
        return _nb201(space, arch)
    require_source(space)
    text = space.source(arch)
    if not isinstance(text, str) or "Network" not in text:
        raise ValueError(f"space {space.name!r}: {CAPABILITY} must return Python source defining "
                         "class Network(num_classes, in_channels, input_size)")
    return split_source(text, f"{space.name}.source(arch)")


def _dense(space: Any, arch: Architecture, input_size: int) -> Code:
    from search_spaces.dense import builder, genotype, shapes

    geno = space.parse(arch)
    shape = shapes.analyze(geno, 1, 1, input_size)  # widths and sizes do not depend on classes or channels
    rows = ",\n    ".join(f"({list(s.widths)}, {list(s.sizes)})" for s in shape.stages)
    code = Code(["from dataclasses import dataclass", "from types import SimpleNamespace"])
    code.add(objects_code(genotype.Op, genotype.Merge, genotype.Node, genotype.Transition, genotype.Stage,
                          genotype.Stem, genotype.DenseGenotype, shapes.StageShape, fields_only=True))
    code.add(module_code(builder))
    code.body.append(DENSE_GLUE.format(shapes=f"[\n    {rows},\n]"))
    return code


def _nb201(space: Any, arch: Architecture) -> Code:
    from search_spaces.nb201 import cell, network, shapes

    code = Code(body=[NB201_DATA.format(edges=tuple(cell.EDGES), nodes=cell.NUM_NODES, ops=tuple(space.edges(arch)))])
    code.add(objects_code(shapes.check_input_size))
    code.add(module_code(network))
    code.body.append(NB201_GLUE.format(channels=space.channels, cells=space.cells_per_stage))
    return code
