"""The confirmation stage: retrain the top k architectures from scratch, pick by validation,
measure test accuracy once, save the pick's weights.

Each candidate's retraining lives in `confirm/K/` (arch.json, weights.pt, result.json written
last), so a killed run retrains only the candidates it had not finished; the test measurement is
kept in `confirm/test.json`. Confirmation runs are not trials.

`measured_check` is the hook for hard limits checked by measurement: it is given each candidate
before retraining and returns None when the candidate passes, or a reason (`latency_check` for
`--max-latency-ms`); a rejected candidate is not retrained, never the pick, and the next ranked
trial takes its place.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial, TrialState

from nas.search.objectives import Objectives, feasible
from nas.training import TrainConfig
from search_spaces.base import Architecture

CONFIRM_DIR = "confirm"
MAX_CHECKED = 20  # candidates measured at most, rejected ones included, to find k that qualify
MeasuredCheck = Callable[[dict[str, Any], Any], str | None]


def ranked(trials: list[FrozenTrial], objectives: Objectives) -> list[FrozenTrial]:
    """Feasible complete trials best first by the first objective (score or accuracy), one per
    architecture, earliest first on a tie."""
    metric, seen, out = objectives.first, set(), []
    ok = [t for t in trials if t.state == TrialState.COMPLETE and feasible(t.user_attrs.get("constraint"))
          and (t.user_attrs.get("result") or {}).get(metric) is not None]
    for t in sorted(ok, key=lambda t: (-t.user_attrs["result"][metric], t.number)):
        if t.user_attrs["arch_key"] not in seen:
            seen.add(t.user_attrs["arch_key"])
            out.append(t)
    return out


def seeded_model(space: Any, arch: Architecture, data: Any, seed: int) -> Any:
    from nas.build import seeded_model as build

    return build(space, arch, data.num_classes, data.in_channels, data.input_size, seed)


def confirm(trials: list[FrozenTrial], objectives: Objectives, k: int, space: Any, data: Any, recipe: TrainConfig,
            run_dir: Path, *, measured_check: MeasuredCheck | None = None,
            deadline_passed: Callable[[], bool] = lambda: False) -> list[dict[str, Any]] | None:
    """Retrain the k best trials (resuming from what `run_dir/confirm` holds); returns one entry per
    candidate, or None when the deadline passed first. With `measured_check`, each candidate is
    checked before it is retrained (latency does not depend on the weights): a rejected one is kept
    as an entry without weights and the next ranked trial takes its place, up to `MAX_CHECKED`."""
    out: list[dict[str, Any]] = []
    accepted = 0
    for rank, t in enumerate(ranked(trials, objectives)[:max(k, MAX_CHECKED)], start=1):
        if accepted >= k or (measured_check is None and rank > k):
            break
        entry = _load(run_dir, rank, t)
        if entry is None:
            checked = {"arch": t.user_attrs["arch"]}
            reason = None if measured_check is None else measured_check(checked, data)
            if reason is not None:
                entry = _rejected(t, rank, checked, reason, run_dir)
            else:
                if deadline_passed():
                    return None
                entry = _retrain(t, rank, space, data, recipe, run_dir, checked)
        out.append(entry)
        accepted += entry.get("rejected") is None
    return out


def latency_check(limit_ms: float, space: Any, device: str = "cpu", clock: str = "wall") -> MeasuredCheck:
    """The hard `--max-latency-ms` check of a candidate: its latency measured now (batch 1, this
    process's threads, the data's input shape: `nas.search.limits.search_latency_settings`), kept in
    the entry, and a reason when the median + 2 IQR is over the limit, so a search's pick always
    qualifies by measurement."""

    def check(entry: dict[str, Any], data: Any) -> str | None:
        from nas.latency import measure_arch
        from nas.search.limits import search_latency_settings

        m = measure_arch(Architecture.from_dict(entry["arch"]), search_latency_settings(device, data, 30, clock), space)
        entry["latency_ms"], entry["latency_iqr_ms"] = m.latency_ms, m.iqr_ms
        if m.bound_ms <= limit_ms:
            return None
        return (f"measured latency {m.latency_ms:.3f} ms + 2 IQR {m.iqr_ms:.3f} ms = {m.bound_ms:.3f} ms is over "
                f"--max-latency-ms {limit_ms:g}")

    return check


def measured_best(trials: list[FrozenTrial], objectives: Objectives, data: Any,
                  check: MeasuredCheck) -> tuple[FrozenTrial | None, dict[str, Any]]:
    """Without a confirmation stage: the best ranked trial that passes the measured `check` (up to
    `MAX_CHECKED` measured) and what the check measured; (None, {}) when none does."""
    for t in ranked(trials, objectives)[:MAX_CHECKED]:
        entry = {"arch": t.user_attrs["arch"]}
        if check(entry, data) is None:
            return t, entry
    return None, {}


def _load(run_dir: Path, rank: int, t: FrozenTrial) -> dict[str, Any] | None:
    path = run_dir / CONFIRM_DIR / str(rank) / "result.json"
    if not path.is_file():
        return None
    entry = json.loads(path.read_text())
    return entry if entry.get("arch_key") == t.user_attrs["arch_key"] else None  # ranks moved (more trials)


def _entry(t: FrozenTrial, rank: int, checked: dict[str, Any]) -> dict[str, Any]:
    r = t.user_attrs.get("result") or {}
    predicted = ((r.get("extra") or {}).get("latency") or {}).get("source") == "predicted"
    return {"rank": rank, "trial": t.number, "arch_key": t.user_attrs["arch_key"], "arch": t.user_attrs["arch"],
            "score": r.get("score"), "val_accuracy": None, "params": r.get("params"), "flops": r.get("flops"),
            "latency_ms": checked.get("latency_ms", r.get("latency_ms")),  # measured by the check, else the trial's
            "latency_iqr_ms": checked.get("latency_iqr_ms"),
            "predicted_latency_ms": r.get("latency_ms") if predicted else None, "rejected": None}


def _rejected(t: FrozenTrial, rank: int, checked: dict[str, Any], reason: str, run_dir: Path) -> dict[str, Any]:
    from nas.runs import write_json

    out = run_dir / CONFIRM_DIR / str(rank)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    entry = {**_entry(t, rank, checked), "rejected": reason, "weights": None}
    write_json(out / "result.json", entry)
    return entry


def _retrain(t: FrozenTrial, rank: int, space: Any, data: Any, recipe: TrainConfig, run_dir: Path,
             checked: dict[str, Any]) -> dict[str, Any]:
    from nas.runs import save_state_dict, write_json
    from nas.training import train

    out = run_dir / CONFIRM_DIR / str(rank)
    if out.exists():
        shutil.rmtree(out)  # a candidate killed mid-training (or ranked differently now) starts again
    out.mkdir(parents=True)
    arch = Architecture.from_dict(t.user_attrs["arch"])
    model = seeded_model(space, arch, data, recipe.seed)
    result = train(model, data, recipe, test=False)
    save_state_dict(out / "weights.pt", model.state_dict())
    (out / "arch.json").write_text(arch.to_json() + "\n", encoding="utf-8")
    entry = {**_entry(t, rank, checked), "val_accuracy": result.val_accuracy, "epochs": recipe.epochs,
             "seed": recipe.seed, "train_seconds": result.train_seconds, "weights": f"{CONFIRM_DIR}/{rank}/weights.pt"}
    write_json(out / "result.json", entry)
    return entry


def pick_and_test(entries: list[dict[str, Any]], space: Any, data: Any, run_dir: Path,
                  eval_batch_size: int = 512, device: str = "cpu") -> dict[str, Any] | None:
    """The candidate of best validation accuracy (the better-ranked on a tie) among those not
    rejected, its test accuracy measured once, its weights and arch.json copied to the run root."""
    import torch

    from nas.runs import write_json
    from nas.training import accuracy

    ok = [e for e in entries if not e.get("rejected") and e.get("val_accuracy") is not None]
    if not ok:
        return None
    pick = max(ok, key=lambda e: (e["val_accuracy"], -e["rank"]))
    done = run_dir / CONFIRM_DIR / "test.json"
    saved = json.loads(done.read_text()) if done.is_file() else None
    if saved is not None and saved.get("arch_key") == pick["arch_key"]:
        test = saved["test_accuracy"]
    else:
        arch = Architecture.from_dict(pick["arch"])
        model = seeded_model(space, arch, data, 0)
        model.load_state_dict(torch.load(run_dir / pick["weights"], weights_only=True))
        test = accuracy(model.to(device), data, "test", eval_batch_size)
        write_json(done, {"arch_key": pick["arch_key"], "test_accuracy": test})
    shutil.copyfile(run_dir / pick["weights"], run_dir / "weights.pt")
    (run_dir / "arch.json").write_text(Architecture.from_dict(pick["arch"]).to_json() + "\n", encoding="utf-8")
    for e in entries:
        e["picked"] = e is pick
    return {**pick, "test_accuracy": test, "weights": "weights.pt"}
