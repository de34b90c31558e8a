"""The check of model.py + weights.pt in a fresh interpreter that cannot import this project (other
artefacts are checked through their format: `nas.export.formats.check_artefact`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from nas.export.codegen import PROJECT_PACKAGES

TOLERANCE = 1e-5  # model.py runs the same modules: outputs agree to rounding
ARTEFACT_TOLERANCE = 1e-4  # torch.export / ONNX may fuse or reorder operations

# Runs in `python -I`: only torch and the standard library; importing this project fails.
FRESH_SCRIPT = """
import importlib.util, json, sys
for name in {blocked!r}:
    sys.modules[name] = None
import torch
torch.set_num_threads(1)
folder, data_path, class_name = sys.argv[1:4]
spec = importlib.util.spec_from_file_location("exported_model", folder + "/model.py")
module = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = module  # dataclasses look their module up
spec.loader.exec_module(module)
net = getattr(module, class_name)()
net.load_state_dict(torch.load(folder + "/weights.pt", weights_only=True), strict=True)
net.eval()
data = torch.load(data_path, weights_only=True)
with torch.no_grad():
    diffs = [(net(x) - y).abs().max().item() for x, y in zip(data["x"], data["y"])]
print(json.dumps({{"max_abs_diff": max(diffs)}}))
"""


def load_exported(folder: Path, class_name: str) -> torch.nn.Module:
    """model.py + weights.pt of an export folder, imported in this process (benchmarks and tests;
    the export's own check runs them in a fresh interpreter instead)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"exported_{folder.name}_{class_name}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    net = getattr(module, class_name)()
    net.load_state_dict(torch.load(folder / "weights.pt", weights_only=True), strict=True)
    return net.eval()


def example_inputs(in_channels: int, input_size: int, batches: tuple[int, ...] = (1, 3)) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randn(b, in_channels, input_size, input_size, generator=g) for b in batches]


def reference_outputs(model: torch.nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        return [model(x) for x in inputs]


def scale(ys: list[torch.Tensor]) -> float:
    return max(1.0, max(y.abs().max().item() for y in ys))


def check_model_py(folder: Path, class_name: str, inputs: list[torch.Tensor], expected: list[torch.Tensor],
                   timeout: float = 600) -> float:
    """Max abs difference of model.py + weights.pt against `expected`; `ValueError` on a mismatch or a failure."""
    with tempfile.TemporaryDirectory(prefix="nas-export-check-") as tmp:
        data_path = Path(tmp) / "data.pt"
        torch.save({"x": inputs, "y": expected}, data_path)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([sys.executable, "-I", "-B", "-c", FRESH_SCRIPT.format(blocked=PROJECT_PACKAGES),
                               str(folder), str(data_path), class_name],
                              capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"the exported model.py fails in a fresh Python: {last}")
    diff = float(json.loads(proc.stdout.strip().splitlines()[-1])["max_abs_diff"])
    if not diff <= TOLERANCE * scale(expected):
        raise ValueError(f"the exported model.py disagrees with the framework's module (max abs difference "
                         f"{diff:.3g}); nothing was written: please report this as a bug")
    return diff
