"""`write_report` on run directories written here in the pipeline's output contract (and a live
storage for a partial run): plots are valid images, the report's numbers are results.json's."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.cli import main
from nas.report import load_run, write_report
from nas.report.plots import kendall, pareto_front, score_pairs
from search_spaces import default_space

NB201 = default_space("nb201")


def check_png(path: Path) -> tuple[int, int]:
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        w, h = im.size
        assert im.format == "PNG"
        assert 300 <= w <= 4000 and 200 <= h <= 3000, (path.name, w, h)
        lo, hi = im.convert("L").getextrema()
        assert hi - lo > 100  # something is drawn
    return w, h


def contract_run(root: Path, n: int = 30, confirm: int = 6, constrained: bool = True, name: str = "run") -> Path:
    """A finished run as the pipeline writes it: proxy scores for every trial, `confirm` of them
    retrained, params / MACs / latency, a latency limit, datetimes."""
    rng = np.random.default_rng(0)
    run = root / name
    run.mkdir(parents=True)
    t0 = dt.datetime(2026, 1, 1, 12, 0, 0)
    trials = []
    for i in range(n):
        arch = NB201.sample(rng)
        score = float(rng.normal())
        lat = float(rng.uniform(1, 10))
        trained = i < confirm
        state = "infeasible" if constrained and lat > 8 else "complete"
        trials.append({"number": i, "state": state, "arch": arch.to_dict(), "arch_key": arch.key(),
                       "datetime_start": (t0 + dt.timedelta(seconds=10 * i)).isoformat(),
                       "datetime_complete": (t0 + dt.timedelta(seconds=10 * i + 8)).isoformat(),
                       "result": {"score": score, "val_accuracy": float(0.5 + 0.04 * score + 0.01 * rng.normal())
                                  if trained else None, "test_accuracy": None, "params": int(rng.integers(1e4, 1e6)),
                                  "flops": int(rng.integers(1e6, 1e8)), "latency_ms": lat, "cost_s": 8.0,
                                  "state": state, "error": None}})
    confirmation = [{**{k: t["result"][k] for k in ("score", "val_accuracy", "params", "flops", "latency_ms")},
                     "arch": t["arch"], "arch_key": t["arch_key"], "test_accuracy": None}
                    for t in trials[:confirm]]
    ok = [c for c, t in zip(confirmation, trials) if t["state"] == "complete"]
    best = max(ok, key=lambda c: c["val_accuracy"])
    best = {**best, "test_accuracy": 0.61, "weights": str(run / "weights.pt")}
    results = {"format_version": 2, "run_dir": str(run), "n_trials": n,
               "config": {"strategy": "smash", "space": "nb201", "evaluator": "smash", "trials": n, "epochs": 3,
                          "dataset": "digits", "objectives": ["val_accuracy"],
                          "max_latency_ms": 8.0 if constrained else None},
               "counts": {"complete": sum(t["state"] == "complete" for t in trials),
                          "infeasible": sum(t["state"] == "infeasible" for t in trials)},
               "best": best, "confirmation": confirmation, "trials": trials}
    (run / "results.json").write_text(json.dumps(results))
    return run


def table_rows(text: str, heading: str) -> list[list[str]]:
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("|")]
    return [[c.strip().strip("`") for c in r] for r in rows[2:]]  # past the header and the rule


def num(cell: str) -> float | None:
    return None if cell == "-" else float(cell.replace(",", ""))


def test_report_plots_and_numbers(tmp_path: Path) -> None:
    run = contract_run(tmp_path)
    path = write_report(run)
    results = json.loads((run / "results.json").read_text())
    text = path.read_text()
    plots = {p.name for p in (run / "plots").glob("*.png")}
    assert plots == {"search_curve.png", "pareto.png", "scores.png", "arch.png"}
    for p in plots:
        check_png(run / "plots" / p)
        assert f"(plots/{p})" in text
    assert "Partial" not in text
    best = results["best"]
    (pick,) = table_rows(text, "## Pick")
    assert pick[0] == best["arch_key"]
    assert num(pick[1]) == pytest.approx(best["score"], abs=5e-5)
    assert num(pick[2]) == pytest.approx(100 * best["val_accuracy"], abs=5e-3)
    assert num(pick[3]) == pytest.approx(100 * best["test_accuracy"], abs=5e-3)
    assert (num(pick[4]), num(pick[5])) == (best["params"], best["flops"])
    assert num(pick[6]) == pytest.approx(best["latency_ms"], abs=5e-4)
    conf = table_rows(text, "## Confirmation")
    assert [r[1] for r in conf] == [c["arch_key"] for c in results["confirmation"]]
    for row, c in zip(conf, results["confirmation"]):
        assert num(row[3]) == pytest.approx(100 * c["val_accuracy"], abs=5e-3)
    top = table_rows(text, "## Top architectures")
    trained = sorted((t for t in results["trials"] if t["state"] == "complete" and t["result"]["val_accuracy"]),
                     key=lambda t: -t["result"]["val_accuracy"])
    assert [int(r[1]) for r in top] == [t["number"] for t in trained][:len(top)]
    assert f"| trials | {results['n_trials']} counted of {results['n_trials']}" in text
    assert f"nas train --arch {run / 'arch.json'}" in text and f"nas export {run}" in text
    assert json.loads((run / "arch.json").read_text()) == best["arch"]  # the command's file is the pick


def test_kendall_pairs_come_from_confirmation(tmp_path: Path) -> None:
    view = load_run(contract_run(tmp_path, confirm=6))
    pairs = score_pairs(view)
    assert len(pairs) == 6
    assert kendall(pairs) > 0.3  # the fabricated accuracy rises with the score
    few = load_run(contract_run(tmp_path, confirm=3, name="few"))
    assert len(score_pairs(few)) == 3  # below 5: the report draws the score distribution instead


def test_pareto_front_is_non_dominated() -> None:
    pts = np.random.default_rng(1).random((200, 2))
    idx = pareto_front(pts)
    for i in idx:
        assert not np.any((pts[:, 0] >= pts[i, 0]) & (pts[:, 1] <= pts[i, 1]) & np.any(pts != pts[i], axis=1))
    others = np.setdiff1d(np.arange(len(pts)), idx)
    assert all(np.any((pts[idx, 0] >= pts[j, 0]) & (pts[idx, 1] <= pts[j, 1])) for j in others)


def test_defensive_reading_of_missing_keys(tmp_path: Path) -> None:
    run = tmp_path / "bare"
    run.mkdir()
    (run / "results.json").write_text(json.dumps({"best": None, "confirmation": None, "trials": [
        {"number": 0, "state": "failed", "result": None, "arch": None}, {"state": "complete"}]}))
    path = write_report(run)
    assert "No feasible architecture" in path.read_text()
    assert len(load_run(run).trials) == 2


def test_compare_overlays_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = contract_run(tmp_path, name="a"), contract_run(tmp_path, name="b", constrained=False)
    assert main(["report", str(a), "--compare", str(b), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert str(a / "plots" / "compare.png") in out["plots"]
    check_png(a / "plots" / "compare.png")
    assert "plots/compare.png" in (a / "report.md").read_text()
    write_report(a)  # a report without --compare leaves no stale comparison behind
    assert not (a / "plots" / "compare.png").exists() and "compare.png" not in (a / "report.md").read_text()


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_not_a_run_is_exit_2_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, make: str) -> None:
    target = tmp_path / "x"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("hello")
    assert main(["report", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nas report: error:" in err
    assert not (target / "report.md").exists() if target.is_dir() else True


def test_legacy_smash_run(tmp_path: Path) -> None:
    """A SMASH run directory of before the pipeline: scores.jsonl and results.json with `retrained`."""
    rng = np.random.default_rng(2)
    run = tmp_path / "smash"
    run.mkdir()
    dense = default_space("dense")
    archs = [dense.sample(rng) for _ in range(8)]
    with (run / "scores.jsonl").open("w") as f:
        for i, a in enumerate(archs):
            f.write(json.dumps({"key": a.key(), "phase": "sampled", "score": -1.0 - 0.1 * i, "arch": a.to_dict()})
                    + "\n")
        f.write('{"key": "cut')  # a killed run's last line
    retrained = [{"arch": archs[i].to_dict(), "score": -1.0 - 0.1 * i, "val_accuracy": 0.9 - 0.1 * i,
                  "test_accuracy": None, "params": 1000, "flops": 2000, "weights": "w.pt"} for i in range(2)]
    (run / "config.json").write_text(json.dumps({"strategy": "smash", "settings": {"trials": 8, "dataset": "digits",
                                                                                   "epochs": 1}}))
    (run / "results.json").write_text(json.dumps({"strategy": "smash", "n_trials": 8, "retrained": retrained,
                                                  "best": {**retrained[0], "test_accuracy": 0.88},
                                                  "config": {"trials": 8}}))
    view = load_run(run)
    assert view.finished and view.source == "scores.jsonl" and len(view.trials) == 8
    text = write_report(run).read_text()
    assert {p.name for p in (run / "plots").glob("*.png")} >= {"search_curve.png", "scores.png", "arch.png"}
    assert archs[0].key() in table_rows(text, "## Pick")[0][0]
    assert re.search(r"\| strategy \| smash \|", text)


def test_low_fidelity_pairs_without_proxy_scores(tmp_path: Path) -> None:
    """A train-evaluator run: no scores; its confirmation (more epochs) pairs with the search-time accuracy."""
    run = contract_run(tmp_path, confirm=6)
    doc = json.loads((run / "results.json").read_text())
    for t in doc["trials"]:
        t["result"]["score"] = None
        t["result"]["val_accuracy"] = 0.3 + 0.01 * t["number"]
    for c in doc["confirmation"]:
        c["score"] = None
        c["val_accuracy"] = 0.9 - 0.01 * next(t["number"] for t in doc["trials"] if t["arch_key"] == c["arch_key"])
    (run / "results.json").write_text(json.dumps(doc))
    pairs = score_pairs(load_run(run))
    assert len(pairs) == 6 and kendall(pairs) == pytest.approx(-1.0)  # fabricated: exactly reversed


def test_run_that_just_started(tmp_path: Path) -> None:
    """config.json only (a search before its first trial ends): a partial report, no plots to make."""
    run = tmp_path / "new"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"command": "search", "search": {"trials": 4, "space": "dense"}}))
    text = write_report(run).read_text()
    assert "Partial report" in text and "0 of 4 trials" in text
    assert not list((run / "plots").glob("*.png")) if (run / "plots").exists() else True
