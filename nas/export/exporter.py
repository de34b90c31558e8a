"""`export(...)`: write model.py, weights.pt, arch.json and the requested artefacts into a folder, check
them, and only then put the folder in place (a failure leaves nothing half-written)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nas.export.check import check_model_py, example_inputs, reference_outputs
from nas.export.formats import ARTEFACT_FORMATS, ArtefactFormat, check_artefact, resolve_format
from nas.export.model_file import ModelInfo, model_source
from nas.export.sources import network_code, require_source
from nas.runs import save_state_dict, write_json


def format_names() -> tuple[str, ...]:
    """`py` (model.py) and every registered artefact format."""
    return ("py", *ARTEFACT_FORMATS.names())


@dataclass
class ExportResult:
    out: Path
    class_name: str
    files: list[str]
    checks: dict[str, float | None] = field(default_factory=dict)  # format -> max abs difference

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "class_name": self.class_name, "files": self.files, "checks": self.checks}


def parse_formats(text: str) -> tuple[str, ...]:
    """`py,pt2` -> ("py", "pt2"), in the order given; a name may be `module:attr` (a plug-in format).
    An unknown name raises with the close matches."""
    names = [f.strip() for f in text.split(",") if f.strip()]
    if not names:
        raise ValueError(f"--format is empty; use one or more of {', '.join(format_names())}, comma-separated")
    out: list[str] = []
    for name in names:
        name = name if ":" in name else name.lower()
        name = "py" if name == "py" else resolve_format(name).name
        if name not in out:
            out.append(name)
    return tuple(out)


def preflight(space: Any, out: Path, formats: tuple[str, ...], force: bool) -> None:
    """The checks that need no work: an existing `out`, a missing extra, a space that cannot write model.py."""
    if out.exists() and not force:
        raise ValueError(f"output directory {out} exists; pass --force to replace it or choose another --out")
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"--out {out} is a file; pass a directory")
    for name in formats:
        why = None if name == "py" else ARTEFACT_FORMATS.get(name).missing()
        if why:
            raise ValueError(why)
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
    for name in formats:
        if name != "py":
            _artefact(ARTEFACT_FORMATS.get(name), model, info, tmp, result, inputs, expected)
    return result


def _artefact(fmt: ArtefactFormat, model: torch.nn.Module, info: ModelInfo, tmp: Path, result: ExportResult,
              inputs: list[torch.Tensor], expected: list[torch.Tensor]) -> None:
    fmt.save(model, info, tmp / fmt.filename)
    result.files.append(fmt.filename)
    result.checks[fmt.name] = check_artefact(fmt, tmp / fmt.filename, inputs, expected)


def _replace(tmp: Path, out: Path) -> None:
    """Move the finished folder into place; an existing `out` (--force) goes only once the new one is ready."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{tmp.name[-8:]}")
        out.rename(old)
    tmp.rename(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
