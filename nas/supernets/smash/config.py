"""`SmashConfig`: the SMASH supernet's settings (light to import: `nas search --help` reads it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from nas.config_util import strict_from_dict

PARAMETRISATIONS = ("weightnorm", "mip", "shared")
SAMPLERS = ("uniform", "even", "attentive")
NOISE_AT_SCORING = ("fixed", "resample", "average")
SCORE_BY = ("accuracy", "loss", "loss+naswot")


@dataclass(frozen=True)
class SmashConfig:
    # 500 steps ranked best in bench/smash_correlation.py's sweep (250 to 4000 steps; see the README)
    steps: int = 500  # minibatches of supernet training, one random architecture each
    batch_size: int = 64
    archs_per_step: int = 1  # architectures per minibatch (each on its share of the images; gradients summed)
    lr: float = 2e-3
    weight_decay: float = 1e-5
    hidden: int = 128
    # "uniform"; "even": each decision takes its least-used choice so far (ties at random), so every
    # choice is trained equally often; "attentive": the best or worst of a few candidates
    sampler: str = "uniform"
    optimizer: str = "adam"  # or "sgd" (Nesterov momentum 0.9)
    parametrisation: str = "mip"  # or "weightnorm" (SMASH's), "shared" (see nas/supernets/smash/network.py)
    kxk_per_slot: bool = True  # one shared k x k bank per stage and node slot; False: per stage (SMASH's)
    noise: int = 0  # size of SMASH's noise input to the HyperNet (0: none)
    noise_at_scoring: str = "fixed"  # "fixed" (zeros, its mean), "resample" (one draw), "average" (of 4 draws)
    # scoring defaults chosen by bench/smash_correlation.py: minus the validation loss ranked better than
    # accuracy, and the scoring batch's own BN statistics (0 calibration batches) as well as recalibration
    calibration_batches: int = 0  # BN recalibration batches per scored architecture (0: the scoring batch's own)
    score_images: int = 128  # validation images a score uses (128, 256 and 500 rank alike; fewer cost less)
    # "loss+naswot": minus the loss plus NASWOT's activation-kernel log det, weighted to the same spread
    # over `reference_archs` sampled architectures (the two are uncorrelated; together they rank
    # best in bench/smash_correlation.py); "loss": minus the loss alone; "accuracy"
    score_by: str = "loss+naswot"
    naswot_images: int = 32  # the first images of the scoring batch, which the activation kernel compares
    reference_archs: int = 32
    checkpoint_every: int = 250
    seed: int = 0
    # proposing: after the sampled architectures, `local_rounds` rounds of hill-climbing mutate each of
    # the `local_top` best scored so far `local_mutations` times; --trials counts both kinds
    local_rounds: int = 2
    local_top: int = 3
    local_mutations: int = 4

    def __post_init__(self) -> None:
        if not 1 <= self.archs_per_step <= self.batch_size // 2:
            raise ValueError("SMASH archs_per_step must be between 1 and half the batch size")
        if self.steps < 1 or self.batch_size < 2 or self.calibration_batches < 0 or self.score_images < 2:
            raise ValueError("SMASH steps, batch size (>= 2), calibration batches and score images must be positive")
        if self.naswot_images < 2 or self.reference_archs < 2:
            raise ValueError("SMASH naswot_images and reference_archs must be at least 2")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"SMASH optimizer {self.optimizer!r} is unknown; use adam or sgd")
        for name, value, allowed in (("sampler", self.sampler, SAMPLERS), ("parametrisation", self.parametrisation,
                                     PARAMETRISATIONS), ("noise_at_scoring", self.noise_at_scoring, NOISE_AT_SCORING),
                                     ("score_by", self.score_by, SCORE_BY)):
            if value not in allowed:
                raise ValueError(f"SMASH {name} {value!r} is unknown; use one of {allowed}")
        if self.noise < 0 or self.weight_decay < 0:
            raise ValueError("SMASH noise size and weight decay must be >= 0")
        if self.hidden < 1 or self.checkpoint_every < 1 or not self.lr > 0:
            raise ValueError("SMASH hidden size, checkpoint_every and lr must be positive")
        if self.local_rounds < 0 or self.local_top < 1 or self.local_mutations < 0:
            raise ValueError("SMASH local_rounds and local_mutations must be >= 0 and local_top >= 1")

    def local_slots(self, trials: int) -> int:
        """How many of `trials` go to local search: all its rounds, leaving at least `local_top`
        sampled architectures to climb from."""
        return max(0, min(self.local_rounds * self.local_top * self.local_mutations, trials - self.local_top))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SmashConfig:
        return strict_from_dict(cls, data, "smash setting")
