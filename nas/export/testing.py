"""Contract suite for export formats, shipped with the package: `check_format(MyFormat())` in your tests.

It registers the format (when its name is free), exports a tiny dense network through the same
`export` call `nas export` makes, and checks the artefact: written under its `filename`, loadable by
the format's own `run`, equal to the framework's module on batches of 1 and 3, and the same on a
second export (deterministic bytes are not required, outputs are).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from nas.export.check import example_inputs
from nas.export.exporter import export
from nas.export.formats import ARTEFACT_FORMATS, as_format
from nas.export.model_file import ModelInfo
from search_spaces import Architecture, default_space
from search_spaces.dense import preset_genotype


def tiny_dense_arch() -> Architecture:
    """ResNet-8 with 4 channels everywhere: builds and exports in a second."""
    geno = preset_genotype("resnet-8")
    geno["stem"]["channels"] = 4
    for stage in geno["stages"]:
        for node in stage["nodes"]:
            if node["op"]["type"] == "conv":
                node["op"]["width"] = 4
    return Architecture("dense", geno)


def check_format(fmt: Any, input_size: int = 8) -> dict[str, float | None]:
    """Run the contract; returns the max abs differences of two exports (None: no runtime to check)."""
    fmt = as_format(fmt, "check_format")
    why = fmt.missing()
    assert why is None or (isinstance(why, str) and why.strip()), "missing() returns None or a reason"
    if why:
        raise AssertionError(f"the format cannot run here: {why}")
    if ARTEFACT_FORMATS.find(fmt.name) is None:
        ARTEFACT_FORMATS.register(fmt.name, fmt)
    space, arch = default_space("dense"), tiny_dense_arch()
    info = ModelInfo(arch=arch, num_classes=3, in_channels=3, input_size=input_size)
    diffs: dict[str, float | None] = {}
    with tempfile.TemporaryDirectory(prefix="nas-format-check-") as tmp:
        for attempt in ("first", "second"):
            out = Path(tmp) / attempt
            result = export(space, info, out, (fmt.name,), seed=0)
            path = out / fmt.filename
            assert path.is_file(), f"{fmt.name} did not write {fmt.filename}"
            assert fmt.filename in result.files and fmt.name in result.checks
            diffs[attempt] = result.checks[fmt.name]
            x = example_inputs(3, input_size, (2,))[0]
            y = fmt.run(path, x)
            assert y is None or (isinstance(y, torch.Tensor) and tuple(y.shape) == (2, 3)), \
                f"run() must return logits of shape (batch, classes), got {getattr(y, 'shape', y)}"
    return diffs
