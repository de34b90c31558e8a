"""BANANAS' target transforms: monotone, and the copula keeps an outlier from dominating."""

from __future__ import annotations

import numpy as np
import optuna
import pytest

from nas.search.bananas import TARGETS, BananasSampler, transform_target
from search_spaces import default_space


@pytest.mark.parametrize("how", TARGETS)
def test_transforms_keep_the_order(how: str) -> None:
    y = np.array([0.1, 0.85, 0.9, 0.91, 0.88, 0.1, 0.7])
    t = transform_target(y, how)
    assert np.all(np.isfinite(t))
    assert np.array_equal(np.argsort(t, kind="stable"), np.argsort(y, kind="stable"))


def test_copula_spreads_the_top_as_much_as_the_bottom() -> None:
    y = np.array([0.1, 0.89, 0.9, 0.91, 0.92])  # one untrainable cell far below the rest
    raw, cop = transform_target(y, "raw"), transform_target(y, "copula")
    # raw: the outlier's gap dwarfs the gaps at the top; copula: gaps by rank alone
    assert (raw[1] - raw[0]) > 10 * (raw[4] - raw[3])
    assert (cop[1] - cop[0]) < 2 * (cop[4] - cop[3])


def test_copula_target_reaches_the_sampler_and_searches() -> None:
    from nas.search.strategies import StrategyContext, strategy_of

    strategy, options = strategy_of("bananas?target=copula&batch=3")
    space = default_space("nb201")
    sampler = strategy.sampler(StrategyContext(space=space, seed=0, options=options))
    assert (sampler.target, sampler.batch) == ("copula", 3)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: float(space.edges(space.suggest(t)).count("nor_conv_3x3")), n_trials=16)
    assert sampler.fits >= 2
    with pytest.raises(ValueError, match="target"):
        BananasSampler(space, target="rank")
    with pytest.raises(ValueError, match="target"):
        strategy_of("bananas?target=rank")
