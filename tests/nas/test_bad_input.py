"""Bad input from outside: each case ends with exit 2 (or a quiet stop) and one line, never a traceback
or a silent wrong run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dataset_files import write_cifar10, write_imagenet

from nas.cli import main
from nas.data import load_dataset
from nas.errors import UserError
from nas.hardware import resolve_threads
from search_spaces import Architecture
from search_spaces.base import MAX_JSON_CHARS
from search_spaces.dense import preset_genotype


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], err


@pytest.mark.parametrize("depth", [990, 5_000, 100_000])
def test_deeply_nested_arch_json_is_one_line(capsys: pytest.CaptureFixture, tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"space": "dense", "genotype": ' + "[" * depth + "]" * depth + "}")
    code, _, err = run(capsys, "describe", str(path))
    one_line_error(code, err, "deep.json", "nested deeper than")
    with pytest.raises(ValueError, match="nested deeper than"):
        Architecture.from_json('{"space": "x", "genotype": ' + '{"a": ' * depth + "1" + "}" * depth + "}")
    assert 7 * depth < MAX_JSON_CHARS  # under the size limit: the depth check answers


def test_nesting_inside_strings_does_not_count() -> None:
    arch = Architecture("dense", preset_genotype("resnet-8"))
    assert Architecture.from_json(arch.to_json()) == arch
    assert Architecture.from_json('{"space": "' + "[{" * 100 + '", "genotype": [1]}').genotype == [1]


def corrupt_member(path: Path, member: str) -> None:
    """Overwrite bytes inside `member`'s compressed stream: reading it raises zlib.error."""
    data = bytearray(path.read_bytes())
    at = data.find(member.encode()) + len(member) + 40
    data[at:at + 100] = bytes(range(100))
    path.write_bytes(bytes(data))


def test_corrupted_npz_names_the_file(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    path = tmp_path / "bad.npz"
    np.savez_compressed(path, x_train=rng.integers(0, 4, (50, 8, 8, 3), dtype=np.uint8), y_train=np.arange(50) % 10,
                        x_test=rng.integers(0, 4, (20, 8, 8, 3), dtype=np.uint8), y_test=np.arange(20) % 10)
    corrupt_member(path, "x_train.npy")
    with pytest.raises(ValueError, match="bad.npz"):
        load_dataset(f"npz:{path}")
    code, _, err = run(capsys, "train", "--arch", "preset:resnet-8", "--dataset", f"npz:{path}",
                       "--runs-dir", str(tmp_path / "runs"), "--quiet")
    one_line_error(code, err, "bad.npz")


def test_corrupted_imagenet_npz_batch_names_the_file(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path, size=16, npz=True)
    rng = np.random.default_rng(0)
    bad = root / "train_data_batch_2.npz"
    np.savez_compressed(bad, data=rng.integers(0, 4, (30, 3 * 16 * 16), dtype=np.uint8), labels=np.arange(30) % 5 + 1)
    corrupt_member(bad, "data.npy")
    with pytest.raises(ValueError, match="train_data_batch_2.npz"):
        load_dataset(f"imagenet16:{root}")


def test_corrupted_cifar_batch_and_image_name_the_file(tmp_path: Path) -> None:
    root = write_cifar10(tmp_path / "c")
    (root / "data_batch_3").write_bytes((root / "data_batch_3").read_bytes()[:-2000])
    with pytest.raises(ValueError, match="data_batch_3"):
        load_dataset(f"cifar10:{root}")


def npz_with(path: Path, y_train: np.ndarray, y_test: np.ndarray, size: int = 8) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x_train=rng.integers(0, 255, (len(y_train), size, size, 3), dtype=np.uint8), y_train=y_train,
             x_test=rng.integers(0, 255, (len(y_test), size, size, 3), dtype=np.uint8), y_test=y_test)
    return path


def test_labels_that_are_not_0_to_k_minus_1_are_refused(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = npz_with(tmp_path / "labels.npz", 1000 + np.arange(60) % 10, 1000 + np.arange(20) % 10)
    with pytest.raises(ValueError, match=r"labels.npz.*0\.\.9"):
        load_dataset(f"npz:{path}")
    gap = npz_with(tmp_path / "gap.npz", np.arange(60) % 3 * 2, np.arange(20) % 3 * 2)  # labels 0, 2, 4
    code, _, err = run(capsys, "train", "--arch", "preset:resnet-8", "--dataset", f"npz:{gap}",
                       "--runs-dir", str(tmp_path / "runs"), "--quiet")
    one_line_error(code, err, "gap.npz", "0..2")
    assert load_dataset(f"npz:{npz_with(tmp_path / 'ok.npz', np.arange(60) % 3, np.arange(20) % 3)}").num_classes == 3


def test_images_too_small_for_the_network_are_refused(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    path = npz_with(tmp_path / "tiny.npz", np.arange(60) % 3, np.arange(20) % 3, size=1)
    code, _, err = run(capsys, "train", "--arch", "preset:resnet-8", "--dataset", f"npz:{path}",
                       "--runs-dir", str(tmp_path / "runs"), "--quiet")
    one_line_error(code, err, "downsamples more than the input size allows")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    code, _, err = run(capsys, "search", "--dataset", f"npz:{path}", "--supernet-steps", "1", "--trials", "1",
                       "--runs-dir", str(tmp_path / "runs"), "--quiet")  # SMASH: before its supernet trains
    one_line_error(code, err, "downsamples more than the input size allows")
    code, _, err = run(capsys, "describe", "preset:resnet-20", "--input-size", "2")
    one_line_error(code, err, "downsamples more than the input size allows")
    assert run(capsys, "describe", "preset:resnet-20", "--input-size", "4")[0] == 0


def test_threads_above_the_cores_are_refused(capsys: pytest.CaptureFixture) -> None:
    cores = os.cpu_count() or 1
    with pytest.raises(UserError, match=f"{cores} core"):
        resolve_threads(str(cores + 1))
    assert resolve_threads(str(cores)) == cores
    code, _, err = run(capsys, "train", "--arch", "preset:resnet-8", "--threads", "1000")
    one_line_error(code, err, "--threads 1000")


@pytest.mark.parametrize("dataset", ["digits?subset=5", "digits?val=0", "synthetic?subset=12"])
def test_validation_split_smaller_than_the_classes_is_refused(capsys: pytest.CaptureFixture, tmp_path: Path,
                                                               dataset: str) -> None:
    with pytest.raises(ValueError, match="validation split"):
        load_dataset(dataset)
    code, _, err = run(capsys, "train", "--arch", "preset:resnet-8", "--dataset", dataset,
                       "--runs-dir", str(tmp_path / "runs"), "--quiet")
    one_line_error(code, err, "validation split")


CLOSED_PIPE_COMMANDS = [
    ["space", "sample"],
    ["space", "sample", "--json"],
    ["space", "describe"],
    ["describe", "preset:resnet-20"],
    ["describe", "preset:resnet-20", "--json"],
]


@pytest.mark.parametrize("argv", CLOSED_PIPE_COMMANDS, ids=" ".join)
def test_output_into_a_closed_pipe_ends_quietly(nas_into_closed_pipe: Any, argv: list[str]) -> None:
    nas_into_closed_pipe(*argv)  # `nas search` and `nas train`: in their own tests
