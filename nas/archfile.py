"""`--arch preset:NAME | FILE.json`: resolve the command line's architecture argument."""

from __future__ import annotations

import os
from pathlib import Path

from search_spaces.base import MAX_JSON_CHARS, Architecture
from search_spaces.plugins import resolve_space

PRESET_PREFIX = "preset:"
# A UTF-8 file of MAX_JSON_CHARS characters may take up to 4 bytes a character; indentation adds a little.
MAX_FILE_BYTES = 4 * MAX_JSON_CHARS + 64_000


def load_arch(spec: str) -> Architecture:
    """`preset:NAME` -> the preset in the dense space; anything else is a path to an architecture JSON
    file (`{"space": ..., "genotype": ...}`, as `nas train` writes to `arch.json`).

    Raises `FileNotFoundError` for a missing file and `ValueError` for a bad preset, an oversized or
    invalid file; both messages say what to do.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("--arch is empty; pass preset:NAME (e.g. preset:resnet-20) or an architecture JSON file")
    if spec.startswith(PRESET_PREFIX):
        from search_spaces.dense import preset_genotype

        name = spec[len(PRESET_PREFIX):]
        return Architecture("dense", preset_genotype(name))
    return _load_file(Path(os.path.expanduser(spec)), spec)


def arch_label(spec: str) -> str:
    """A short name for run directories: the preset name or the file's stem."""
    if spec.startswith(PRESET_PREFIX):
        return spec[len(PRESET_PREFIX):]
    return Path(spec).stem or "arch"


def _load_file(path: Path, spec: str) -> Architecture:
    if not path.exists():
        hint = ""
        if not spec.endswith(".json") and os.sep not in spec:
            hint = f"; for a preset write preset:{spec}"
        raise FileNotFoundError(f"architecture file {spec!r} not found{hint} "
                                "(--arch takes preset:NAME or a JSON file)")
    if path.is_dir():
        raise IsADirectoryError(f"architecture path {spec!r} is a directory; "
                                "pass the JSON file (e.g. RUN_DIR/arch.json)")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"architecture file {spec!r} is {size:,} bytes; the limit is {MAX_FILE_BYTES:,}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"architecture file {spec!r} is not UTF-8 text; pass a JSON file") from None
    return validated_arch(text, spec)


def validated_arch(data: str | dict, where: object) -> Architecture:
    """An `Architecture` from JSON text or its dict, validated by its space (a plug-in space named by an
    entry point is registered on lookup); a `ValueError` prefixed with `where` otherwise."""
    try:
        arch = Architecture.from_json(data) if isinstance(data, str) else Architecture.from_dict(data)
        resolve_space(arch.space).validate(arch)
        return arch
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None
