"""`nas export`: from --arch, from a `nas train` run and from a search run's directory; bad input is exit 2
with one line and leaves nothing behind; a model.py that disagrees with the framework is an error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from test_cli_train import TINY, run, tiny_arch  # the same tiny run and architecture

import nas.export.exporter as exporter
import nas.export.formats as formats
from nas.export import ModelInfo, class_name, export
from nas.export.check import load_exported
from nas.export.codegen import check_standalone
from search_spaces import Architecture, default_space
from search_spaces.dense import preset_genotype
from search_spaces.plugins import resolve_space


def error_line(code: int, err: str) -> str:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_export_arch_writes_checked_files(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    arch_file = tiny_arch(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "export", "--arch", str(arch_file), "--out", str(out), "--input-size", "8",
                            "--num-classes", "4", "--json", "--quiet")
    assert code == 0, err
    info = json.loads(stdout)
    assert sorted(info["files"]) == ["arch.json", "model.py", "weights.pt"] == sorted(p.name for p in out.iterdir())
    key = Architecture.from_json(arch_file.read_text()).key()
    assert info["checks"]["py"] <= 1e-5 and info["class_name"] == f"Dense_{key[:8]}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny.json"]  # no temporary folder left
    arch = Architecture.from_dict(json.loads((out / "arch.json").read_text()))
    model = default_space("dense").build(arch, 4, 3, 8)
    model.load_state_dict(torch.load(out / "weights.pt", weights_only=True), strict=True)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(load_exported(out, info["class_name"])(x), model.eval()(x), atol=1e-6)
    text = (out / "model.py").read_text()
    assert "NUM_CLASSES = 4" in text and "INPUT_SIZE = 8" in text and "fresh initialisation" in text


def test_export_a_train_run(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, stdout, err = run(capsys, "train", "--arch", str(tiny_arch(tmp_path)), "--dataset", TINY, "--epochs", "1",
                            "--batch-size", "32", "--runs-dir", str(tmp_path / "runs"), "--name", "t", "--json",
                            "--quiet")
    assert code == 0, err
    run_dir = Path(json.loads(stdout)["run_dir"])
    code, stdout, err = run(capsys, "export", str(run_dir), "--format", "py,pt2", "--json", "--quiet")
    assert code == 0, err
    info = json.loads(stdout)
    out = run_dir / "export"
    assert info["out"] == str(out) and {"model.py", "weights.pt", "arch.json", "model.pt2"} == set(info["files"])
    assert info["checks"]["py"] <= 1e-5 and info["checks"]["pt2"] <= 1e-4
    trained = torch.load(run_dir / "weights.pt", weights_only=True)
    exported = torch.load(out / "weights.pt", weights_only=True)
    assert trained.keys() == exported.keys() and all(torch.equal(trained[k], exported[k]) for k in trained)
    data = json.loads((run_dir / "config.json").read_text())["data"]
    text = (out / "model.py").read_text()
    assert f"MEAN = {tuple(data['mean'])}" in text and f"CLASS_NAMES = {tuple(data['class_names'])}" in text
    assert "test accuracy" in text and "trained weights of the run" in text and str(run_dir) in text
    program = torch.export.load(str(out / "model.pt2")).module()
    for batch in (1, 5):  # the batch dimension is dynamic
        assert program(torch.randn(batch, 3, 8, 8)).shape == (batch, 4)
    code, _, err = run(capsys, "export", str(run_dir), "--quiet")
    assert "exists" in error_line(code, err) and "--force" in err
    (out / "stale.txt").write_text("old")
    code, _, err = run(capsys, "export", str(run_dir), "--force", "--no-check", "--quiet")
    assert code == 0, err
    assert not (out / "stale.txt").exists() and (out / "model.py").is_file()
    assert sorted(p.name for p in run_dir.iterdir()) == ["arch.json", "config.json", "export", "metrics.json",
                                                         "procs", "weights.pt"]
    code, _, err = run(capsys, "export", str(run_dir), "--num-classes", "3", "--quiet")
    assert "config.json" in error_line(code, err)
    (run_dir / "weights.pt").unlink()
    code, _, err = run(capsys, "export", str(run_dir), "--out", str(tmp_path / "x"), "--quiet")
    assert "no trained weights" in error_line(code, err) and not (tmp_path / "x").exists()


def write_search_run(root: Path, weights: str | None = "weights.pt") -> Path:
    """A search run in the pipeline's shape: results.json with best.arch and best.weights (relative), the
    pick's arch.json at the root and the train command's data block in config.json."""
    space = default_space("nb201")
    arch = space.from_string("|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|")
    root.mkdir()
    data = {"dataset": "synthetic?classes=3", "num_classes": 3, "class_names": ["a", "b", "c"], "in_channels": 1,
            "input_size": 8, "mean": [0.25], "std": [0.5]}
    (root / "config.json").write_text(json.dumps({"command": "search", "search": {"space": "nb201"}, "data": data}))
    best: dict[str, Any] = {"arch": arch.to_dict(), "val_accuracy": 0.625, "test_accuracy": 0.5, "params": 1}
    if weights:
        best["weights"] = weights
        torch.save(space.build(arch, 3, 1, 8).state_dict(), root / "retrain-1.pt")
    (root / "results.json").write_text(json.dumps({"format_version": 1, "best": best, "trials": []}))
    (root / "arch.json").write_text(arch.to_json())
    return root


def test_export_a_search_run(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    run_dir = write_search_run(tmp_path / "search", weights="retrain-1.pt")
    out = tmp_path / "exported"
    code, stdout, err = run(capsys, "export", str(run_dir), "--out", str(out), "--json", "--quiet")
    assert code == 0, err
    info = json.loads(stdout)
    assert info["checks"]["py"] <= 1e-5 and info["class_name"].startswith("NB201_")
    text = (out / "model.py").read_text()
    assert "validation accuracy 62.50%" in text and "test accuracy 50.00%" in text
    assert "CLASS_NAMES = ('a', 'b', 'c')" in text and "MEAN = (0.25,)" in text and "IN_CHANNELS = 1" in text
    net = load_exported(out, info["class_name"])
    assert net(torch.zeros(2, 1, 8, 8)).shape == (2, 3)


@pytest.mark.parametrize("weights", [None, "missing.pt", "../outside.pt"])
def test_search_run_without_trained_weights(capsys: pytest.CaptureFixture, tmp_path: Path, weights: str | None) -> None:
    run_dir = write_search_run(tmp_path / "search", weights=None)
    if weights:
        results = json.loads((run_dir / "results.json").read_text())
        results["best"]["weights"] = weights
        (run_dir / "results.json").write_text(json.dumps(results))
    code, _, err = run(capsys, "export", str(run_dir), "--quiet")
    line = error_line(code, err)
    assert ("outside" in line) if weights == "../outside.pt" else ("no trained weights" in line)
    assert not (run_dir / "export").exists()


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    code, _, err = run(capsys, "export", str(tmp_path / "empty"))
    assert "not a run directory" in error_line(code, err)
    code, _, err = run(capsys, "export", str(tmp_path / "nowhere"))
    assert "not a directory" in error_line(code, err)
    code, _, err = run(capsys, "export", "--arch", "preset:resnet-20", "--format", "py,pt")
    assert "did you mean pt2" in error_line(code, err)
    code, _, err = run(capsys, "export", str(tmp_path / "empty"), "--arch", "preset:resnet-20")
    assert "either" in error_line(code, err)
    monkeypatch.setattr(formats.Onnx, "missing", lambda self: 'needs pip install -e ".[onnx]"')
    out = tmp_path / "onnx"
    code, _, err = run(capsys, "export", "--arch", str(tiny_arch(tmp_path)), "--format", "onnx", "--out", str(out))
    assert 'pip install -e ".[onnx]"' in error_line(code, err) and not out.exists()


def test_a_model_py_that_disagrees_is_an_error(capsys: pytest.CaptureFixture, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    real = exporter.model_source

    def drifted(info: ModelInfo, network: Any) -> str:  # a generator that drifted from the builder
        return real(info, network) + "\n\nNetwork.forward = lambda self, x: DenseNetwork.forward(self, x) * 1.01\n"

    monkeypatch.setattr(exporter, "model_source", drifted)
    out = tmp_path / "out"
    code, _, err = run(capsys, "export", "--arch", str(tiny_arch(tmp_path)), "--input-size", "8", "--out", str(out),
                        "--quiet")
    assert "disagrees" in error_line(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.json"]  # nothing half-written


class NoSource:
    """The example space without its optional source(arch) capability."""

    def __init__(self) -> None:
        self._space = resolve_space("search_spaces.examples.mobilenet_chain:MobileNetChain")
        self.name = self._space.name

    def __getattr__(self, attr: str) -> Any:
        if attr == "source":
            raise AttributeError(attr)
        return getattr(self._space, attr)


def test_a_space_without_source_exports_pt2_but_not_py(tmp_path: Path) -> None:
    space = NoSource()
    arch = space.sample(__import__("numpy").random.default_rng(0))
    info = ModelInfo(arch, 10, 3, 8)
    with pytest.raises(ValueError, match=r"source\(arch\)") as e:
        export(space, info, tmp_path / "py")
    assert len(str(e.value).splitlines()) == 1 and not (tmp_path / "py").exists()
    result = export(space, info, tmp_path / "pt2", ("pt2",))
    assert sorted(result.files) == ["arch.json", "model.pt2", "weights.pt"] and result.checks["pt2"] <= 1e-4


def test_onnx_export_runs_under_onnxruntime(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the optional [onnx] extra is not installed")
    pytest.importorskip("onnxscript", reason="the optional [onnx] extra is not installed")
    pytest.importorskip("onnxruntime", reason="the optional [onnx] extra is not installed")
    arch = Architecture.from_json(tiny_arch(tmp_path).read_text())
    result = export(default_space("dense"), ModelInfo(arch, 4, 3, 8), tmp_path / "o", ("onnx",))
    assert "model.onnx" in result.files and result.checks["onnx"] is not None and result.checks["onnx"] <= 1e-4


def test_generated_code_must_stand_alone() -> None:
    with pytest.raises(ValueError, match="import search_spaces"):
        check_standalone("import torch\ndef f():\n    import search_spaces.dense\n")
    with pytest.raises(ValueError, match="exec"):
        check_standalone("exec('x = 1')\n")
    check_standalone("import torch\nfrom torch import nn\n")


def test_class_names() -> None:
    dense = Architecture("dense", preset_genotype("resnet-20"))
    assert class_name(dense, "resnet-20") == "ResNet20"
    assert class_name(dense, "densenet-bc-100-12") == "DenseNetBC100_12"
    assert class_name(dense, "resnet-20-b") == "ResNet20B"
    assert class_name(dense) == f"Dense_{dense.key()[:8]}"


def test_a_smash_run_with_the_weights_path_as_given(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """SMASH runs so far wrote best.weights as the path on the command line (run dir included)."""
    monkeypatch.chdir(tmp_path)
    run_dir = write_search_run(Path("search"), weights="retrain-1.pt")
    results = json.loads((run_dir / "results.json").read_text())
    results["best"]["weights"] = str(run_dir / "retrain-1.pt")  # "search/retrain-1.pt"
    (run_dir / "results.json").write_text(json.dumps(results))
    code, stdout, err = run(capsys, "export", str(run_dir), "--no-check", "--json", "--quiet")
    assert code == 0, err
    exported = torch.load(run_dir / "export" / "weights.pt", weights_only=True)
    trained = torch.load(run_dir / "retrain-1.pt", weights_only=True)
    assert all(torch.equal(exported[k], trained[k]) for k in trained)
