"""`DiffOptions`: the differentiable supernet's settings, `--strategy darts|gdas|proxyless?key=value`
(light to import: no torch). Steps and seed come from `--supernet-steps` and `--seed`."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MODES = ("darts", "gdas", "proxyless")
# how the fitted NB201 supernet becomes one cell (`perturb.py`): the strongest op per edge, or by
# perturbation: DARTS-PT (the supernet's accuracy) or Zero-Cost-PT (a zero-cost proxy of the supernet)
SELECTS = ("argmax", "pt", "zc")
# predictors.proxies.PROXIES, and naswot_out: NASWOT on the ReLUs outside the mixed cells only
PT_PROXIES = ("naswot", "synflow", "jacob_cov", "snip", "grad_norm", "naswot_out")
PT_ORDERS = ("fixed", "random", "once")


@dataclass(frozen=True)
class DiffOptions:
    channels: int = 16  # C of the NB201 skeleton (the benchmark's); the dense space's sizes come from --space
    cells: int = 1  # NB201 cells per stage: the benchmark has 5, fewer is the usual search proxy
    batch_size: int = 64
    lr: float = 0.025  # weights: SGD, momentum 0.9, cosine over the steps (DARTS's recipe)
    weight_decay: float = 3e-4
    arch_lr: float = 3e-3  # architecture parameters: Adam (betas 0.5, 0.999)
    arch_weight_decay: float = 1e-3
    warmup: float = 0.25  # share of the steps that train weights only, before architecture updates start
    # beta-DARTS: + beta_t * mean over edges of logsumexp(alpha), beta_t rising linearly from 0 to `beta`
    # over the architecture steps; it keeps the mixture weights from saturating on parameter-free ops
    beta: float = 2.0
    tau_max: float = 10.0  # GDAS's Gumbel-softmax temperature, annealed linearly to tau_min
    tau_min: float = 0.1
    exclude_none: bool = False  # discretise without the `none` op (DARTS's genotype rule)
    select: str = "argmax"  # argmax | pt | zc (NB201 only; see SELECTS)
    pt_proxy: str = "naswot"  # select=zc: the zero-cost proxy that scores the perturbed supernet
    pt_batches: int = 4  # select=pt|zc: minibatches (batch_size images of the architecture half) per score
    # select=pt|zc: edges decided in index order or in an order drawn from the seed, each scored on the
    # partly discretised supernet; or `once`: every edge scored on the whole supernet, no edge decided first
    pt_order: str = "fixed"
    pt_tune: int = 0  # select=pt|zc: weight steps on the partly discretised supernet after each edge
    # dense space with --max-latency-ms: discretisation repairs the argmax until the latency predictor's
    # mean + latency_margin x its std is under the budget (the confirm stage's measurement adds its noise)
    latency_margin: float = 1.0
    checkpoint_every: int = 50
    record_every: int = 10  # steps between entries of the architecture-parameter trajectory

    def __post_init__(self) -> None:
        if self.channels < 1 or self.cells < 1 or self.batch_size < 2:
            raise ValueError("differentiable search needs channels >= 1, cells >= 1 and batch_size >= 2")
        if not (self.lr > 0 and self.arch_lr > 0) or self.weight_decay < 0 or self.arch_weight_decay < 0:
            raise ValueError("differentiable search: lr and arch_lr must be positive, weight decays >= 0")
        if not 0.0 <= self.warmup < 1.0:
            raise ValueError(f"warmup={self.warmup} is the share of steps without architecture updates: use [0, 1)")
        if self.beta < 0 or not 0 < self.tau_min <= self.tau_max:
            raise ValueError("differentiable search needs beta >= 0 and 0 < tau_min <= tau_max")
        if self.latency_margin < 0:
            raise ValueError("latency_margin (predictor std multiples kept below the budget) must be >= 0")
        if self.checkpoint_every < 1 or self.record_every < 1:
            raise ValueError("checkpoint_every and record_every must be positive")
        for key, value, known in (("select", self.select, SELECTS), ("pt_proxy", self.pt_proxy, PT_PROXIES),
                                  ("pt_order", self.pt_order, PT_ORDERS)):
            if value not in known:
                raise ValueError(f"differentiable search option {key}={value!r}: use one of {', '.join(known)}")
        if self.pt_batches < 1 or self.pt_tune < 0:
            raise ValueError("differentiable search needs pt_batches >= 1 and pt_tune >= 0")

    def check_space(self, space_name: str | None) -> None:
        """The perturbation-based `select` discretises the NB201 cell only."""
        if self.select != "argmax" and space_name != "nb201":
            raise ValueError(f"select={self.select} covers the nb201 cell only; drop it for --space {space_name}")

    def warmup_steps(self, steps: int) -> int:
        return int(self.warmup * steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
