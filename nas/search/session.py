"""A search run: its typed config, its study and evaluator, and its results.

runs/<name>/ holds
- config.json: the `SearchConfig` (what `--resume` and `nas worker` rebuild the search from);
- study.db: the Optuna storage (SQLite) unless `--storage URL` put the study elsewhere;
- results.json: the config, counts, the best architecture as a JSON object with its validation
  and (measured once) test accuracy, the Pareto front of a multi-objective search, every trial.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.search.config import SearchConfig
from nas.search.evaluators import EvalContext, make_evaluator
from nas.search.objectives import Objectives, feasible, pareto_front
from nas.search.pruners import make_pruner
from nas.search.runner import is_counted
from nas.search.storage import default_url, open_storage
from nas.search.strategies import STRATEGIES, StrategyContext
from search_spaces.base import Architecture

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
FINAL_TEST_ATTR = "final_test"


@dataclass
class Search:
    """An opened search: the study (with this process's sampler) and what evaluates its trials."""

    config: SearchConfig
    study: optuna.Study
    space: Any
    evaluator: Any
    objectives: Objectives
    run_dir: Path | None
    sampler_seed: int | None
    worker_info: dict[str, Any] = field(default_factory=dict)

    @property
    def prune(self) -> bool:
        return self.config.pruner != "none"


def derive_seed(seed: int, *salt: Any) -> int:
    """A seed for one process of a run: `seed` itself without salt, else a mix of both."""
    if not salt:
        return seed
    words = [zlib.crc32(str(s).encode()) for s in salt]
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, *words]).generate_state(1)[0])


def resolve_space(spec: str) -> Any:
    try:
        from search_spaces.plugins import resolve_space as resolve
    except ImportError:  # before the plug-in module exists, registered names only
        from search_spaces.base import default_space as resolve
    return resolve(spec)


def open_storage_for(config: SearchConfig, run_dir: Path | None) -> optuna.storages.BaseStorage | None:
    if config.storage is not None:
        return open_storage(config.storage)
    return None if run_dir is None else open_storage(default_url(run_dir))


def open_search(config: SearchConfig, run_dir: Path | None, *, storage: Any = None, create: bool = True,
                sampler_seed: int | None = None, quiet: bool = False, evaluator: Any = None) -> Search:
    """Build the space, sampler, pruner and evaluator, and create (`create`) or load the study.
    `storage=None` and `run_dir=None`: an in-memory study (benchmarks)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = resolve_space(config.space)
    objectives = config.objective_set
    seed = config.seed if sampler_seed is None else sampler_seed
    strategy = STRATEGIES.get(config.strategy)
    sampler = strategy.sampler(StrategyContext(space, seed, len(objectives.metrics), objectives.has_limits))
    if storage is None and (run_dir is not None or config.storage is not None):
        storage = open_storage_for(config, run_dir)
    if evaluator is None:
        evaluator = make_evaluator(config.evaluator, EvalContext(
            space, config.dataset, config.epochs, config.seed, needs_latency="latency_ms" in objectives.metrics
            or objectives.max_latency_ms is not None, quiet=quiet))
    pruner = make_pruner(config.pruner, int(getattr(evaluator, "epochs", config.epochs)))
    if create:
        try:
            study = optuna.create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=config.study_name,
                                        directions=objectives.directions)
        except optuna.exceptions.DuplicatedStudyError:
            raise ValueError(f"the storage already holds a study named {config.study_name!r}; pick another --name "
                             "or --resume that run") from None
    else:
        try:
            study = optuna.load_study(study_name=config.study_name, storage=storage, sampler=sampler, pruner=pruner)
        except KeyError:
            raise ValueError(f"the storage holds no study named {config.study_name!r}") from None
        if [d.name.lower() for d in study.directions] != objectives.directions:
            raise ValueError(f"study {config.study_name!r} optimises {len(study.directions)} objective(s), "
                             f"the config {len(objectives.directions)}")
    return Search(config, study, space, evaluator, objectives, run_dir, seed)


# --- run directories ------------------------------------------------------------------------------
def read_config(run_dir: Path) -> SearchConfig:
    """The config of a run directory; `ValueError` when `run_dir` is not one."""
    if not run_dir.exists():
        raise FileNotFoundError(f"run directory {str(run_dir)!r} does not exist")
    path = run_dir / CONFIG_FILE
    if not run_dir.is_dir() or not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a search run directory (no {CONFIG_FILE}); "
                         "start one with nas search --name NAME")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); was the run directory written by nas search?") from None
    if not isinstance(data, dict) or data.get("command") != "search" or not isinstance(data.get("search"), dict):
        raise ValueError(f"{path} is not a search config (it lacks \"command\": \"search\")")
    return SearchConfig.from_dict(data["search"])


def config_document(config: SearchConfig) -> dict[str, Any]:
    return {"command": "search", "search": config.to_dict()}


# --- results ---------------------------------------------------------------------------------------
def trial_record(t: FrozenTrial) -> dict[str, Any]:
    """One trial in results.json: our state (complete, infeasible, pruned, failed, running) and Result."""
    return {"number": t.number, "state": trial_state(t), "counted": is_counted(t), "arch": t.user_attrs.get("arch"),
            "arch_key": t.user_attrs.get("arch_key"), "choices": t.params, "values": t.values,
            "result": t.user_attrs.get("result"),
            "duplicate_of": t.user_attrs.get("duplicate_of"), "error": t.user_attrs.get("error"),
            "constraint": t.user_attrs.get("constraint"), "worker": t.user_attrs.get("worker"),
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "start": t.datetime_start.isoformat() if t.datetime_start else None,
            "complete": t.datetime_complete.isoformat() if t.datetime_complete else None}


def trial_state(t: FrozenTrial) -> str:
    """complete, infeasible, pruned, rejected (by the space), failed, running or waiting."""
    if t.state == TrialState.COMPLETE:
        return "complete" if feasible(t.user_attrs.get("constraint")) else "infeasible"
    if t.state == TrialState.PRUNED:
        return "rejected" if t.user_attrs.get("rejected") else "pruned"
    return {TrialState.FAIL: "failed"}.get(t.state, t.state.name.lower())


def best_trial(trials: list[FrozenTrial]) -> FrozenTrial | None:
    """The feasible complete trial of highest validation accuracy (the earliest on a tie)."""
    ok = [t for t in trials if t.state == TrialState.COMPLETE and feasible(t.user_attrs.get("constraint"))
          and t.user_attrs.get("result", {}).get("val_accuracy") is not None]
    if not ok:
        return None
    return max(ok, key=lambda t: (t.user_attrs["result"]["val_accuracy"], -t.number))


def front(trials: list[FrozenTrial], objectives: Objectives) -> list[FrozenTrial]:
    """The Pareto front of the feasible complete trials, one trial per architecture."""
    ok, seen = [], set()
    for t in sorted(trials, key=lambda t: t.number):
        if t.state == TrialState.COMPLETE and feasible(t.user_attrs.get("constraint")) and t.values:
            key = t.user_attrs.get("arch_key")
            if key not in seen:
                seen.add(key)
                ok.append(t)
    idx = pareto_front([t.values for t in ok], objectives.directions)
    return sorted((ok[i] for i in idx), key=lambda t: -t.values[0])


def finalize(search: Search, test: bool = True) -> dict[str, Any]:
    """Measure the best architecture's test accuracy (once per study) and write results.json."""
    trials = search.study.get_trials(deepcopy=False)
    best = best_trial(trials)
    best_doc: dict[str, Any] | None = None
    if best is not None:
        val = best.user_attrs["result"]
        best_doc = {"trial": best.number, "arch": best.user_attrs["arch"], "arch_key": best.user_attrs["arch_key"],
                    "val_accuracy": val["val_accuracy"], "test_accuracy": None, "params": val.get("params"),
                    "flops": val.get("flops"), "latency_ms": val.get("latency_ms"), "result": val}
        if test:
            best_doc["test"] = _test_once(search, best)
            best_doc["test_accuracy"] = best_doc["test"].get("test_accuracy")
    summary: dict[str, Any] = {
        "best": best_doc, "n_trials": sum(map(is_counted, trials)), "run_dir": str(search.run_dir or ""),
        "strategy": search.config.strategy, "space": search.config.space, "evaluator": search.config.evaluator,
        "objectives": list(search.objectives.metrics), "counts": _counts(trials)}
    if search.objectives.multi:
        summary["pareto_front"] = [{"trial": t.number, "arch_key": t.user_attrs.get("arch_key"),
                                    **{m: int(v) if m in ("params", "flops") else v
                                       for m, v in zip(search.objectives.metrics, t.values)}}
                                   for t in front(trials, search.objectives)]
    if search.run_dir is not None:
        from nas.runs import write_json

        doc = {**summary, "config": search.config.to_dict(), "trials": [trial_record(t) for t in trials]}
        write_json(search.run_dir / RESULTS_FILE, doc)
    return summary


def _test_once(search: Search, best: FrozenTrial) -> dict[str, Any]:
    done = search.study.user_attrs.get(FINAL_TEST_ATTR)
    if isinstance(done, dict) and done.get("trial") == best.number:
        return done["result"]
    result = search.evaluator.test(Architecture.from_dict(best.user_attrs["arch"])).to_dict()
    result = json.loads(json.dumps(result, default=lambda o: o.item() if hasattr(o, "item") else str(o)))
    search.study.set_user_attr(FINAL_TEST_ATTR, {"trial": best.number, "result": result})
    return result


def _counts(trials: list[FrozenTrial]) -> dict[str, int]:
    out = {"complete": 0, "infeasible": 0, "pruned": 0, "failed": 0, "running": 0, "duplicates": 0}
    for t in trials:
        state = trial_state(t)
        out[state] = out.get(state, 0) + 1
        out["duplicates"] += t.user_attrs.get("duplicate_of") is not None and is_counted(t)
    return out
