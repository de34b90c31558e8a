"""`nas search` with hard limits: costs counted or predicted before evaluation (an architecture over a
limit is never evaluated), the confirm stage's measurement, and a measured Pareto front."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import optuna
import pytest
from latency_fakes import SlowFor

from nas.cli import main
from nas.latency import LatencySettings
from nas.results import Result
from nas.search import Search, SearchConfig
from nas.search.confirm import confirm, latency_check
from nas.search.limits import MEASURED, PREDICTED, CostGate, search_latency_settings
from nas.search.objectives import Objectives, pareto_front
from nas.search.session import trial_state
from nas.training import TrainConfig
from predictors.latency import profile_path, profile_space
from search_spaces.nb201 import NB201Space

NB = NB201Space(channels=4, cells_per_stage=1)
DATA_SPEC = "synthetic?subset=60&resolution=8&classes=3"
SHAPE = SimpleNamespace(input_size=8, in_channels=3, num_classes=3)


class ConvCount:
    """A predictor that calls a cell's latency its number of 3x3 convolutions, in ms."""

    profile = SimpleNamespace(fingerprint="fake")

    def predict_one(self, arch: Any) -> tuple[float, float]:
        return float(arch.genotype["edges"].count("nor_conv_3x3")), 0.1


class Recording:
    """Accuracy grows with the 1x1 convolutions; every evaluated architecture is recorded."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def evaluate(self, arch: Any, fidelity: int | None = None, on_epoch: Any = None) -> Result:
        self.seen.append(arch)
        return Result(val_accuracy=0.1 + 0.1 * arch.genotype["edges"].count("nor_conv_1x1"))

    def test(self, arch: Any) -> Result:
        return Result(test_accuracy=0.5)


def searched(**kw: Any) -> tuple[Search, Recording]:
    evaluator = Recording()
    config = SearchConfig(space="nb201", strategy=kw.pop("strategy", "random"), dataset=DATA_SPEC, confirm=0, **kw)
    search = Search(config, None, evaluator=evaluator, space=NB)  # in memory, a tiny NB201 network
    return search, evaluator


def test_predicted_over_the_limit_is_not_evaluated_but_counted_with_its_constraint() -> None:
    search, evaluator = searched(trials=20, max_latency_ms=2.0, strategy="tpe")
    search.gate.predictor = ConvCount()
    search.evaluate()
    trials = search.study.get_trials(deepcopy=False)
    over = [t for t in trials if t.user_attrs.get("over_limits")]
    assert over and len(evaluator.seen) == 20 - len(over)  # counted, never evaluated
    assert all(a.genotype["edges"].count("nor_conv_3x3") <= 2 for a in evaluator.seen)
    for t in over:
        assert t.state == optuna.trial.TrialState.PRUNED and trial_state(t) == "infeasible"
        assert t.constraints["latency_ms"] > 0 and "predicted" in t.user_attrs["result"]["extra"]["not_evaluated"]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.user_attrs["result"]["extra"]["latency"]["source"] == PREDICTED for t in done)
    assert all(t.user_attrs["result"]["latency_ms"] <= 2.0 for t in done)
    assert search.gate.source == PREDICTED


def test_max_flops_prunes_by_counted_macs_before_evaluation() -> None:
    rng = np.random.default_rng(0)
    macs = sorted(NB.shape(NB.sample(rng), 3, 3, 8).macs for _ in range(20))
    limit = int(macs[len(macs) // 2])
    search, evaluator = searched(trials=12, max_flops=limit)
    search.evaluate()
    assert evaluator.seen and all(NB.shape(a, 3, 3, 8).macs <= limit for a in evaluator.seen)
    over = [t for t in search.study.get_trials() if t.user_attrs.get("over_limits")]
    assert over and all(t.user_attrs["result"]["flops"] > limit and t.constraints["flops"] > 0 for t in over)
    assert search.gate.source is None  # no latency needed: none predicted or measured


def test_without_a_profile_latency_is_measured_before_evaluation_and_said_once(tmp_path: Path) -> None:
    said: list[str] = []
    gate = CostGate(NB, Objectives(max_latency_ms=1e6), lambda: SHAPE, latency=True, cache_dir=tmp_path,
                    say=said.append)
    costs, constraint = gate.check(NB.sample(np.random.default_rng(0)))
    gate.check(NB.sample(np.random.default_rng(1)))
    assert gate.source == MEASURED and len(said) == 1 and "measured" in said[0] and "nas latency profile" in said[0]
    assert costs.latency_ms > 0 and costs.latency["source"] == MEASURED and constraint[0] < 0


def test_a_cached_profile_for_the_settings_is_used(tmp_path: Path) -> None:
    settings = search_latency_settings("cpu", SHAPE)
    fast = LatencySettings(**{**settings.to_dict(), "repeats": 3, "warmup": 1})  # same fingerprint
    profile_space(NB, fast, n_kernels=20, n_networks=4).save(profile_path(tmp_path, NB.name, settings))
    gate = CostGate(NB, Objectives(max_latency_ms=1e6), lambda: SHAPE, latency=True, cache_dir=tmp_path)
    costs, _ = gate.check(NB.sample(np.random.default_rng(0)))
    assert gate.source == PREDICTED and costs.latency["source"] == PREDICTED and costs.latency_ms > 0


def test_multi_objective_front_reports_measured_latency() -> None:
    search, _ = searched(trials=10, objectives=("val_accuracy", "latency_ms"))
    search.gate.predictor = ConvCount()
    search.evaluate()
    front = search.finalize()["pareto_front"]
    assert front and all(p["latency_source"] == MEASURED and p["latency_ms"] > 0 for p in front)
    assert all(p["predicted_latency_ms"] == float(p["predicted_latency_ms"]) for p in front)
    points = [[p["val_accuracy"], p["latency_ms"]] for p in front]
    assert len(pareto_front(points, ["maximize", "minimize"])) == len(front)  # non-dominated as measured


def searched_under_optimist() -> tuple[Search, list[Any], Any]:
    """A search under a 50 ms limit whose predictor calls everything 0.01 ms, evaluated; its best trial."""
    search, _ = searched(trials=6, max_latency_ms=50.0)
    search.gate.predictor = SimpleNamespace(predict_one=lambda a: (0.01, 0.0), profile=ConvCount.profile)
    search.evaluate()
    trials = search.study.get_trials(deepcopy=False)
    best = max((t for t in trials if t.state == optuna.trial.TrialState.COMPLETE),
               key=lambda t: (t.user_attrs["result"]["val_accuracy"], -t.number))
    return search, trials, best


def test_confirm_rejects_predicted_under_measured_over_and_retrains_the_next(tmp_path: Path) -> None:
    search, trials, best = searched_under_optimist()
    space = SlowFor(best.user_attrs["arch_key"], seconds=0.08)
    entries = confirm(trials, search.objectives, 1, space, search.data, TrainConfig(epochs=1, batch_size=32),
                      tmp_path, measured_check=latency_check(50.0, space))
    assert entries is not None and len(entries) == 2
    rejected, picked = entries
    assert rejected["trial"] == best.number and "over --max-latency-ms" in rejected["rejected"]
    assert rejected["predicted_latency_ms"] == 0.01 and rejected["latency_ms"] > 50.0 and rejected["weights"] is None
    assert picked["rejected"] is None and picked["val_accuracy"] is not None and picked["latency_ms"] < 50.0
    assert not (tmp_path / "confirm" / "1" / "weights.pt").exists()  # the rejected one was never retrained


@pytest.mark.parametrize("flag,value", [("--max-latency-ms", "0"), ("--max-latency-ms", "-3"),
                                        ("--max-latency-ms", "abc"), ("--max-flops", "0"), ("--max-flops", "1.5")])
def test_cli_search_bad_limit_exits_2_with_one_line(flag: str, value: str, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["search", "--space", "nb201", "--runs-dir", str(tmp_path), flag, value])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and flag in err
    assert not any(tmp_path.iterdir())


def test_cli_search_max_flops_is_in_the_config(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["search", "--space", "nb201", "--evaluator", f"tabular:{table}", "--strategy", "random", "--trials",
                 "4", "--max-flops", "1", "--runs-dir", str(tmp_path), "--name", "f", "--quiet", "--json"])
    assert code == 1 and "broke a hard limit" in capsys.readouterr().err  # 1 MAC: nothing qualifies
    doc = json.loads((tmp_path / "f" / "results.json").read_text())
    assert doc["config"]["max_flops"] == 1 and all(t["state"] == "infeasible" for t in doc["trials"])


SMALL_SPACE = ("from search_spaces.dense import DenseSpace\nfrom search_spaces.dense.space import DenseSpaceConfig\n"
               "SMALL = DenseSpace(DenseSpaceConfig(stages=2, min_nodes=1, max_nodes=2, stem=8, widths=(4, 8), "
               "kernels=(3,), dilations=(1,), groups=(1,), bottlenecks=(0,)))\n")


def small_search(tmp_path: Path, limit: str, name: str) -> list[str]:
    (tmp_path / "small.py").write_text(SMALL_SPACE)
    return ["search", "--space", f"{tmp_path / 'small.py'}:SMALL", "--evaluator", "train", "--dataset",
            "synthetic?subset=60&resolution=8&classes=3", "--epochs", "1", "--trials", "2", "--strategy", "random",
            "--max-latency-ms", limit, "--runs-dir", str(tmp_path), "--name", name]


def test_cli_without_a_profile_measures_says_so_and_trains_nothing_over(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture) -> None:
    assert main(small_search(tmp_path, "0.000001", "m")) == 1
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: no latency profile")]
    assert len(notes) == 1 and "measured before it is evaluated" in notes[0] and "broke a hard limit" in err
    doc = json.loads((tmp_path / "m" / "results.json").read_text())
    assert doc["latency_source"] == MEASURED and doc["counts"]["not_evaluated"] == 2
    assert all(t["result"]["cost_s"] == 0 and t["result"]["val_accuracy"] is None for t in doc["trials"])


def test_cli_predicted_under_but_measured_over_has_no_pick(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fast = SimpleNamespace(predict_one=lambda a: (1e-5, 0.0), profile=ConvCount.profile)
    monkeypatch.setattr(CostGate, "_load_predictor", lambda self: fast)
    assert main([*small_search(tmp_path, "0.001", "p"), "--json"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["latency_source"] == PREDICTED and summary["best"] is None
    assert summary["confirmation"] and all("over --max-latency-ms" in e["rejected"] for e in summary["confirmation"])
    assert "confirm stage" in err and not (tmp_path / "p" / "weights.pt").exists()


def test_smash_with_a_params_limit_scores_only_what_fits(tmp_path: Path) -> None:
    from nas.supernets.smash import SmashConfig

    smash = SmashConfig(batch_size=32, local_rounds=1, local_top=2, local_mutations=2, reference_archs=4,
                        score_images=32, checkpoint_every=3)
    space = "dense?stages=2&max_nodes=3&widths=8,16&stem=8"
    probe = Search(SearchConfig(space=space, dataset=DATA_SPEC, trials=8, smash=smash), None, quiet=True)
    rng = np.random.default_rng(0)
    params = sorted(probe.space.shape(probe.space.sample(rng), 3, 3, 8).params for _ in range(16))
    limit = int(params[len(params) // 2])
    config = SearchConfig(space=space, dataset=DATA_SPEC, trials=8, epochs=1, supernet_steps=6, smash=smash,
                          max_params=limit)
    summary = Search.create(config, tmp_path, "s", quiet=True).run()
    trials = json.loads((tmp_path / "s" / "results.json").read_text())["trials"]
    over = [t for t in trials if t["result"].get("extra", {}).get("not_evaluated")]
    scored = [t for t in trials if t["result"].get("score") is not None]
    assert summary["n_trials"] == 8 and len(over) + len(scored) == 8 and scored and over
    assert all(t["result"]["params"] > limit and t["state"] == "infeasible" for t in over)
    assert all(t["result"]["params"] <= limit for t in scored)
    assert summary["best"] is not None and summary["best"]["params"] <= limit


def test_without_a_confirm_stage_the_pick_is_measured_too() -> None:
    search, trials, best = searched_under_optimist()
    search.space = SlowFor(best.user_attrs["arch_key"], seconds=0.08)  # predicted 0.01 ms, measured over 80 ms
    pick = search.finalize()["best"]
    assert pick is not None and pick["trial"] != best.number and 0.01 < pick["latency_ms"] < 50.0
