"""`torchrun --nproc_per_node 2 -m nas search` (2 gloo ranks): SIGKILLed during data-parallel
supernet training, resumed under torchrun, it finishes the search; only rank 0 writes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kill_harness import counted_trials, supernet_step

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[3]
STEPS, TRIALS = 16, 3
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "nas"]


def torchrun(tmp_path: Path, *argv: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([*TORCHRUN, *argv], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # a group: agent and ranks


def rank0(agent: int) -> int:
    """The pid of rank 0 among torchrun's children (each rank runs in its own session)."""
    for _ in range(100):
        for pid in Path(f"/proc/{agent}/task/{agent}/children").read_text().split():
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if b"RANK=0" in environ and b"LOCAL_RANK=0" in environ:
                return int(pid)
        time.sleep(0.1)
    raise AssertionError("torchrun started no rank 0")


def test_killed_and_resumed_under_torchrun(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "ddp"
    proc = torchrun(tmp_path, "search", "--space", "dense?stages=2&max_nodes=3&widths=8,16&stem=8", "--dataset",
                    "synthetic?subset=200&resolution=8&classes=3", "--trials", str(TRIALS), "--confirm", "0",
                    "--supernet-steps", str(STEPS), "--smash", "checkpoint_every=2", "--smash", "batch_size=32",
                    "--smash", "reference_archs=4", "--smash", "local_rounds=0", "--threads", "1", "--name", "ddp",
                    "--quiet")
    deadline = time.monotonic() + 240
    try:
        while supernet_step(run) < 4:
            assert proc.poll() is None, f"torchrun ended (exit {proc.returncode}): {proc.communicate()[1][-3000:]}"
            assert time.monotonic() < deadline, "no supernet checkpoint of step 4 within 240 s"
            time.sleep(0.05)
        os.kill(rank0(proc.pid), signal.SIGKILL)  # the search itself, mid-training
        _, err = proc.communicate(timeout=120)  # the other rank's collective fails, torchrun stops it: no hang
        assert proc.returncode != 0, err[-3000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    killed_at = supernet_step(run)
    assert 4 <= killed_at < STEPS and not (run / "supernet.json").exists()

    resumed = torchrun(tmp_path, "search", "--resume", str(run), "--threads", "1", "--json", "--quiet")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])  # rank 0 prints it; the other rank prints nothing
    assert summary["complete"] and summary["n_trials"] == TRIALS == len(counted_trials(run))
    assert summary["supernet"]["steps"] == STEPS
    import torch

    assert len(torch.load(run / "supernet.pt", weights_only=True)["losses"]) == STEPS  # no step twice, none lost
    assert not list(run.rglob("*.tmp"))
    # one process record per command (rank 0's): the other ranks never wrote into the run directory
    assert len(list((run / "procs").glob("*.json"))) == 2


@pytest.mark.parametrize("strategy, evaluator, words", [("random", "train", "fits none"),
                                                        ("gdas", "train", "only SMASH")])
def test_torchrun_refuses_what_it_cannot_train_data_parallel(strategy: str, evaluator: str, words: str) -> None:
    from nas.search import SearchConfig
    from nas.search.data_parallel import check

    with pytest.raises(ValueError, match=words):
        check(SearchConfig(space="nb201", strategy=strategy, evaluator=evaluator))
