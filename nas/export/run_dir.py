"""Read what `nas export RUN_DIR` needs from a run directory: the pick, its trained weights, the data
block (classes, input shape, normalisation) and the measured numbers.

Two shapes (runs/README.md): a `nas train` run (config.json, arch.json, weights.pt, metrics.json) and
a search run (results.json with `best.arch` and `best.weights`, a path relative to the run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from nas.archfile import MAX_FILE_BYTES
from nas.errors import UserError
from search_spaces.base import Architecture

METRIC_KEYS = ("val_accuracy", "test_accuracy", "params", "flops", "latency_ms")
RETRAIN_HINT = "retrain the pick with: nas train --arch {run}/arch.json --dataset ..."


@dataclass
class RunInfo:
    run_dir: Path
    kind: str  # "train" or "search"
    arch: Architecture
    weights_path: Path
    data: dict[str, Any]
    space_spec: str | None = None  # the search's --space, when it configured one
    label: str | None = None  # a preset's name
    metrics: dict[str, Any] = field(default_factory=dict)

    def weights(self) -> dict[str, torch.Tensor]:
        try:
            state = torch.load(self.weights_path, map_location="cpu", weights_only=True)
        except Exception as e:  # a truncated or foreign file: say which
            raise UserError(f"cannot read {self.weights_path}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
        if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise UserError(f"{self.weights_path} is not a state_dict (a dict of tensors)")
        return state


def read_json(path: Path) -> Any:
    if path.stat().st_size > MAX_FILE_BYTES * 4:
        raise UserError(f"{path} is too large to be a run's JSON file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); is the run still being written?") from None


def load_run(run_dir: Path) -> RunInfo:
    """The run's pick; `UserError` when `run_dir` is not a run or has no trained weights."""
    if not run_dir.is_dir():
        raise UserError(f"{run_dir} is not a directory; pass a run directory (runs/<name>) or --arch")
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass one written by nas train or "
                        "nas search, or export an architecture with --arch")
    config = read_json(config_path)
    if not isinstance(config, dict):
        raise UserError(f"{config_path} is not a JSON object")
    results_path = run_dir / "results.json"
    if results_path.is_file():
        info = _search_run(run_dir, config, read_json(results_path))
    else:
        info = _train_run(run_dir, config)
    if not info.weights_path.is_file():
        raise UserError(f"run {run_dir} has no trained weights ({info.weights_path.name} is missing: training did "
                        f"not finish?); " + RETRAIN_HINT.format(run=run_dir))
    return info


def _train_run(run_dir: Path, config: dict[str, Any]) -> RunInfo:
    arch_path = run_dir / "arch.json"
    if not arch_path.is_file():
        raise UserError(f"{run_dir} is not a finished run: it has config.json but neither results.json nor arch.json")
    arch = _arch(read_json(arch_path), arch_path)
    metrics: dict[str, Any] = {}
    metrics_path = run_dir / "metrics.json"
    if metrics_path.is_file():
        result = read_json(metrics_path).get("result") or {}
        metrics = {k: result.get(k) for k in METRIC_KEYS if result.get(k) is not None}
    spec = config.get("arch")
    label = spec[len("preset:"):] if isinstance(spec, str) and spec.startswith("preset:") else None
    return RunInfo(run_dir, "train", arch, run_dir / "weights.pt", _data(config, run_dir), label=label,
                   metrics=metrics)


def _search_run(run_dir: Path, config: dict[str, Any], results: Any) -> RunInfo:
    best = results.get("best") if isinstance(results, dict) else None
    if not isinstance(best, dict) or not isinstance(best.get("arch"), dict):
        raise UserError(f"run {run_dir} has no pick yet (results.json has no best.arch); let the search finish "
                        f"(nas search --resume {run_dir})")
    arch = _arch(best["arch"], run_dir / "results.json")
    rel = best.get("weights")
    if not isinstance(rel, str) or not rel:
        raise UserError(f"run {run_dir} has no trained weights for its pick (results.json best.weights is missing); "
                        + RETRAIN_HINT.format(run=run_dir))
    # relative to the run directory; older SMASH runs wrote the path as given on the command line
    inside = [p.resolve() for p in (run_dir / rel, Path(rel)) if p.resolve().is_relative_to(run_dir.resolve())]
    if not inside:
        raise UserError(f"run {run_dir}: best.weights {rel!r} points outside the run directory")
    weights = next((p for p in inside if p.is_file()), inside[0])
    metrics = {k: best.get(k) for k in METRIC_KEYS if isinstance(best.get(k), (int, float))}
    search = config.get("search") if isinstance(config.get("search"), dict) else {}
    space_spec = search.get("space") if isinstance(search.get("space"), str) else None
    data = _data(config, run_dir, fallback=results.get("dataset") if isinstance(results, dict) else None)
    return RunInfo(run_dir, "search", arch, weights, data, space_spec=space_spec, metrics=metrics)


def _arch(data: Any, where: Path) -> Architecture:
    from nas.archfile import validated_arch

    try:
        return validated_arch(data, where)
    except ValueError as e:
        raise UserError(str(e)) from None


def _data(config: dict[str, Any], run_dir: Path, fallback: Any = None) -> dict[str, Any]:
    """The data block: num_classes, in_channels, input_size, mean, std (and dataset, class_names if there)."""
    for block in (config.get("data"), fallback):
        if isinstance(block, dict) and all(isinstance(block.get(k), int) for k in
                                           ("num_classes", "in_channels", "input_size")):
            return block
    raise UserError(f"run {run_dir}: config.json has no data block (num_classes, in_channels, input_size); "
                    "was it written by an older version? export its arch.json with --arch and the flags instead")
