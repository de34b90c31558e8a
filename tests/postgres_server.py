"""A real PostgreSQL server on loopback for the scale-out tests (fixtures `postgres_url`, `fresh_db`,
made available by tests/conftest.py). The distribution's `postgresql` package provides it and
`.ci/run` installs it. Without one those tests skip, except where NAS_REQUIRE_SCALEOUT=1 (CI sets
it): there a missing server fails the run instead of skipping silently."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BIN = [Path("/usr/lib/postgresql") / v / "bin" for v in ("17", "16", "15", "14")]


def _tool(name: str) -> str | None:
    for d in PG_BIN:
        if (d / name).exists():
            return str(d / name)
    return shutil.which(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    """initdb and the server refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(why: str) -> None:
    if os.environ.get("NAS_REQUIRE_SCALEOUT") == "1":
        pytest.fail(f"scale-out tests required, but {why}")
    pytest.skip(why)


class Server:
    """One PostgreSQL server in a temporary directory; `stop()` and `start()` it at will."""

    def __init__(self) -> None:
        initdb, pg_ctl = _tool("initdb"), _tool("pg_ctl")
        if initdb is None or pg_ctl is None:
            _unavailable("no PostgreSQL server binaries (apt-get install postgresql)")
        try:
            import psycopg  # noqa: F401
        except ImportError:
            _unavailable("no psycopg driver (pip install -e '.[postgres]')")
        self.pg_ctl = str(pg_ctl)
        self.root = Path(tempfile.mkdtemp(prefix="nas-pg-"))
        self.root.chmod(0o755)
        self.data, self.port = self.root / "data", _free_port()
        self.data.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.data, "postgres")
        subprocess.run(_as_postgres([str(initdb), "-D", str(self.data), "-U", "nas", "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True)
        self.url = f"postgresql://nas@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off"
        subprocess.run(_as_postgres([self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.root / "log"),
                                     "-w", "start"]), check=True, capture_output=True)
        deadline = time.monotonic() + 30
        while True:  # the server accepts connections a moment after pg_ctl returns
            try:
                import psycopg

                psycopg.connect(f"host=127.0.0.1 port={self.port} user=nas dbname=postgres").close()
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self, mode: str = "immediate") -> None:
        subprocess.run(_as_postgres([self.pg_ctl, "-D", str(self.data), "-m", mode, "stop"]), capture_output=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    server = Server()
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


@pytest.fixture
def private_postgres() -> Iterator[Server]:
    """A server of this test's own, which it may stop and start (a database lost mid-search)."""
    server = Server()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture
def fresh_db(postgres_url: str) -> str:
    """A new, empty database on the server for one test."""
    import psycopg

    name = f"t{time.time_ns()}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"
