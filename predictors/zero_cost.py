"""Zero-cost proxies: scores of an architecture from one forward pass, no training.

`ActivationKernel` is NASWOT's kernel (Mellor et al. 2021, "Neural Architecture Search without
Training"), the one implementation of it: SMASH's score adds its log det to minus the loss with
generated weights, and `predictors.proxies` computes the published proxy with it at initialisation.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ActivationKernel:
    """NASWOT's kernel over the first `images` images of a batch: K[i, j] = the number of ReLUs on
    which images i and j agree (both on or both off). A network that separates the images well has
    a large log det K. Feed it every pre-activation with `add`, then read `logdet()`.

    `ridge` is added to K's diagonal before the log det: SMASH's 1 keeps it finite for repeated
    images; the published proxy uses 0 (a singular K, e.g. a network whose ReLUs never fire, gives
    -inf)."""

    def __init__(self, images: int, ridge: float = 1.0):
        self.images = images
        self.ridge = ridge
        self.k: Tensor | None = None

    def add(self, pre_activation: Tensor) -> None:
        s = (pre_activation.detach()[:self.images].flatten(1) > 0).float() * 2 - 1  # +-1 codes
        k = (s @ s.t() + s.shape[1]) / 2  # agreements = (units + s.s) / 2
        self.k = k if self.k is None else self.k + k

    def logdet(self) -> float:
        if self.k is None:
            raise ValueError("the activation kernel saw no ReLU; call add() on the network's pre-activations")
        k = self.k.double()
        return float(torch.linalg.slogdet(k + self.ridge * torch.eye(len(k), dtype=k.dtype)).logabsdet)
