"""After the default `nas search` (SMASH), report.md and its plots exist and agree with results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_report import check_png, num, table_rows

from nas.cli import main


def test_default_search_writes_report(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = ["search", "--dataset", "synthetic?subset=120&resolution=8&classes=3", "--trials", "4", "--epochs", "1",
            "--supernet-steps", "5", "--runs-dir", str(tmp_path), "--name", "default", "--quiet"]
    assert main(argv) == 0
    capsys.readouterr()
    run = tmp_path / "default"
    plots = {p.name for p in (run / "plots").glob("*.png")}
    assert plots >= {"search_curve.png", "scores.png", "arch.png"}
    for p in plots:
        check_png(run / "plots" / p)
    best = json.loads((run / "results.json").read_text())["best"]
    text = (run / "report.md").read_text()
    (pick,) = table_rows(text, "## Pick")
    assert num(pick[2]) == pytest.approx(100 * best["val_accuracy"], abs=5e-3)
    assert num(pick[3]) == pytest.approx(100 * best["test_accuracy"], abs=5e-3)
    assert (num(pick[4]), num(pick[5])) == (best["params"], best["flops"])
    assert "Partial" not in text
