from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from dataset_files import Evil, write_cifar10

from nas.archfile import load_arch
from nas.cli import main
from nas.data import load_dataset
from nas.export.testing import tiny_dense_arch
from nas.training import accuracy
from search_spaces import default_space

TINY = "synthetic?subset=120&resolution=8&classes=4"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tiny_arch(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(tiny_dense_arch().to_json())
    return path


def saved_accuracy(run_dir: Path, split: str) -> float:
    """Accuracy on `split` of the weights a `nas train` run saved, on the data its config names."""
    config = json.loads((run_dir / "config.json").read_text())
    data = load_dataset(config["dataset"]["spec"], seed=config["seed"])
    arch = load_arch(str(run_dir / "arch.json"))
    model = default_space(arch.space).build(arch, data.num_classes, data.in_channels, data.input_size)
    model.load_state_dict(torch.load(run_dir / "weights.pt", weights_only=True))
    return accuracy(model, data, split, config["train"]["eval_batch_size"])


def test_train_json_and_run_directory(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    arch_file = tiny_arch(tmp_path)
    code, out, err = run(capsys, "train", "--arch", str(arch_file), "--dataset", TINY, "--epochs", "3",
                         "--batch-size", "16", "--runs-dir", str(tmp_path / "runs"), "--name", "t", "--json")
    assert code == 0, err
    info = json.loads(out)  # exactly one JSON object
    assert {"test_accuracy", "val_accuracy", "params", "flops", "run_dir", "train_seconds"} <= set(info)
    assert info["flops"] > 0
    # the reported accuracies are those of the saved weights on the test and validation splits
    assert info["test_accuracy"] == saved_accuracy(Path(info["run_dir"]), "test")
    assert info["val_accuracy"] == saved_accuracy(Path(info["run_dir"]), "val")
    run_dir = Path(info["run_dir"])
    assert run_dir == tmp_path / "runs" / "t"
    files = ["arch.json", "config.json", "metrics.json", "procs", "weights.pt"]  # procs/: nas runs reads it
    assert sorted(p.name for p in run_dir.iterdir()) == files
    arch = load_arch(str(run_dir / "arch.json"))
    assert arch == load_arch(str(arch_file))
    model = default_space("dense").build(arch, 4, 3, 8)
    model.load_state_dict(torch.load(run_dir / "weights.pt", weights_only=True))
    assert sum(p.numel() for p in model.parameters()) == info["params"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert metrics["result"]["test_accuracy"] == info["test_accuracy"] and metrics["result"]["state"] == "complete"
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["epochs"] == 3 and config["train"]["lr"] == 0.1 and config["dataset"]["subset"] == 120
    assert config["data"]["num_classes"] == 4 and config["data"]["input_size"] == 8


def test_train_preset_text_output_and_default_name(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    code, out, err = run(capsys, "train", "--arch", "preset:resnet-8", "--dataset", TINY, "--epochs", "1",
                         "--runs-dir", str(tmp_path), "--optimizer", "adam")
    assert code == 0, err
    assert out.startswith("test accuracy") and len(out.strip().splitlines()) == 1
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.startswith("resnet-8-synthetic-") and (run_dir / "weights.pt").exists()
    assert "dataset synthetic" in err  # logs go to stderr


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    good = write_cifar10(tmp_path / "good")
    corrupt = write_cifar10(tmp_path / "corrupt")
    data = (corrupt / "data_batch_3").read_bytes()
    (corrupt / "data_batch_3").write_bytes(data[: len(data) // 3])
    evil = write_cifar10(tmp_path / "evil")
    (evil / "data_batch_1").write_bytes(pickle.dumps({"data": Evil(tmp_path / "pwned")}, protocol=2))
    return {
        "unknown dataset": (["--dataset", "cifar-10"], "did you mean cifar10"),
        "missing path": (["--dataset", f"cifar10:{tmp_path / 'absent'}"], "not found"),
        "corrupt batch": (["--dataset", f"cifar10:{corrupt}"], "data_batch_3"),
        "malicious batch": (["--dataset", f"cifar10:{evil}"], "refusing"),
        "bad option": (["--dataset", "digits?subset=-3"], "subset"),
        "missing arch": (["--dataset", "digits", "--arch", str(tmp_path / "none.json")], "not found"),
        "existing name": (["--dataset", f"cifar10:{good}", "--name", "taken"], "exists"),
        "bad epochs": (["--dataset", "digits", "--epochs", "0"], "positive"),
        "bad threads": (["--dataset", "digits", "--threads", "0"], "threads"),
        "bad device": (["--dataset", "digits", "--device", "tpu"], "device"),
        "nan loss": (["--dataset", TINY, "--lr", "1e30", "--epochs", "2", "--batch-size", "8"], "diverged"),
    }


def test_bad_input_exits_2_with_one_line(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    cases = bad_input_cases(tmp_path)
    runs = ["--runs-dir", str(tmp_path / "runs")]
    (tmp_path / "runs" / "taken").mkdir(parents=True)
    (tmp_path / "runs" / "taken" / "x").write_text("")
    for what, (args, needle) in cases.items():
        argv = ["train", "--arch", "preset:resnet-8", *runs, *args, "--quiet"]
        if "--arch" in args:
            argv = ["train", *runs, *args, "--quiet"]
        code, out, err = run(capsys, *argv)
        assert code == 2, what
        assert out == "" and len(err.strip().splitlines()) == 1, (what, err)
        assert needle in err, (what, err)
    assert not (tmp_path / "pwned").exists()
    leftovers = [p.name for p in (tmp_path / "runs").iterdir()]
    assert len(leftovers) == 2 and "taken" in leftovers  # + the diverged run; failed loads leave no directory


def test_metrics_are_saved_after_every_epoch(capsys: pytest.CaptureFixture, tmp_path: Path, monkeypatch) -> None:
    """An interrupted run keeps the epochs it finished."""
    import nas.training

    real = nas.training.accuracy
    calls = {"n": 0}

    def interrupt_in_epoch_3(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(nas.training, "accuracy", interrupt_in_epoch_3)
    assert main(["train", "--arch", str(tiny_arch(tmp_path)), "--dataset", TINY, "--epochs", "4", "--batch-size", "16",
                 "--runs-dir", str(tmp_path / "runs"), "--name", "cut", "--quiet"]) == 130  # interrupted
    metrics = json.loads((tmp_path / "runs" / "cut" / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2] and metrics["result"] is None


def test_train_output_into_a_closed_pipe_ends_quietly(tmp_path: Path, nas_into_closed_pipe) -> None:
    arch_file = tiny_arch(tmp_path)
    nas_into_closed_pipe("train", "--arch", str(arch_file), "--dataset", TINY, "--epochs", "1", "--batch-size",
                         "16", "--runs-dir", str(tmp_path / "runs"), "--quiet", "--threads", "1")
