"""Hard-constrained selection: measured, never only predicted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from latency_fakes import SlowFor

from nas.cli import main
from nas.latency import LatencySettings
from nas.select import Candidate, Constraints, read_run, select_measured
from search_spaces.nb201 import NB201Space

NB = NB201Space(channels=4, cells_per_stage=1)
FAST = LatencySettings(input_size=8, repeats=5, warmup=1)
CELLS = [["nor_conv_3x3"] * 6, ["skip_connect"] * 6, ["nor_conv_1x1"] * 6, ["avg_pool_3x3"] * 6]


class Optimist:
    """A predictor that calls everything fast."""

    def predict(self, archs):  # type: ignore[no-untyped-def]
        return np.full(len(archs), 0.01), np.zeros(len(archs))


def candidates() -> list[Candidate]:
    return [Candidate(NB.from_edges(e), acc, number=i) for i, (e, acc) in enumerate(zip(CELLS, (0.9, 0.8, 0.7, 0.6)))]


def test_measurement_rejects_what_the_predictor_passed() -> None:
    cands = candidates()
    space = SlowFor(cands[0].arch.key(), seconds=0.03)
    sel = select_measured(cands, Constraints(max_latency_ms=20.0), FAST, predictor=Optimist(), space=space)
    assert sel.selected is not None and sel.selected.candidate is cands[1]  # the next most accurate
    best = next(c for c in sel.measured if c.candidate is cands[0])
    assert not best.qualifies and best.measurement.bound_ms > 20.0 and best.predicted[0] < 20.0
    doc = sel.to_dict()["selected"]
    assert doc["measured_bound_ms"] <= 20.0 and doc["predicted_latency_ms"] is not None


def test_without_predictor_every_candidate_is_measured_and_said() -> None:
    sel = select_measured(candidates(), Constraints(max_latency_ms=1e6), FAST, space=NB)
    assert sel.selected is not None and sel.selected.candidate.accuracy == 0.9
    assert any("no latency profile" in n for n in sel.notes)


def test_nothing_qualifies_lists_the_closest_measured() -> None:
    sel = select_measured(candidates(), Constraints(max_latency_ms=1e-6), FAST, space=NB)
    assert sel.selected is None and 1 <= len(sel.closest) <= 3
    bounds = [c.measurement.bound_ms for c in sel.closest]
    assert bounds == sorted(bounds)


def test_static_and_memory_limits() -> None:
    cands = candidates()
    params = [NB.shape(c.arch, 10, 3, 8).params for c in cands]
    sel = select_measured(cands, Constraints(max_params=min(params)), FAST, space=NB)
    assert sel.selected is not None and NB.shape(sel.selected.candidate.arch, 10, 3, 8).params == min(params)
    assert sel.over_static_limits == sum(p > min(params) for p in params)
    sel = select_measured(cands, Constraints(max_memory_mb=1e-6), FAST, space=NB)
    assert sel.selected is None and all(c.memory_mb > 0 for c in sel.closest)
    with pytest.raises(ValueError, match="max-latency-ms"):
        Constraints(max_latency_ms=0)


def write_run(path: Path) -> Path:
    """A run directory in the shape `nas search` writes (results.json `trials`)."""
    path.mkdir()
    trials = [{"number": i, "state": "complete", "arch": NB.from_edges(e).to_dict(), "arch_key": "x",
               "result": {"val_accuracy": acc, "params": None, "flops": None, "latency_ms": None}}
              for i, (e, acc) in enumerate(zip(CELLS, (0.9, 0.8, 0.7, 0.6)))]
    trials.append({"number": 9, "state": "failed", "arch": NB.from_edges(CELLS[0]).to_dict(), "result": None})
    (path / "results.json").write_text(json.dumps({"trials": trials}))
    return path


def test_read_run_keeps_complete_trials_one_per_arch(tmp_path: Path) -> None:
    cands = read_run(write_run(tmp_path / "run"))
    assert sorted(c.accuracy for c in cands) == [0.6, 0.7, 0.8, 0.9]
    smash = tmp_path / "smash"
    smash.mkdir()
    (smash / "results.json").write_text(json.dumps({"retrained": [{"arch": NB.from_edges(CELLS[1]).to_dict(),
                                                                   "val_accuracy": 0.5}]}))
    assert [c.accuracy for c in read_run(smash)] == [0.5]


def test_cli_select_below_every_candidate_exits_1_listing_the_closest(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run")
    flags = ["--input-size", "8", "--repeats", "3", "--cache-dir", str(tmp_path / "cache")]
    assert main(["select", str(run), "--max-latency-ms", "0.000001", *flags]) == 1
    out = capsys.readouterr().out
    assert "no candidate" in out and out.count("measured") >= 1
    assert main(["select", str(run), "--max-latency-ms", "100000", "--json", *flags]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["selected"]["val_accuracy"] == 0.9 and doc["selected"]["measured_latency_ms"] > 0


@pytest.mark.parametrize("value", ["0", "-3", "abc"])
def test_cli_select_bad_limit_exits_2_with_one_line(value: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    run = write_run(tmp_path / "run")
    assert main(["select", str(run), "--max-latency-ms", value]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "max-latency-ms" in err


def write_proxy_run(path: Path, confirmed: bool) -> Path:
    """A SMASH-like run: trials with a score only, and (`confirmed`) two retrained candidates."""
    path.mkdir()
    archs = [NB.from_edges(e) for e in CELLS]
    trials = [{"number": i, "state": "complete", "arch": a.to_dict(), "arch_key": a.key(),
               "result": {"score": 5.0 - i, "val_accuracy": None}} for i, a in enumerate(archs)]
    confirmation = [{"rank": 1, "trial": 0, "arch_key": archs[0].key(), "score": 5.0, "val_accuracy": 0.3},
                    {"rank": 2, "trial": 1, "arch_key": archs[1].key(), "score": 4.0, "val_accuracy": 0.6},
                    {"rank": 3, "trial": 2, "arch_key": archs[2].key(), "val_accuracy": None, "rejected": "slow"}]
    (path / "results.json").write_text(json.dumps({"trials": trials, "confirmation": confirmed and confirmation}))
    return path


def test_select_on_a_proxy_run_ranks_retrained_by_validation_or_says_score(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cands = read_run(write_proxy_run(tmp_path / "confirmed", True))
    assert sorted((c.accuracy, c.metric, c.number) for c in cands) == [(0.3, "val_accuracy", 0),
                                                                        (0.6, "val_accuracy", 1)]
    flags = ["--max-latency-ms", "100000", "--input-size", "8", "--repeats", "3", "--cache-dir", str(tmp_path / "c")]
    assert main(["select", str(tmp_path / "confirmed"), *flags]) == 0
    assert "selected trial 1" in capsys.readouterr().out
    scored = read_run(write_proxy_run(tmp_path / "scored", False))
    assert {c.metric for c in scored} == {"score"} and len(scored) == 4
    assert main(["select", str(tmp_path / "scored"), *flags]) == 0
    out, err = capsys.readouterr()
    assert "selected trial 0" in out and "score +5.0000" in out and "val " not in out and "ranked by their score" in err
    assert main(["select", str(tmp_path / "scored"), "--json", *flags]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["selected"]["val_accuracy"] is None and doc["selected"]["score"] == 5.0
