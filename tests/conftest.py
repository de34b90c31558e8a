"""Tiny models gain nothing from intra-op threads, and threads that spin on a busy machine make
them many times slower: the suite runs torch on one thread."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from postgres_server import fresh_db, postgres_url, private_postgres  # noqa: F401  (fixtures for the scale-out tests)

torch.set_num_threads(1)

ROOT = Path(__file__).parents[1]


@pytest.fixture
def nas_into_closed_pipe(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess]:
    """Run the `nas` console entry point with stdout a pipe whose reader has gone (as in
    `nas ... | head -c 10` once head has exited): every write to stdout fails with EPIPE. Asserts that
    it ended quietly: no traceback, exit 0 or 141 (128 + SIGPIPE, as `yes | head` ends)."""

    def run(*argv: str) -> subprocess.CompletedProcess:
        read, write = os.pipe()
        os.close(read)
        try:
            proc = subprocess.run([sys.executable, "-c", "from nas.cli import entry; entry()", *argv], stdout=write,
                                  stderr=subprocess.PIPE, text=True, timeout=300, cwd=tmp_path,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        finally:
            os.close(write)
        assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
        assert "Exception ignored" not in proc.stderr, proc.stderr
        assert proc.returncode in (0, 141), (proc.returncode, proc.stderr)
        return proc

    return run
