"""`export(...)`: write model.py, weights.pt, arch.json and the requested artefacts into a folder, check
them, and only then put the folder in place (a failure leaves nothing half-written)."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nas.export.check import check_model_py, check_onnx, check_pt2, example_inputs, reference_outputs
from nas.export.model_file import ModelInfo, model_source
from nas.export.sources import network_code, require_source
from nas.runs import save_state_dict, write_json
from search_spaces.registry import unknown_name_message

FORMATS = ("py", "pt2", "onnx")
ONNX_INSTALL = 'pip install -e ".[onnx]"'
MAX_EXPORT_BATCH = 4096


@dataclass
class ExportResult:
    out: Path
    class_name: str
    files: list[str]
    checks: dict[str, float | None] = field(default_factory=dict)  # format -> max abs difference

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "class_name": self.class_name, "files": self.files, "checks": self.checks}


def parse_formats(text: str) -> tuple[str, ...]:
    """`py,pt2` -> ("py", "pt2"); an unknown name raises with the close matches."""
    names = [f.strip().lower() for f in text.split(",") if f.strip()]
    if not names:
        raise ValueError(f"--format is empty; use one or more of {', '.join(FORMATS)}, comma-separated")
    for name in names:
        if name not in FORMATS:
            raise ValueError(unknown_name_message("format", name, list(FORMATS)))
    return tuple(f for f in FORMATS if f in names)


def onnx_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxscript"))


def preflight(space: Any, out: Path, formats: tuple[str, ...], force: bool) -> None:
    """The checks that need no work: an existing `out`, a missing extra, a space that cannot write model.py."""
    if out.exists() and not force:
        raise ValueError(f"output directory {out} exists; pass --force to replace it or choose another --out")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; pass a directory")
    if "onnx" in formats and not onnx_available():
        raise ValueError(f"--format onnx needs the optional ONNX packages: {ONNX_INSTALL}")
    if "py" in formats:
        require_source(space)


def export(space: Any, info: ModelInfo, out: Path, formats: tuple[str, ...] = ("py",), *,
           weights: dict[str, torch.Tensor] | None = None, force: bool = False, verify: bool = True,
           seed: int = 0) -> ExportResult:
    """Export `info.arch` of `space` into `out`. `weights`: a state_dict (a trained run's); without it
    the network is freshly initialised from `seed`. `verify` runs model.py in a fresh interpreter."""
    out = Path(out)
    preflight(space, out, formats, force)
    source = model_source(info, network_code(space, info.arch, info.input_size)) if "py" in formats else None
    model = build(space, info, weights, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; the result is an ordinary folder
    try:
        result = _write(model, info, tmp, formats, source, verify)
        _replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.out = out
    return result


def build(space: Any, info: ModelInfo, weights: dict[str, torch.Tensor] | None, seed: int) -> torch.nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # a fresh initialisation is the same on every export of an architecture
        model = space.build(info.arch, info.num_classes, info.in_channels, info.input_size)
    if weights is not None:
        try:
            model.load_state_dict(weights, strict=True)
        except RuntimeError as e:
            first = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
            raise ValueError(f"the weights do not fit the architecture ({first}); was arch.json edited?") from None
    return model.eval()


def _write(model: torch.nn.Module, info: ModelInfo, tmp: Path, formats: tuple[str, ...], source: str | None,
           verify: bool) -> ExportResult:
    name = info.class_name
    result = ExportResult(tmp, name, ["arch.json", "weights.pt"])
    write_json(tmp / "arch.json", info.arch.to_dict())
    save_state_dict(tmp / "weights.pt", model.state_dict())
    inputs = example_inputs(info.in_channels, info.input_size)
    expected = reference_outputs(model, inputs)
    if source is not None:
        (tmp / "model.py").write_text(source, encoding="utf-8")
        result.files.insert(0, "model.py")
        if verify:
            result.checks["py"] = check_model_py(tmp, name, inputs, expected)
    if "pt2" in formats:
        save_pt2(model, info, tmp / "model.pt2")
        result.files.append("model.pt2")
        result.checks["pt2"] = check_pt2(tmp / "model.pt2", inputs, expected)
    if "onnx" in formats:
        save_onnx(model, info, tmp / "model.onnx")
        result.files.append("model.onnx")
        result.checks["onnx"] = check_onnx(tmp / "model.onnx", inputs, expected)
    return result


def _dynamic_batch() -> Any:
    return torch.export.Dim("batch", min=1, max=MAX_EXPORT_BATCH)


def save_pt2(model: torch.nn.Module, info: ModelInfo, path: Path) -> None:
    """torch.export in eval mode with a dynamic batch dimension."""
    x = example_inputs(info.in_channels, info.input_size, (2,))[0]
    with torch.no_grad():
        program = torch.export.export(model.eval(), (x,), dynamic_shapes=({0: _dynamic_batch()},))
    torch.export.save(program, str(path))


def save_onnx(model: torch.nn.Module, info: ModelInfo, path: Path) -> None:
    import contextlib
    import io
    import warnings

    x = example_inputs(info.in_channels, info.input_size, (2,))[0]
    quiet = logging.getLogger("torch.onnx")  # it warns that torchvision's ops are not registered
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(model.eval(), (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_shapes=({0: _dynamic_batch()},), dynamo=True, external_data=False)
    finally:
        quiet.setLevel(level)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an existing `out` (--force) goes only once the new one is ready."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name[-8:]}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
