"""Every space exports, and the exported model.py + weights.pt compute what the framework's module does:
presets, 20 sampled dense architectures, 10 NAS-Bench-201 cells and the example space, all loaded in ONE
fresh Python in which this project cannot be imported; model.pt2 for a few of them in the same process."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nas.export import ModelInfo, export
from nas.export.codegen import PROJECT_PACKAGES
from search_spaces import Architecture, default_space
from search_spaces.dense import preset_genotype
from search_spaces.dense.shapes import analyze
from search_spaces.plugins import resolve_space

SIZE, CLASSES, CHANNELS = 8, 10, 3
PRESETS = ("resnet-20", "densenet-bc-100-12", "fractalnet-3-3", "hardnet-8-16", "vovnet-4-32")
EXAMPLE = "search_spaces.examples.mobilenet_chain:MobileNetChain"
WITH_PT2 = ("resnet-20", "nb201-0", "example-0")  # torch.export is slow: a few of each kind


def _cases() -> list[tuple[str, Any, Architecture, str | None]]:
    dense = default_space("dense")
    cases = [(name, dense, Architecture("dense", preset_genotype(name)), name) for name in PRESETS]
    rng = np.random.default_rng(15)
    sampled: dict[str, Architecture] = {}
    while len(sampled) < 20:
        arch = dense.sample(rng)
        try:
            analyze(dense.parse(arch), CLASSES, CHANNELS, SIZE)
        except ValueError:  # pools an 8 x 8 input away: not exportable at this size
            continue
        sampled.setdefault(arch.key(), arch)
    cases += [(f"dense-{i}", dense, a, None) for i, a in enumerate(sampled.values())]
    nb201 = default_space("nb201")
    cells: dict[str, Architecture] = {}
    while len(cells) < 10:
        a = nb201.sample(rng)
        cells.setdefault(a.key(), a)
    cases += [(f"nb201-{i}", nb201, a, None) for i, a in enumerate(cells.values())]
    example = resolve_space(EXAMPLE)
    cases += [(f"example-{i}", example, example.sample(rng), None) for i in range(2)]
    return cases


CASES = _cases()

CHECK_SCRIPT = """
import importlib.util, json, sys
for name in {blocked!r}:
    sys.modules[name] = None
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
try:
    import nas  # noqa
    importable = True
except ImportError:
    importable = False
data = torch.load(sys.argv[1], weights_only=True)
out = {{"project_importable": importable, "cases": {{}}}}
for i, case in enumerate(data):
    spec = importlib.util.spec_from_file_location(f"exported_{{i}}", case["dir"] + "/model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    net = getattr(module, case["class_name"])()
    net.load_state_dict(torch.load(case["dir"] + "/weights.pt", weights_only=True), strict=True)
    net.eval()
    with torch.no_grad():
        r = {{"eval": max((net(case[x]) - case[y]).abs().max().item() for x, y in (("x1", "y1"), ("x8", "y8")))}}
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss = F.cross_entropy(net(case["x8"]), case["labels"])
    loss.backward()
    opt.step()
    r["loss1"] = abs(loss.item() - case["loss1"])
    r["loss2"] = abs(F.cross_entropy(net(case["x8"]), case["labels"]).item() - case["loss2"])
    if case["pt2"]:
        program = torch.export.load(case["dir"] + "/model.pt2").module()
        with torch.no_grad():
            r["pt2"] = max((program(case[x]) - case[y]).abs().max().item() for x, y in (("x1", "y1"), ("x8", "y8")))
    out["cases"][case["name"]] = r
out["project_loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
print(json.dumps(out))
"""


def _reference(space: Any, arch: Architecture, folder: Path, seed: int) -> dict[str, Any]:
    """The framework's module with the exported weights: eval outputs at batch 1 and 8, and the loss
    before and after one SGD step in training mode."""
    model = space.build(arch, CLASSES, CHANNELS, SIZE)
    model.load_state_dict(torch.load(folder / "weights.pt", weights_only=True), strict=True)  # same keys
    g = torch.Generator().manual_seed(seed)
    x1, x8 = torch.randn(1, CHANNELS, SIZE, SIZE, generator=g), torch.randn(8, CHANNELS, SIZE, SIZE, generator=g)
    labels = torch.randint(0, CLASSES, (8,), generator=g)
    model.eval()
    with torch.no_grad():
        y1, y8 = model(x1), model(x8)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = F.cross_entropy(model(x8), labels)
    loss.backward()
    opt.step()
    loss2 = F.cross_entropy(model(x8), labels).item()
    return {"x1": x1, "x8": x8, "y1": y1, "y8": y8, "labels": labels, "loss1": loss.item(), "loss2": loss2}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("exports")
    data = []
    for seed, (name, space, arch, label) in enumerate(CASES):
        info = ModelInfo(arch, CLASSES, CHANNELS, SIZE, label=label, source="test")
        formats = ("py", "pt2") if name in WITH_PT2 else ("py",)
        result = export(space, info, root / name, formats, verify=False, seed=seed)  # checked below, all at once
        data.append({"name": name, "dir": str(result.out), "class_name": result.class_name, "pt2": "pt2" in formats,
                     **_reference(space, arch, result.out, seed)})
    torch.save(data, root / "cases.pt")
    proc = subprocess.run([sys.executable, "-I", "-B", "-c", CHECK_SCRIPT.format(blocked=PROJECT_PACKAGES),
                           str(root / "cases.pt")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"out": json.loads(proc.stdout.strip().splitlines()[-1]), "root": root}


def test_the_fresh_process_cannot_import_the_project(checked: dict[str, Any]) -> None:
    assert checked["out"]["project_importable"] is False
    assert checked["out"]["project_loaded"] == []
    assert set(checked["out"]["cases"]) == {name for name, *_ in CASES}


@pytest.mark.parametrize("name", [c[0] for c in CASES])
def test_exported_model_matches_the_framework(checked: dict[str, Any], name: str) -> None:
    r = checked["out"]["cases"][name]
    assert r["eval"] <= 1e-5, r
    assert r["loss1"] <= 1e-5 and r["loss2"] <= 1e-5, r
    if name in WITH_PT2:
        assert r["pt2"] <= 1e-5, r


def test_model_py_is_compact_and_named(checked: dict[str, Any]) -> None:
    root = checked["root"]
    resnet = (root / "resnet-20" / "model.py").read_text()
    densenet = (root / "densenet-bc-100-12" / "model.py").read_text()
    assert "class ResNet20(Network):" in resnet and "class DenseNetBC100_12(Network):" in densenet
    assert "def __init__(self) -> None:" in resnet
    # DenseNet-BC-100 has 48 layers per block: loops over data keep it as short as ResNet-20 (no unrolling)
    assert len(densenet.splitlines()) <= len(resnet.splitlines()) + 5 < 400
    for text in (resnet, densenet, (root / "nb201-0" / "model.py").read_text()):
        assert not re.search(r"^\s*(from|import)\s+(nas|search_spaces|predictors)\b", text, re.MULTILINE)
        assert "def preprocess(" in text and "fresh initialisation" in text
