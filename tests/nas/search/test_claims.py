"""Issue 19, faults 1 and 4: an architecture is evaluated by exactly one trial whatever the timing
(atomic claims), and a trial is never left RUNNING without an owner (and `--resume` fails an
ownerless one at once instead of waiting NO_OWNER_S)."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from nas.results import Result
from nas.search.claims import claims_for
from nas.search.runner import Runner
from nas.search.storage import STALE_ERROR, ask_owned, open_storage, owner


class _Arch:
    def __init__(self, key: str) -> None:
        self._key = key

    def key(self) -> str:
        return self._key

    def to_dict(self) -> dict[str, Any]:
        return {"key": self._key}


class _OneArch:
    """Every trial proposes the same architecture; trial 0 is slow to propose it, so trial 1
    checks for duplicates before trial 0 has stored its key (the race seen on PostgreSQL)."""

    def suggest(self, trial: optuna.Trial) -> _Arch:
        trial.suggest_int("x", 0, 3)
        if trial.number == 0:
            time.sleep(0.5)
        return _Arch("same")


class _Distinct:
    def suggest(self, trial: optuna.Trial) -> _Arch:
        return _Arch(f"a{trial.suggest_int('x', 0, 10**6)}")


class _Counting:
    def __init__(self) -> None:
        self.calls, self.lock = 0, threading.Lock()

    def evaluate(self, arch: Any, fidelity: Any = None, on_epoch: Any = None) -> Result:
        with self.lock:
            self.calls += 1
        time.sleep(0.3)
        return Result(val_accuracy=0.5, cost_s=0.3)


def _study(url: str) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=open_storage(url))


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_never_evaluate_one_architecture_twice(kind: str, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if kind == "sqlite" else f"journal:{tmp_path / 'j.log'}"
    optuna.create_study(study_name="s", storage=open_storage(url))
    evaluator = _Counting()
    runners = [Runner(_study(url), _OneArch(), evaluator, 2, poll_s=0.05) for _ in range(2)]
    threads = [threading.Thread(target=r.run) for r in runners]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    trials = _study(url).get_trials()
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 2
    assert evaluator.calls == 1, "the same architecture was evaluated by two trials"
    assert sum(t.user_attrs.get("duplicate_of") is not None for t in trials) == 1


def _claim_at_once(url: str, study_id: int, trial_id: int, barrier: Any, out: Any) -> None:
    claims = claims_for(open_storage(url))
    assert claims is not None
    barrier.wait()
    out.put((trial_id, claims.claim(study_id, "k", trial_id)))


def _race(url: str, n: int = 8) -> None:
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    claims_for(study._storage)  # the claims table exists before the race (its creation races too, tested below)
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_claim_at_once, args=(url, study._study_id, i + 100, barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    got = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    holders = {holder for _, holder in got}
    assert len(holders) == 1, f"processes disagree on who holds the claim: {got}"
    assert sum(mine == holder for mine, holder in got) == 1, "exactly one process wins the claim"


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_claim_race_between_processes_has_one_winner(kind: str, tmp_path: Path) -> None:
    _race(f"sqlite:///{tmp_path / 'db.sqlite'}" if kind == "sqlite" else f"journal:{tmp_path / 'j.log'}")


@pytest.mark.scaleout
def test_claim_race_on_postgres_has_one_winner(fresh_db: str) -> None:
    _race(fresh_db, n=16)


def test_take_over_moves_only_from_the_named_holder(tmp_path: Path) -> None:
    for url in (f"sqlite:///{tmp_path / 'db.sqlite'}", f"journal:{tmp_path / 'j.log'}"):
        claims = claims_for(open_storage(url))
        assert claims is not None
        assert claims.claim(0, "k", 1) == 1 and claims.claim(0, "k", 2) == 1
        assert claims.take_over(0, "k", 5, 2) == 1, "a stale holder number must not move the claim"
        assert claims.take_over(0, "k", 1, 2) == 2
        assert claims.claim(1, "k", 7) == 7, "claims are per study"


def test_a_trial_is_created_with_its_owner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    trial = ask_owned(study, owner())
    frozen = _study(url).trials[trial.number]
    assert frozen.state == TrialState.RUNNING and frozen.user_attrs["worker"]["pid"] == owner()["pid"]


def test_resume_fails_an_ownerless_trial_at_once(tmp_path: Path) -> None:
    """A trial left RUNNING with no owner (as an older version's kill between ask and recording it
    could leave) no longer blocks the end of a resumed search for NO_OWNER_S."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    for x in range(2):
        study.enqueue_trial({"x": x})
        trial = study.ask()
        trial.suggest_int("x", 0, 10**6)
        study.tell(trial, 0.5)
    orphan = study._storage.create_new_trial(study._study_id)  # RUNNING, no `worker`
    start = time.monotonic()
    stats = Runner(_study(url), _Distinct(), _Counting(), 3, poll_s=0.05, worker_info={"role": "resume"},
                   deadline=time.monotonic() + 8).run()
    assert not stats.timed_out, "the ownerless trial blocked the resumed search"
    assert time.monotonic() - start < 8
    frozen = study._storage.get_trial(orphan)
    assert frozen.state == TrialState.FAIL and frozen.user_attrs["error"] == STALE_ERROR
