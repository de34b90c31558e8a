"""`--init preset:NAME,...|FILE,...`: the first trials of a search are these architectures.

Each is enqueued (`study.enqueue_trial`) with the parameters that make the space's `suggest` return
it, so every Optuna-sampler strategy (TPE, evolution, random, GP, ...) evaluates them first; the
evolution sampler also draws its parents from them until its population is full (mutation starts
from them). An architecture outside the space is refused with a hint (`dense?around=NAME`).
"""

from __future__ import annotations

from typing import Any

from search_spaces.base import Architecture

INIT_ATTR = "init"


def init_archs(spec: str) -> list[tuple[str, Architecture]]:
    """(label, architecture) for each comma-separated item: `preset:NAME` (later bare names are
    presets too), or an architecture JSON file."""
    from nas.archfile import PRESET_PREFIX, arch_label, load_arch

    items = [t.strip() for t in spec.split(",") if t.strip()]
    if not items:
        raise ValueError("--init is empty; pass preset:NAME[,NAME...] or architecture JSON files")
    out, presets = [], False
    for item in items:
        if item.startswith(PRESET_PREFIX):
            presets = True
        elif presets and not item.endswith(".json"):
            item = PRESET_PREFIX + item
        out.append((arch_label(item), load_arch(item)))
    return out


def enqueue_init(study: Any, space: Any, spec: str) -> list[str]:
    """Enqueue the `--init` architectures as the study's first trials; returns their labels."""
    from nas.search.adapter import params_of

    labels = []
    for label, arch in init_archs(spec):
        if arch.space != space.name:
            raise ValueError(f"--init {label} is a {arch.space!r} architecture; the search space is {space.name!r}")
        params = params_of(space, arch)
        if params is None:
            raise ValueError(f"--init {label} lies outside the search space; search around it with "
                             f"--space 'dense?around={label}'")
        study.enqueue_trial(params, user_attrs={INIT_ATTR: label})
        labels.append(label)
    return labels
