"""`--dataset NAME[:PATH][?subset=N&resolution=R&val=F&classes=K]`: the parsed `DataSpec`."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Any

OPTIONS = ("subset", "resolution", "val", "classes")
DEFAULT_VAL = 0.1


@dataclass(frozen=True)
class DataSpec:
    """What to load: a registered format, its path, and how to cut it.

    - `subset`: draw this many training images, class-balanced, before the validation split;
    - `resolution`: resize to R x R (bilinear; the format's native size when None);
    - `val`: fraction of the (subset) training images held out for validation, stratified;
    - `classes`: keep only the first K classes (label < K).
    """

    name: str
    path: str | None = None
    subset: int | None = None
    resolution: int | None = None
    val: float = DEFAULT_VAL
    classes: int | None = None

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("dataset name is empty; use NAME[:PATH][?subset=N&resolution=R], e.g. digits")
        for key in ("subset", "resolution", "classes"):
            v = getattr(self, key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ValueError(f"dataset option {key}={v!r} must be a positive integer")
        if self.resolution is not None and self.resolution > 1024:
            raise ValueError(f"dataset option resolution={self.resolution} is above 1024; use a smaller size")
        if self.classes is not None and self.classes < 2:
            raise ValueError("dataset option classes must be at least 2")
        if not 0.0 <= self.val < 1.0:
            raise ValueError(f"dataset option val={self.val} must be a fraction in [0, 1)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        text = self.name + (f":{self.path}" if self.path else "")
        opts = [f"{k}={getattr(self, k)}" for k in OPTIONS
                if getattr(self, k) is not None and not (k == "val" and self.val == DEFAULT_VAL)]
        return text + ("?" + "&".join(opts) if opts else "")


def parse_dataset_spec(spec: str) -> DataSpec:
    """Parse `NAME[:PATH][?key=value&...]`. The path may itself contain ':'; `~` is expanded.
    Unknown option keys and malformed values raise `ValueError`."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("--dataset is empty; use NAME[:PATH][?subset=N&resolution=R], e.g. digits")
    spec = spec.strip()
    cut = min((i for i in (spec.find(":"), spec.find("?")) if i >= 0), default=len(spec))
    name, rest = spec[:cut], spec[cut:]
    path, query = "", ""
    if rest.startswith("?"):
        query = rest[1:]
    elif rest.startswith(":"):
        path, sep, query = rest[1:].rpartition("?")
        if not sep or "=" not in query:  # no options: a '?' inside the path stays in the path
            path, query = rest[1:], ""
        if not path:
            raise ValueError(f"--dataset {spec!r}: the path after ':' is empty")
    from nas.config_util import query_options, typed_options

    options = typed_options(DataSpec, query_options(query, "--dataset"), "--dataset", exclude=("name", "path"))
    return DataSpec(name=name.strip().lower(), path=os.path.expanduser(path) if path else None, **options)
