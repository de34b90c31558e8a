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
from nas.smash.supernet import HyperNet, SlicedBN, SmashNet
from search_spaces.base import Architecture
from search_spaces.dense.space import DenseSpace

SAMPLERS = ("uniform", "attentive")


@dataclass(frozen=True)
class SmashConfig:
    steps: int = 1500  # minibatches of supernet training, one random architecture each
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-5
    hidden: int = 128
    sampler: str = "uniform"  # or "attentive": train more often on the best / worst of a few candidates
    optimizer: str = "adam"  # or "sgd" (Nesterov momentum 0.9)
    calibration_batches: int = 4  # BN recalibration batches per scored architecture
    score_images: int = 1000  # validation images a score uses
    checkpoint_every: int = 250
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 2 or self.calibration_batches < 1 or self.score_images < 1:
            raise ValueError("SMASH steps, batch size (>= 2), calibration batches and score images must be positive")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"SMASH optimizer {self.optimizer!r} is unknown; use adam or sgd")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"SMASH sampler {self.sampler!r} is unknown; use one of {SAMPLERS}")


class Smash(nn.Module):
    """The HyperNet and the shared weights of one SMASH run."""

    def __init__(self, space: DenseSpace, num_classes: int, in_channels: int, config: SmashConfig):
        super().__init__()
        self.space, self.config = space, config
        self.net = SmashNet(space.config, num_classes, in_channels)
        self.hyper = HyperNet(self.net.bounds, space.config, config.hidden)

    def forward(self, x: torch.Tensor, arch: Architecture) -> torch.Tensor:
        geno = self.space.parse(arch)
        return self.net(x, geno, self.hyper(geno))

    # --- training ----------------------------------------------------------------------------
    def fit(self, data: Dataset, checkpoint: Path | None = None, quiet: bool = False) -> dict[str, Any]:
        """Train for `config.steps` minibatches (resuming from `checkpoint` when it exists)."""
        cfg = self.config
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
            x, y = batch
            arch = self._training_arch(x, y, rng)
            for group in opt.param_groups:  # cosine decay per step
                group["lr"] = cfg.lr * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))
            loss = F.cross_entropy(self(x, arch), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(self.parameters(), 5.0)
            opt.step()
            step += 1
            losses.append(float(loss.detach()))
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
        # AttentiveNAS-style: of a few candidates, train the worst (by loss on this batch) half the
        # time and the best the other half, so both ends of the ranking get trained
        candidates = [self.space.sample(rng) for _ in range(3)]
        with torch.no_grad():
            losses = [float(F.cross_entropy(self(x, a), y)) for a in candidates]
        order = np.argsort(losses)
        return candidates[int(order[-1] if rng.random() < 0.5 else order[0])]

    def _save(self, path: Path, opt: torch.optim.Optimizer, rng: np.random.Generator, gen: torch.Generator,
              step: int, losses: list[float], seconds: float) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save({"model": self.state_dict(), "optimizer": opt.state_dict(), "rng": rng.bit_generator.state,
                    "torch_rng": gen.get_state(), "step": step, "losses": losses, "seconds": seconds,
                    "config": asdict(self.config)}, tmp)
        tmp.replace(path)  # a crash mid-write never leaves a broken checkpoint

    # --- scoring -----------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, arch: Architecture, data: Dataset) -> float:
        """Validation accuracy with generated weights, after recalibrating BatchNorm on fixed
        training batches (deterministic for a given supernet)."""
        geno = self.space.parse(arch)
        weights = self.hyper(geno)
        bns = [m for m in self.net.modules() if isinstance(m, SlicedBN)]
        self.eval()
        for m in bns:
            m.reset()
            m.calibrating = True
        try:
            for k, (x, _) in enumerate(data.batches("train", self.config.batch_size * 2)):
                if k >= self.config.calibration_batches:
                    break
                self.net(x, geno, weights)
        finally:
            for m in bns:
                m.calibrating = False
        correct = total = 0
        for x, y in data.batches("val", 500):
            if total >= self.config.score_images:
                break
            correct += int((self.net(x, geno, weights).argmax(1) == y).sum())
            total += len(y)
        return correct / max(total, 1)
