"""docs/tutorial.md runs: every fenced `bash` and `python` block, in order, on a tiny setting
(the same commands with --trials 2 --epochs 1 and a small synthetic dataset), so the tutorial
cannot drift from the code. `nas` commands run in this process (fast); a bash line may also be
`cat FILE`; a `> FILE` redirect captures stdout."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import sys
from pathlib import Path

import pytest

from nas.cli import main

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial.md"
TINY = [  # (pattern, replacement): the tutorial's settings -> seconds of CPU
    (r"'?npz:\.\./shared/data/cifar10_subset\.npz(\?[^'\s]*)?'?", "'synthetic?subset=120&resolution=8&classes=4'"),
    (r"--trials \d+", "--trials 2"),
    (r"--epochs \d+", "--epochs 1"),
    (r"--max-latency-ms [\d.]+", "--max-latency-ms 1000"),  # tiny networks on a busy CI machine
]


def blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in re.finditer(r"^```(bash|python)\n(.*?)^```", text, re.S | re.M)]


def tiny(line: str) -> str:
    for pattern, repl in TINY:
        line = re.sub(pattern, repl, line)
    return line


def run_bash_line(line: str) -> None:
    argv = shlex.split(tiny(line))
    out_file = None
    if ">" in argv:
        i = argv.index(">")
        argv, out_file = argv[:i], argv[i + 1]
    if argv[0] == "cat":
        assert Path(argv[1]).is_file(), line
        return
    assert argv[0] == "nas", f"the tutorial runs nas commands only (or cat): {line}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv[1:])
    assert code == 0, f"exit {code}: {line}"
    if out_file:
        Path(out_file).write_text(out.getvalue())


def test_tutorial_blocks_are_found() -> None:
    found = blocks(TUTORIAL.read_text())
    assert sum(kind == "bash" for kind, _ in found) >= 6 and any(kind == "python" for kind, _ in found)
    for data in ("npz:../shared/data/cifar10_subset.npz", "'npz:../shared/data/cifar10_subset.npz?subset=2000'"):
        expected = "--dataset 'synthetic?subset=120&resolution=8&classes=4' --trials 2"
        assert tiny(f"--dataset {data} --trials 20") == expected


def test_tutorial_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.chdir(tmp_path)
    for kind, body in blocks(TUTORIAL.read_text()):
        if kind == "bash":
            for line in body.splitlines():
                if line.strip() and not line.lstrip().startswith("#"):
                    run_bash_line(line)
        else:
            try:
                exec(compile(body, str(TUTORIAL), "exec"), {"__name__": "tutorial"})
            finally:
                sys.modules.pop("model", None)  # the exported module the tutorial loads by path
    assert (tmp_path / "runs" / "tutorial" / "report.md").is_file()
    assert (tmp_path / "runs" / "tutorial" / "plots" / "compare.png").is_file()
    assert (tmp_path / "pick.png").is_file() and (tmp_path / "trials.csv").read_text().startswith("number,")
    assert (tmp_path / "runs" / "tutorial-mobilenet" / "plots" / "arch.png").is_file()
    assert {"model.py", "weights.pt", "arch.json"} <= {p.name for p in (tmp_path / "tutorial-export").iterdir()}
