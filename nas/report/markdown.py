"""`write_report(run_dir)`: RUN_DIR/report.md and its plots under RUN_DIR/plots/.

Written at the end of a search and by `nas report`; a run still going or interrupted gets a
report of what exists, marked partial. Accuracies are shown in percent (results.json holds
fractions), params and MACs as integers, latency in ms, scores as they are (higher is better).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nas.report import plots
from nas.report.reader import RunView, Trial, best_accuracy, load_run, ranked

REPORT_FILE = "report.md"
PLOTS_DIR = "plots"
TOP_K = 10


def pct(v: Any) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{100 * v:.2f}"


def integer(v: Any) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{int(v):,}"


def real(v: Any, digits: int = 3) -> str:
    return "-" if not isinstance(v, (int, float)) else f"{v:.{digits}f}"


def write_report(run_dir: str | Path, compare: Sequence[str | Path] = ()) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/plots/*.png; returns the report's path. `compare`:
    other run directories whose search curves are overlaid on this one's."""
    from nas.runstate import run_state

    view = load_run(run_dir)
    others = [load_run(p) for p in compare]
    state, reason = run_state(view.run_dir, view)
    out = view.run_dir / PLOTS_DIR
    made = {"search curve": plots.search_curve([view], out / "search_curve.png"),
            "accuracy against cost": plots.pareto_plot(view, out / "pareto.png")
            if view.multi_objective or view.constrained else None,
            "scores": plots.score_plot(view, out / "scores.png"),
            "architecture": _draw_pick(view, out / "arch.png")}
    made["comparison"] = plots.search_curve([view, *others], out / "compare.png") if others else None
    for name in ("search_curve", "pareto", "scores", "arch", "compare"):  # none left from an earlier report
        if (out / f"{name}.png") not in made.values():
            (out / f"{name}.png").unlink(missing_ok=True)
    lines = [f"# Search report: {view.name}", ""]
    if not view.finished or state in ("created", "running", "interrupted", "failed"):
        said = {"created": "has no trial yet", "running": "is still running", "interrupted": "was interrupted",
                "failed": "failed"}.get(state, state)
        lines += [f"> **Partial report**: the run {said}{f' ({reason})' if reason else ''}; this shows the "
                  f"{view.n_trials} of {view.planned_trials or '?'} trials that exist so far.", ""]
    lines += _summary(view, state)
    lines += _pick(view)
    lines += ["## Plots", ""] + [f"![{name}]({PLOTS_DIR}/{p.name})" for name, p in made.items() if p is not None]
    lines += [""] + _confirmation(view) + _top(view) + _commands(view)
    text = "\n".join(lines).rstrip() + "\n"
    return plots.atomic(view.run_dir / REPORT_FILE, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def pick_arch(view: RunView) -> tuple[dict[str, Any] | None, str]:
    """The pick's architecture (or the best so far of a partial run) and how it was chosen."""
    if view.best is not None and isinstance(view.best.get("arch"), dict):
        return view.best["arch"], "pick"
    top = ranked(view, 1)
    if top and top[0].arch is not None:
        return top[0].arch, "best so far"
    return None, ""


def _draw_pick(view: RunView, path: Path) -> Path | None:
    from nas.report.archplot import draw_arch
    from search_spaces.base import Architecture

    arch, how = pick_arch(view)
    if arch is None:
        return None
    try:
        a = Architecture.from_dict(arch)
        return draw_arch(a, path, title=f"{how}: {a.space} {a.key()}")
    except (ValueError, KeyError, ImportError):  # a space not installed here, or without a graph()
        return None


def _summary(view: RunView, state: str) -> list[str]:
    c = view.config
    counts = ", ".join(f"{k} {v}" for k, v in view.counts.items() if v)
    rows = [("command", f"`{run_command(view)}`"), ("state", state),
            ("strategy", c.get("strategy")), ("space", c.get("space")), ("evaluator", c.get("evaluator")),
            ("dataset", c.get("dataset") if str(c.get("evaluator", "train")).startswith("train") else None),
            ("trials", f"{view.n_trials} counted of {view.planned_trials or '?'}" + (f" ({counts})" if counts else "")),
            ("objectives", ", ".join(view.objectives)),
            ("limits", ", ".join(f"{k} {c[k]}" for k in ("max_latency_ms", "max_params", "max_flops")
                                 if c.get(k) is not None) or None),
            ("best validation accuracy", pct(best_accuracy(view)))]
    return ["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows if v not in (None, "")), ""]


def run_command(view: RunView) -> str:
    """The command that started the run (its process record), else one rebuilt from the config."""
    from nas.runstate import processes

    procs = [p for p in processes(view.run_dir) if p.get("role") != "worker"]
    if procs and procs[0].get("command"):
        return str(procs[0]["command"])
    c = view.config
    args = ["nas", "search"]
    tabular = str(c.get("evaluator", "")).startswith("tabular")
    for key in ("strategy", "space", "evaluator", "dataset", "trials", "epochs", "max_latency_ms", "max_params"):
        if c.get(key) is not None and not (tabular and key in ("dataset", "epochs")):
            args += [f"--{key.replace('_', '-')}", str(c[key])]
    return shlex.join(args)


def _pick(view: RunView) -> list[str]:
    b = view.best
    if b is None:
        return ["No pick yet: no feasible architecture has finished." if not view.finished
                else "No feasible architecture: every trial failed or broke a hard limit.", ""]
    key = b.get("arch_key") or _key_of(b.get("arch")) or "-"
    lines = ["## Pick", "", "| arch key | score | val acc (%) | test acc (%) | params | MACs | latency (ms) |",
             "|---|---|---|---|---|---|---|",
             f"| `{key}` | {real(b.get('score'), 4)} | {pct(b.get('val_accuracy'))} | "
             f"{pct(b.get('test_accuracy'))} | {integer(b.get('params'))} | {integer(b.get('flops'))} | "
             f"{real(b.get('latency_ms'))} |", ""]
    if b.get("weights"):
        lines += [f"Weights: `{b['weights']}`", ""]
    return lines


def _confirmation(view: RunView) -> list[str]:
    if not view.confirmation:
        return []
    lines = ["## Confirmation (retrained from scratch)", "",
             "| # | arch key | score | val acc (%) | test acc (%) | params | MACs | latency (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(view.confirmation, start=1):
        key = r.get("arch_key") or _key_of(r.get("arch"))
        lines.append(f"| {i} | `{key or '-'}` | {real(r.get('score'), 4)} | {pct(r.get('val_accuracy'))} | "
                     f"{pct(r.get('test_accuracy'))} | {integer(r.get('params'))} | {integer(r.get('flops'))} | "
                     f"{real(r.get('latency_ms'))} |")
    return [*lines, ""]


def _read_arch(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _key_of(arch: Any) -> str | None:
    try:
        from search_spaces.base import Architecture

        return Architecture.from_dict(arch).key() if isinstance(arch, dict) else None
    except ValueError:
        return None


def _top(view: RunView) -> list[str]:
    top: list[Trial] = ranked(view, TOP_K)
    if not top:
        return []
    by = "validation accuracy" if top[0].val_accuracy is not None else "score"
    lines = [f"## Top architectures (by {by})", "",
             "| rank | trial | arch key | score | val acc (%) | params | MACs | latency (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for i, t in enumerate(top, start=1):
        lines.append(f"| {i} | {t.number} | `{t.arch_key or '-'}` | {real(t.score, 4)} | {pct(t.val_accuracy)} | "
                     f"{integer(t.params)} | {integer(t.flops)} | {real(t.latency_ms)} |")
    return [*lines, ""]


def _commands(view: RunView) -> list[str]:
    arch, how = pick_arch(view)
    if arch is None:
        return []
    # the commands below need the architecture as a file; a partial run's best so far is no pick
    path = view.run_dir / ("arch.json" if how == "pick" else "best-so-far.json")
    text = json.dumps(arch, indent=1, sort_keys=True) + "\n"
    if _read_arch(path) != arch:
        plots.atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    c = view.config
    train = ["nas", "train", "--arch", str(path)]
    if not str(c.get("evaluator", "train")).startswith("tabular"):  # a table's run names no dataset to train on
        if c.get("dataset"):
            train += ["--dataset", str(c["dataset"])]
        if isinstance(c.get("epochs"), int):
            train += ["--epochs", str(c["epochs"])]
    return [f"## Next: retrain, export, draw the {how}", "", "```bash", shlex.join(train),
            shlex.join(["nas", "export", str(view.run_dir)]),
            shlex.join(["nas", "describe", str(path), "--plot", str(view.run_dir / PLOTS_DIR / "arch.png")]),
            "```", ""]
