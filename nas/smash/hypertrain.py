"""Train the SMASH supernet (one random architecture per minibatch) and score architectures with
generated weights. Checkpointed and resumable."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from nas.data.dataset import Dataset
from nas.smash.supernet import PARAMETRISATIONS, ActivationKernel, HyperNet, SlicedBN, SmashNet
from search_spaces.base import Architecture
from search_spaces.dense.space import DenseSpace

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
    parametrisation: str = "mip"  # or "weightnorm" (SMASH's), "shared" (see nas/smash/supernet.py)
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


class Smash(nn.Module):
    """The HyperNet and the shared weights of one SMASH run."""

    def __init__(self, space: DenseSpace, num_classes: int, in_channels: int, config: SmashConfig):
        super().__init__()
        self.space, self.config = space, config
        with torch.random.fork_rng():  # initial weights from config.seed alone; the caller's RNG is left alone
            torch.manual_seed(config.seed)
            self.net = SmashNet(space.config, num_classes, in_channels, config.kxk_per_slot)
            self.hyper = HyperNet(self.net.bounds, space.config, config.hidden, config.parametrisation, config.noise)
        self.choice_counts: dict[str, list[int]] = {}  # the "even" sampler's memory
        self._naswot_weights: dict[SmashConfig, float] = {}  # per scoring setting, for these weights

    def forward(self, x: torch.Tensor, arch: Architecture, noise: torch.Tensor | None = None) -> torch.Tensor:
        geno = self.space.parse(arch)
        return self.net(x, geno, self.hyper(geno, noise))

    # --- training ----------------------------------------------------------------------------
    def fit(self, data: Dataset, checkpoint: Path | None = None, quiet: bool = False) -> dict[str, Any]:
        """Train for `config.steps` minibatches (resuming from `checkpoint` when it exists)."""
        cfg = self.config
        self._naswot_weights.clear()
        if cfg.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(self.parameters(), lr=cfg.lr, momentum=0.9, nesterov=True,
                                                         weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        step, losses, seconds = 0, [], 0.0
        if checkpoint is not None and checkpoint.exists():
            state = torch.load(checkpoint, weights_only=True)
            self.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            rng.bit_generator.state = state["rng"]
            self.choice_counts = dict(state.get("choice_counts", {}))
            gen.set_state(state["torch_rng"])
            step, losses, seconds = int(state["step"]), list(state["losses"]), float(state["seconds"])
        self.train()
        bar = tqdm(total=cfg.steps, initial=step, desc="SMASH supernet", file=sys.stderr, disable=quiet,
                   dynamic_ncols=True)
        batches = iter(())
        t0 = time.perf_counter() - seconds
        while step < cfg.steps:
            batch = next(batches, None)
            if batch is None:
                batches = data.batches("train", cfg.batch_size, train=True, generator=gen)
                continue
            for group in opt.param_groups:  # cosine decay per step
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            opt.zero_grad(set_to_none=True)
            loss = 0.0
            for x, y in zip(*(t.chunk(cfg.archs_per_step) for t in batch)):  # one architecture per chunk
                arch = self._training_arch(x, y, rng)
                noise = torch.randn(cfg.noise, generator=gen) if cfg.noise else None
                part = F.cross_entropy(self(x, arch, noise), y) * len(y) / len(batch[1])
                part.backward()
                loss += float(part.detach())
            nn.utils.clip_grad_norm_(self.parameters(), 5.0)
            opt.step()
            step += 1
            losses.append(loss)
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
            if checkpoint is not None and (step % cfg.checkpoint_every == 0 or step == cfg.steps):
                self._save(checkpoint, opt, rng, gen, step, losses, time.perf_counter() - t0)
        bar.close()
        self.last_losses = losses
        return {"steps": step, "final_loss": float(np.mean(losses[-50:])) if losses else None,
                "train_seconds": time.perf_counter() - t0}

    def _training_arch(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator) -> Architecture:
        if self.config.sampler == "uniform":
            return self.space.sample(rng)
        if self.config.sampler == "even":
            return self.space.sample(rng, lambda name, choices: self._least_used(name, choices, rng))
        # AttentiveNAS-style: of a few candidates, train the worst (by loss on this batch) half the
        # time and the best the other half, so both ends of the ranking get trained
        candidates = [self.space.sample(rng) for _ in range(3)]
        with torch.no_grad():
            losses = [float(F.cross_entropy(self(x, a), y)) for a in candidates]
        order = np.argsort(losses)
        return candidates[int(order[-1] if rng.random() < 0.5 else order[0])]

    def _least_used(self, name: str, choices: tuple, rng: np.random.Generator) -> object:
        counts = self.choice_counts.setdefault(name, [0] * len(choices))
        fewest = [k for k, n in enumerate(counts) if n == min(counts)]
        k = fewest[int(rng.integers(len(fewest)))]
        counts[k] += 1
        return choices[k]

    def _save(self, path: Path, opt: torch.optim.Optimizer, rng: np.random.Generator, gen: torch.Generator,
              step: int, losses: list[float], seconds: float) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"model": self.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                    "torch_rng": gen.get_state(),
                    "choice_counts": self.choice_counts, "step": step, "losses": losses, "seconds": seconds,
                    "config": asdict(self.config)}, tmp)
        tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint

    # --- scoring -----------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, arch: Architecture, data: Dataset) -> float:
        """The architecture's score with generated weights, higher is better (`config.score_by`);
        deterministic for a given supernet."""
        return self.scored(arch, data)["score"]

    @torch.no_grad()
    def scored(self, arch: Architecture, data: Dataset) -> dict[str, float | None]:
        """The score and the measurements it is made of (see `measure`)."""
        m = self.measure(arch, data)
        if self.config.score_by == "accuracy":
            return {"score": m["accuracy"], **m}
        if self.config.score_by == "loss":
            return {"score": -m["loss"], **m}
        return {"score": -m["loss"] + self._naswot_weight(data) * m["naswot"], **m}

    @torch.no_grad()
    def measure(self, arch: Architecture, data: Dataset) -> dict[str, float | None]:
        """Validation loss and accuracy with generated weights, BatchNorm recalibrated on fixed
        training batches (or normalised by the scoring batch itself), and NASWOT's log det of the
        activation kernel (None unless `score_by` uses it), all from the same pass."""
        cfg = self.config
        geno = self.space.parse(arch)
        noises: list[torch.Tensor | None] = [None]  # "fixed": zeros, the noise's mean
        if cfg.noise and cfg.noise_at_scoring != "fixed":
            gen = torch.Generator().manual_seed(cfg.seed)
            draws = 4 if cfg.noise_at_scoring == "average" else 1
            noises = [torch.randn(cfg.noise, generator=gen) for _ in range(draws)]
        kernel = ActivationKernel(cfg.naswot_images) if cfg.score_by == "loss+naswot" else None  # only when used
        probs = None
        for z in noises:
            p, y = self._predict(geno, self.hyper(geno, z), data, kernel)
            probs = p if probs is None else probs + p
        probs = probs / len(noises)
        return {"loss": float(F.nll_loss(probs.clamp_min(1e-12).log(), y)),
                "accuracy": float((probs.argmax(1) == y).float().mean()),
                "naswot": kernel.logdet() if kernel is not None else None}

    def _naswot_weight(self, data: Dataset) -> float:
        """NASWOT's weight in "loss+naswot": the spread of the loss over its spread, both over
        `reference_archs` architectures sampled with the run's seed (so each term counts as much as
        the other, as z-scores would). Computed once per scoring setting."""
        cfg = self.config
        if cfg not in self._naswot_weights:
            rng = np.random.default_rng([cfg.seed, 1])  # the same reference architectures on every call
            ms = [self.measure(self.space.sample(rng), data) for _ in range(cfg.reference_archs)]
            loss_sd, naswot_sd = np.std([m["loss"] for m in ms]), np.std([m["naswot"] for m in ms])
            self._naswot_weights[cfg] = float(loss_sd / naswot_sd) if naswot_sd > 0 else 0.0
        return self._naswot_weights[cfg]

    def _predict(self, geno, weights, data: Dataset,
                 kernel: ActivationKernel | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Class probabilities on the first `score_images` validation images, and their labels;
        `kernel` records the ReLUs of that pass."""
        cfg = self.config
        bns = [m for m in self.net.modules() if isinstance(m, SlicedBN)]
        self.eval()
        if cfg.calibration_batches:
            for m in bns:
                m.reset()
                m.calibrating = True
            try:
                for k, (x, _) in enumerate(data.batches("train", cfg.batch_size * 2)):
                    if k >= cfg.calibration_batches:
                        break
                    self.net(x, geno, weights)
            finally:
                for m in bns:
                    m.calibrating = False
        else:
            self.net.train()  # BatchNorm normalises with the statistics of the scoring batch itself
        x, y = next(iter(data.batches("val", cfg.score_images)))  # one batch: the first score_images images
        self.net.kernel = kernel
        try:
            probs = F.softmax(self.net(x, geno, weights), 1)
        finally:
            self.net.kernel = None
        self.eval()
        return probs, y
