"""Which function-preserving transformations (`search_spaces.dense.morph`) turn a parent genotype
into a child, and the child's weights inherited through them.

`plan(parent, child)` works on genotypes only (no torch): a short depth-first search over the
transformations the two genotypes' differences suggest (a new input of a node: `connect`; a wider
node: `widen`; one more node in a stage: `deepen`), each checked by the transformation's own
refusal rules, until the genotype equals the child's. `None` when no sequence of at most
`max_steps` reaches it (a changed kernel, merge or op, a removed edge, ...).
`inherit(parent, state, steps, build)` replays the plan on the parent's trained `state_dict`.
"""

from __future__ import annotations

from typing import Any

from search_spaces.base import Architecture
from search_spaces.dense.morph import (
    add_connection,
    connect_genotype,
    deepen,
    deepen_genotype,
    widen,
    widen_genotype,
)

Step = tuple[str, tuple[int, int, int]]  # ("connect", (stage, i, j)) | ("widen", (stage, i, width)) | ("deepen", ...)
_GENOTYPE = {"connect": connect_genotype, "widen": widen_genotype, "deepen": deepen_genotype}
_WEIGHTS = {"connect": add_connection, "widen": widen, "deepen": deepen}


def _key(geno: dict[str, Any]) -> str:
    return Architecture("dense", geno).key()


def _without(d: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in names}


def _candidates(cur: dict[str, Any], child: dict[str, Any], depth: int) -> list[Step] | None:
    """Steps that move `cur` towards `child`; None when a difference no transformation makes exists
    (or more differences than `depth` steps can close)."""
    if _without(cur, "stages") != _without(child, "stages") or len(cur["stages"]) != len(child["stages"]):
        return None
    steps: list[Step] = []
    for s, (a, b) in enumerate(zip(cur["stages"], child["stages"])):
        if a["transition"] != b["transition"]:
            return None
        grow = len(b["nodes"]) - len(a["nodes"])
        if grow < 0:
            return None
        if grow > 0:  # a deepen node reads only its predecessor and has no ReLU (as morph.deepen makes it)
            steps += [("deepen", (s, i, n["op"]["kernel"])) for i, n in enumerate(b["nodes"][1:], start=1)
                      if n["inputs"] == [i] and n["op"].get("type") == "conv" and not n["op"].get("relu", True)]
            continue
        if a["output"] != b["output"]:
            return None
        for i, (x, y) in enumerate(zip(a["nodes"], b["nodes"]), start=1):
            if _without(x, "inputs", "op") != _without(y, "inputs", "op") or not set(x["inputs"]) <= set(y["inputs"]):
                return None
            if _without(x["op"], "width") != _without(y["op"], "width"):
                return None
            steps += [("connect", (s, i, j)) for j in sorted(set(y["inputs"]) - set(x["inputs"]))]
            wx, wy = x["op"].get("width", 0), y["op"].get("width", 0)
            if wy < wx:
                return None
            if wy > wx:
                steps.append(("widen", (s, i, wy)))
    return steps if len(steps) <= depth or any(name == "deepen" for name, _ in steps) else None


def plan(parent: dict[str, Any], child: dict[str, Any], max_steps: int = 3) -> list[Step] | None:
    """The transformations, in order, that turn genotype `parent` into `child`; None when none reach it."""
    target = _key(child)

    def search(cur: dict[str, Any], depth: int) -> list[Step] | None:
        if _key(cur) == target:
            return []
        steps = _candidates(cur, child, depth) if depth > 0 else None
        for name, args in steps or []:
            try:
                nxt = _GENOTYPE[name](cur, *args)
            except ValueError:  # this transformation's rules refuse it here
                continue
            rest = search(nxt, depth - 1)
            if rest is not None:
                return [(name, args), *rest]
        return None

    return search(parent, max_steps)


def inherit(parent: dict[str, Any], state: dict[str, Any], steps: list[Step],
            build: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(child genotype, child `state_dict`) after applying `steps` to the trained `parent`."""
    geno = parent
    for name, args in steps:
        geno, state = _WEIGHTS[name](geno, state, *args, build=build)
    return geno, state
