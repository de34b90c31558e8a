"""Zero-cost proxies: scores of a network at initialisation, from one small batch of training images.

NASWOT (Mellor et al. 2021), synflow (Tanaka et al. 2020), jacob_cov, snip and grad_norm
(Abdelfattah et al. 2021), in the forms of those papers' code. They are predictor features,
never the target, and must only ever see TRAINING images (the caller picks them; see
`training_batch`). Everything is seeded: the network is initialised inside `torch.random.fork_rng`
from `seed`, so the global RNG is left as it was.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from predictors.zero_cost import ActivationKernel

PROXIES = ("naswot", "synflow", "jacob_cov", "snip", "grad_norm")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


def training_batch(x_train: np.ndarray, y_train: np.ndarray, n: int = 64, seed: int = 0,
                   mean: tuple[float, ...] = CIFAR_MEAN, std: tuple[float, ...] = CIFAR_STD,
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """`n` images drawn (seeded) from a training split of uint8 NHWC images, normalised, as NCHW."""
    if len(x_train) < n:
        raise ValueError(f"need at least {n} training images for the proxies, got {len(x_train)}")
    idx = np.sort(np.random.default_rng(seed).choice(len(x_train), size=n, replace=False))
    x = torch.from_numpy(x_train[idx].astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    return x.contiguous(), torch.from_numpy(np.asarray(y_train)[idx].astype(np.int64))


def _weighted(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _jacob_cov_score(jac: torch.Tensor) -> float:
    corr = torch.nan_to_num(torch.corrcoef(jac.reshape(jac.shape[0], -1).double()), nan=0.0)
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    k = 1e-5
    return float(-(torch.log(v + k) + 1.0 / (v + k)).sum())


@contextmanager
def _relu_codes(model: nn.Module, images: int, keep: Callable[[nn.Module], bool] | None = None
                ) -> Iterator[ActivationKernel]:
    """NASWOT's kernel over `images` images, fed by a forward hook on every ReLU (that `keep`
    accepts) while open."""
    kernel = ActivationKernel(images, ridge=0.0)  # as published: log|K| itself

    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        kernel.add(inp[0])

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, nn.ReLU) and (keep is None or keep(m))]
    try:
        yield kernel
    finally:
        for h in handles:
            h.remove()


def naswot(model: nn.Module, x: torch.Tensor, keep: Callable[[nn.Module], bool] | None = None) -> float:
    """NASWOT alone: one forward pass without gradients, over the ReLUs `keep` accepts (all by default)."""
    with _relu_codes(model, x.shape[0], keep) as kernel, torch.no_grad():
        model(x)
    return float(kernel.logdet())


def batch_proxies(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """naswot, jacob_cov, snip and grad_norm from ONE forward pass in train mode:
    - naswot: log|K| of the Hamming-agreement kernel of the ReLU on/off codes over the batch;
    - jacob_cov: -sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the correlation of the
      input Jacobians of the output sum;
    - snip: sum |w * dL/dw| and grad_norm: sum of per-layer ||dL/dw|| (cross-entropy L), over
      conv and linear weights."""
    x = x.clone().requires_grad_(True)
    model.zero_grad()
    with _relu_codes(model, x.shape[0]) as kernel:
        out = model(x)
    (jac,) = torch.autograd.grad(out.sum(), x, retain_graph=True)
    nn.functional.cross_entropy(out, y).backward()
    snip = grad_norm = 0.0
    with torch.no_grad():
        for m in _weighted(model):
            if m.weight.grad is not None:
                snip += float((m.weight.grad * m.weight).abs().sum())
                grad_norm += float(m.weight.grad.norm())
    model.zero_grad()
    return {"naswot": kernel.logdet(), "jacob_cov": _jacob_cov_score(jac), "snip": snip,
            "grad_norm": grad_norm}


def synflow(model: nn.Module, x: torch.Tensor) -> float:
    """sum of w * dR/dw with R the output sum of the |w| network on an all-ones input, in float64;
    BatchNorm in eval mode with fresh statistics (nearly the identity, as the papers drop it)."""
    net = copy.deepcopy(model).double().eval()
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    net.zero_grad()
    net(torch.ones((1, *x.shape[1:]), dtype=torch.float64)).sum().backward()
    with torch.no_grad():
        return float(sum((m.weight * m.weight.grad).sum() for m in _weighted(net) if m.weight.grad is not None))


def compute_proxies(build: Callable[[], nn.Module], x: torch.Tensor, y: torch.Tensor, seed: int = 0,
                    which: tuple[str, ...] = PROXIES) -> dict[str, float]:
    """The proxies named in `which` for the network `build()` makes, initialised from `seed`.

    The network is in train mode, as at the start of training; synflow gets its own copy."""
    unknown = [w for w in which if w not in PROXIES]
    if unknown:
        raise ValueError(f"unknown proxy {unknown[0]!r}; use one of {', '.join(PROXIES)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build()
    model.train()
    out: dict[str, float] = {}
    if set(which) - {"synflow"}:
        out.update(batch_proxies(copy.deepcopy(model), x, y))
    if "synflow" in which:
        out["synflow"] = synflow(model, x)
    out = {k: v for k, v in out.items() if k in which}
    return {k: (v if math.isfinite(v) else math.nan) for k, v in out.items()}


def proxy_feature(name: str, value: float) -> float:
    """The proxy as a predictor feature: log scale for the ones that span many decades."""
    if name in ("synflow", "snip", "grad_norm"):
        return math.log(value + 1e-12) if value > 0 else math.log(1e-12)
    return value
