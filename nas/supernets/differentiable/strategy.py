"""How a differentiable search proposes trials once its supernet is fitted: slot 0 is the
discretised cell (phase `argmax`, or `pt` / `zc` when the perturbation-based `select` chose it),
slot s >= 1 the s-th cell drawn from the learned distribution (`default_rng(seed + 1)`, edge by
edge from softmax(alpha), or for the dense space decision by decision from `supernet.json`'s
probabilities; a cell drawn before is drawn again, up to 50 times, before it is proposed twice).
Every proposal is one trial; each records its phase (and, on NB201, its share of parameter-free
ops)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from nas.supernets.slots import SlotProposer
from search_spaces.base import Architecture
from search_spaces.nb201.cell import OPS

REDRAWS = 50


class DifferentiableProposer(SlotProposer):
    def __init__(self, space: Any, run_dir: Path | None, trials: int, study: optuna.Study, seed: int,
                 poll_s: float = 0.5) -> None:
        super().__init__(trials, study, poll_s)
        self.space, self.run_dir, self.seed = space, run_dir, seed
        self._archs: list[Architecture] = []
        self._probs: Any = None
        self._select = "argmax"  # how the fitted supernet chose slot 0's cell (`select`: argmax, pt, zc)

    def _fitted(self) -> tuple[Architecture, Any]:
        from nas.evaluators.supernet import FITTED_FILE

        if self.run_dir is None or not (self.run_dir / FITTED_FILE).is_file():
            raise ValueError("a differentiable strategy proposes from its fitted supernet: run it through "
                             "nas search with a run directory (Search.create), which fits the supernet first")
        fit = json.loads((self.run_dir / FITTED_FILE).read_text())
        self._select = fit.get("select") or "argmax"
        if fit.get("space") == "dense":
            return Architecture.from_dict(fit["arch"]), {k: np.asarray(v, dtype=np.float64)
                                                         for k, v in fit["probs"].items()}
        alpha = np.asarray(fit["alpha"], dtype=np.float64)
        probs = np.exp(alpha - alpha.max(1, keepdims=True))
        return Architecture.from_dict(fit["arch"]), probs / probs.sum(1, keepdims=True)

    def arch(self, slot: int) -> Architecture:
        if not self._archs:
            first, self._probs = self._fitted()
            self._archs.append(first)
            self._rng = np.random.default_rng(self.seed + 1)
        while len(self._archs) <= slot:
            seen = {a.key() for a in self._archs}
            for _ in range(REDRAWS):
                arch = self._draw()
                if arch.key() not in seen:
                    break
            self._archs.append(arch)
        return self._archs[slot]

    def _draw(self) -> Architecture:
        if isinstance(self._probs, dict):
            from nas.supernets.differentiable.dense_choices import sample_arch

            return sample_arch(self.space, self._probs, self._rng)
        return self.space.from_edges([OPS[int(self._rng.choice(len(OPS), p=row))] for row in self._probs])

    def annotate(self, trial: optuna.Trial, slot: int, arch: Architecture) -> None:
        from nas.supernets.differentiable.model import param_free_share

        trial.set_user_attr("phase", self._select if slot == 0 else "sampled")
        if getattr(self.space, "name", None) != "nb201":
            return
        trial.set_user_attr("param_free_share", param_free_share(self.space.edges(arch)))
