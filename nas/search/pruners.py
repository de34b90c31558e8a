"""`--pruner median | sha | hyperband | none`: Optuna pruners over per-epoch validation accuracy.

Pruning applies to single-objective searches (Optuna does not prune multi-objective studies);
the evaluator reports after every epoch and the runner stops a trial the pruner marks.
"""

from __future__ import annotations

from collections.abc import Callable

import optuna

from search_spaces.registry import Registry

PRUNERS: Registry[Callable[[int], optuna.pruners.BasePruner]] = Registry("pruner")
PRUNERS.register("none", lambda epochs: optuna.pruners.NopPruner())
PRUNERS.register("median", lambda epochs: optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1))
PRUNERS.register("sha", lambda epochs: optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3))
PRUNERS.register("hyperband", lambda epochs: optuna.pruners.HyperbandPruner(
    min_resource=1, max_resource=max(1, epochs), reduction_factor=3))


def make_pruner(name: str, epochs: int) -> optuna.pruners.BasePruner:
    """The pruner `name` for evaluations of up to `epochs` steps (epochs)."""
    return PRUNERS.get(name)(epochs)
