"""Optuna storage for a run: SQLite `study.db` in the run directory by default, any RDB URL
(`--storage postgresql://...`), or Optuna's journal file (`--storage journal:FILE`).

Every trial records its owner (host, pid, process start time) as the user attribute `worker`.
A trial left RUNNING by a process that is gone is stale: `fail_stale_trials` marks it FAIL
(reason in the user attribute `error`) so it is never counted. Owners on this host are checked
directly; for RDB storage a heartbeat (`HEARTBEAT_S`) lets any machine fail the stale trials of
another after `GRACE_S`.
"""

from __future__ import annotations

import datetime
import functools
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.errors import StorageLost

HEARTBEAT_S = 30
GRACE_S = 120
NO_OWNER_S = 60
RETRY_S = float(os.environ.get("NAS_STORAGE_RETRY_S", "120"))  # how long a lost database is waited for
STALE_ERROR = "stale: left RUNNING by a process that is gone (killed or crashed); not counted"


def default_url(run_dir: Path) -> str:
    return f"sqlite:///{(run_dir / 'study.db').resolve()}"


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage behind `url`; a `ValueError` with one line when it cannot be opened."""
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url[len("journal:"):]).expanduser()
            if not path.parent.is_dir():
                raise FileNotFoundError(f"directory {str(path.parent)!r} does not exist")
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        connect: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect["timeout"] = 60  # seconds a writer waits for another process's lock
        elif url.startswith(("postgresql", "mysql")):
            connect["connect_timeout"] = 10
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": connect},
                                                 heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S)
        if url.startswith("sqlite"):
            _fast_sqlite(storage)
        _retry_methods(storage, url)
        _quiet_fallback_warning()
        return storage
    except Exception as e:  # a driver missing, a host unreachable, a bad URL: all the user's to fix
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ValueError(f"cannot open storage {url!r}: {type(e).__name__}: {first[:300]}") from None


def is_transient(e: BaseException) -> bool:
    """A lost connection (server stopped or restarting, network down), seen through Optuna's wrapping."""
    from sqlalchemy import exc

    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, (exc.OperationalError, exc.InterfaceError, exc.DisconnectionError)):
            return True
        if isinstance(seen, exc.DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retrying(fn: Callable[..., Any], url: str) -> Callable[..., Any]:
    """`fn`, retried with backoff while the storage is unreachable, for at most `RETRY_S` seconds;
    then `StorageLost` with one line saying so and how to continue."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        deadline, wait = time.monotonic() + RETRY_S, 0.2
        while True:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                if not is_transient(e):
                    raise
                if time.monotonic() + wait > deadline:
                    where = url.split("@")[-1]  # no password in the message
                    raise StorageLost(f"the storage {where} went away and did not come back within {RETRY_S:g} s; "
                                      "when it is back, continue with: nas search --resume RUN_DIR (or nas worker "
                                      "RUN_DIR; completed trials are kept)") from None
                time.sleep(wait)
                wait = min(2 * wait, 5.0)

    return call


def _retry_methods(storage: optuna.storages.RDBStorage, url: str) -> None:
    """Every public storage method retries transient errors (not the heartbeat: its thread must stop)."""
    private = ("_create_new_trial", "_get_best_trial_id", "_get_stale_trial_ids", "_get_trials", "_set_trial_param")
    for name in [*dir(optuna.storages.BaseStorage), *private]:  # the private ones: what Optuna's cache calls
        if (not name.startswith("_") or name in private) and name != "record_heartbeat" \
                and callable(getattr(storage, name, None)):
            setattr(storage, name, retrying(getattr(storage, name), url))


def _quiet_fallback_warning() -> None:
    """Optuna logs a lost connection while reading trials as a multi-line SQL dump before retrying by
    itself ("Falling back to a slower alternative"); the retry above already covers it, and the
    user gets one line if the storage stays away."""
    logger = logging.getLogger("optuna.storages._rdb.storage")
    if not any(isinstance(f, _DropFallback) for f in logger.filters):
        logger.addFilter(_DropFallback())


class _DropFallback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Caught an error from sqlalchemy")


def _fast_sqlite(storage: optuna.storages.RDBStorage) -> None:
    """WAL journal and synchronous=NORMAL: a commit no longer waits for the disk (a killed process
    loses nothing; a power cut may lose the last commits, never the file), and readers do not
    block the writer. SQLite on a network file system is unsafe either way: use --storage there."""
    from sqlalchemy import event

    def pragmas(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(storage.engine, "connect", pragmas)
    storage.engine.dispose()  # connections opened before the listener reconnect with it


def owner() -> dict[str, Any]:
    """This process as a trial owner."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "start": _start_time(os.getpid())}


def _start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19]) if fields[0] != "Z" else None  # field 22 of the whole line: start time in ticks


def owner_alive(who: Any) -> bool | None:
    """True / False for an owner on this host; None when it runs elsewhere (cannot tell)."""
    if not isinstance(who, dict) or who.get("host") != socket.gethostname():
        return None
    pid = who.get("pid")
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    start = _start_time(pid)
    if Path("/proc").is_dir() and start is None:
        return False  # a zombie (or /proc hides it)
    return who.get("start") is None or start is None or start == who.get("start")


def ask_owned(study: optuna.Study, who: dict[str, Any]) -> optuna.Trial:
    """`study.ask()`, but the trial is created with its owner (user attribute `worker`) in the
    same write, so no kill can leave a RUNNING trial without one; then its first heartbeat."""
    study._thread_local.cached_all_trials = None  # as ask(): sync the storage once every trial
    for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):  # enqueued (--init) first
        try:
            taken = study._storage.set_trial_state_values(waiting._trial_id, state=TrialState.RUNNING)
        except optuna.exceptions.UpdateFinishedTrialError:
            taken = False
        if taken:  # as ask() pops it; the owner follows in the next write
            study._storage.set_trial_user_attr(waiting._trial_id, "worker", who)
            return optuna.Trial(study, waiting._trial_id)
    now = datetime.datetime.now()
    template = FrozenTrial(number=-1, state=TrialState.RUNNING, value=None, datetime_start=now,
                           datetime_complete=None, params={}, distributions={}, user_attrs={"worker": who},
                           system_attrs={}, intermediate_values={}, trial_id=-1)
    tid = study._storage.create_new_trial(study._study_id, template_trial=template)
    return optuna.Trial(study, tid)


def fail_stale_trials(study: optuna.Study, *, ownerless_now: bool = False) -> list[int]:
    """Mark FAIL the RUNNING trials whose owner is gone: owners on this host that are not alive,
    trials with no owner recorded (left by an older version: `ask_owned` always records one)
    `NO_OWNER_S` seconds after they started or at once with `ownerless_now` (`--resume`), and
    (RDB storage) trials whose heartbeat stopped. Returns the numbers of the trials it failed."""
    failed = []
    storage = study._storage
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    owned = {t.number: owner_alive(t.user_attrs["worker"]) for t in running if "worker" in t.user_attrs}
    ownerless_now = ownerless_now and all(alive is False for alive in owned.values())  # no live worker
    for t in running:
        if t.number in owned:
            alive = owned[t.number]
        else:
            started = t.datetime_start
            alive = (not ownerless_now and started is not None
                     and (datetime.datetime.now() - started).total_seconds() < NO_OWNER_S)
        if alive is False:
            try:
                storage.set_trial_user_attr(t._trial_id, "error", STALE_ERROR)
                storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
                failed.append(t.number)
            except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError):
                pass  # another process finished or failed it first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)  # heartbeat-based: trials of dead processes on other machines
    return failed


class Heartbeat:
    """Records the heartbeat of a RUNNING trial every `HEARTBEAT_S` seconds (RDB storage only),
    so other machines can tell it from a stale one."""

    def __init__(self, storage: optuna.storages.BaseStorage, trial_id: int) -> None:
        self._storage, self._trial_id = storage, trial_id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Heartbeat:
        record = getattr(self._storage, "record_heartbeat", None)
        if callable(record) and getattr(self._storage, "get_heartbeat_interval", lambda: None)():
            record(self._trial_id)
            self._thread = threading.Thread(target=self._beat, daemon=True)
            self._thread.start()
        return self

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._storage.record_heartbeat(self._trial_id)  # type: ignore[attr-defined]
            except Exception:  # a transient storage error must not kill the evaluation
                pass

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
