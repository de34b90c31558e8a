"""The search pipeline in one process: SMASH through propose -> evaluate -> confirm, resume without
recomputing, the output contract of every kind of run, early errors, --config and --timeout."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

from nas.cli import main
from nas.search import Search, SearchConfig
from nas.supernets.smash import SmashConfig
from search_spaces import Architecture

SPACE = "dense?stages=2&max_nodes=3&widths=8,16&stem=8"
DATA = "synthetic?subset=200&resolution=8&classes=3"
SMASH = SmashConfig(batch_size=32, local_rounds=1, local_top=2, local_mutations=2, reference_archs=4,
                    score_images=32, checkpoint_every=3)
SUMMARY_KEYS = {"format_version", "run_dir", "complete", "stopped_during", "n_trials", "counts", "strategy", "space",
                "evaluator", "objectives", "best", "confirmation", "supernet", "pareto_front", "latency_source"}
BEST_KEYS = {"trial", "arch", "arch_key", "score", "val_accuracy", "test_accuracy", "params", "flops", "latency_ms",
             "weights"}


def smash_config(**kw: Any) -> SearchConfig:
    values = {"space": SPACE, "dataset": DATA, "trials": 8, "epochs": 1, "supernet_steps": 6, "smash": SMASH, **kw}
    return SearchConfig(**values)


def study_of(run: Path) -> optuna.Study:
    return optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}")


def test_smash_runs_through_the_pipeline(tmp_path: Path) -> None:
    search = Search.create(smash_config(), tmp_path, "s", quiet=True)
    summary = search.run()
    run = tmp_path / "s"
    assert set(summary) == SUMMARY_KEYS and summary["complete"] and summary["n_trials"] == 8
    trials = study_of(run).get_trials()
    assert len(trials) == 8 and sorted(t.user_attrs["slot"] for t in trials) == list(range(8))
    phases = [t.user_attrs["phase"] for t in sorted(trials, key=lambda t: t.user_attrs["slot"])]
    assert phases == ["sampled"] * 4 + ["local-1"] * 4  # --trials counts the local-search ones too
    for t in trials:
        r = t.user_attrs["result"]
        assert r["score"] is not None and r["val_accuracy"] is None and r["test_accuracy"] is None
        assert {"loss", "accuracy", "naswot"} <= set(r["extra"]["terms"])
    confirmation, best = summary["confirmation"], summary["best"]
    assert [e["rank"] for e in confirmation] == [1, 2] and sum(e["picked"] for e in confirmation) == 1
    assert set(best) == BEST_KEYS and best["weights"] == "weights.pt" and 0 <= best["test_accuracy"] <= 1
    assert best["val_accuracy"] == max(e["val_accuracy"] for e in confirmation)
    assert json.loads((run / "arch.json").read_text()) == best["arch"]
    config = json.loads((run / "config.json").read_text())
    data = config["data"]
    assert config["format_version"] == 2 and data["num_classes"] == 3 and len(data["mean"]) == data["in_channels"]
    model = search.space.build(Architecture.from_dict(best["arch"]), 3, data["in_channels"], data["input_size"])
    model.load_state_dict(torch.load(run / "weights.pt", weights_only=True))  # export reads these
    results = json.loads((run / "results.json").read_text())
    assert SUMMARY_KEYS | {"config", "trials"} == set(results) and len(results["trials"]) == 8
    assert {"number", "state", "arch", "arch_key", "result"} <= set(results["trials"][0])


def test_resume_of_a_finished_run_recomputes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Search.create(smash_config(), tmp_path, "r", quiet=True).run()
    import nas.search.confirm as confirm
    import nas.supernets.loop as loop
    from nas.evaluators.supernet import SupernetEvaluator

    def boom(*a: Any, **k: Any) -> Any:
        raise AssertionError("recomputed")

    monkeypatch.setattr(SupernetEvaluator, "evaluate", boom)
    monkeypatch.setattr(loop, "fit_steps", boom)
    monkeypatch.setattr(confirm, "_retrain", boom)
    again = Search.resume(tmp_path / "r", quiet=True).run()
    assert again["best"] == first["best"] and again["n_trials"] == first["n_trials"]
    assert again["confirmation"] == first["confirmation"]


def test_more_trials_on_resume_score_only_the_new_ones(tmp_path: Path) -> None:
    Search.create(smash_config(trials=6, confirm=0), tmp_path, "m", quiet=True).run()
    before = {t.number: t.user_attrs["result"] for t in study_of(tmp_path / "m").get_trials()}
    out = Search.resume(tmp_path / "m", trials=9, quiet=True).run()
    after = study_of(tmp_path / "m").get_trials()
    assert out["n_trials"] == 9 and len(after) == 9
    assert all(t.user_attrs["result"] == before[t.number] for t in after if t.number in before)


def test_same_seed_same_search_whatever_the_global_rng(tmp_path: Path) -> None:
    outs = []
    for k in (1, 2):
        torch.manual_seed(k)
        outs.append(Search.create(smash_config(), tmp_path, f"g{k}", quiet=True).run())
        outs[-1]["scores"] = [t.user_attrs["result"]["score"] for t in study_of(tmp_path / f"g{k}").get_trials()]
    assert outs[0]["scores"] == outs[1]["scores"] and outs[0]["best"]["arch"] == outs[1]["best"]["arch"]
    assert outs[0]["best"]["val_accuracy"] == outs[1]["best"]["val_accuracy"]


def test_timeout_stops_cleanly_and_resume_finishes(tmp_path: Path) -> None:
    search = Search.create(smash_config(trials=6), tmp_path, "t", quiet=True)
    stopped = search.run(timeout=1e-6)
    assert not stopped["complete"] and stopped["stopped_during"] == "supernet" and stopped["best"] is None
    done = Search.resume(tmp_path / "t", quiet=True).run()
    assert done["complete"] and done["n_trials"] == 6 and done["supernet"]["steps"] == 6


def test_output_contract_of_smash_train_and_tabular_runs(table: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    runs = {
        "smash": ["--space", SPACE, "--dataset", DATA, "--trials", "5", "--epochs", "1", "--supernet-steps", "4",
                  "--smash", "local_rounds=1", "--smash", "local_top=1", "--smash", "local_mutations=1",
                  "--smash", "reference_archs=4", "--smash", "batch_size=32"],
        "train": ["--space", SPACE, "--dataset", DATA, "--strategy", "random", "--evaluator", "train?batch_size=64",
                  "--trials", "2", "--epochs", "1"],
        "tabular": ["--space", "nb201", "--evaluator", f"tabular:{table}", "--strategy", "tpe", "--trials", "10"],
    }
    for name, argv in runs.items():
        assert main(["search", *argv, "--runs-dir", str(tmp_path), "--name", name, "--quiet", "--json"]) == 0, name
        out = json.loads(capsys.readouterr().out)
        results = json.loads((tmp_path / name / "results.json").read_text())
        assert set(out) == SUMMARY_KEYS and set(results) == SUMMARY_KEYS | {"config", "trials"}, name
        assert set(out["best"]) == BEST_KEYS and out["best"] == results["best"], name
        assert out["run_dir"] == str(tmp_path / name) and out["format_version"] == 2
        for t in results["trials"]:
            assert {"number", "state", "arch", "arch_key", "result"} <= set(t)
    assert out["confirmation"] is None and out["best"]["weights"] is None  # tabular: nothing to retrain
    smash = json.loads((tmp_path / "smash" / "results.json").read_text())
    assert len(smash["confirmation"]) == 2 and smash["best"]["weights"] == "weights.pt"
    assert smash["supernet"]["steps"] == 4 and smash["n_trials"] == 5
    train = json.loads((tmp_path / "train" / "results.json").read_text())
    assert len(train["confirmation"]) == 1 and (tmp_path / "train" / "weights.pt").is_file()
    assert train["confirmation"][0]["seed"] == 1  # confirmation retrains with a new seed


@pytest.mark.parametrize("dataset", ["digits?resolution=0", "digits?bogus=1", "npz:x?subset=-5", "nosuch"])
def test_a_bad_dataset_fails_before_any_run_directory(dataset: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    code = main(["search", "--space", SPACE, "--strategy", "random", "--evaluator", "train", "--dataset", dataset,
                 "--trials", "2", "--runs-dir", str(tmp_path / "runs"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("argv, needle", [
    (["--strategy", "smash", "--space", "nb201"], "dense space"),
    (["--strategy", "smash", "--evaluator", "train"], "use --evaluator smash"),
    (["--supernet-steps", "0"], "positive"),
    (["--strategy", "smsh"], "did you mean smash"),
    (["--smash", "parametrization=mip"], "unknown --smash option"),
    (["--smash", "noise=lots"], "not a int"),
    (["--smash", "kxk_per_slot=maybe"], "not a bool"),
    (["--smash", "sampler=evenly"], "sampler"),
    (["--space", "dense?bogus=1"], "unknown space dense option"),
    (["--confirm", "-1"], "--confirm"),
    (["--timeout", "0"], "--timeout"),
    (["--strategy", "tpe?bogus=1"], "unknown strategy tpe option 'bogus'"),
    (["--strategy", "random?seed=1"], "strategy random takes no options"),
    (["--strategy", "evolution?population=2&tournament=3"], "tournament <= population"),
])
def test_bad_flags_exit_2_with_one_line(argv: list[str], needle: str, tmp_path: Path,
                                        capsys: pytest.CaptureFixture) -> None:
    assert main(["search", *argv, "--runs-dir", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert needle in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_resume_refuses_an_old_run_directory_and_new_flags(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    old = tmp_path / "old"
    old.mkdir()
    (old / "config.json").write_text(json.dumps({"strategy": "smash", "settings": {}, "resolved": {}}))
    assert main(["search", "--resume", str(old)]) == 2
    err = capsys.readouterr().err
    assert "older nas search" in err and len(err.strip().splitlines()) == 1
    assert main(["search", "--resume", str(old), "--epochs", "3"]) == 2
    assert "drop --epochs" in capsys.readouterr().err


def test_config_file_reruns_a_run_and_help_shows_the_true_defaults(table: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    argv = ["search", "--space", "nb201", "--evaluator", f"tabular:{table}", "--strategy", "random", "--trials", "7",
            "--seed", "3", "--runs-dir", str(tmp_path), "--quiet", "--json"]
    assert main([*argv, "--name", "a"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["search", "--config", str(tmp_path / "a" / "config.json"), "--runs-dir", str(tmp_path), "--name", "b",
                 "--quiet", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["best"]["arch"] == first["best"]["arch"] and second["n_trials"] == 7
    assert main(["search", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    d = SearchConfig()
    assert f"(default {d.trials})" in text and f"(default {d.epochs})" in text and d.strategy == "smash"
    assert f"(default {d.supernet_steps})" in text and d.confirm == 2 and d.evaluator == "smash"


def test_strategy_options_reach_the_sampler(table: Path) -> None:
    from nas.evaluators.tabular import TabularEvaluator

    search = Search.in_memory(SearchConfig(space="nb201", evaluator="tabular", strategy="evolution?population=4"
                                           "&tournament=2", trials=6), evaluator=TabularEvaluator(table))
    assert (search.study.sampler.population, search.study.sampler.tournament) == (4, 2)
    assert search.evaluate().evaluated >= 1


def test_another_strategy_scores_with_a_fitted_smash_run(tmp_path: Path) -> None:
    Search.create(smash_config(trials=4, confirm=0), tmp_path, "fit", quiet=True).run()
    own = {t.user_attrs["arch_key"]: t.user_attrs["result"]["score"] for t in study_of(tmp_path / "fit").get_trials()}
    config = SearchConfig(space=SPACE, dataset=DATA, strategy="random", evaluator=f"smash:{tmp_path / 'fit'}",
                          trials=6, confirm=0, seed=5)
    out = Search.create(config, tmp_path, "reuse", quiet=True).run()
    assert out["supernet"] is None and out["n_trials"] == 6 and not (tmp_path / "reuse" / "supernet.pt").exists()
    assert out["objectives"] == ["score"] and out["best"]["score"] is not None
    for t in study_of(tmp_path / "reuse").get_trials():  # the same supernet gives the same score
        key = t.user_attrs["arch_key"]
        assert key not in own or own[key] == t.user_attrs["result"]["score"]
