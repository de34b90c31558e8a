"""Take the network away: `model.py` (plain torch), `weights.pt`, `arch.json`, `model.pt2`, `model.onnx`,
or an artefact format of your own (`register_format`, `--format module:attr`; see nas/export/formats.py).

`export(space, info, out, formats)` writes and checks one architecture; `load_run(run_dir)` reads a
run's pick; `info_from_run` turns it into the `ModelInfo` that model.py's docstring and constants show.
"""

from __future__ import annotations

from typing import Any

from nas.export.exporter import ExportResult, export, format_names, parse_formats
from nas.export.formats import ONNX_INSTALL, ArtefactFormat, register_format
from nas.export.model_file import ModelInfo, class_name, model_source
from nas.export.run_dir import RunInfo, load_run
from nas.export.sources import CAPABILITY, has_source, network_code

__all__ = ["CAPABILITY", "ONNX_INSTALL", "ArtefactFormat", "ExportResult", "ModelInfo", "RunInfo", "class_name",
           "export", "format_names", "has_source", "info_from_run", "load_run", "model_source", "network_code",
           "parse_formats", "register_format", "space_for_run"]


def space_for_run(run: RunInfo) -> Any:
    """The space that built the run's networks: the search's configured `--space` when it names the
    pick's space (options such as channels change what `build` makes), else the registered one."""
    from search_spaces.plugins import resolve_space

    if run.space_spec:
        try:
            space = resolve_space(run.space_spec)
            if space.name == run.arch.space:
                return space
        except ValueError:
            pass
    return resolve_space(run.arch.space)


def info_from_run(run: RunInfo) -> ModelInfo:
    d = run.data
    return ModelInfo(run.arch, int(d["num_classes"]), int(d["in_channels"]), int(d["input_size"]), label=run.label,
                     source=f"run {run.run_dir} (nas {run.kind})", dataset=d.get("dataset"), trained=True,
                     class_names=d.get("class_names"), mean=d.get("mean"), std=d.get("std"), metrics=run.metrics)
