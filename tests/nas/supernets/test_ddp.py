"""Data-parallel SMASH training (2 gloo processes on loopback) computes what one process computes on
the same global batch: the gradients of a step (rtol 1e-5) and the loss curve and weights after a
kill and a resume (float64, so summation order is the only difference: rtol 1e-6)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing as mp
from torch.optim.optimizer import register_optimizer_step_pre_hook

from nas.data import load_dataset
from nas.supernets import loop
from nas.supernets.smash import Smash, SmashConfig
from search_spaces.dense import DenseSpace, DenseSpaceConfig
from search_spaces.dense import smash_subspace as smash_config

STEPS, KILL_AT, EVERY = 6, 5, 3  # killed in step 5, after the checkpoint of step 3: the resume replays 4 and 5
# two architectures per step (DDP's no_sync on the first), chosen by their loss (attentive: every rank must
# pick alike from a loss it only sees a share of), SMASH's noise input drawn from the shared generator
SETTINGS = dict(steps=STEPS, batch_size=32, checkpoint_every=EVERY, archs_per_step=2, sampler="attentive", noise=2)


class Killed(Exception):
    pass


class Float64:
    """The dataset's training batches in float64."""

    def __init__(self, data: Any) -> None:
        self.data = data

    def batches(self, *args: Any, **kw: Any) -> Any:
        return ((x.double(), y) for x, y in self.data.batches(*args, **kw))


def _smash() -> Smash:
    space = DenseSpace(smash_config(DenseSpaceConfig(widths=(8, 16), stem=8, max_nodes=3)))
    return Smash(space, 4, 3, SmashConfig(**SETTINGS)).double()


def _train(checkpoint: Path, kill_at: int | None) -> dict[str, Any]:
    """Fit with a hook that records the first step's (all-reduced, clipped) gradients and raises
    at step `kill_at`; after the kill a fresh supernet resumes from the checkpoint."""
    # 99 training images: step 4's batch has 3, so rank 1's share of its second architecture is empty
    data = Float64(load_dataset("synthetic?subset=110&resolution=8&classes=4"))
    seen: dict[str, Any] = {"steps": 0, "saves": 0}
    smash = _smash()

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        seen["steps"] += 1
        if seen["steps"] == 1:
            seen["grads"] = {n: p.grad.clone() for n, p in smash.named_parameters() if p.grad is not None}
        if seen["steps"] == kill_at:
            raise Killed

    save = loop.save_checkpoint

    def counted_save(path: Path, state: dict[str, Any]) -> None:
        seen["saves"] += 1
        save(path, state)

    loop.save_checkpoint = counted_save
    handle = register_optimizer_step_pre_hook(hook)
    try:
        try:
            smash.fit(data, checkpoint, quiet=True)
        except Killed:
            smash = _smash()
            smash.fit(data, checkpoint, quiet=True)
    finally:
        handle.remove()
        loop.save_checkpoint = save
    return {"grads": seen["grads"], "losses": smash.last_losses, "saves": seen["saves"],
            "weights": {k: v.clone() for k, v in smash.state_dict().items()}}


def _rank(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world,
                                         timeout=timedelta(seconds=60))
    try:
        # one checkpoint path for both ranks: only rank 0 may write it, both read it to resume
        torch.save(_train(Path(tmp) / "supernet.pt", KILL_AT), f"{tmp}/rank{rank}.pt")
    finally:
        torch.distributed.destroy_process_group()


def _two_ranks(tmp: Path) -> list[dict[str, Any]]:
    ctx = mp.start_processes(_rank, args=(2, str(tmp)), nprocs=2, join=False, start_method="spawn")
    deadline = time.monotonic() + 240
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the two ranks did not finish in 240 s (a collective that only one rank entered?)")
    return [torch.load(tmp / f"rank{r}.pt", weights_only=True) for r in range(2)]


def test_two_ranks_train_as_one_process_on_the_global_batch(tmp_path: Path) -> None:
    one = _train(tmp_path / "single.pt", KILL_AT)  # one process, killed and resumed alike
    ranks = _two_ranks(tmp_path)
    assert [r["saves"] for r in ranks] == [one["saves"], 0]  # rank 0 writes (steps 3 and 6), rank 1 never
    assert not list(tmp_path.glob("*.tmp"))
    for r in ranks:
        assert set(r["grads"]) == set(one["grads"])
        biggest = max(g.abs().max() for g in one["grads"].values())
        for name, g in one["grads"].items():  # a relative match; entries far below the largest gradient may differ
            torch.testing.assert_close(r["grads"][name], g, rtol=1e-5, atol=1e-9 * biggest, msg=name)
        assert len(r["losses"]) == STEPS
        torch.testing.assert_close(torch.tensor(r["losses"]), torch.tensor(one["losses"]), rtol=1e-6, atol=0)
        for name, w in one["weights"].items():
            torch.testing.assert_close(r["weights"][name], w, rtol=1e-6, atol=1e-9, msg=name)
    assert any(not torch.equal(one["grads"][n], 0 * one["grads"][n]) for n in one["grads"])  # a real step


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_synced_batch_norm_is_the_identity_without_a_process_group() -> None:
    from nas.supernets.distributed import Ranks, batch_norm

    x = torch.randn(6, 4, 3, 3)
    w, b = torch.rand(4), torch.randn(4)
    assert Ranks.current() == Ranks()
    torch.testing.assert_close(batch_norm(x, w, b), torch.nn.functional.batch_norm(x, None, None, w, b, True))
