"""The search pipeline every strategy runs through: (fit a supernet) -> propose -> evaluate -> confirm.

    search = Search.create(SearchConfig(...), runs_dir="runs", name="mine")   # checks, then makes the dir
    summary = search.run()                                                    # -> results.json
    Search.resume("runs/mine").run()                                          # after a kill, any stage
    Search.join("runs/mine", seed=1).run(confirm=False)                       # another worker process

Stages, each resumable from the run directory:
1. a supernet strategy (or the smash evaluator without RUN_DIR) fits its supernet
   (`supernet.pt` checkpoints, `supernet.json` once all steps are done);
2. the strategy proposes, the evaluator judges, the Optuna study records: `run_trials` until the
   study holds `trials` counted trials (every scored architecture, local-search ones and cache hits
   included);
3. confirmation (`nas.search.confirm`): the top `confirm` trials retrained with the train recipe,
   the pick by validation, its test accuracy measured once, its weights in `weights.pt`. With
   `confirm=0` the best trial is the pick and the evaluator measures its test accuracy once.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from nas.search.config import DIFFERENTIABLE_STRATEGIES, FORMAT_VERSION, SearchConfig
from nas.search.evaluators import EvalContext, make_evaluator
from nas.search.objectives import Objectives
from nas.search.pruners import make_pruner
from nas.search.runner import LoopStats, is_counted, run_trials
from nas.search.session import (
    CONFIG_FILE,
    RESULTS_FILE,
    best_trial,
    config_document,
    counts,
    derive_seed,
    front,
    open_storage_for,
    open_study,
    read_config,
    resolve_space,
    trial_record,
)
from nas.search.strategies import StrategyContext, strategy_of
from search_spaces.base import Architecture

FINAL_TEST_ATTR = "final_test"


def run_space(config: SearchConfig, space: Any = None) -> Any:
    """The space a run searches: `config.space` (or `space`), SMASH's sub-space of it for SMASH."""
    space = resolve_space(config.space) if space is None else space
    if config.strategy_name == "smash" or config.evaluator.split(":", 1)[0] == "smash":
        from nas.evaluators.supernet import smash_space

        space = smash_space(space)  # SMASH's supernet covers the sub-space with every 1x1 conv present
    if config.supernet in DIFFERENTIABLE_STRATEGIES and getattr(space, "name", None) not in ("nb201", "dense"):
        raise ValueError(f"--strategy {config.strategy_name} searches the nb201 cell or the dense space: use "
                         "--space nb201 or --space dense (with its options)")
    if config.supernet in DIFFERENTIABLE_STRATEGIES and hasattr(space, "around"):
        raise ValueError(f"--strategy {config.strategy_name} covers dense's configured sub-space, not "
                         "dense?around=NAME; search that with --strategy tpe or evolution")
    if config.supernet in DIFFERENTIABLE_STRATEGIES and getattr(space, "name", None) == "dense":
        from nas.supernets.differentiable.dense_choices import check_config

        check_config(space.config)
    return space


@functools.lru_cache(maxsize=2)
def cached_dataset(spec: str, seed: int) -> Any:
    """One load per process of the dataset a run's stages share."""
    from nas.data import load_dataset

    return load_dataset(spec, seed=seed)


class Search:
    """An opened search: its config, run directory, space, study (with this process's sampler),
    proposer and evaluator. Build one with `create`, `resume`, `join` or `in_memory`."""

    def __init__(self, config: SearchConfig, run_dir: Path | None, *, storage: Any = None, create: bool = True,
                 sampler_seed: int | None = None, quiet: bool = False, evaluator: Any = None,
                 worker_info: dict[str, Any] | None = None, space: Any = None) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.config, self.run_dir, self.quiet = config, run_dir, quiet
        self.worker_info = worker_info or {}
        self.strategy, strategy_options = strategy_of(config.strategy)
        self.strategy_options = strategy_options
        self.space = space = run_space(config, space)
        self.sampler_seed = config.seed if sampler_seed is None else sampler_seed
        if evaluator is None:
            evaluator = make_evaluator(config.evaluator, EvalContext(
                space, config.dataset, config.epochs, config.seed,
                needs_latency="latency_ms" in config.objectives or config.max_latency_ms is not None, quiet=quiet,
                run_dir=run_dir, config=config, device=config.device))
        self.evaluator = evaluator
        objectives = config.objective_set
        self.proxy = bool(getattr(evaluator, "proxy", False))
        self.objectives: Objectives = objectives.scored() if self.proxy else objectives
        from nas.search.limits import make_gate

        self.gate = make_gate(self)  # costs before evaluation: over-limit architectures are not evaluated
        sampler = self.strategy.sampler(StrategyContext(space, self.sampler_seed, len(self.objectives.metrics),
                                                        self.objectives.has_limits, strategy_options))
        if callable(getattr(evaluator, "reachable", None)) and hasattr(sampler, "prefer"):
            sampler.prefer = evaluator.reachable  # --evaluator inherit: mutate into children that can inherit
        if storage is None and (run_dir is not None or config.storage is not None):
            storage = open_storage_for(config, run_dir)
        pruner = make_pruner(config.pruner, int(getattr(evaluator, "epochs", config.epochs)))
        self.study = open_study(config, storage, sampler, pruner, self.objectives, create)
        self.proposer = self.strategy.make_proposer(self) if self.strategy.make_proposer else None
        if create and config.init:
            if self.proposer is not None:
                raise ValueError(f"--init seeds Optuna-sampler strategies (tpe, evolution, ...), "
                                 f"not {config.strategy_name}")
            from nas.search.init import enqueue_init

            enqueue_init(self.study, space, config.init)

    # --- constructors ---------------------------------------------------------------------------------
    @classmethod
    def create(cls, config: SearchConfig, runs_dir: str | Path = "runs", name: str | None = None, *,
               quiet: bool = False, init_only: bool = False) -> Search:
        """Check everything (space, strategy, evaluator, dataset spec, storage), then make the run
        directory and write config.json. Nothing is left behind when a check fails."""
        from nas.data import parse_dataset_spec
        from nas.runs import make_run_dir, write_json

        parse_dataset_spec(config.dataset)  # a bad --dataset fails before any directory exists
        probe = cls(config, None, quiet=True, storage=optuna.storages.InMemoryStorage())  # space, strategy, evaluator
        if config.storage is not None:
            open_storage_for(config, None)
        data = _data_block(config)  # a dataset that cannot be loaded fails here too
        if data is not None and hasattr(probe.space, "shape"):  # images too small for the space's downsampling
            d = cached_dataset(config.dataset, config.seed)
            probe.space.shape(probe.space.sample(np.random.default_rng(0)), d.num_classes, d.in_channels,
                              d.input_size)
        run_dir = make_run_dir(runs_dir, name, f"{config.space.split('?')[0]}-{config.strategy_name}")
        try:
            config = SearchConfig.from_dict({**config.to_dict(), "study_name": run_dir.name})
            search = cls(config, run_dir, quiet=quiet)
            write_json(run_dir / CONFIG_FILE, config_document(config, data))
        except BaseException:
            _remove_if_empty(run_dir)
            raise
        return search

    @classmethod
    def resume(cls, run_dir: str | Path, trials: int | None = None, *, quiet: bool = False,
               device: str | None = None) -> Search:
        """Continue a run (killed at any stage, or stopped by its timeout): the same config, more
        `trials` when given. Trials left RUNNING by a dead process are failed and proposed again."""
        run_dir = Path(run_dir).expanduser()
        config = read_config(run_dir)
        changes: dict[str, Any] = {}
        if trials is not None:
            changes["trials"] = trials
        if device is not None:
            changes["device"] = device
        if changes:
            config = SearchConfig.from_dict({**config.to_dict(), **changes})
        storage = open_storage_for(config, run_dir)
        try:
            n_before = len(optuna.load_study(study_name=config.study_name, storage=storage).trials)
        except KeyError:
            raise ValueError(f"{run_dir}: the storage holds no study {config.study_name!r}") from None
        return cls(config, run_dir, storage=storage, create=False, quiet=quiet,
                   sampler_seed=derive_seed(config.seed, "resume", n_before), worker_info={"role": "resume"})

    @classmethod
    def join(cls, run_dir: str | Path, seed: int, *, quiet: bool = False, device: str | None = None) -> Search:
        """Another process on the run's study (`nas worker`); a supernet run must be fitted first."""
        run_dir = Path(run_dir).expanduser()
        config = read_config(run_dir)
        if device is not None:
            config = SearchConfig.from_dict({**config.to_dict(), "device": device})
        if config.supernet:
            from nas.evaluators.supernet import is_fitted

            if not is_fitted(run_dir):
                raise ValueError(f"{run_dir}: its {config.supernet} supernet is not fitted yet; start workers once "
                                 "nas search has fitted it (supernet.json appears)")
        return cls(config, run_dir, create=False, sampler_seed=seed, quiet=quiet, worker_info={"role": "worker"})

    @classmethod
    def in_memory(cls, config: SearchConfig, evaluator: Any = None, sampler_seed: int | None = None) -> Search:
        """An in-memory study (benchmarks, tests); no run directory, no supernet stage."""
        return cls(config, None, evaluator=evaluator, sampler_seed=sampler_seed)

    # --- the stages -----------------------------------------------------------------------------------
    @property
    def prune(self) -> bool:
        return self.config.pruner != "none"

    def run(self, *, timeout: float | None = None, confirm: bool = True,
            progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        """All stages still to do; returns the summary (also written to results.json). With
        `timeout` (seconds) it stops cleanly between steps, trials or candidates, and the summary
        says `"complete": false`; `resume` continues. `confirm=False` (a worker) stops before the
        confirmation stage and leaves results.json to the process that confirms."""
        deadline = None if timeout is None else time.monotonic() + timeout
        supernet = None
        if self.config.supernet and self.run_dir is not None:
            supernet = self.fit_supernet(deadline)
            if not supernet.get("done"):
                return self._stopped("supernet", supernet)
        stats = self.evaluate(deadline, progress)
        if stats.timed_out:
            return self._stopped("trials", supernet)
        if self.config.confirm and self.run_dir is not None and not confirm:
            return self._write(self.study.get_trials(deepcopy=False), None, None, supernet, complete=False,
                               stopped="confirmation", write=False)
        confirmation = self.confirm(deadline)
        if confirmation is False:
            return self._stopped("confirmation", supernet)
        return self.finalize(confirmation, supernet)

    def fit_supernet(self, deadline: float | None = None) -> dict[str, Any]:
        """Fit the run's supernet (resuming its checkpoint); `done` is False when the deadline came first."""
        from nas.evaluators.supernet import FITTED_FILE, SUPERNET_FILE, TRAJECTORY_FILE, read_fit
        from nas.runs import write_json

        assert self.run_dir is not None
        fitted = read_fit(self.run_dir)
        if fitted is not None:
            return {**fitted, "done": True}
        data, keep = self.data, ["steps", "final_loss", "train_seconds"]
        if self.config.supernet == "smash":
            from nas.supernets.smash.model import Smash

            model: Any = Smash(self.space, data.num_classes, data.in_channels, self.config.smash)
        else:
            from nas.supernets.differentiable import make_supernet

            latency, budget = None, self.config.max_latency_ms
            if budget is not None and self.space.name == "dense":
                from nas.supernets.differentiable.dense_latency import ExpectedLatency, budget_predictor

                latency = ExpectedLatency(self.space, *budget_predictor(self.space, self.config.device, data,
                                                                        clock=self.config.latency_clock))
            model = make_supernet(self.space, self.config.strategy_name, data.num_classes, data.in_channels,
                                  data.input_size, self.strategy_options, self.config.supernet_steps,
                                  self.config.seed, latency, budget if latency is not None else None)
            keep += ["mode", "arch", "arch_string", "param_free_share", "probs", "alpha", "space",
                     "expected_latency_ms", "max_latency_ms", "predicted_latency_ms", "argmax_predicted_ms", "repairs",
                     "select", "selection", "argmax_string", "argmax_param_free_share"]
        model = model.to(self.config.device)
        summary = model.fit(data, self.run_dir / SUPERNET_FILE, quiet=self.quiet, deadline=deadline)
        if summary["steps"] < self.config.supernet_steps:
            return {**summary, "done": False}
        summary = {k: summary[k] for k in keep if k in summary}
        if hasattr(model, "trajectory"):  # the architecture parameters every few steps
            write_json(self.run_dir / TRAJECTORY_FILE, model.trajectory)
        write_json(self.run_dir / FITTED_FILE, summary)
        return {**summary, "done": True}

    def evaluate(self, deadline: float | None = None,
                 progress: Callable[[str, int, int], None] | None = None) -> LoopStats:
        """Propose and evaluate until the study holds `trials` counted trials."""
        n = self.config.trials
        if self.gate is not None:
            self.gate.source  # noqa: B018  (loads the predictor, or says it measures, before the progress bar)
        return run_trials(self.study, self.space, self.evaluator, n, self.objectives, prune=self.prune,
                          progress=None if progress is None else (lambda done: progress("trials", done, n)),
                          worker_info={"sampler_seed": self.sampler_seed, **self.worker_info},
                          proposer=self.proposer, deadline=deadline, gate=self.gate)

    def confirm(self, deadline: float | None = None) -> list[dict[str, Any]] | None | bool:
        """The confirmation stage (None when `confirm` is 0 or there is no run directory; False when
        the deadline came first)."""
        from nas.search.confirm import confirm, latency_check

        if not self.config.confirm or self.run_dir is None:
            return None
        trials = self.study.get_trials(deepcopy=False)
        limit = self.config.max_latency_ms
        check = None if limit is None else latency_check(limit, self.space, self.config.device,
                                                         self.config.latency_clock)
        entries = confirm(trials, self.objectives, self.config.confirm, self.space, self.data, self.recipe(),
                          self.run_dir, measured_check=check,
                          deadline_passed=lambda: deadline is not None and time.monotonic() >= deadline)
        return False if entries is None else entries

    def recipe(self) -> Any:
        """How confirmation trains: `confirm_train`'s options (the train evaluator's by default),
        `confirm_epochs`, `confirm_seed`, the run's device."""
        from urllib.parse import parse_qsl

        from nas.config_util import typed_options
        from nas.training import TrainConfig

        options: dict[str, Any] = {}
        spec = self.config.confirm_train or "train"
        if spec.startswith("train?"):
            options = typed_options(TrainConfig, dict(parse_qsl(spec[len("train?"):])), "train evaluator",
                                    exclude=("epochs", "quiet"))
        options.update(epochs=self.config.confirm_epochs, seed=self.config.confirm_seed, device=self.config.device,
                       quiet=self.quiet)
        return TrainConfig(**options)

    @property
    def data(self) -> Any:
        return cached_dataset(self.config.dataset, self.config.seed)

    # --- results --------------------------------------------------------------------------------------
    def finalize(self, confirmation: list[dict[str, Any]] | None = None,
                 supernet: dict[str, Any] | None = None, test: bool = True) -> dict[str, Any]:
        """The summary (`nas search --json`) and results.json: counts, the pick, the confirmation."""
        from nas.search.confirm import pick_and_test

        trials = self.study.get_trials(deepcopy=False)
        best: dict[str, Any] | None = None
        if confirmation:
            pick = pick_and_test(confirmation, self.space, self.data, self.run_dir, device=self.config.device)
            if pick is not None:
                best = {k: pick.get(k) for k in ("trial", "arch", "arch_key", "score", "val_accuracy",
                                                 "test_accuracy", "params", "flops", "latency_ms", "weights")}
        elif confirmation is None:
            t, measured = best_trial(trials, self.objectives.first), {}
            if self.config.max_latency_ms is not None and self.gate is not None and self.gate.source is not None:
                from nas.search.confirm import latency_check, measured_best  # no confirm stage: measure the pick

                check = latency_check(self.config.max_latency_ms, self.space, self.config.device,
                                      self.config.latency_clock)
                t, measured = measured_best(trials, self.objectives, self.data, check)
            if t is not None:
                r = t.user_attrs["result"]
                best = {"trial": t.number, "arch": t.user_attrs["arch"], "arch_key": t.user_attrs["arch_key"],
                        "score": r.get("score"), "val_accuracy": r.get("val_accuracy"), "test_accuracy": None,
                        "params": r.get("params"), "flops": r.get("flops"),
                        "latency_ms": measured.get("latency_ms", r.get("latency_ms")), "weights": None}
                if test:
                    best["test_accuracy"] = self._test_once(t).get("test_accuracy")
        return self._write(trials, best, confirmation, supernet, complete=True)

    def _stopped(self, stage: str, supernet: dict[str, Any] | None) -> dict[str, Any]:
        return self._write(self.study.get_trials(deepcopy=False), None, None, supernet, complete=False,
                           stopped=stage)

    def _write(self, trials: list[Any], best: dict[str, Any] | None, confirmation: list[dict[str, Any]] | None,
               supernet: dict[str, Any] | None, *, complete: bool, stopped: str | None = None,
               write: bool = True) -> dict[str, Any]:
        if best is not None and best.get("arch") is not None and self.run_dir is not None and not confirmation:
            (self.run_dir / "arch.json").write_text(Architecture.from_dict(best["arch"]).to_json() + "\n",
                                                    encoding="utf-8")
        summary: dict[str, Any] = {
            "format_version": FORMAT_VERSION, "run_dir": str(self.run_dir or ""), "complete": complete,
            "stopped_during": stopped, "n_trials": sum(map(is_counted, trials)), "counts": counts(trials),
            "strategy": self.config.strategy, "space": self.config.space, "evaluator": self.config.evaluator,
            "objectives": list(self.objectives.metrics), "best": best,
            "confirmation": [{k: v for k, v in e.items() if k != "arch"} for e in confirmation] if confirmation
            else None,
            "supernet": None if supernet is None else {k: v for k, v in supernet.items() if k != "done"},
            "pareto_front": None, "latency_source": None if self.gate is None else self.gate.source}
        if self.objectives.multi:
            summary["pareto_front"] = self._front(trials, measure=complete and write)
        if self.run_dir is not None and write:
            from nas.runs import write_json

            write_json(self.run_dir / RESULTS_FILE, {**summary, "config": self.config.to_dict(),
                                                      "trials": [trial_record(t) for t in trials]})
        return summary

    def _front(self, trials: list[Any], measure: bool) -> list[dict[str, Any]]:
        """The Pareto front; a finished run's latencies measured when the search predicted them."""
        from nas.search.limits import PREDICTED, measured_front

        ts = front(trials, self.objectives)
        points = [{"trial": t.number, "arch_key": t.user_attrs.get("arch_key"),
                   **{m: int(v) if m in ("params", "flops") else v for m, v in zip(self.objectives.metrics, t.values)}}
                  for t in ts]
        if not (measure and "latency_ms" in self.objectives.metrics and self.gate is not None
                and self.gate.source == PREDICTED):
            return points
        archs = [Architecture.from_dict(t.user_attrs["arch"]) for t in ts]
        return measured_front(points, archs, self.gate, self.objectives)

    def _test_once(self, best: Any) -> dict[str, Any]:
        from nas.search.runner import _plain

        done = self.study.user_attrs.get(FINAL_TEST_ATTR)
        if isinstance(done, dict) and done.get("trial") == best.number:
            return done["result"]
        result = _plain(self.evaluator.test(Architecture.from_dict(best.user_attrs["arch"])).to_dict())
        self.study.set_user_attr(FINAL_TEST_ATTR, {"trial": best.number, "result": result})
        return result


def _data_block(config: SearchConfig) -> dict[str, Any] | None:
    """`nas train`'s config.json `data` block (`Dataset.summary()`), for the run's dataset."""
    if config.evaluator.startswith("tabular"):
        return None  # a table answers; no images are loaded
    return cached_dataset(config.dataset, config.seed).summary()


def _remove_if_empty(run_dir: Path) -> None:
    for leftover in ("study.db", "study.db-wal", "study.db-shm"):
        (run_dir / leftover).unlink(missing_ok=True)
    try:
        run_dir.rmdir()
    except OSError:
        pass


def open_search(config: SearchConfig, run_dir: Path | None = None, *, storage: Any = None, create: bool = True,
                sampler_seed: int | None = None, quiet: bool = False, evaluator: Any = None) -> Search:
    """A `Search` on `run_dir`'s study (or in memory without one); kept for benchmarks and tests."""
    return Search(config, run_dir, storage=storage, create=create, sampler_seed=sampler_seed, quiet=quiet,
                  evaluator=evaluator)


def finalize(search: Search, test: bool = True) -> dict[str, Any]:
    """The summary of `search` with its best trial tested once (no confirmation stage)."""
    return search.finalize(None, test=test)
