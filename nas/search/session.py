"""A search's run directory and its records: reading config.json back (refusing other formats),
the trial records and counts of results.json, the best trial and the Pareto front.

The layout is described in runs/README.md; `nas.search.pipeline` writes it.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.search.config import FORMAT_VERSION, SearchConfig
from nas.search.objectives import Objectives, feasible, pareto_front
from nas.search.runner import is_counted
from nas.search.storage import default_url, open_storage

CONFIG_FILE = "config.json"
RESULTS_FILE = "results.json"
FINAL_TEST_ATTR = "final_test"


def derive_seed(seed: int, *salt: Any) -> int:
    """A seed for one process of a run: `seed` itself without salt, else a mix of both."""
    if not salt:
        return seed
    words = [zlib.crc32(str(s).encode()) for s in salt]
    return int(np.random.SeedSequence([seed & 0xFFFFFFFF, *words]).generate_state(1)[0])


def resolve_space(spec: str) -> Any:
    """`NAME | module:attr`, optionally with `?key=value&...` options of the space's config dataclass
    (e.g. `dense?max_params=300000&widths=8,16`)."""
    import dataclasses
    from urllib.parse import parse_qsl

    from nas.config_util import typed_options

    try:
        from search_spaces.plugins import resolve_space as resolve
    except ImportError:  # before the plug-in module exists, registered names only
        from search_spaces.base import default_space as resolve
    name, sep, query = spec.partition("?")
    space = resolve(name)
    if not sep:
        return space
    if hasattr(space, "with_options"):  # a space that reads its own options (dense?around=NAME)
        return space.with_options(dict(parse_qsl(query, keep_blank_values=True)))
    config = getattr(space, "config", None)
    if not dataclasses.is_dataclass(config):
        raise ValueError(f"space {name!r} takes no ?options (it has no config dataclass)")
    options = typed_options(type(config), dict(parse_qsl(query, keep_blank_values=True)), f"space {name}")
    return type(space)(dataclasses.replace(config, **options))


def open_storage_for(config: SearchConfig, run_dir: Path | None) -> optuna.storages.BaseStorage | None:
    if config.storage is not None:
        return open_storage(config.storage)
    return None if run_dir is None else open_storage(default_url(run_dir))


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
    if not isinstance(data, dict) or (data.get("command") != "search" and data.get("strategy") != "smash"):
        raise ValueError(f"{path} is not a search config (it lacks \"command\": \"search\")")
    if data.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{run_dir} was written by an older nas search (format {data.get('format_version', 1)}, "
                         f"this one reads {FORMAT_VERSION}); start a new run")
    if not isinstance(data.get("search"), dict):
        raise ValueError(f"{path} lacks the \"search\" config")
    return SearchConfig.from_dict(data["search"])


def config_document(config: SearchConfig, data: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json: the resolved config, and the data block `nas train` writes (classes, input
    shape, per-channel mean/std), so export reads a search run like a training run."""
    return {"format_version": FORMAT_VERSION, "command": "search", "search": config.to_dict(), "data": data}


# --- results ---------------------------------------------------------------------------------------
PROPOSAL_ATTRS = ("slot", "phase", "param_free_share")  # what a proposer records of its proposal


def trial_record(t: FrozenTrial) -> dict[str, Any]:
    """One trial in results.json: our state (complete, infeasible, pruned, failed, running) and Result."""
    return {"number": t.number, "state": trial_state(t), "counted": is_counted(t), "arch": t.user_attrs.get("arch"),
            "arch_key": t.user_attrs.get("arch_key"), "choices": t.params, "values": t.values,
            "result": t.user_attrs.get("result"),
            "proposal": {k: t.user_attrs[k] for k in PROPOSAL_ATTRS if k in t.user_attrs} or None,
            "duplicate_of": t.user_attrs.get("duplicate_of"), "error": t.user_attrs.get("error"),
            "constraint": t.user_attrs.get("constraint"), "worker": t.user_attrs.get("worker"),
            "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "start": t.datetime_start.isoformat() if t.datetime_start else None,
            "complete": t.datetime_complete.isoformat() if t.datetime_complete else None}


def trial_state(t: FrozenTrial) -> str:
    """complete, infeasible (evaluated, or kept from evaluation by its costs), pruned, rejected (by the
    space), failed, running or waiting."""
    if t.state == TrialState.COMPLETE:
        return "complete" if feasible(t.user_attrs.get("constraint")) else "infeasible"
    if t.state == TrialState.PRUNED and t.user_attrs.get("over_limits"):
        return "infeasible"
    if t.state == TrialState.PRUNED:
        return "rejected" if t.user_attrs.get("rejected") else "pruned"
    return {TrialState.FAIL: "failed"}.get(t.state, t.state.name.lower())


def best_trial(trials: list[FrozenTrial], metric: str = "val_accuracy") -> FrozenTrial | None:
    """The feasible complete trial of highest `metric` (the earliest on a tie)."""
    ok = [t for t in trials if t.state == TrialState.COMPLETE and feasible(t.user_attrs.get("constraint"))
          and (t.user_attrs.get("result") or {}).get(metric) is not None]
    if not ok:
        return None
    return max(ok, key=lambda t: (t.user_attrs["result"][metric], -t.number))


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


def counts(trials: list[FrozenTrial]) -> dict[str, int]:
    out = {"complete": 0, "infeasible": 0, "pruned": 0, "failed": 0, "running": 0, "duplicates": 0,
           "not_evaluated": 0}
    for t in trials:
        state = trial_state(t)
        out[state] = out.get(state, 0) + 1
        out["not_evaluated"] += bool(t.user_attrs.get("over_limits"))
        out["duplicates"] += t.user_attrs.get("duplicate_of") is not None and is_counted(t)
    return out


def open_study(config: SearchConfig, storage: Any, sampler: Any, pruner: Any, objectives: Objectives,
                create: bool) -> optuna.Study:
    """The run's study: created, or loaded and checked against the config's objectives."""
    if create:
        try:
            return optuna.create_study(storage=storage, sampler=sampler, pruner=pruner, study_name=config.study_name,
                                       directions=objectives.directions)
        except optuna.exceptions.DuplicatedStudyError:
            raise ValueError(f"the storage already holds a study named {config.study_name!r}; pick another --name "
                             "or --resume that run") from None
    try:
        study = optuna.load_study(study_name=config.study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise ValueError(f"the storage holds no study named {config.study_name!r}") from None
    if [d.name.lower() for d in study.directions] != objectives.directions:
        raise ValueError(f"study {config.study_name!r} optimises {len(study.directions)} objective(s), "
                         f"the config {len(objectives.directions)}")
    return study
