"""Fixtures for the search tests: a synthetic NAS-Bench-201 table (every cell, accuracies a simple
function of the cell) and a slow evaluator file for the subprocess tests."""

from __future__ import annotations

import hashlib
import itertools
import textwrap
from pathlib import Path

import pytest

from search_spaces.nb201 import EDGES, OPS, format_arch_string


def synthetic_accuracy(edges: tuple[str, ...]) -> float:
    """Percent: more 3x3 convs are better, `none` edges worse, plus a stable per-cell jitter."""
    jitter = int(hashlib.sha256("".join(edges).encode()).hexdigest()[:6], 16) / 0xFFFFFF
    return 50.0 + 5.0 * edges.count("nor_conv_3x3") + 2.0 * edges.count("nor_conv_1x1") \
        - 3.0 * edges.count("none") + 4.0 * jitter


@pytest.fixture(scope="session")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 15,625 cells: c10_valid, c10_test (valid + 1), c10_valid_hp12 (valid - 10), cost, latency."""
    path = tmp_path_factory.mktemp("nb201") / "table.csv"
    lines = ["arch,c10_valid,c10_test,c10_valid_hp12,c10_train_time_s,lat_ms"]
    for edges in itertools.product(OPS, repeat=len(EDGES)):
        v = synthetic_accuracy(edges)
        lat = 1.0 + edges.count("nor_conv_3x3") + 0.5 * edges.count("nor_conv_1x1")
        lines.append(f"{format_arch_string(edges)},{v:.4f},{v + 1:.4f},{v - 10:.4f},100,{lat}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def slow_evaluator(table: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file for `--evaluator FILE.py:make`: the synthetic table, a delay per evaluation, and a
    log of every evaluation (pid and architecture key), to check nothing is evaluated twice."""
    path = tmp_path_factory.mktemp("evals") / "slow_eval.py"
    path.write_text(textwrap.dedent(f'''
        import os
        import time

        from nas.evaluators.tabular import TabularEvaluator

        TABLE = {str(table)!r}


        class Slow:
            def __init__(self, delay, log):
                self.inner, self.delay, self.log = TabularEvaluator(TABLE), delay, log
                self.epochs = self.inner.epochs

            def evaluate(self, arch, fidelity=None, on_epoch=None):
                time.sleep(self.delay)
                with open(self.log, "a") as f:
                    f.write(f"{{os.getpid()}} {{arch.key()}}\\n")
                return self.inner.evaluate(arch, fidelity, on_epoch)

            def test(self, arch):
                return self.inner.test(arch)


        def make(ctx):
            return Slow(float(os.environ.get("NAS_TEST_DELAY", "0.3")), os.environ["NAS_TEST_LOG"])
    '''))
    return path


@pytest.fixture(autouse=True)
def empty_latency_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No latency profile from the developer's cache leaks into a test: searches measure unless a test
    caches (or fakes) a profile."""
    monkeypatch.setenv("NAS_LATENCY_CACHE", str(tmp_path_factory.mktemp("latency_cache")))
