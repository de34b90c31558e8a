"""Train the SMASH supernet (one random architecture per minibatch) and score architectures with
generated weights. Checkpointed and resumable."""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nas.data.dataset import Dataset
from nas.supernets.distributed import Ranks
from nas.supernets.loop import fit_steps
from nas.supernets.smash.config import SmashConfig
from nas.supernets.smash.network import HyperNet, SlicedBN, SmashNet
from nas.training import TrainConfig
from predictors.zero_cost import ActivationKernel
from search_spaces.base import Architecture
from search_spaces.dense.space import DenseSpace

ONE = Ranks()  # a single process


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

    @property
    def device(self) -> torch.device:
        """Where the supernet lives (`.to(device)` moves it; batches follow)."""
        return self.net.stem.device

    def forward(self, x: torch.Tensor, arch: Architecture, noise: torch.Tensor | None = None) -> torch.Tensor:
        geno = self.space.parse(arch)
        return self.net(x, geno, self.hyper(geno, noise))

    # --- training ----------------------------------------------------------------------------
    def fit(self, data: Dataset, checkpoint: Path | None = None, quiet: bool = False,
            deadline: float | None = None) -> dict[str, Any]:
        """Train for `config.steps` minibatches, one random architecture per minibatch (or per
        `archs_per_step` share of it), resuming from `checkpoint` when it exists."""
        cfg = self.config
        self._naswot_weights.clear()
        rng = np.random.default_rng(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        recipe = TrainConfig(optimizer=cfg.optimizer, lr=cfg.lr, weight_decay=cfg.weight_decay, momentum=0.9,
                             nesterov=True, schedule="cosine", seed=cfg.seed)

        ranks = Ranks.current(self.device)

        def step(batch: tuple[torch.Tensor, torch.Tensor], model: nn.Module) -> float:
            loss, total = 0.0, len(batch[1])  # each rank holds its share of the global batch
            chunks = list(zip(*(t.chunk(cfg.archs_per_step) for t in batch)))
            for k, (x, y) in enumerate(chunks):  # one architecture per chunk, the same on every rank
                x, y = ranks.shard(x), ranks.shard(y)
                arch = self._training_arch(x, y, rng, ranks, total)
                noise = torch.randn(cfg.noise, generator=gen) if cfg.noise else None
                # DDP averages gradients over ranks (one all-reduce per step, after the last chunk): this
                # rank's summed loss over the global batch size, times the ranks, averages to the global mean
                with model.no_sync() if ranks.parallel and k < len(chunks) - 1 else contextlib.nullcontext():
                    part = F.cross_entropy(model(x, arch, noise), y, reduction="sum") / total
                    (part * ranks.world).backward()
                loss += float(part.detach())
            return loss

        def restore(extra: dict[str, Any]) -> None:
            rng.bit_generator.state = extra["rng"]
            gen.set_state(extra["torch_rng"])
            self.choice_counts = dict(extra.get("choice_counts", {}))

        bns = [m for m in self.net.modules() if isinstance(m, SlicedBN)]
        for m in bns:
            m.synced = ranks.parallel  # BatchNorm over the global batch, as one process would
        try:
            out = fit_steps(self, recipe, cfg.steps, step,
                            lambda: data.batches("train", cfg.batch_size, train=True, generator=gen,
                                                 device=self.device),
                            checkpoint=checkpoint, checkpoint_every=cfg.checkpoint_every,
                            state=lambda: {"rng": rng.bit_generator.state, "torch_rng": gen.get_state(),
                                           "choice_counts": self.choice_counts, "config": asdict(cfg)},
                            restore=restore, clip_norm=5.0, quiet=quiet, desc="SMASH supernet", deadline=deadline)
        finally:
            for m in bns:
                m.synced = False
        self.last_losses = out.pop("losses")
        return out

    def propose(self, rng: np.random.Generator) -> Architecture:
        """SMASH learns no distribution over architectures: a uniform sample of its space."""
        return self.space.sample(rng)

    def _training_arch(self, x: torch.Tensor, y: torch.Tensor, rng: np.random.Generator, ranks: Ranks = ONE,
                       total: int | None = None) -> Architecture:
        """The next training architecture; `x`, `y`: this rank's share of `total` images."""
        if self.config.sampler == "uniform":
            return self.space.sample(rng)
        if self.config.sampler == "even":
            return self.space.sample(rng, lambda name, choices: self._least_used(name, choices, rng))
        # AttentiveNAS-style: of a few candidates, train the worst (by loss on this batch) half the
        # time and the best the other half, so both ends of the ranking get trained
        candidates = [self.space.sample(rng) for _ in range(3)]
        with torch.no_grad():  # each rank's share of the global loss, summed: every rank picks alike
            losses = ranks.sum([float(F.cross_entropy(self(x, a), y, reduction="sum")) / (total or len(y))
                                for a in candidates])
        order = np.argsort(losses)
        return candidates[int(order[-1] if rng.random() < 0.5 else order[0])]

    def _least_used(self, name: str, choices: tuple, rng: np.random.Generator) -> object:
        counts = self.choice_counts.setdefault(name, [0] * len(choices))
        fewest = [k for k, n in enumerate(counts) if n == min(counts)]
        k = fewest[int(rng.integers(len(fewest)))]
        counts[k] += 1
        return choices[k]

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
                for k, (x, _) in enumerate(data.batches("train", cfg.batch_size * 2, device=self.device)):
                    if k >= cfg.calibration_batches:
                        break
                    self.net(x, geno, weights)
            finally:
                for m in bns:
                    m.calibrating = False
        else:
            self.net.train()  # BatchNorm normalises with the statistics of the scoring batch itself
        # one batch: the first score_images images
        x, y = next(iter(data.batches("val", cfg.score_images, device=self.device)))
        self.net.kernel = kernel
        try:
            probs = F.softmax(self.net(x, geno, weights), 1)
        finally:
            self.net.kernel = None
        self.eval()
        return probs, y
