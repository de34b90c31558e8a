"""Reading a run directory: the ONE place that knows the shapes of `results.json` (and, for a run
still going, of its Optuna storage). Reports and `nas runs` see only `RunView` and `Trial`.

Read defensively: any key may be missing or null where a stage did not run. Three sources:
- `results.json` of the search pipeline: `format_version`, `config`, `n_trials`, `counts`,
  `best`, `confirmation`, `trials: [{number, state, arch, arch_key, result: {...}}]`,
  `pareto_front` (today's Optuna search writes the same minus `format_version` / `confirmation`);
- the run's Optuna storage (`study.db` or the config's `storage`) when `results.json` is missing
  or behind (a run still going or interrupted): the same trial records, read live;
- the SMASH command of before the pipeline: `scores.jsonl` and `results.json` with `retrained`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS_FILE = "results.json"
CONFIG_FILE = "config.json"
MARKERS = (RESULTS_FILE, CONFIG_FILE, "study.db", "scores.jsonl")  # a directory with none is not a run


@dataclass
class Trial:
    """One evaluated architecture; numbers are None where the evaluator did not give them."""

    number: int
    state: str  # complete, infeasible, pruned, rejected, failed, running, waiting
    arch: dict[str, Any] | None = None
    arch_key: str | None = None
    score: float | None = None
    val_accuracy: float | None = None
    test_accuracy: float | None = None
    params: int | None = None
    flops: int | None = None
    latency_ms: float | None = None
    cost_s: float | None = None
    start: dt.datetime | None = None
    complete: dt.datetime | None = None
    seconds: float | None = None  # wall seconds from the run's first trial start to this one's end
    error: str | None = None
    worker: dict[str, Any] | None = None  # the owning process (host, pid, start) as the storage records it

    @property
    def evaluated(self) -> bool:
        return self.state in ("complete", "infeasible")


@dataclass
class RunView:
    run_dir: Path
    config: dict[str, Any]
    trials: list[Trial]
    best: dict[str, Any] | None = None
    confirmation: list[dict[str, Any]] = field(default_factory=list)
    pareto_front: list[dict[str, Any]] | None = None
    counts: dict[str, int] = field(default_factory=dict)
    n_trials: int = 0
    finished: bool = False  # results.json exists and covers the planned trials
    source: str = RESULTS_FILE

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def planned_trials(self) -> int | None:
        v = self.config.get("trials")
        return v if isinstance(v, int) else None

    @property
    def objectives(self) -> list[str]:
        v = self.config.get("objectives")
        return [str(m) for m in v] if isinstance(v, (list, tuple)) and v else ["val_accuracy"]

    @property
    def constrained(self) -> bool:
        return any(self.config.get(k) is not None for k in ("max_latency_ms", "max_params", "max_flops"))

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in MARKERS)


def load_run(run_dir: str | Path) -> RunView:
    """Everything a report needs from `run_dir`; `ValueError` (one line) when it is not a run."""
    path = Path(run_dir).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"run directory {str(path)!r} does not exist")
    if not is_run_dir(path):
        raise ValueError(f"{str(path)!r} is not a run directory (no {' or '.join(MARKERS[:2])}); "
                         "pass runs/NAME as written by nas search")
    results = _read_json(path / RESULTS_FILE)
    doc = _read_json(path / CONFIG_FILE)
    if doc is not None and doc.get("command") == "train":
        raise ValueError(f"{str(path)!r} is a nas train run (metrics.json holds its epochs); nas report reads "
                         "search runs")
    config = _config(results, doc)
    view = RunView(path, config, [])
    if results is not None:
        view.best = results.get("best") if isinstance(results.get("best"), dict) else None
        conf = results.get("confirmation", results.get("retrained"))  # "retrained": SMASH before the pipeline
        view.confirmation = [c for c in conf if isinstance(c, dict)] if isinstance(conf, list) else []
        front = results.get("pareto_front")
        view.pareto_front = front if isinstance(front, list) else None
        view.counts = results.get("counts") if isinstance(results.get("counts"), dict) else {}
        view.n_trials = int(results.get("n_trials") or 0)
        planned = view.planned_trials
        view.finished = not results.get("partial") and (planned is None or view.n_trials >= planned)
    records = results.get("trials") if results is not None else None
    if not view.finished or not isinstance(records, list):
        live = _storage_records(path, config)
        if live is not None:
            records, view.source = live, "storage"
    if not isinstance(records, list) and (path / "scores.jsonl").is_file():
        records, view.source = _smash_scores(path / "scores.jsonl"), "scores.jsonl"
    view.trials = [_trial(r, i) for i, r in enumerate(records or []) if isinstance(r, dict)]
    _wall_seconds(view.trials)
    if view.source != RESULTS_FILE or not view.counts:
        view.counts = _count(view.trials)
        view.n_trials = max(view.n_trials, sum(view.counts.get(s, 0) for s in ("complete", "infeasible", "pruned")))
    return view


def _read_json(path: Path) -> dict[str, Any] | None:
    """The object in `path`; None when absent or half written (a run writing it right now)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _config(results: dict[str, Any] | None, doc: dict[str, Any] | None) -> dict[str, Any]:
    """The search config as one flat dict (space, evaluator, strategy, trials, dataset, ...)."""
    if results is not None and isinstance(results.get("config"), dict):
        config = dict(results["config"])
        if results.get("strategy") == "smash" and "strategy" not in config:  # SMASH before the pipeline
            config = {**(doc or {}).get("settings", {}), "strategy": "smash", "space": "dense"}
    elif doc is None:
        config = {}
    elif isinstance(doc.get("search"), dict):  # {"command": "search", "search": {...}}
        config = dict(doc["search"])
    elif isinstance(doc.get("settings"), dict):  # SMASH before the pipeline
        config = {**doc["settings"], "strategy": doc.get("strategy", "smash"), "space": "dense"}
    else:
        config = dict(doc)
    if isinstance(config.get("search"), dict):
        config = {**config["search"], **{k: v for k, v in config.items() if k != "search"}}
    return config


def _storage_records(run_dir: Path, config: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Trial records read live from the run's Optuna storage; None when it has none we can read."""
    url = config.get("storage")
    if not url and not (run_dir / "study.db").is_file():
        return None
    try:
        import optuna

        from nas.search.session import trial_record
        from nas.search.storage import default_url, open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(url or default_url(run_dir))
        names = [s.study_name for s in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        name = config.get("study_name") if config.get("study_name") in names else (names[0] if len(names) == 1
                                                                                  else None)
        if name is None:
            return None
        study = optuna.load_study(study_name=name, storage=storage)
        return [trial_record(t) for t in study.get_trials(deepcopy=False)]
    except Exception:  # an unreadable storage leaves the report to what the files hold
        return None


def _smash_scores(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:  # the last line of a killed run may be cut
            continue
        if isinstance(row, dict):
            rows.append({"state": "complete", "arch": row.get("arch"), "arch_key": row.get("key"),
                         "result": {"score": row.get("score")}, "phase": row.get("phase")})
    return rows


def _num(value: Any, kind: type = float) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return kind(value)


def _when(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when.replace(tzinfo=None)


def _trial(r: dict[str, Any], index: int) -> Trial:
    res = r.get("result") if isinstance(r.get("result"), dict) else {}

    def get(key: str) -> Any:
        return res.get(key) if res.get(key) is not None else r.get(key)

    number = _num(r.get("number"), int)
    return Trial(
        number=index if number is None else number, state=str(r.get("state") or res.get("state") or "complete"),
        arch=r.get("arch") if isinstance(r.get("arch"), dict) else None,
        arch_key=r.get("arch_key") if isinstance(r.get("arch_key"), str) else None,
        score=_num(get("score")), val_accuracy=_num(get("val_accuracy")), test_accuracy=_num(get("test_accuracy")),
        params=_num(get("params"), int), flops=_num(get("flops"), int), latency_ms=_num(get("latency_ms")),
        cost_s=_num(get("cost_s")), start=_when(r.get("datetime_start", r.get("start"))),
        complete=_when(r.get("datetime_complete", r.get("complete"))),
        seconds=_num(r.get("seconds", r.get("elapsed_s"))), error=r.get("error") or res.get("error"),
        worker=r.get("worker") if isinstance(r.get("worker"), dict) else None)


def _wall_seconds(trials: list[Trial]) -> None:
    starts = [t.start for t in trials if t.start is not None]
    if not starts:
        return
    t0 = min(starts)
    for t in trials:
        if t.seconds is None and t.complete is not None:
            t.seconds = (t.complete - t0).total_seconds()


def _count(trials: list[Trial]) -> dict[str, int]:
    out = {"complete": 0, "infeasible": 0, "pruned": 0, "failed": 0, "running": 0}
    for t in trials:
        out[t.state] = out.get(t.state, 0) + 1
    return out


def train_run(run_dir: Path) -> dict[str, Any] | None:
    """A `nas train` run's summary for `nas runs` (None for other directories): command, whether its
    final result exists, its accuracies and epochs."""
    doc = _read_json(run_dir / CONFIG_FILE)
    if doc is None or doc.get("command") != "train":
        return None
    metrics = _read_json(run_dir / "metrics.json") or {}
    result = metrics.get("result") if isinstance(metrics.get("result"), dict) else None
    epochs = metrics.get("epochs") if isinstance(metrics.get("epochs"), list) else []
    train = doc.get("train") if isinstance(doc.get("train"), dict) else {}
    spec = doc.get("dataset", {}).get("spec") if isinstance(doc.get("dataset"), dict) else None
    args = ["nas", "train", "--arch", str(doc.get("arch")), *(["--dataset", str(spec)] if spec else []),
            *(["--epochs", str(train["epochs"])] if isinstance(train.get("epochs"), int) else [])]
    last_val = next((e.get("val_accuracy") for e in reversed(epochs) if isinstance(e, dict)), None)
    return {"command": " ".join(args), "done": result is not None,
            "failed": result is not None and result.get("state") == "failed",
            "error": (result or {}).get("error"), "epochs_done": len(epochs), "epochs": train.get("epochs"),
            "val_accuracy": _num((result or {}).get("val_accuracy")) if result else _num(last_val),
            "test_accuracy": _num((result or {}).get("test_accuracy"))}


# --- derived views the report and `nas runs` share ---------------------------------------------------
def best_accuracy(view: RunView) -> float | None:
    """The pick's validation accuracy, else the best trial's (a run still going)."""
    if view.best is not None and _num(view.best.get("val_accuracy")) is not None:
        return float(view.best["val_accuracy"])
    vals = [t.val_accuracy for t in view.trials if t.state == "complete" and t.val_accuracy is not None]
    return max(vals) if vals else None


def ranked(view: RunView, k: int = 10) -> list[Trial]:
    """The best `k` distinct architectures among complete trials: by validation accuracy, else score."""
    key = "val_accuracy" if any(t.val_accuracy is not None for t in view.trials) else "score"
    seen: set[Any] = set()
    out = []
    for t in sorted((t for t in view.trials if t.state == "complete" and getattr(t, key) is not None),
                    key=lambda t: (-getattr(t, key), t.number)):
        if t.arch_key not in seen or t.arch_key is None:
            seen.add(t.arch_key)
            out.append(t)
    return out[:k]
