"""Data-parallel supernet training: what a rank of a `torchrun` job needs inside the step loop.

Every rank draws the same global batch and the same architecture (the same seeded generators on
every rank), keeps its contiguous share of the batch, and DistributedDataParallel all-reduces the
gradients (`find_unused_parameters`: each architecture uses a different subset of the supernet).
BatchNorm normalises with the statistics of the whole global batch (`batch_norm`, exact and
differentiable), so N ranks compute the gradients one process would on the global batch.

The process group is the caller's (`torch.distributed.init_process_group`, done by the CLI under
torchrun); without one, or with one rank, everything here is the identity.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class Ranks:
    """This process's place in the data-parallel job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")  # where collectives' tensors live (CUDA for NCCL)

    @classmethod
    def current(cls, device: torch.device | str = "cpu") -> Ranks:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            return cls(dist.get_rank(), dist.get_world_size(), torch.device(device))
        return cls(device=torch.device(device))

    @property
    def parallel(self) -> bool:
        return self.world > 1

    @property
    def writer(self) -> bool:
        """Only rank 0 writes checkpoints and run files; the others must not race on them."""
        return self.rank == 0

    def shard(self, t: Tensor) -> Tensor:
        """This rank's contiguous share of a global batch (shares differ by at most one image)."""
        return t.tensor_split(self.world)[self.rank] if self.parallel else t

    def wrap(self, module: nn.Module) -> nn.Module:
        """`module` under DistributedDataParallel when data-parallel (gradients averaged over ranks)."""
        if not self.parallel:
            return module
        from torch.nn.parallel import DistributedDataParallel

        # buffers are BN running statistics, unused in training (scoring recalibrates them): not synced per step
        quiet = {"forward_sync_buffers": False} if "forward_sync_buffers" in inspect.signature(
            DistributedDataParallel).parameters else {"broadcast_buffers": False}  # the name before torch 2.13
        return DistributedDataParallel(module, find_unused_parameters=True, **quiet)

    def sum(self, values: Sequence[float]) -> list[float]:
        """`values` summed over ranks (the same list on every rank)."""
        if not self.parallel:
            return [float(v) for v in values]
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def any(self, flag: bool) -> bool:
        """Whether `flag` is set on any rank, so every rank takes the same branch."""
        return self.sum([float(flag)])[0] > 0 if self.parallel else flag


def batch_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float = 1e-5) -> Tensor:
    """Training-mode BatchNorm (biased variance, as `F.batch_norm`) over the global batch, all ranks
    together: each rank's count, mean and sum of squared deviations are combined exactly (Chan's
    parallel formula) through a differentiable all-reduce, so gradients reach every rank's images."""
    ranks = Ranks.current(x.device)
    if not ranks.parallel:
        return F.batch_norm(x, None, None, weight, bias, True, 0.0, eps)
    c = x.shape[1]
    n = x.numel() // c  # 0 when a small last batch leaves this rank no image
    mean = x.sum((0, 2, 3)) / max(n, 1)
    m2 = (x - mean.view(1, c, 1, 1)).pow(2).sum((0, 2, 3))
    mine = torch.cat([x.new_full((1,), float(n)), mean * n, m2])
    rows = [mine if r == ranks.rank else torch.zeros_like(mine) for r in range(ranks.world)]
    stats = _AllReduce.apply(torch.stack(rows))  # world x (1 + 2C): every rank's row
    counts, m2s = stats[:, :1], stats[:, 1 + c:]
    means = stats[:, 1:1 + c] / counts.clamp_min(1)
    total = counts.sum()
    g_mean = (means * counts).sum(0) / total
    g_var = (m2s.sum(0) + (counts * (means - g_mean).pow(2)).sum(0)) / total
    scale = weight / (g_var + eps).sqrt()
    return x * scale.view(1, c, 1, 1) + (bias - g_mean * scale).view(1, c, 1, 1)


class _AllReduce(torch.autograd.Function):
    """A summing all-reduce that autograd sees through: the gradient of every rank's input is the
    sum of every rank's output gradient."""

    @staticmethod
    def forward(ctx: Any, t: Tensor) -> Tensor:
        import torch.distributed as dist

        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return _AllReduce.apply(grad.contiguous())
