"""`nas search` in process: every strategy, results.json, --json, and bad input (exit 2, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from nas.cli import main
from nas.search import STRATEGIES
from search_spaces import Architecture, default_space


def search(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(["search", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def nb201(table: Path, tmp_path: Path, *extra: str) -> list[str]:
    return ["--space", "nb201", "--evaluator", f"tabular:{table}", "--runs-dir", str(tmp_path), "--quiet", *extra]


# supernet strategies (smash, darts, gdas, proxyless) have their own end-to-end tests
@pytest.mark.parametrize("strategy", [s for s in STRATEGIES.names() if s != "cmaes" and not STRATEGIES.get(s).supernet])
def test_each_strategy_runs_through_the_same_loop(strategy: str, table: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    trials = 12
    code, out, _ = search(capsys, *nb201(table, tmp_path, "--strategy", strategy, "--trials", str(trials), "--json",
                                         "--name", "r"))
    assert code == 0
    summary = json.loads(out)
    assert summary["n_trials"] == trials and summary["run_dir"] == str(tmp_path / "r")
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    vals = [t["result"]["val_accuracy"] for t in results["trials"] if t["state"] == "complete"]
    assert len(results["trials"]) == trials and summary["best"]["val_accuracy"] == max(vals)
    arch = summary["best"]["arch"]
    assert arch["space"] == "nb201" and len(arch["genotype"]["edges"]) == 6
    edges = arch["genotype"]["edges"]
    # synthetic table: test = valid + 1 (percent)
    assert summary["best"]["test_accuracy"] == pytest.approx(summary["best"]["val_accuracy"] + 0.01, abs=1e-4)
    assert results["config"]["strategy"] == strategy and results["best"]["arch"]["genotype"]["edges"] == edges
    assert all(t["result"]["test_accuracy"] is None for t in results["trials"]), "the search saw test accuracy"


def assert_best_of_n_trials(summary: dict, run_dir: Path, n: int) -> None:
    """`n` trials ran and were saved, and `best` is the trial with the highest validation accuracy."""
    trials = [t for t in json.loads((run_dir / "results.json").read_text())["trials"] if t["counted"]]
    assert summary["n_trials"] == n and len(trials) == n
    top = max(t["result"]["val_accuracy"] for t in trials if t["state"] == "complete")
    confirmed = summary.get("confirmation") or []
    if not confirmed:  # no retraining: the best trial is the pick
        assert summary["best"]["val_accuracy"] == top
        assert summary["best"]["arch"] in [t["arch"] for t in trials if t["result"]["val_accuracy"] == top]
        return
    # the top trials were retrained with a new seed: the pick is the best of them by that validation
    ranked = sorted((t["result"]["val_accuracy"] for t in trials if t["state"] == "complete"), reverse=True)
    cutoff = ranked[len(confirmed) - 1]
    top_keys = [t["arch_key"] for t in trials if t["result"]["val_accuracy"] >= cutoff]
    assert all(c["arch_key"] in top_keys for c in confirmed)
    picked = max(confirmed, key=lambda c: c["val_accuracy"])
    assert summary["best"]["val_accuracy"] == picked["val_accuracy"]
    assert summary["best"]["arch_key"] == picked["arch_key"]


def test_evolution_children_differ_from_their_parent_by_one_edge(table: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    code, out, _ = search(capsys, *nb201(table, tmp_path, "--strategy", "evolution", "--trials", "25", "--name", "e",
                                         "--json"))
    assert code == 0
    assert_best_of_n_trials(json.loads(out), tmp_path / "e", 25)
    study = optuna.load_study(study_name="e", storage=f"sqlite:///{tmp_path / 'e' / 'study.db'}")
    trials = study.get_trials()
    children = [t for t in trials if "evolution:parent" in t.system_attrs]
    assert len(children) == 15  # after the random population of 10
    for t in children:
        parent = trials[t.system_attrs["evolution:parent"]]
        assert parent.number < t.number and t.number - parent.number <= 10 + 5  # from the recent population
        diff = sum(a != b for a, b in zip(parent.user_attrs["arch"]["genotype"]["edges"],
                                          t.user_attrs["arch"]["genotype"]["edges"]))
        assert diff == 1


def test_qmc_seeds_differ(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    firsts = []
    for seed in (0, 1):
        search(capsys, *nb201(table, tmp_path, "--strategy", "qmc", "--trials", "3", "--seed", str(seed),
                              "--name", f"q{seed}"))
        doc = json.loads((tmp_path / f"q{seed}" / "results.json").read_text())
        firsts.append([t["arch_key"] for t in doc["trials"]])
    assert firsts[0] != firsts[1]


def test_constraints_and_pareto_front(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = search(capsys, "--space", "nb201", "--evaluator", f"tabular:{table}?latency=lat_ms",
                          "--runs-dir", str(tmp_path), "--quiet", "--strategy", "tpe", "--trials", "20", "--json",
                          "--objectives", "accuracy,latency_ms", "--max-latency-ms", "4")
    assert code == 0
    summary = json.loads(out)
    assert summary["best"]["latency_ms"] <= 4
    assert summary["pareto_front"] and all(p["latency_ms"] <= 4 for p in summary["pareto_front"])
    doc = json.loads((Path(summary["run_dir"]) / "results.json").read_text())
    assert any(t["state"] == "infeasible" for t in doc["trials"])


def test_cmaes_is_refused_for_categorical_spaces(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, err = search(capsys, *nb201(table, tmp_path, "--strategy", "cmaes", "--trials", "3"))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and "categorical" in err


@pytest.mark.parametrize("argv, words", [
    (["--strategy", "tpee"], ["unknown strategy 'tpee'", "did you mean tpe"]),
    (["--trials", "0"], ["--trials must be at least 1"]),
    (["--storage", "sqlite:////nonexistent-dir/sub/x.db"], ["cannot open storage"]),
    (["--storage", "postgresql://nobody@127.0.0.1:1/none"], ["cannot open storage"]),
    (["--pruner", "hyperbnd"], ["did you mean hyperband"]),
    (["--objectives", "accuracy,speed"], ["unknown objective 'speed'"]),
])
def test_bad_input_exits_2_with_one_line(argv: list[str], words: list[str], table: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    code, out, err = search(capsys, *nb201(table, tmp_path, "--trials", "2", *argv))
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words), err
    assert not any(tmp_path.iterdir()), "a failed start left a run directory behind"


def test_resume_of_a_directory_that_is_not_a_run(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "notarun").mkdir()
    for target in ("notarun", "missing"):
        code, out, err = search(capsys, "--resume", str(tmp_path / target))
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "not a search run directory" in search(capsys, "--resume", str(tmp_path / "notarun"))[2]


def test_resume_refuses_new_config_flags(table: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert search(capsys, *nb201(table, tmp_path, "--trials", "2", "--name", "a"))[0] == 0
    code, _, err = search(capsys, "--resume", str(tmp_path / "a"), "--strategy", "random")
    assert code == 2 and "--strategy" in err
    code, out, _ = search(capsys, "--resume", str(tmp_path / "a"), "--trials", "4", "--json", "--quiet")
    assert code == 0 and json.loads(out)["n_trials"] == 4


def test_dense_space_with_a_fake_train_free_evaluator(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Any space works: the dense space through an evaluator given as FILE.py:attr."""
    path = tmp_path / "ev.py"
    path.write_text("from nas.results import Result\n"
                    "class E:\n"
                    "    def evaluate(self, arch, fidelity=None, on_epoch=None):\n"
                    "        return Result(val_accuracy=(int(arch.key()[:4], 16) % 1000) / 1000)\n"
                    "    def test(self, arch):\n"
                    "        return Result(val_accuracy=0.5, test_accuracy=0.5)\n"
                    "def make(ctx):\n"
                    "    return E()\n")
    code, out, _ = search(capsys, "--space", "dense", "--evaluator", f"{path}:make", "--strategy", "evolution",
                          "--trials", "14", "--runs-dir", str(tmp_path), "--quiet", "--json")
    assert code == 0
    summary = json.loads(out)
    assert_best_of_n_trials(summary, Path(summary["run_dir"]), 14)
    default_space("dense").validate(Architecture.from_dict(summary["best"]["arch"]))


def test_search_output_into_a_closed_pipe_ends_quietly(table: Path, tmp_path: Path, nas_into_closed_pipe) -> None:
    nas_into_closed_pipe("search", *nb201(table, tmp_path, "--strategy", "random", "--trials", "3", "--json"))


def test_journal_storage_holds_the_study_and_resumes(table: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    journal = tmp_path / "study.log"
    code, out, err = search(capsys, *nb201(table, tmp_path, "--strategy", "tpe", "--trials", "5", "--name", "j",
                                         "--storage", f"journal:{journal}", "--json"))
    assert code == 0, err
    assert_best_of_n_trials(json.loads(out), tmp_path / "j", 5)
    assert journal.stat().st_size > 0 and not (tmp_path / "j" / "study.db").exists()
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    assert len(optuna.load_study(study_name="j", storage=storage).trials) == 5  # the journal holds the study
    code, out, err = search(capsys, "--resume", str(tmp_path / "j"), "--trials", "8", "--json", "--quiet")
    assert code == 0, err
    assert json.loads(out)["n_trials"] == 8
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    assert len(optuna.load_study(study_name="j", storage=storage).trials) == 8
    code, out, err = search(capsys, *nb201(table, tmp_path, "--storage", f"journal:{tmp_path}/absent/x.log"))
    assert code == 2 and out == "" and "does not exist" in err and len(err.strip().splitlines()) == 1
