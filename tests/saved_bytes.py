"""Bytes of activations autograd saves for one forward of a differentiable supernet (deterministic,
unlike timing or peak memory), for the memory tests of every supernet."""

from __future__ import annotations

import torch


def saved_bytes(net: torch.nn.Module, arch_step: bool) -> int:
    """Bytes of the activations autograd saves for the backward pass of one forward."""
    total = 0

    def pack(t: torch.Tensor) -> torch.Tensor:
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    x = torch.randn(16, 3, 8, 8)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        net(x, arch_step=arch_step, generator=torch.Generator().manual_seed(0)).sum().backward()
    return total
