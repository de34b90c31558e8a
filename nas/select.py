"""Hard-constrained selection: the most accurate candidate whose MEASURED latency is under the limit.

`select_measured(candidates, constraints, settings)` ranks candidates by accuracy, drops those over
the static limits (params, MACs), lets the latency predictor (when one is given) skip candidates
predicted far over the latency limit, then measures the rest in accuracy order, a few at a time
(interleaved), and returns the first that qualifies: measured median + 2 IQR <= the limit, and
peak memory <= its limit. The search pipeline's confirm stage calls it with its top candidates;
`nas select RUN_DIR` calls it with a finished run's trials (`read_run`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nas.latency import LatencySettings, Measurement, build_arch, measure_models, peak_memory_mb
from search_spaces.base import Architecture

PREDICTOR_SLACK = 0.25  # skip a candidate only when predicted more than 25% over the limit
CHUNK = 4  # candidates measured interleaved at a time


@dataclass(frozen=True)
class Constraints:
    max_latency_ms: float | None = None
    max_params: int | None = None
    max_flops: int | None = None
    max_memory_mb: float | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a positive number, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class Candidate:
    arch: Architecture
    accuracy: float  # what candidates are ranked by: validation accuracy, or a proxy's score (`metric`)
    number: int | None = None  # the trial number in its run
    params: int | None = None
    flops: int | None = None
    metric: str = "val_accuracy"  # or "score": a proxy evaluator's, not an accuracy

    def to_dict(self) -> dict[str, Any]:
        return {"trial": self.number, "arch_key": self.arch.key(), "arch": self.arch.to_dict(),
                "val_accuracy": self.accuracy if self.metric == "val_accuracy" else None,
                "score": self.accuracy if self.metric == "score" else None, "params": self.params, "flops": self.flops}


@dataclass
class Checked:
    """A measured candidate: what was measured and whether it qualifies."""

    candidate: Candidate
    measurement: Measurement
    memory_mb: float | None
    predicted: tuple[float, float] | None
    qualifies: bool

    def to_dict(self) -> dict[str, Any]:
        d = self.candidate.to_dict()
        m = self.measurement
        d.update(measured_latency_ms=m.latency_ms, measured_iqr_ms=m.iqr_ms, measured_bound_ms=m.bound_ms,
                 memory_mb=self.memory_mb, qualifies=self.qualifies,
                 predicted_latency_ms=None if self.predicted is None else self.predicted[0],
                 predicted_std_ms=None if self.predicted is None else self.predicted[1])
        return d


@dataclass
class Selection:
    selected: Checked | None
    constraints: Constraints
    settings: dict[str, Any]
    measured: list[Checked] = field(default_factory=list)
    closest: list[Checked] = field(default_factory=list)
    skipped_by_predictor: int = 0
    over_static_limits: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"selected": None if self.selected is None else self.selected.to_dict(),
                "constraints": self.constraints.to_dict(), "settings": self.settings,
                "measured": [c.to_dict() for c in self.measured], "closest": [c.to_dict() for c in self.closest],
                "skipped_by_predictor": self.skipped_by_predictor, "over_static_limits": self.over_static_limits,
                "notes": self.notes}


def select_measured(candidates: list[Candidate], constraints: Constraints, settings: LatencySettings,
                    predictor: Any = None, space: Any = None, n_closest: int = 3) -> Selection:
    """The most accurate candidate that meets every constraint, latency and memory by measurement.

    `predictor` (with `predict(archs) -> (mean, std)`) only decides which candidates are not worth
    measuring; `space` (default: each architecture's registered space) builds and counts them."""
    from search_spaces.plugins import resolve_space

    sel = Selection(None, constraints, {})
    ranked = sorted(candidates, key=lambda c: (-c.accuracy, c.number if c.number is not None else 0))
    spaces = {c.arch.space: space or resolve_space(c.arch.space) for c in ranked}
    ok = [c for c in ranked if _static_ok(c, constraints, spaces[c.arch.space], settings)]
    sel.over_static_limits = len(ranked) - len(ok)
    predicted: dict[int, tuple[float, float]] = {}
    if predictor is not None and ok:
        mean, std = predictor.predict([c.arch for c in ok])
        predicted = {id(c): (float(m), float(s)) for c, m, s in zip(ok, mean, std)}
    elif constraints.max_latency_ms is not None:
        sel.notes.append("no latency profile for these settings: every candidate is measured, in accuracy order")
    limit = constraints.max_latency_ms
    shortlist = [c for c in ok if limit is None or id(c) not in predicted
                 or predicted[id(c)][0] <= limit * (1 + PREDICTOR_SLACK)]
    sel.skipped_by_predictor = len(ok) - len(shortlist)
    for start in range(0, len(shortlist), CHUNK):
        checked = _check(shortlist[start:start + CHUNK], constraints, settings, spaces, predicted)
        sel.measured += checked
        passing = [c for c in checked if c.qualifies]
        if passing:
            sel.selected = passing[0]  # the chunk is in accuracy order
            break
    if sel.measured:
        sel.settings = sel.measured[0].measurement.settings
    if sel.selected is None:
        listed = {id(c) for c in shortlist}
        skipped = sorted((c for c in ok if id(c) not in listed), key=lambda c: predicted[id(c)][0])[:n_closest]
        extra = _check(skipped, constraints, settings, spaces, predicted) if skipped else []
        if not sel.settings and extra:
            sel.settings = extra[0].measurement.settings
        sel.closest = sorted(sel.measured + extra, key=lambda c: c.measurement.bound_ms)[:n_closest]
    return sel


def _static_ok(c: Candidate, constraints: Constraints, space: Any, settings: LatencySettings) -> bool:
    if constraints.max_params is None and constraints.max_flops is None:
        return True
    if (c.params is None or c.flops is None) and hasattr(space, "shape"):
        shape = space.shape(c.arch, settings.num_classes, settings.in_channels, settings.input_size)
        c.params = c.params if c.params is not None else int(shape.params)
        c.flops = c.flops if c.flops is not None else int(shape.macs)
    if constraints.max_params is not None and c.params is not None and c.params > constraints.max_params:
        return False
    return constraints.max_flops is None or c.flops is None or c.flops <= constraints.max_flops


def _check(cands: list[Candidate], constraints: Constraints, settings: LatencySettings, spaces: dict[str, Any],
           predicted: dict[int, tuple[float, float]]) -> list[Checked]:
    models = [build_arch(c.arch, settings, spaces[c.arch.space]) for c in cands]
    out = []
    for c, model, m in zip(cands, models, measure_models(models, settings)):
        memory = peak_memory_mb(model, settings) if constraints.max_memory_mb is not None else None
        ok = constraints.max_latency_ms is None or m.bound_ms <= constraints.max_latency_ms
        ok = ok and (memory is None or memory <= constraints.max_memory_mb)
        out.append(Checked(c, m, memory, predicted.get(id(c)), ok))
    return out


# --- run directories -------------------------------------------------------------------------------
def read_run(run_dir: Path) -> list[Candidate]:
    """The run's candidates, one per architecture (its best): a search run's trials by validation
    accuracy (results.json `trials`); a proxy-evaluator run's (SMASH's) retrained candidates by
    validation accuracy (`confirmation`, or an older run's `retrained`), else its trials by their
    score, labelled `metric="score"`; a `nas train` run's one architecture (arch.json + metrics.json)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotADirectoryError(f"{run_dir} is not a run directory; pass runs/<name>")
    results = run_dir / "results.json"
    if results.exists():
        doc = _json(results)
        trials = doc.get("trials") or []
        trials = [t for t in trials if isinstance(t, dict)]
        accurate = [t for t in trials if (t.get("result") or {}).get("val_accuracy") is not None]
        archs = {t.get("arch_key"): t.get("arch") for t in trials}  # results.json's confirmation omits them
        retrained = [{"arch": archs.get(e.get("arch_key")), **e} for e in doc.get("confirmation") or
                     doc.get("retrained") or [] if isinstance(e, dict) and e.get("val_accuracy") is not None]
        # a proxy's scores are no accuracies: its retrained candidates first, its scores only without them
        rows = accurate or retrained or trials
    elif (run_dir / "arch.json").exists() and (run_dir / "metrics.json").exists():
        metrics = _json(run_dir / "metrics.json")
        rows = [{"arch": _json(run_dir / "arch.json"), "state": "complete", "result": metrics.get("result", {})}]
    else:
        raise FileNotFoundError(f"{run_dir} has no results.json (nor arch.json + metrics.json); pass a finished run")
    best: dict[str, Candidate] = {}
    for row in rows:
        c = _candidate(row)
        if c is not None and (c.arch.key() not in best or c.accuracy > best[c.arch.key()].accuracy):
            best[c.arch.key()] = c
    if not best:
        raise ValueError(f"{run_dir} holds no complete trial with an accuracy to select from")
    return list(best.values())


def _candidate(row: dict[str, Any]) -> Candidate | None:
    if not isinstance(row, dict) or row.get("state", "complete") != "complete" or not row.get("arch"):
        return None
    result = row.get("result") if isinstance(row.get("result"), dict) else row
    metric = "val_accuracy" if result.get("val_accuracy") is not None else "score"
    if result.get(metric) is None:
        return None
    return Candidate(Architecture.from_dict(row["arch"]), float(result[metric]), row.get("number", row.get("trial")),
                     result.get("params"), result.get("flops"), metric)


def run_inputs(run_dir: Path) -> dict[str, int] | None:
    """num_classes, in_channels and input_size of the run's dataset, when the run records them."""
    run_dir = Path(run_dir)
    for name, keys in (("config.json", ("data",)), ("results.json", ("dataset",))):
        path = run_dir / name
        if path.exists():
            doc = _json(path)
            for k in keys:
                d = doc.get(k)
                if isinstance(d, dict) and {"num_classes", "in_channels", "input_size"} <= set(d):
                    return {f: int(d[f]) for f in ("num_classes", "in_channels", "input_size")}
    config = run_dir / "config.json"
    search = _json(config).get("search", {}) if config.exists() else {}
    spec = search.get("dataset")
    if spec and not str(search.get("evaluator", "")).startswith("tabular"):  # a table's run trains on nothing
        from nas.data import load_dataset

        try:
            data = load_dataset(spec)
        except (ValueError, OSError):  # the data moved: the caller falls back to its defaults
            return None
        return {"num_classes": data.num_classes, "in_channels": data.in_channels, "input_size": data.input_size}
    return None


def _json(path: Path) -> Any:
    if path.stat().st_size > 200_000_000:
        raise ValueError(f"{path} is over 200 MB; not a run file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON ({e}); pass a finished run directory") from None
