"""The search pipeline: `Search(config)` (create / resume / join, then `run()`) takes every strategy
through fit-supernet -> propose -> evaluate -> confirm (`pipeline.py`); the adapter from any
`SearchSpace` to Optuna, the STRATEGIES and EVALUATORS registries, the one ask/tell loop
(`run_trials`), the run directory's records, resume and workers.

Names load on first use (PEP 562), so `nas --help` and `nas.search.config` stay free of Optuna.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "arch_from_params": "adapter", "arch_of_trial": "adapter", "params_of": "adapter",
    "DEFAULT_STRATEGY": "config", "SearchConfig": "config", "FORMAT_VERSION": "config",
    "EVALUATORS": "evaluators", "EvalContext": "evaluators", "make_evaluator": "evaluators",
    "register_evaluator": "evaluators",
    "EvolutionSampler": "evolution",
    "Objectives": "objectives", "pareto_front": "objectives",
    "PRUNERS": "pruners", "make_pruner": "pruners",
    "LoopStats": "runner", "Runner": "runner", "SearchAborted": "runner", "is_counted": "runner",
    "run_trials": "runner",
    "Search": "pipeline", "finalize": "pipeline", "open_search": "pipeline",
    "best_trial": "session", "config_document": "session", "derive_seed": "session", "read_config": "session",
    "STRATEGIES": "strategies", "Strategy": "strategies", "StrategyContext": "strategies",
    "register_strategy": "strategies",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'nas.search' has no attribute {name!r}")
    return getattr(importlib.import_module(f"nas.search.{_WHERE[name]}"), name)
