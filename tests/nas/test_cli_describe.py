from __future__ import annotations

import json
from pathlib import Path

import pytest

from nas.cli import main
from search_spaces import Architecture
from search_spaces.dense import preset_genotype


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_resnet20_json(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "describe", "preset:resnet-20", "--json")
    info = json.loads(out)
    assert code == 0 and info["params"] == 269_722 and info["flops"] == 40_551_040
    assert info["depth"] == 20 and info["nodes_per_stage"] == [9, 9, 9]


def test_describe_file_and_text_output(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = tmp_path / "arch.json"
    path.write_text(Architecture("dense", preset_genotype("densenet-40-12")).to_json())
    code, out, _ = run(capsys, "describe", str(path), "--input-size", "16")
    assert code == 0 and "1,019,722" in out


def test_space_describe_and_sample(capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "space", "describe", "--json")
    info = json.loads(out)
    assert code == 0 and info["size"] > 10**40 and info["config"]["stages"] == 3
    code, out1, _ = run(capsys, "space", "sample", "--seed", "3", "--json")
    _, out2, _ = run(capsys, "space", "sample", "--seed", "3", "--json")
    _, out3, _ = run(capsys, "space", "sample", "--seed", "4", "--json")
    assert code == 0 and out1 == out2 != out3
    Architecture.from_dict(json.loads(out1))


def _bad_file(tmp_path: Path, content: str) -> str:
    path = tmp_path / "bad.json"
    path.write_text(content)
    return str(path)


def _geno_with(edit) -> str:
    arch = Architecture("dense", preset_genotype("resnet-20")).to_dict()
    edit(arch["genotype"])
    return json.dumps(arch)


@pytest.mark.parametrize("content,needle", [
    (_geno_with(lambda g: g["stages"][0]["nodes"][2].update(inputs=[0, 5])), "earlier node"),  # a cycle
    (_geno_with(lambda g: g["stages"][0]["nodes"][0].update(inputs=[40])), "earlier node"),  # dangling
    (_geno_with(lambda g: g["stages"][0]["nodes"][0]["op"].update(type="magic")), "unknown"),
    (_geno_with(lambda g: g["stem"].update(channels="16")), "integer"),
    (_geno_with(lambda g: g["stem"].update(channels=10**8)), "out of range"),
    ("{not json", "not valid JSON"),
    ('{"space": "dense"}', "exactly the keys"),
])
def test_bad_arch_files_exit_2_with_one_line(capsys: pytest.CaptureFixture, tmp_path: Path, content: str,
                                             needle: str) -> None:
    code, out, err = run(capsys, "describe", _bad_file(tmp_path, content))
    assert code == 2 and out == "" and needle in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,needle", [
    (["describe", "preset:resnet-21"], "6n+2"),
    (["describe", "preset:resnt-20"], "did you mean resnet-20"),
    (["describe", "preset:fractalnet-3-5", "--input-size", "8"], "input size"),
    (["describe", "missing.json"], "not found"),
    (["describe", "preset:resnet-20", "--input-size", "0"], "positive"),
    (["describe"], "required"),
    (["space", "describe", "--space", "nope"], "unknown"),
])
def test_user_errors_exit_2_with_one_line(capsys: pytest.CaptureFixture, argv: list[str], needle: str) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == "" and needle in err and len(err.strip().splitlines()) == 1
