"""bench/ground_truth.py appends one row at a time: a kill loses at most the row in training, a
restart trains only what is missing, and two shard processes share one table without clashing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.ground_truth import append_row, jobs, read_rows

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# A child process that "trains" each job in `delay` seconds and logs every start.
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from bench import ground_truth as gt

def fake(job):
    index, seed, arch, proto = job
    with open({log!r}, "a") as f:
        f.write(f"{{index}},{{seed}}\\n")
    time.sleep({delay})
    return {{"index": index, "seed": seed, "key": str(index), "val_accuracy": 0.5, "test_accuracy": 0.5,
            "params": 1, "flops": 1, "train_seconds": {delay}}}

gt.run(Path("cifar10_subset.npz"), Path({out!r}), 8, 2, 1, ({k}, {n}), train=fake)
"""


def child(out: Path, log: Path, delay: float, shard: tuple[int, int] = (0, 1)) -> subprocess.Popen:
    code = CHILD.format(root=str(ROOT), log=str(log), delay=delay, out=str(out), k=shard[0], n=shard[1])
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_rows(out: Path, n: int, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while len(read_rows(out)) < n:
        assert time.monotonic() < end, f"fewer than {n} rows after {timeout} s"
        time.sleep(0.05)


def keys(out: Path) -> Counter:
    return Counter((r["index"], r["seed"]) for r in read_rows(out))


def test_kill_then_restart_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    out, log = tmp_path / "gt.jsonl", tmp_path / "starts.log"
    proc = child(out, log, delay=0.3)
    wait_rows(out, 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = keys(out)
    assert 3 <= sum(before.values()) < 10
    assert child(out, log, delay=0.0).wait() == 0
    after = keys(out)
    assert set(after) == set(jobs(8, 2)) and max(after.values()) == 1
    starts = Counter(tuple(map(int, line.split(","))) for line in log.read_text().split())
    for job in before:  # a row on disk before the kill is never trained again
        assert starts[job] == 1
    assert read_rows(out)[0]["protocol"]["dataset"].startswith("npz:cifar10_subset.npz?")


def test_two_shards_share_one_table(tmp_path: Path) -> None:
    out, log = tmp_path / "gt.jsonl", tmp_path / "starts.log"
    procs = [child(out, log, 0.05, (k, 2)) for k in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    got = keys(out)
    assert set(got) == set(jobs(8, 2)) and max(got.values()) == 1
    assert max(Counter(log.read_text().split()).values()) == 1


def test_append_refuses_a_row_already_there_and_reading_skips_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "gt.jsonl"
    assert append_row(out, {"index": 0, "seed": 0})
    assert not append_row(out, {"index": 0, "seed": 0})
    with out.open("a") as f:
        f.write('{"index": 1, "se')  # killed mid-write
    assert [(r["index"], r["seed"]) for r in read_rows(out)] == [(0, 0)]
    assert append_row(out, {"index": 2, "seed": 0})
    assert [(r["index"], r["seed"]) for r in read_rows(out)] == [(0, 0), (2, 0)]


def test_jobs_interleave_second_seeds() -> None:
    order = jobs(200, 40)
    assert len(order) == len(set(order)) == 240
    assert order[:5] == [(i, 0) for i in range(5)] and (0, 1) in order[:10]


def test_summary_counts_range_and_noise_ceiling() -> None:
    from bench.ground_truth import summary

    rows = [{"index": i, "seed": 0, "test_accuracy": 0.4 + i / 100, "val_accuracy": 0.4 + i / 100}
            for i in range(10)]
    rows += [{"index": i, "seed": 1, "test_accuracy": 0.41 + i / 100, "val_accuracy": 0.5 - i / 100}
             for i in range(6)]
    s = summary(rows, resamples=200)
    assert (s["archs"], s["second_seeds"]) == (10, 6)
    assert s["test_range"] == pytest.approx([0.4, 0.49])
    assert s["noise_ceiling_test"]["kendall_tau"] == pytest.approx(1.0)  # same order in both seeds
    assert s["noise_ceiling_val"]["kendall_tau"] == pytest.approx(-1.0)
    lo, hi = s["noise_ceiling_test"]["ci95"]
    assert lo <= 1.0 <= hi + 1e-9
