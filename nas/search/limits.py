"""Costs of a proposed architecture before it is evaluated: the search prunes by them, steers by them
and reports predicted latency while it runs; the confirm stage and the Pareto front measure.

`CostGate.check(arch)` (called by the runner between the duplicate check and the evaluator):
- params and MACs (`flops`, the project's convention) counted by the space's shape analysis;
- latency (batch 1, this process's threads, the dataset's input shape, the run's device)
  *predicted* by the cached latency predictor (`predictors.latency`, `nas latency profile`),
  re-anchored once per process to the machine's speed (`$NAS_LATENCY_REANCHOR=0` turns that off), or,
  with no profile cached for those settings, *measured* once on the untrained network (the one
  measurement, `nas.latency`; the weights do not change the time), and the run says so in one line.
An architecture over `--max-latency-ms` / `--max-params` / `--max-flops` is not evaluated: its
trial is told PRUNED with its constraint values (TPE, NSGA-II and GP steer away by them) and counted
as infeasible. The others are evaluated and their result carries these costs (an evaluator's own
numbers win: a table's latency column, say). Evaluators that answer every cost themselves
(`reports_costs = True`, the tabular evaluator) are not gated.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.results import Result
from nas.search.objectives import Objectives
from search_spaces.base import Architecture

PREDICTED, MEASURED = "predicted", "measured"


@dataclass
class Costs:
    params: int | None = None
    flops: int | None = None  # MACs
    latency_ms: float | None = None
    latency: dict[str, Any] = field(default_factory=dict)  # source, std_ms or iqr_ms, the settings' fingerprint

    def fill(self, result: Result) -> Result:
        """`result` with the costs it lacks (an evaluator's own numbers are kept)."""
        result.params = result.params if result.params is not None else self.params
        result.flops = result.flops if result.flops is not None else self.flops
        if result.latency_ms is None and self.latency_ms is not None:
            result.latency_ms = self.latency_ms
            result.extra["latency"] = self.latency
        return result


def search_latency_settings(device: str, data: Any, repeats: int = 20, clock: str = "wall") -> Any:
    """The settings a search's latency is predicted and measured under: batch 1, this process's
    threads, the dataset's input shape, the run's device (the confirm stage uses the same)."""
    import torch

    from nas.latency import LatencySettings

    return LatencySettings(device=device, batch_size=1, threads=torch.get_num_threads(), input_size=data.input_size,
                           in_channels=data.in_channels, num_classes=data.num_classes, repeats=repeats, clock=clock)


class CostGate:
    """See the module docstring. `data` is called once, on the first check (the dataset's shape)."""

    def __init__(self, space: Any, objectives: Objectives, data: Callable[[], Any], device: str = "cpu", *,
                 latency: bool = False, cache_dir: Path | None = None, say: Callable[[str], None] | None = None,
                 predictor: Any = None, clock: str = "wall") -> None:
        from search_spaces.capabilities import has

        if objectives.max_flops is not None and not has(space, "shape"):
            raise ValueError(f"--max-flops counts MACs by the space's shape analysis, which space "
                             f"{getattr(space, 'name', space)!r} lacks; drop --max-flops")
        self.space, self.objectives, self._data, self.device = space, objectives, data, device
        self.latency, self.cache_dir, self.say = latency, cache_dir, say
        self.predictor, self._settings, self.clock = predictor, None, clock

    @property
    def settings(self) -> Any:
        if self._settings is None:
            self._settings = search_latency_settings(self.device, self._data(), clock=self.clock)
            if self.latency and self.predictor is None:
                self.predictor = self._load_predictor()
        return self._settings

    @property
    def source(self) -> str | None:
        """How latency is known during the search: predicted, measured, or None (not needed)."""
        if not self.latency:
            return None
        self.settings  # noqa: B018  (loads the predictor)
        return PREDICTED if self.predictor is not None else MEASURED

    def _load_predictor(self) -> Any:
        from predictors.latency import default_cache_dir, load_predictor, profile_path

        s = self._settings
        predictor = load_predictor(self.space, s, self.cache_dir)  # re-anchored unless $NAS_LATENCY_REANCHOR=0
        if predictor is not None and self.say is not None:
            self.say(f"latency predicted with profile {predictor.profile.fingerprint}, {predictor.describe_anchor()}")
        if predictor is None and self.say is not None:
            path = profile_path(self.cache_dir or default_cache_dir(), self.space.name, s)
            self.say(f"no latency profile for space {self.space.name} at batch 1, {s.threads} thread(s), "
                     f"{s.input_size}x{s.input_size}x{s.in_channels}, {s.device} ({path.name}): each architecture's "
                     f"latency is measured before it is evaluated instead of predicted; `nas latency profile --space "
                     f"{self.space.name} --device {s.device} --threads {s.threads} --input-size {s.input_size} "
                     f"--in-channels {s.in_channels} --num-classes {s.num_classes}{_clock_flag(s)}` caches one")
        return predictor

    def costs(self, arch: Architecture) -> Costs:
        from search_spaces.capabilities import has

        s = self.settings
        out = Costs()
        if has(self.space, "shape"):
            shape = self.space.shape(arch, s.num_classes, s.in_channels, s.input_size)
            out.params, out.flops = int(shape.params), int(shape.macs)
        if self.latency:
            if self.predictor is not None:
                mean, std = self.predictor.predict_one(arch)
                out.latency_ms = mean
                out.latency = {"source": PREDICTED, "std_ms": std, "fingerprint": self.predictor.profile.fingerprint,
                               "anchor": getattr(self.predictor, "anchor", 1.0)}
            else:
                from nas.latency import measure_arch

                m = measure_arch(arch, s, self.space)
                out.latency_ms = m.latency_ms
                out.latency = {"source": MEASURED, "iqr_ms": m.iqr_ms, **m.settings}
        if out.params is None and self.objectives.max_params is not None:
            from nas.latency import build_arch

            out.params = sum(p.numel() for p in build_arch(arch, s, self.space).parameters())
        return out

    def check(self, arch: Architecture) -> tuple[Costs, list[float] | None]:
        """The architecture's costs and its constraint values (None without limits; feasible when all <= 0)."""
        costs = self.costs(arch)
        return costs, self.objectives.constraint(costs.fill(Result()))


def over_limits_result(costs: Costs, constraint: Sequence[float], names: Sequence[str]) -> Result:
    """The result recorded for an architecture the gate kept from evaluation."""
    over = [n for n, v in zip(names, constraint) if v > 0]
    reason = f"not evaluated: over the limit on {', '.join(over)}"
    if "latency_ms" in over and costs.latency.get("source") == PREDICTED:
        reason += " (predicted)"
    result = costs.fill(Result(state="infeasible"))
    result.extra["not_evaluated"] = reason
    return result


def make_gate(search: Any) -> CostGate | None:
    """The gate of a `Search` (None when it has no limits and no latency objective, or when its
    evaluator reports every cost itself)."""
    objectives = search.objectives
    latency = "latency_ms" in objectives.metrics or objectives.max_latency_ms is not None
    if getattr(search.evaluator, "reports_costs", False) or not (latency or objectives.has_limits):
        return None
    say = None if search.quiet else (lambda line: print(f"note: {line}", file=sys.stderr))
    return CostGate(search.space, objectives, lambda: search.data, search.config.device, latency=latency, say=say,
                    clock=search.config.latency_clock)


def _clock_flag(settings: Any) -> str:
    return " --clock cpu" if settings.clock == "cpu" else ""


def measured_front(front: list[dict[str, Any]], archs: list[Architecture], gate: CostGate,
                   objectives: Objectives) -> list[dict[str, Any]]:
    """The Pareto front as reported: each point's latency measured (the predicted one kept beside
    it), points over `--max-latency-ms` by measurement (median + 2 IQR) dropped, and the rest
    filtered again for dominance under the measured latencies."""
    from nas.latency import measure_archs
    from nas.search.objectives import pareto_front

    if not front:
        return front
    measured = measure_archs(archs, gate.settings, gate.space)
    limit = objectives.max_latency_ms
    points = [{**p, "latency_ms": m.latency_ms, "latency_iqr_ms": m.iqr_ms, "predicted_latency_ms": p["latency_ms"],
               "latency_source": MEASURED} for p, m in zip(front, measured) if limit is None or m.bound_ms <= limit]
    keep = pareto_front([[p[m] for m in objectives.metrics] for p in points], objectives.directions)
    return [points[i] for i in keep]
