"""Run directories (`runs/<name>/`) and the atomic JSON / weight writes every command uses."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def make_run_dir(runs_dir: str | Path, name: str | None, default_stem: str, overwrite: bool = False) -> Path:
    """Create `runs_dir/name`. Without `name`: `default_stem-YYYYmmdd-HHMMSS` (a suffix keeps it new).
    An explicit `name` that exists and is not empty raises unless `overwrite`."""
    root = Path(os.path.expanduser(str(runs_dir)))
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"--runs-dir {root} is a file; pass a directory")
    if name is not None:
        if not NAME_PATTERN.fullmatch(name) or name in (".", ".."):
            raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-' (no path separators)")
        path = root / name
        if path.exists() and any(path.iterdir()) and not overwrite:
            raise ValueError(f"run directory {path} exists; pick another --name or pass --overwrite")
        path.mkdir(parents=True, exist_ok=True)
        return path
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", default_stem).strip("-.") or "run"
    base = f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    for i in range(1, 1000):
        path = root / (base if i == 1 else f"{base}-{i}")
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise ValueError(f"could not create a new run directory under {root}; pass --name")


def write_json(path: Path, obj: Any) -> None:
    """Write JSON via a temporary file and a rename, so a reader never sees half a file."""
    text = json.dumps(obj, indent=1, sort_keys=True) + "\n"
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def save_state_dict(path: Path, state: dict[str, Any]) -> None:
    """`torch.save` of plain tensors (CPU, contiguous): loadable with `torch.load(weights_only=True)`."""
    import torch

    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    atomic_write(path, lambda tmp: torch.save(tensors, tmp))


def atomic_write(path: Path, write: Callable[[Path], Any]) -> None:
    """`write(tmp)` then rename onto `path`. The temporary name is unique per call, so processes
    writing the same file at once (workers finishing a search together) never share or remove
    each other's temporary file; the last rename wins and a reader sees one whole file."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o644)  # mkstemp's 0600 would make run files private to their writer
    try:
        write(tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
