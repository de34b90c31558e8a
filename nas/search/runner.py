"""The one search loop: ask -> architecture -> duplicate check -> evaluate -> tell.

Every strategy (an Optuna sampler) and every process (`nas search`, `nas worker`, a resumed run)
goes through `run_trials`. Accounting:
- a trial is *counted* when it is COMPLETE (feasible or not) or PRUNED by the pruner; the loop
  stops when the study has `n_trials` counted trials;
- a duplicate architecture is answered from the earlier trial's result (one trial = one query,
  a cache hit included): it is counted and the evaluator is not called;
- with a cost gate (`nas.search.limits`), an architecture over a hard limit by its counted or
  predicted costs is not evaluated: PRUNED with its constraint values, counted (as infeasible);
- FAIL trials (an exception, a NaN, a stale trial of a killed process, a surplus trial of a
  worker race) keep their reason in the user attribute `error` and are not counted; the search
  goes on, unless `MAX_CONSECUTIVE_FAILURES` evaluations in a row fail;
- with several processes on one study, a process asks only while counted + running trials are
  fewer than `n_trials`, and a trial whose lower-numbered trials already fill `n_trials` is
  dropped before evaluation (surplus), so the study never holds more than `n_trials` counted
  trials; a trial whose architecture an earlier trial is still evaluating waits for that result.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.results import Result
from nas.search.claims import claims_for
from nas.search.objectives import Objectives, feasible
from nas.search.storage import Heartbeat, ask_owned, fail_stale_trials, owner
from nas.search.strategies import NATIVE_CONSTRAINTS

MAX_CONSECUTIVE_FAILURES = 10
SURPLUS_ERROR = "surplus: other processes already hold --trials trials; not evaluated, not counted"


class SearchAborted(RuntimeError):
    """Too many evaluations in a row failed."""


@dataclass
class _Cached:
    number: int
    result: Result
    intermediate: dict[int, float]


@dataclass
class LoopStats:
    """What this process did in one `run_trials` call."""

    asked: int = 0
    evaluated: int = 0
    duplicates: int = 0
    failed: int = 0
    pruned: int = 0
    surplus: int = 0
    over_limits: int = 0  # not evaluated: over a hard limit by the costs counted or predicted before
    stale_failed: int = 0
    seconds: float = 0.0
    timed_out: bool = False


def is_counted(t: FrozenTrial) -> bool:
    return t.state == TrialState.COMPLETE or (t.state == TrialState.PRUNED and not t.user_attrs.get("rejected"))


def counts(trials: list[FrozenTrial]) -> tuple[int, int]:
    """(counted, running) trials."""
    return sum(map(is_counted, trials)), sum(t.state == TrialState.RUNNING for t in trials)


def is_shared(study: optuna.Study) -> bool:
    """Whether other processes may use the study (any storage but in-memory)."""
    return not isinstance(study._storage, optuna.storages.InMemoryStorage)


class Runner:
    """Runs trials of `study` until it holds `n_trials` counted ones (see the module docstring)."""

    def __init__(self, study: optuna.Study, space: Any, evaluator: Any, n_trials: int,
                 objectives: Objectives | None = None, prune: bool = False,
                 progress: Callable[[int], None] | None = None, poll_s: float = 0.5,
                 worker_info: dict[str, Any] | None = None, proposer: Any = None,
                 deadline: float | None = None, gate: Any = None) -> None:
        if n_trials < 1:
            raise ValueError(f"--trials must be at least 1, got {n_trials}")
        self.study, self.space, self.evaluator, self.n_trials = study, space, evaluator, n_trials
        self.objectives = objectives or Objectives()
        if prune and self.objectives.multi:
            raise ValueError("pruners apply to single-objective searches (Optuna does not prune multi-objective "
                             "studies); drop --pruner or use one objective")
        self.prune, self.progress, self.poll_s = prune, progress, poll_s
        self.proposer, self.deadline = proposer, deadline  # deadline: a time.monotonic() value
        self.gate = gate  # `nas.search.limits.CostGate`: costs before evaluation, over-limit ones not evaluated
        self.shared = is_shared(study)
        self.owner = {**owner(), **(worker_info or {})}
        self.stats = LoopStats()
        self._claims = claims_for(study._storage) if self.shared else None
        self._cache: dict[str, _Cached] = {}
        self._failures_in_a_row = 0

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> LoopStats:
        start = time.perf_counter()
        resumed = self.owner.get("role") == "resume"  # ownerless trials of a killed run: fail them now
        self.stats.stale_failed += len(fail_stale_trials(self.study, ownerless_now=resumed))
        for t in self.study.get_trials(deepcopy=False):
            self._remember(t)
        last_stale_check = time.monotonic()
        while True:
            trials = self.study.get_trials(deepcopy=False)
            done, running = counts(trials)
            if self.progress is not None:
                self.progress(done)
            if done >= self.n_trials:
                break
            if self.deadline is not None and time.monotonic() >= self.deadline:
                self.stats.timed_out = True  # a clean stop between trials: --resume continues
                break
            if done + running >= self.n_trials:  # others' running trials may fill the study: wait for them
                time.sleep(self.poll_s)
                if time.monotonic() - last_stale_check > 10 * self.poll_s:
                    self.stats.stale_failed += len(fail_stale_trials(self.study))
                    last_stale_check = time.monotonic()
                continue
            trial = ask_owned(self.study, self.owner)  # created with its owner: never ownerless
            with Heartbeat(self.study._storage, trial._trial_id):  # from ask to tell, waiting included
                self._one(trial)
        self.stats.seconds += time.perf_counter() - start
        return self.stats

    def _one(self, trial: optuna.Trial) -> None:
        self.stats.asked += 1
        storage, tid = self.study._storage, trial._trial_id
        try:
            arch = self.space.suggest(trial) if self.proposer is None else self.proposer.propose(trial)
        except optuna.TrialPruned as e:  # the space rejects the parameters (e.g. over its max_params)
            storage.set_trial_user_attr(tid, "rejected", True)
            storage.set_trial_user_attr(tid, "error", f"rejected by the space: {e}")
            self.study.tell(trial, state=TrialState.PRUNED)
            return
        except Exception as e:
            self._fail(trial, f"suggest failed: {type(e).__name__}: {e}")
            return
        if arch is None:  # the proposer has nothing left: other processes hold the remaining trials
            self.stats.surplus += 1
            self._fail(trial, SURPLUS_ERROR, count_failure=False)
            return
        key = arch.key()
        storage.set_trial_user_attr(tid, "arch", arch.to_dict())
        storage.set_trial_user_attr(tid, "arch_key", key)
        ahead = self._ahead(tid)
        if self.shared and sum(is_counted(t) or t.state == TrialState.RUNNING for t in ahead) >= self.n_trials:
            self.stats.surplus += 1
            self._fail(trial, SURPLUS_ERROR, count_failure=False)
            return
        earlier = self._earlier(tid, key)
        if earlier is not None:
            self.stats.duplicates += 1
            storage.set_trial_user_attr(tid, "duplicate_of", earlier.number)
            if not self.objectives.multi:
                for step, value in sorted(earlier.intermediate.items()):
                    trial.report(value, step)
            result = Result.from_dict({**earlier.result.to_dict(), "cost_s": 0.0})
            result.extra["cached_from"] = earlier.number
            self._tell(trial, result, key, earlier.intermediate)
            return
        costs = None
        if self.gate is not None:
            try:
                costs, constraint = self.gate.check(arch)
            except Exception as e:
                self._fail(trial, f"cost check failed: {type(e).__name__}: {str(e).strip()[:500]}")
                return
            if not feasible(constraint):
                from nas.search.limits import over_limits_result

                self.stats.over_limits += 1
                self._tell(trial, over_limits_result(costs, constraint, self.objectives.constraint_names), key, {})
                return
        self.stats.evaluated += 1
        intermediate: dict[int, float] = {}
        result = self._evaluate(trial, arch, intermediate)
        if costs is not None and result.state != "failed":
            costs.fill(result)
        self._tell(trial, result, key, intermediate)

    def _evaluate(self, trial: optuna.Trial, arch: Any, intermediate: dict[int, float]) -> Result:
        last: list[tuple[int, float]] = []

        def on_epoch(epoch: int, val: float) -> None:
            last.append((epoch, val))
            if self.objectives.multi:
                return
            intermediate[epoch] = val
            trial.report(val, epoch)
            if self.prune and trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch} (val_accuracy {val:.4f})")

        start = time.perf_counter()
        # an evaluator that inherits weights (`--evaluator inherit`) hears which trial the strategy mutated
        kwargs = {"parent": self._named_parent(trial)} if getattr(self.evaluator, "inherits", False) else {}
        try:
            result = self.evaluator.evaluate(arch, on_epoch=on_epoch, **kwargs)
        except optuna.TrialPruned:
            epoch, val = last[-1] if last else (0, math.nan)
            return Result(val_accuracy=val if math.isfinite(val) else None, cost_s=time.perf_counter() - start,
                          state="pruned", extra={"pruned_at_epoch": epoch})
        except KeyboardInterrupt:
            self._fail(trial, "interrupted by the user", count_failure=False)
            raise
        except Exception as e:  # the search goes on; the reason stays on the trial
            return Result(cost_s=time.perf_counter() - start, state="failed",
                          error=f"{type(e).__name__}: {str(e).strip()[:500]}")
        if result.state == "complete" and result.val_accuracy is None and result.score is None:
            result.state, result.error = "failed", "the evaluator reported no validation accuracy or score (NaN?)"
        result.test_accuracy = None  # a search never sees test accuracy, whatever the evaluator hands back
        self._record_inheritance(trial, result)
        return result

    def _named_parent(self, trial: optuna.Trial) -> Any:
        """The architecture of the trial the sampler says this one was mutated from (None if none)."""
        from nas.search.adapter import named_parent
        from search_spaces.base import Architecture

        storage = self.study._storage
        number = named_parent(storage.get_trial_system_attrs(trial._trial_id))
        if number is None:
            return None
        parent = storage.get_trial(storage.get_trial_id_from_study_id_trial_number(self.study._study_id, number))
        stored = parent.user_attrs.get("arch")
        return None if stored is None else Architecture.from_dict(stored)

    def _record_inheritance(self, trial: optuna.Trial, result: Result) -> None:
        """User attributes `inherit` (how the weights were obtained) and `parent` (the number of the
        trial whose weights the child started from), from the evaluator's `extra["inherit"]`."""
        info = result.extra.get("inherit")
        if not info:
            return
        storage = self.study._storage
        storage.set_trial_user_attr(trial._trial_id, "inherit", _plain(info))
        key = info.get("parent_key")
        if key is None:
            return
        number = self._cache[key].number if key in self._cache else next(
            (t.number for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get("arch_key") == key), None)
        if number is not None:
            storage.set_trial_user_attr(trial._trial_id, "parent", number)

    # --- telling -------------------------------------------------------------------------------
    def _tell(self, trial: optuna.Trial, result: Result, key: str, intermediate: dict[int, float]) -> None:
        storage, tid = self.study._storage, trial._trial_id
        if result.state == "failed":
            storage.set_trial_user_attr(tid, "result", _plain(result.to_dict()))
            self._fail(trial, result.error or "failed")
            return
        self._failures_in_a_row = 0
        if result.extra.get("not_evaluated"):  # kept from evaluation by the gate: PRUNED, with its constraint
            constraint = self.objectives.constraint(result) or []
            self._set_constraint(trial, constraint)
            storage.set_trial_user_attr(tid, "over_limits", True)
            storage.set_trial_user_attr(tid, "result", _plain(result.to_dict()))
            self.study.tell(trial, state=TrialState.PRUNED)
            self._cache.setdefault(key, _Cached(trial.number, result, dict(intermediate)))
            return
        if result.state == "pruned":
            self.stats.pruned += 1
            storage.set_trial_user_attr(tid, "result", _plain(result.to_dict()))
            self.study.tell(trial, state=TrialState.PRUNED)
            self._cache.setdefault(key, _Cached(trial.number, result, dict(intermediate)))
            return
        try:
            values = self.objectives.values(result)
            constraint = self.objectives.constraint(result)
        except ValueError as e:  # the evaluator cannot give what the objectives need: stop the search
            self._fail(trial, str(e), count_failure=False)
            raise
        result.state = "complete" if feasible(constraint) else "infeasible"
        if constraint is not None:
            self._set_constraint(trial, constraint)
        storage.set_trial_user_attr(tid, "result", _plain(result.to_dict()))
        self.study.tell(trial, values)
        self._cache.setdefault(key, _Cached(trial.number, result, dict(intermediate)))

    def _set_constraint(self, trial: optuna.Trial, constraint: list[float]) -> None:
        self.study._storage.set_trial_user_attr(trial._trial_id, "constraint", constraint)
        if NATIVE_CONSTRAINTS:  # Optuna >= 5: the samplers that enforce constraints read these
            for name, value in zip(self.objectives.constraint_names, constraint):
                trial.set_constraint(name, value)

    def _fail(self, trial: optuna.Trial, error: str, count_failure: bool = True) -> None:
        self.study._storage.set_trial_user_attr(trial._trial_id, "error", error)
        self.study.tell(trial, state=TrialState.FAIL)
        if count_failure:
            self.stats.failed += 1
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= MAX_CONSECUTIVE_FAILURES:
                raise SearchAborted(f"{MAX_CONSECUTIVE_FAILURES} evaluations in a row failed; the last: {error}")

    # --- duplicates and coordination -------------------------------------------------------------
    def _remember(self, t: FrozenTrial) -> None:
        key, stored = t.user_attrs.get("arch_key"), t.user_attrs.get("result")
        if key is None or stored is None or not is_counted(t) or key in self._cache:
            return
        self._cache[key] = _Cached(t.number, Result.from_dict(stored), dict(t.intermediate_values))

    def _ahead(self, tid: int) -> list[FrozenTrial]:
        """The trials created before trial `tid` (other processes' included; none in memory)."""
        if not self.shared:
            return []
        return [t for t in self.study.get_trials(deepcopy=False) if t._trial_id < tid]

    def _earlier(self, tid: int, key: str) -> _Cached | None:
        """The result of the trial that holds the claim on `key` (waiting while it runs); None when
        this trial holds it (then it evaluates). Claims are atomic (`claims`): one evaluator per key."""
        if key in self._cache:
            return self._cache[key]
        if self._claims is None:
            return None
        study_id = self.study._study_id
        while True:
            holder = self._claims.claim(study_id, key, tid)
            if holder == tid:
                return None
            if holder < 0:
                continue
            t = self.study._storage.get_trial(holder)
            self._remember(t)
            if key in self._cache:
                return self._cache[key]
            if t.state == TrialState.RUNNING:
                time.sleep(self.poll_s)
                fail_stale_trials(self.study)
            else:  # its trial ended without a counted result (failed, killed, surplus): evaluate again
                self._claims.take_over(study_id, key, holder, tid)


def _plain(obj: Any) -> Any:
    """JSON-safe (numpy scalars -> Python numbers), as Optuna's RDB storage stores user attributes."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def run_trials(study: optuna.Study, space: Any, evaluator: Any, n_trials: int, objectives: Objectives | None = None,
               *, prune: bool = False, progress: Callable[[int], None] | None = None,
               worker_info: dict[str, Any] | None = None, proposer: Any = None,
               deadline: float | None = None, gate: Any = None) -> LoopStats:
    """Run trials until `study` holds `n_trials` counted ones (or `deadline` passes); see `Runner`."""
    return Runner(study, space, evaluator, n_trials, objectives, prune, progress, worker_info=worker_info,
                  proposer=proposer, deadline=deadline, gate=gate).run()
