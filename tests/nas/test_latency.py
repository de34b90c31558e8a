"""The one latency measurement and `nas latency measure`."""

from __future__ import annotations

import json

import pytest
import torch

from nas.archfile import load_arch
from nas.cli import main
from nas.latency import LatencySettings, build_arch, fingerprint, iqr, measure, measure_arch, peak_memory_mb

TINY = LatencySettings(input_size=8, repeats=5, warmup=1)


def test_measure_records_the_settings_beside_the_number() -> None:
    m = measure_arch(load_arch("preset:resnet-20"), TINY)
    assert m.latency_ms > 0 and m.iqr_ms >= 0 and m.bound_ms >= m.latency_ms
    assert len(m.times_ms) == TINY.repeats
    for key in ("device", "batch_size", "threads", "input_size", "in_channels", "dtype", "torch", "device_model",
                "loadavg", "clock"):
        assert key in m.settings
    assert m.settings["batch_size"] == 1 and m.settings["input_size"] == 8
    assert torch.get_num_threads() == 1  # restored after the measurement


def test_measure_sees_a_slower_module() -> None:
    fast, slow = torch.nn.Conv2d(3, 4, 1), torch.nn.Sequential(*[torch.nn.Conv2d(3, 3, 5, padding=2)] * 30)
    cpu = LatencySettings(input_size=16, repeats=5, warmup=1, clock="cpu")
    assert measure(slow, cpu).latency_ms > measure(fast, cpu).latency_ms


def test_iqr_and_settings_validation() -> None:
    assert iqr([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2.0)
    assert iqr([7.0]) == 0.0
    with pytest.raises(ValueError, match="threads 1"):
        LatencySettings(threads=2, clock="cpu")
    with pytest.raises(ValueError, match="batch-size"):
        LatencySettings(batch_size=0)


def test_fingerprint_changes_with_the_settings_not_the_repeats() -> None:
    base = LatencySettings()
    assert fingerprint(base) == fingerprint(LatencySettings(repeats=99, warmup=0))
    assert fingerprint(base) != fingerprint(LatencySettings(batch_size=32))
    assert fingerprint(base) != fingerprint(LatencySettings(threads=2))


def test_peak_memory_grows_with_the_batch() -> None:
    arch = load_arch("preset:resnet-20")
    small = peak_memory_mb(build_arch(arch, TINY), TINY)
    big_settings = LatencySettings(input_size=8, batch_size=16)
    big = peak_memory_mb(build_arch(arch, big_settings), big_settings)
    assert big > small > 0


def test_cli_measure_json(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    assert main(["latency", "measure", "preset:resnet-20", "--input-size", "8", "--repeats", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["latency_ms"] > 0 and doc["iqr_ms"] >= 0 and doc["settings"]["input_size"] == 8
    # a run directory: its arch.json and its dataset's input shape
    (tmp_path / "arch.json").write_text(load_arch("preset:resnet-20").to_json())
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "config.json").write_text(json.dumps({"data": {"num_classes": 10, "in_channels": 1, "input_size": 8}}))
    assert main(["latency", "measure", str(tmp_path), "--repeats", "3", "--json", "--format", "pt2"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["settings"]["in_channels"] == 1 and doc["settings"]["format"] == "pt2"


@pytest.mark.parametrize("flags", [["--batch-size", "0"], ["--threads", "abc"], ["--format", "onnx"]])
def test_cli_measure_bad_values_exit_2(flags: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["latency", "measure", "preset:resnet-20", *flags]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_train_evaluator_measures_with_the_shared_function() -> None:
    from nas.evaluators.train import TrainEvaluator
    from nas.training import TrainConfig
    from search_spaces import default_space

    ev = TrainEvaluator(default_space("dense"), "synthetic?subset=60&resolution=8&classes=4",
                        TrainConfig(epochs=1, batch_size=32), measure_latency=True, latency_repeats=3)
    r = ev.evaluate(load_arch("preset:resnet-20"))
    info = r.extra["latency"]
    assert r.latency_ms is not None and r.latency_ms > 0
    assert info["repeats"] == 3 and info["iqr_ms"] >= 0 and info["input_size"] == 8 and "device_model" in info


def test_cli_measures_an_exported_artefact(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    from nas.latency import example_input

    model = build_arch(load_arch("preset:resnet-20"), TINY).eval()
    torch.export.save(torch.export.export(model, (example_input(TINY),)), str(tmp_path / "model.pt2"))
    assert main(["latency", "measure", str(tmp_path / "model.pt2"), "--input-size", "8", "--repeats", "3",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["latency_ms"] > 0 and doc["settings"]["format"] == "pt2"
