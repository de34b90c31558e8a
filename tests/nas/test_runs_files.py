"""Atomic writes in run directories: several processes writing one file at once (the workers of
a search each write results.json when they finish) never fail and leave one whole file."""

from __future__ import annotations

import json
import multiprocessing as mp
from pathlib import Path

import pytest

from nas.runs import atomic_write, write_json


def _writer(args: tuple[str, int]) -> int:
    path, k = args
    for i in range(150):
        write_json(Path(path), {"writer": k, "i": i, "pad": "x" * 2000})
    return k


@pytest.mark.slow
def test_processes_writing_one_json_at_once(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    with mp.get_context("spawn").Pool(4) as pool:
        assert sorted(pool.map(_writer, [(str(path), k) for k in range(4)])) == [0, 1, 2, 3]
    assert json.loads(path.read_text())["i"] == 149
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    path.write_text("old")

    def broken(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["weights.pt"]
