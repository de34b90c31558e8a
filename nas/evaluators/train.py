"""`--evaluator train`: train each architecture from scratch with the shared trainer
(`nas.training.train`), reporting validation accuracy after every epoch so pruners work.

Test accuracy is never computed during the search: `test(arch)` measures it for the final pick,
from the weights of the best model trained in this process when it is that arch, else by
training it again with the same seed.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from typing import Any

from nas.results import EpochCallback, Result
from nas.training import TrainConfig
from search_spaces.base import Architecture


class TrainEvaluator:
    def __init__(self, space: Any, dataset: str, config: TrainConfig, measure_latency: bool = False,
                 latency_repeats: int = 20) -> None:
        self.space, self.dataset, self.config = space, dataset, config
        self.measure_latency, self.latency_repeats = measure_latency, latency_repeats
        self._data: Any = None
        self._best: tuple[str, float, dict[str, Any]] | None = None  # (arch key, val, state dict)

    @property
    def epochs(self) -> int:
        return self.config.epochs

    @property
    def data(self) -> Any:
        if self._data is None:
            from nas.data import load_dataset

            self._data = load_dataset(self.dataset, seed=self.config.seed)
        return self._data

    def _build(self, arch: Architecture) -> Any:
        from nas.build import seeded_model

        d = self.data  # the same initial weights for the same arch, every time
        return seeded_model(self.space, arch, d.num_classes, d.in_channels, d.input_size, self.config.seed)

    def evaluate(self, arch: Architecture, fidelity: int | None = None,
                 on_epoch: EpochCallback | None = None) -> Result:
        config = self.config if fidelity is None else replace(self.config, epochs=int(fidelity))
        return self.train_model(arch, self._build(arch), config, on_epoch)

    def train_model(self, arch: Architecture, model: Any, config: TrainConfig,
                    on_epoch: EpochCallback | None = None) -> Result:
        """Train `model` (of `arch`, fresh or with weights it inherited) with `config`; its `Result`."""
        from nas.training import train

        params = sum(p.numel() for p in model.parameters())
        start = time.perf_counter()
        history: list[float] = []

        def report(epoch: int, val: float) -> None:
            history.append(val)
            if on_epoch is not None:
                on_epoch(epoch, val)

        out = train(model, self.data, config, on_epoch=report, test=False)
        cost = time.perf_counter() - start
        extra: dict[str, Any] = {"dataset": self.dataset, "epochs": config.epochs, "val_history": history,
                                 "device": out.device}
        latency = None
        if self.measure_latency:
            latency, extra["latency"] = self._latency(model)
        if out.val_accuracy is not None and (self._best is None or out.val_accuracy > self._best[1]):
            self._best = (arch.key(), out.val_accuracy, copy.deepcopy(model.state_dict()))
        return Result(val_accuracy=out.val_accuracy, params=params, flops=self._macs(arch), latency_ms=latency,
                      cost_s=cost, extra=extra)

    def test(self, arch: Architecture) -> Result:
        from nas.training import accuracy, train

        model = self._build(arch)
        if self._best is not None and self._best[0] == arch.key():
            model.load_state_dict(self._best[2])
            val: float | None = self._best[1]
        else:
            val = train(model, self.data, self.config, test=False).val_accuracy
        test = accuracy(model.to(self.config.device), self.data, "test", self.config.eval_batch_size)
        return Result(val_accuracy=val, test_accuracy=test, params=sum(p.numel() for p in model.parameters()),
                      flops=self._macs(arch), extra={"dataset": self.dataset, "epochs": self.config.epochs})

    def _macs(self, arch: Architecture) -> int | None:
        from search_spaces.capabilities import has

        if not has(self.space, "shape"):
            return None
        d = self.data
        return int(self.space.shape(arch, d.num_classes, d.in_channels, d.input_size).macs)

    def _latency(self, model: Any) -> tuple[float, dict[str, Any]]:
        """Median ms of a batch-1 forward pass after warm-up, by the one measurement (`nas.latency`)."""
        import torch

        from nas.latency import LatencySettings, measure

        d = self.data
        device = str(next(model.parameters()).device)
        settings = LatencySettings(device=device, batch_size=1, threads=torch.get_num_threads(),
                                   input_size=d.input_size, in_channels=d.in_channels,
                                   num_classes=d.num_classes, repeats=self.latency_repeats)
        m = measure(model, settings)
        return m.latency_ms, {**m.settings, "iqr_ms": m.iqr_ms}
