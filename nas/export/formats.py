"""Artefact formats beside model.py: the `ArtefactFormat` protocol, the built-ins (pt2, onnx) and the
registry behind `nas export --format NAME | module:attr`.

A format is an object with
- `name` (the `--format` value) and `filename` (the file it writes in the export folder),
- `missing() -> str | None`: why it cannot run here (an optional package absent), or None,
- `save(model, info, path)`: write the eval-mode `model` (`info` is the `ModelInfo`: input size,
  channels, class names),
- `run(path, x) -> Tensor | None`: load the written file and return its output for the batch `x`
  (None when no runtime is installed to check it; the export then records no check).
`export` checks every artefact against the framework's module on two batch sizes before the folder
is put in place; `nas.export.testing.check_format` is the contract suite.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import warnings
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from nas.export.check import ARTEFACT_TOLERANCE, example_inputs, scale
from search_spaces.registry import Registry

ONNX_INSTALL = 'pip install -e ".[onnx]"'
MAX_EXPORT_BATCH = 4096
REQUIRED = ("name", "filename", "missing", "save", "run")


@runtime_checkable
class ArtefactFormat(Protocol):
    name: str
    filename: str

    def missing(self) -> str | None: ...

    def save(self, model: torch.nn.Module, info: Any, path: Path) -> None: ...

    def run(self, path: Path, x: torch.Tensor) -> torch.Tensor | None: ...


def dynamic_batch() -> Any:
    return torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)


def _example(info: Any) -> torch.Tensor:
    return example_inputs(info.in_channels, info.input_size, (2,))[0]


class Pt2:
    """torch.export in eval mode with a dynamic batch dimension; checked with `torch.export.load`."""

    name, filename = "pt2", "model.pt2"

    def missing(self) -> str | None:
        return None

    def save(self, model: torch.nn.Module, info: Any, path: Path) -> None:
        with torch.no_grad():
            program = torch.export.export(model.eval(), (_example(info),), dynamic_shapes=({0: dynamic_batch()},))
        torch.export.save(program, str(path))

    def run(self, path: Path, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.export.load(str(path)).module()(x)


class Onnx:
    """ONNX through the dynamo exporter (the `[onnx]` extra); checked under onnxruntime when installed."""

    name, filename = "onnx", "model.onnx"

    def missing(self) -> str | None:
        if all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript")):
            return None
        return f"--format onnx needs the optional ONNX packages: {ONNX_INSTALL}"

    def save(self, model: torch.nn.Module, info: Any, path: Path) -> None:
        quiet = logging.getLogger("torch.onnx")  # it warns that torchvision's ops are not registered
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                torch.onnx.export(model.eval(), (_example(info),), str(path), input_names=["input"],
                                  output_names=["logits"], dynamic_shapes=({0: dynamic_batch()},), dynamo=True,
                                  external_data=False)
        finally:
            quiet.setLevel(level)

    def run(self, path: Path, x: torch.Tensor) -> torch.Tensor | None:
        try:
            import onnxruntime as ort
        except ImportError:
            return None
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return torch.from_numpy(session.run(None, {session.get_inputs()[0].name: x.numpy()})[0])


ARTEFACT_FORMATS: Registry[ArtefactFormat] = Registry("export format")


def register_format(fmt: Any) -> ArtefactFormat:
    """Make `fmt` (an instance or a zero-argument class) available as `--format NAME`."""
    fmt = as_format(fmt, f"export format {getattr(fmt, 'name', fmt)!r}")
    ARTEFACT_FORMATS.register(fmt.name, fmt)
    return fmt


def as_format(obj: Any, where: str) -> ArtefactFormat:
    """`obj`, or an instance of it when it is a zero-argument class; else a one-line `ValueError`."""
    if isinstance(obj, type):
        try:
            obj = obj()
        except TypeError as e:
            raise ValueError(f"{where}: {obj.__qualname__}() needs arguments ({e})") from None
    lacks = [m for m in REQUIRED if not hasattr(obj, m)]
    if lacks:
        raise ValueError(f"{where}: a {type(obj).__name__} is not an export format (it lacks {', '.join(lacks)})")
    if not isinstance(obj.name, str) or not obj.name or obj.name == "py":
        raise ValueError(f"{where}: the format's `name` must be a non-empty string other than 'py'")
    if not isinstance(obj.filename, str) or not obj.filename or Path(obj.filename).name != obj.filename \
            or obj.filename in ("model.py", "weights.pt", "arch.json"):
        raise ValueError(f"{where}: `filename` must be a plain file name other than model.py, weights.pt, arch.json")
    return obj


def resolve_format(spec: str) -> ArtefactFormat:
    """A registered name, or `module:attr` naming a format instance or class (registered on first use)."""
    if ":" not in spec:
        return ARTEFACT_FORMATS.get(spec)
    from search_spaces.plugins import import_attr

    fmt = as_format(import_attr(spec, "export format", "my_pkg.formats:TorchScript"), f"export format {spec!r}")
    known = ARTEFACT_FORMATS.find(fmt.name)
    if known is None:
        ARTEFACT_FORMATS.register(fmt.name, fmt)
    elif type(known) is not type(fmt):
        raise ValueError(f"export format {spec!r}: the name {fmt.name!r} is taken; give your format another name")
    return fmt


def check_artefact(fmt: ArtefactFormat, path: Path, inputs: list[torch.Tensor],
                   expected: list[torch.Tensor]) -> float | None:
    """Max abs difference of the written artefact against `expected`; None when it cannot be run here."""
    diff = 0.0
    for x, y in zip(inputs, expected, strict=True):
        out = fmt.run(path, x)
        if out is None:
            return None
        if tuple(out.shape) != tuple(y.shape):
            raise ValueError(f"{fmt.filename} gives outputs of shape {tuple(out.shape)}, expected {tuple(y.shape)}")
        diff = max(diff, float((out.detach().float() - y).abs().max()))
    if not diff <= ARTEFACT_TOLERANCE * scale(expected):
        raise ValueError(f"{fmt.filename} disagrees with the framework's module (max abs difference {diff:.3g})")
    return diff


for _fmt in (Pt2(), Onnx()):
    ARTEFACT_FORMATS.register(_fmt.name, _fmt)
