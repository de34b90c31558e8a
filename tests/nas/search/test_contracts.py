"""Every registered strategy and evaluator passes the contract suites users run on their own."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.evaluators.tabular import TabularEvaluator
from nas.search import STRATEGIES
from nas.search.testing import check_evaluator, check_strategy
from search_spaces import default_space

# see the tests below; supernet strategies propose from a fitted supernet (a run directory)
NB201_STRATEGIES = [n for n in STRATEGIES.names() if n not in ("cmaes", "gp") and not STRATEGIES.get(n).supernet]


@pytest.mark.parametrize("name", NB201_STRATEGIES)
def test_registered_strategies_pass_the_contract(name: str, table: Path) -> None:
    check_strategy(name, default_space("nb201"), TabularEvaluator(table), trials=12)


def test_gp_passes_the_contract(table: Path) -> None:  # slow per trial: fewer trials
    check_strategy("gp", default_space("nb201"), TabularEvaluator(table), trials=4)


def test_tabular_and_train_evaluators_pass_the_contract(table: Path) -> None:
    from nas.search.evaluators import EvalContext, make_evaluator
    from nas.search.session import resolve_space

    check_evaluator(TabularEvaluator(table), default_space("nb201"))
    space = resolve_space("dense?stages=1&max_nodes=2&widths=8&stem=8")
    ev = make_evaluator("train?batch_size=64", EvalContext(space, "synthetic?subset=60&resolution=8&classes=3", 1))
    check_evaluator(ev, space, n=1)


def test_the_smash_evaluator_passes_the_contract(tmp_path: Path) -> None:
    from nas.evaluators.supernet import SupernetEvaluator
    from nas.search import Search, SearchConfig
    from nas.supernets.smash import SmashConfig

    config = SearchConfig(space="dense?stages=2&max_nodes=3&widths=8,16&stem=8", trials=2, supernet_steps=3,
                          dataset="synthetic?subset=100&resolution=8&classes=3",
                          smash=SmashConfig(batch_size=32, reference_archs=4, score_images=16))
    search = Search.create(config, tmp_path, "s", quiet=True)
    search.fit_supernet()
    check_evaluator(SupernetEvaluator(tmp_path / "s", search.config), search.space)
    # and the smash strategy's proposals through the same loop, scored by that supernet
    summary = search.run()
    assert summary["n_trials"] == 2 and summary["best"]["arch"] is not None


def test_the_contract_catches_a_leaky_evaluator(table: Path) -> None:
    class Leaky(TabularEvaluator):
        def evaluate(self, arch, fidelity=None, on_epoch=None):
            r = super().evaluate(arch, fidelity, on_epoch)
            r.test_accuracy = 0.5
            return r

    with pytest.raises(AssertionError, match="test accuracy"):
        check_evaluator(Leaky(table), default_space("nb201"))
