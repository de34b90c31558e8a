"""`nas predictor evaluate | fit`, `--evaluator predictor:FILE` and `--strategy bananas` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from nas.cli import main
from nas.search.bananas import BananasSampler
from nas.search.evaluators import EvalContext, make_evaluator
from search_spaces import default_space


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_evaluate_prints_the_protocol_keys(nb201_table: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = run(capsys, "predictor", "evaluate", "--space", "nb201", "--evaluator", f"tabular:{nb201_table}",
                       "--train-size", "24", "--seeds", "2", "--held-out", "100", "--model", "rf",
                       "--features", "graf,params", "--json", "--quiet")
    assert code == 0
    doc = json.loads(out)
    for key in ("kendall_tau", "spearman", "top_recall", "kendall_tau_test", "spearman_test", "top_recall_test"):
        assert -1 <= doc[key] <= 1 and key in doc["without_disconnected"]
    assert len(doc["per_seed"]) == 2 and doc["held_out"] == 100
    assert doc["kendall_tau"] > 0.5  # the synthetic accuracy is a function of the cell plus noise


def test_fit_then_search_with_the_predictor_evaluator(nb201_table: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    out_file = tmp_path / "pred.json"
    code, out, _ = run(capsys, "predictor", "fit", "--evaluator", f"tabular:{nb201_table}", "--train-size", "24",
                       "--model", "rf", "--features", "graf,params", "--out", str(out_file), "--json")
    assert code == 0 and json.loads(out)["train_size"] == 24 and out_file.is_file()
    code, out, _ = run(capsys, "search", "--space", "nb201", "--evaluator", f"predictor:{out_file}", "--strategy",
                       "random", "--trials", "6", "--runs-dir", str(tmp_path), "--name", "p", "--json", "--quiet")
    assert code == 0
    best = json.loads(out)["best"]
    assert 0 <= best["val_accuracy"] <= 1
    # the search's own results can train a predictor (fit from a run directory)
    code, out, _ = run(capsys, "predictor", "fit", "--space", "nb201", "--evaluator", str(tmp_path / "p"),
                       "--model", "rf", "--features", "graf", "--out", str(tmp_path / "q.json"), "--json")
    assert code == 0


def test_bad_predictor_file_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a predictor file") as e:
        make_evaluator(f"predictor:{bad}", EvalContext(space=default_space("nb201")))
    assert "\n" not in str(e.value)


def test_bananas_proposes_unseen_cells_from_its_predictor() -> None:
    space = default_space("nb201")
    sampler = BananasSampler(space, seed=0, n_init=8, batch=4)
    study = optuna.create_study(direction="maximize", sampler=sampler)

    def objective(trial: optuna.Trial) -> float:
        edges = space.edges(space.suggest(trial))
        return edges.count("nor_conv_3x3") + 0.5 * edges.count("nor_conv_1x1") - edges.count("none")

    study.optimize(objective, n_trials=20)
    assert sampler.fits >= 2
    values = [t.value for t in study.trials]
    assert max(values[8:]) >= max(values[:8])  # guided trials reach at least the random ones' best
    with pytest.raises(ValueError, match="acquisition"):
        BananasSampler(space, acquisition="pi")


def test_bananas_options_reach_the_sampler_and_bad_ones_are_one_line() -> None:
    from nas.search.strategies import StrategyContext, strategy_of

    strategy, options = strategy_of("bananas?acquisition=its&batch=5&n_init=6")
    sampler = strategy.sampler(StrategyContext(space=default_space("nb201"), seed=0, options=options))
    assert (sampler.acquisition, sampler.batch, sampler.n_init) == ("its", 5, 6)
    for spec, match in (("bananas?acquisition=pi", "acquisition"), ("bananas?n_init=2", "n_init"),
                        ("bananas?depth=3", "unknown strategy bananas option")):
        with pytest.raises(ValueError, match=match) as e:
            strategy_of(spec)
        assert "\n" not in str(e.value)
