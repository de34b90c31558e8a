from __future__ import annotations

from pathlib import Path

import pytest

from nas import archfile
from nas.archfile import arch_label, load_arch
from search_spaces import Architecture
from search_spaces.dense import preset_genotype


def test_preset_and_file_give_the_same_architecture(tmp_path: Path) -> None:
    arch = load_arch("preset:resnet-20")
    assert arch == Architecture("dense", preset_genotype("resnet-20"))
    path = tmp_path / "a.json"
    path.write_text(arch.to_json())
    assert load_arch(str(path)) == arch
    assert arch_label("preset:resnet-20") == "resnet-20" and arch_label(str(path)) == "a"


def test_missing_file_is_file_not_found_with_a_preset_hint() -> None:
    with pytest.raises(FileNotFoundError, match="preset:resnet-20"):
        load_arch("resnet-20")


@pytest.mark.parametrize("content,match", [("{not json", "not valid JSON"), ('{"space": "dense"}', "exactly the keys"),
                                           ('{"space": "dense", "genotype": {"stem": 1}}', "bad.json")])
def test_invalid_files_raise_value_error(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        load_arch(str(path))


def test_oversized_file_and_directory_and_bad_preset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archfile, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.json"
    path.write_text(" " * 200)
    with pytest.raises(ValueError, match="limit"):
        load_arch(str(path))
    with pytest.raises(IsADirectoryError):
        load_arch(str(tmp_path))
    with pytest.raises(ValueError, match="did you mean"):
        load_arch("preset:resnet-2O")
    with pytest.raises(ValueError, match="--arch is empty"):
        load_arch("")
