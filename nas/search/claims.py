"""Atomic architecture claims: which trial evaluates an architecture (`arch_key`) of a study.

Reading earlier trials and then storing one's own key is a race between processes (two trials
started 16 ms apart evaluated the same architecture). A claim is one atomic step instead:
- RDB storage (PostgreSQL, MySQL, SQLite): a table `nas_arch_claims` with UNIQUE(study_id,
  arch_key) beside Optuna's tables, on the same engine; the database refuses a second claim;
- journal storage: a JSON-lines file `<journal>.claims` read and appended under an fcntl lock;
- in-memory storage: one process, no claims needed (`claims_for` returns None).
A claim whose trial failed (an error, a killed process) is taken over with `take_over`
(compare-and-swap on the holder), so a failed evaluation is proposed again, as before.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

import optuna

TABLE = "nas_arch_claims"


class RDBClaims:
    def __init__(self, engine: Any) -> None:
        import sqlalchemy as sa

        self._sa, self.engine = sa, engine
        meta = sa.MetaData()
        self.table = sa.Table(TABLE, meta, sa.Column("study_id", sa.Integer, nullable=False),
                              sa.Column("arch_key", sa.String(255), nullable=False),
                              sa.Column("trial_id", sa.Integer, nullable=False),
                              sa.UniqueConstraint("study_id", "arch_key", name=f"{TABLE}_unique"))
        try:
            meta.create_all(engine, checkfirst=True)
        except sa.exc.SQLAlchemyError:  # another process created it at the same moment
            if not sa.inspect(engine).has_table(TABLE):
                raise

    def claim(self, study_id: int, key: str, trial_id: int) -> int:
        """The trial holding `key` after this call: `trial_id` if the claim was free."""
        sa, t = self._sa, self.table
        try:
            with self.engine.begin() as c:
                c.execute(t.insert().values(study_id=study_id, arch_key=key, trial_id=trial_id))
            return trial_id
        except sa.exc.IntegrityError:
            return self._holder(study_id, key)

    def take_over(self, study_id: int, key: str, holder: int, trial_id: int) -> int:
        """Move the claim from the (failed) trial `holder` to `trial_id`; the holder after the call."""
        t = self.table
        with self.engine.begin() as c:
            c.execute(t.update().where(t.c.study_id == study_id, t.c.arch_key == key, t.c.trial_id == holder)
                      .values(trial_id=trial_id))
        return self._holder(study_id, key)

    def _holder(self, study_id: int, key: str) -> int:
        t = self.table
        with self.engine.connect() as c:
            row = c.execute(self._sa.select(t.c.trial_id).where(t.c.study_id == study_id, t.c.arch_key == key)).first()
        return -1 if row is None else int(row[0])  # -1: no holder (claims are never deleted): claim again


class FileClaims:
    """Claims in a JSON-lines file; each check-and-claim runs under an exclusive fcntl lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _locked(self, study_id: int, key: str, update: Any) -> int:
        with open(self.path, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.seek(0)
                held: dict[tuple[int, str], int] = {}
                for line in f:
                    try:
                        rec = json.loads(line)
                        held[(rec["study"], rec["key"])] = rec["trial"]
                    except (ValueError, KeyError, TypeError):
                        continue  # a line torn by a kill mid-write: ignore it
                new = update(held.get((study_id, key)))
                if new is not None and new != held.get((study_id, key)):
                    f.write("\n" + json.dumps({"study": study_id, "key": key, "trial": new}) + "\n")
                    f.flush()
                    os.fsync(f.fileno())
                    return new
                return held[(study_id, key)]
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def claim(self, study_id: int, key: str, trial_id: int) -> int:
        return self._locked(study_id, key, lambda cur: trial_id if cur is None else None)

    def take_over(self, study_id: int, key: str, holder: int, trial_id: int) -> int:
        return self._locked(study_id, key, lambda cur: trial_id if cur in (None, holder) else None)


def _retry(claims: RDBClaims, url: str) -> RDBClaims:
    from nas.search.storage import retrying

    claims.claim = retrying(claims.claim, url)  # type: ignore[method-assign]
    claims.take_over = retrying(claims.take_over, url)  # type: ignore[method-assign]
    return claims


def claims_for(storage: optuna.storages.BaseStorage) -> RDBClaims | FileClaims | None:
    """The claims of `storage` (a study's `_storage`), None for in-memory storage."""
    if isinstance(storage, optuna.storages.JournalStorage):
        path = getattr(storage._backend, "_file_path", None)
        if path is None:
            raise ValueError("architecture claims need a journal file storage (--storage journal:FILE)")
        return FileClaims(Path(f"{path}.claims"))
    backend = getattr(storage, "_backend", storage)  # Optuna wraps RDBStorage in a cache
    if isinstance(backend, optuna.storages.RDBStorage):
        return _retry(RDBClaims(backend.engine), str(backend.engine.url))
    return None
