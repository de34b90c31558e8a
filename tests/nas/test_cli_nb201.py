"""The CLI with the NB201 space and plug-in spaces: describe, space, train; bad input exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_cli_train import saved_accuracy

from nas.cli import main
from search_spaces import SPACES, default_space
from search_spaces import base as space_base

IDX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
EXAMPLE = "search_spaces.examples.mobilenet_chain:MobileNetChain"


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def arch_file(tmp_path: Path) -> Path:
    path = tmp_path / "nb201.json"
    path.write_text(default_space("nb201").from_string(IDX0).to_json())
    return path


@pytest.fixture(autouse=True)
def restore_registry() -> None:
    names, defaults = set(SPACES.names()), dict(space_base._DEFAULTS)
    yield
    for name in set(SPACES.names()) - names:
        SPACES.unregister(name)
    space_base._DEFAULTS.clear()
    space_base._DEFAULTS.update(defaults)


def test_describe_nb201_arch(capsys: pytest.CaptureFixture, arch_file: Path) -> None:
    code, out, _ = run(capsys, "describe", str(arch_file), "--json")
    info = json.loads(out)
    assert code == 0 and info["space"] == "nb201" and (info["params"], info["flops"]) == (129_306, 15_647_360)


def test_space_commands_take_names_and_module_attr(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "space", "describe", "--space", "nb201", "--json")
    assert code == 0 and json.loads(out)["size"] == 15_625
    code, out, _ = run(capsys, "space", "sample", "--space", EXAMPLE, "--seed", "1", "--json")
    arch = json.loads(out)
    assert code == 0 and arch["space"] == "mobilenet_chain" and len(arch["genotype"]["blocks"]) == 5


@pytest.mark.parametrize("spec,message", [
    ("no_such_pkg_xyz:Space", "cannot import no_such_pkg_xyz"),
    ("json:dumps", "is not a SearchSpace"),
    ("nb2O1", "unknown search space 'nb2O1'; did you mean nb201"),
])
def test_bad_space_exits_2_with_one_line(capsys: pytest.CaptureFixture, spec: str, message: str) -> None:
    code, out, err = run(capsys, "space", "sample", "--space", spec)
    assert code == 2 and out == "" and message in err and len(err.strip().splitlines()) == 1


def test_bad_nb201_arch_file_exits_2(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"space": "nb201", "genotype": {"edges": ["nor_conv_3x3"] * 5}}))
    code, _, err = run(capsys, "describe", str(path))
    assert code == 2 and "5 edge(s); a NAS-Bench-201 cell has 6" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # the benchmark's full 17-cell network, at 8x8
def test_train_nb201_arch(capsys: pytest.CaptureFixture, arch_file: Path, tmp_path: Path) -> None:
    data = "synthetic?classes=3&resolution=8&subset=48"
    code, out, _ = run(capsys, "train", "--arch", str(arch_file), "--dataset", data, "--epochs", "1",
                       "--batch-size", "16", "--runs-dir", str(tmp_path / "runs"), "--quiet", "--json")
    summary = json.loads(out)
    assert code == 0 and summary["test_accuracy"] == saved_accuracy(Path(summary["run_dir"]), "test")
    shape = default_space("nb201").shape(default_space("nb201").from_string(IDX0), 3, 3, 8)
    assert (summary["params"], summary["flops"]) == (shape.params, shape.macs)
    run_dir = Path(summary["run_dir"])
    assert json.loads((run_dir / "arch.json").read_text())["space"] == "nb201"
