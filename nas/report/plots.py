"""The report's plots (matplotlib, Agg): search curve, Pareto front, score against confirmed
accuracy. Each returns the PNG's path, or None when the run has no data for it."""

from __future__ import annotations

import functools
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nas.report.reader import RunView, Trial

COUNTED = ("complete", "infeasible", "pruned")
COST_AXES = (("latency_ms", "latency (ms)"), ("params", "parameters"), ("flops", "MACs"))
DPI = 100


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def atomic(path: Path, write: Callable[[Path], Any]) -> Path:
    """`write(tmp)` then rename onto `path`, the temporary name unique per call: processes that finish
    a run together (workers) never share a temporary file, and a reader never sees half a PNG.
    (nas.runs.atomic_write on the main branch does the same; use it once merged.)"""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        tmp.chmod(0o644)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def save_figure(fig: Any, path: Path, dpi: int = DPI) -> Path:
    fig.tight_layout()
    try:
        return atomic(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    finally:
        _plt().close(fig)


def curve_metric(views: list[RunView]) -> str:
    """Validation accuracy where every run has it for most trials, else the proxy score (a supernet
    or predictor run trains only the few it confirms)."""
    def mostly_trained(v: RunView) -> bool:
        counted = [t for t in v.trials if t.state in COUNTED]
        return bool(counted) and 2 * sum(t.val_accuracy is not None for t in counted) >= len(counted)

    return "val_accuracy" if all(map(mostly_trained, views)) else "score"


def curve(view: RunView, metric: str) -> dict[str, np.ndarray]:
    """Per counted trial (in trial order): its value, the best so far (feasible complete trials
    only), and its time (wall seconds, or the evaluator's cumulative cost for a table)."""
    counted = sorted((t for t in view.trials if t.state in COUNTED), key=lambda t: t.number)
    value = np.array([_get(t, metric) for t in counted], dtype=float)
    ok = np.array([t.state == "complete" for t in counted], dtype=bool) & np.isfinite(value)
    best = np.fmax.accumulate(np.where(ok, value, -np.inf)) if len(value) else value
    best[~np.isfinite(best)] = np.nan
    simulated = str(view.config.get("evaluator", "")).startswith("tabular")
    if simulated or not any(t.seconds is not None for t in counted):
        cost = np.array([t.cost_s or 0.0 for t in counted], dtype=float)
        time = np.cumsum(cost) if cost.sum() > 0 else None
        time_label = "simulated training time (s, the table's cost)" if simulated else "evaluation cost (s)"
    else:
        time = np.array([np.nan if t.seconds is None else t.seconds for t in counted], dtype=float)
        time_label = "wall time (s)"
    out = {"n": np.arange(1, len(counted) + 1), "value": value, "best": best, "ok": ok}
    if time is not None:
        out["time"], out["time_label"] = time, time_label
    return out


def _get(t: Trial, metric: str) -> float:
    v = getattr(t, metric)
    return math.nan if v is None else float(v)


def random_reference(view: RunView, n_max: int) -> dict[str, np.ndarray] | None:
    """For a tabular run: the expected best validation accuracy of n uniform random draws from the
    table (with replacement), n = 1..n_max, and the table's mean cost per trial."""
    spec = str(view.config.get("evaluator", ""))
    if not spec.startswith("tabular:") or n_max < 1:
        return None
    path = Path(spec[len("tabular:"):].split("?", 1)[0]).expanduser()
    try:
        vals, cost = _table_columns(spec[len("tabular:"):], path.stat().st_mtime_ns)
    except (OSError, ValueError, KeyError):  # the table moved since the search: no reference
        return None
    if not len(vals):
        return None
    n = np.arange(1, n_max + 1)
    cdf = np.arange(len(vals) + 1) / len(vals)  # P(one draw <= vals[i-1]) = i / N
    steps = cdf[None, 1:] ** n[:, None] - cdf[None, :-1] ** n[:, None]  # P(max of n draws = vals[i])
    return {"n": n, "best": steps @ vals, "cost": float(np.nanmean(cost)) if np.isfinite(cost).any() else math.nan}


@functools.lru_cache(maxsize=4)
def _table_columns(spec: str, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """The table's sorted validation accuracies and its cost column (cached: a table is large)."""
    from nas.evaluators.tabular import TabularEvaluator

    table = TabularEvaluator.from_spec(spec)
    vals = table.column("val")
    return np.sort(vals[np.isfinite(vals)]), table.column("cost")


def search_curve(views: list[RunView], path: Path) -> Path | None:
    """Best so far against trials and against time; one line per run (`--compare`), with a random
    search reference for a single tabular run."""
    metric = curve_metric(views)
    curves = [(v, curve(v, metric)) for v in views]
    curves = [(v, c) for v, c in curves if np.isfinite(c["best"]).any()]
    if not curves:
        return None
    plt = _plt()
    timed = [c for _, c in curves if "time" in c]
    fig, axes = plt.subplots(1, 2 if timed else 1, figsize=(11 if timed else 6, 4), squeeze=False)
    ax_n = axes[0][0]
    ax_t = axes[0][1] if timed else None
    ylabel = "validation accuracy" if metric == "val_accuracy" else "score (higher is better)"
    for i, (v, c) in enumerate(curves):
        colour = f"C{i}"
        label = v.name if len(curves) > 1 else f"best so far ({v.config.get('strategy', '?')})"
        if len(curves) == 1:
            ax_n.scatter(c["n"], c["value"], s=10, color="0.6", label="trial", zorder=1)
        ax_n.step(c["n"], c["best"], where="post", color=colour, lw=2, label=label, zorder=2)
        if ax_t is not None and "time" in c:
            ax_t.step(c["time"], c["best"], where="post", color=colour, lw=2, label=label)
            ax_t.set_xlabel(c["time_label"])
    shown = [c["best"] for _, c in curves]
    if len(curves) == 1 and metric == "val_accuracy":
        ref = random_reference(curves[0][0], len(curves[0][1]["n"]))
        if ref is not None:
            label = "random search (expected, table" + (", no limits)" if curves[0][0].constrained else ")")
            ax_n.plot(ref["n"], ref["best"], ls="--", color="black", label=label)
            if ax_t is not None and "time" in curves[0][1] and math.isfinite(ref["cost"]):
                ax_t.plot(ref["n"] * ref["cost"], ref["best"], ls="--", color="black", label=label)
            shown.append(ref["best"])
    lo, hi = np.nanmin(np.concatenate(shown)), np.nanmax(np.concatenate(shown))
    pad = max(0.08 * (hi - lo), 0.002 if metric == "val_accuracy" else 1e-3 * max(abs(hi), 1.0))
    ax_n.set_xlabel("trials (architectures evaluated)")
    for ax in (ax_n, ax_t):
        if ax is not None:
            ax.set_ylabel(f"best {ylabel}")
            ax.set_ylim(lo - pad, hi + pad)  # on the curves; trials far below them are clipped
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8, loc="lower right")
    fig.suptitle("search curve" + (" (partial run)" if any(not v.finished for v, _ in curves) else ""))
    return save_figure(fig, path)


def pareto_front(points: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows of (accuracy to maximise, cost to minimise), by cost."""
    order = np.lexsort((-points[:, 0], points[:, 1]))
    front, best = [], -np.inf
    for i in order:
        if points[i, 0] > best:
            front.append(i)
            best = points[i, 0]
    return np.array(front, dtype=int)


def pareto_plot(view: RunView, path: Path) -> Path | None:
    """Validation accuracy against each measured cost; infeasible trials apart; the front and the pick."""
    evaluated = [t for t in view.trials if t.evaluated and t.val_accuracy is not None]
    axes_wanted = [(k, label) for k, label in COST_AXES if any(getattr(t, k) is not None for t in evaluated)]
    if not evaluated or not axes_wanted:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(axes_wanted), figsize=(5 * len(axes_wanted), 4), squeeze=False)
    limits = {"latency_ms": view.config.get("max_latency_ms"), "params": view.config.get("max_params"),
              "flops": view.config.get("max_flops")}
    pick = (view.best or {}).get("arch_key")
    for ax, (key, label) in zip(axes[0], axes_wanted):
        pts = [t for t in evaluated if getattr(t, key) is not None]
        ok = [t for t in pts if t.state == "complete"]
        bad = [t for t in pts if t.state != "complete"]
        ax.scatter([getattr(t, key) for t in ok], [t.val_accuracy for t in ok], s=14, color="C0", label="feasible")
        if bad:
            ax.scatter([getattr(t, key) for t in bad], [t.val_accuracy for t in bad], s=18, marker="x",
                       color="C3", label="infeasible")
        if ok:
            arr = np.array([[t.val_accuracy, getattr(t, key)] for t in ok], dtype=float)
            f = arr[pareto_front(arr)]
            ax.step(f[:, 1], f[:, 0], where="post", color="C1", lw=1.5, label="Pareto front")
        chosen = [t for t in ok if pick is not None and t.arch_key == pick]
        if chosen:
            ax.scatter([getattr(chosen[0], key)], [chosen[0].val_accuracy], s=160, marker="*", color="gold",
                       edgecolors="black", zorder=5, label="pick")
        if limits.get(key) is not None:
            ax.axvline(float(limits[key]), ls="--", color="C3", lw=1, label=f"limit {limits[key]:g}")
        ax.set_xlabel(label)
        ax.set_ylabel("validation accuracy")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(f"accuracy against cost ({len(evaluated)} architectures)")
    return save_figure(fig, path)


def score_pairs(view: RunView) -> list[tuple[float, float, str | None]]:
    """(search-time score, trained validation accuracy, arch key) of every architecture that has
    both: a proxy's `score` (supernet, predictor), or, for a run whose confirmation has no score,
    the search-time (low-fidelity) validation accuracy against the confirmation's."""
    pairs: dict[Any, tuple[float, float, str | None]] = {}
    proxy = any(isinstance(c.get("score"), (int, float)) for c in view.confirmation) or any(
        t.score is not None for t in view.trials)
    searched = {t.arch_key: t.val_accuracy for t in view.trials if t.arch_key and t.val_accuracy is not None}
    for c in view.confirmation:
        key = c.get("arch_key")
        s = c.get("score") if proxy else searched.get(key)
        a = c.get("val_accuracy")
        if isinstance(s, (int, float)) and isinstance(a, (int, float)):
            pairs[key or len(pairs)] = (float(s), float(a), key)
    for t in view.trials if proxy else ():
        if t.score is not None and t.val_accuracy is not None and (t.arch_key or t.number) not in pairs:
            pairs[t.arch_key or t.number] = (t.score, t.val_accuracy, t.arch_key)
    return list(pairs.values())


def kendall(pairs: list[tuple[float, float, Any]]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau([p[0] for p in pairs], [p[1] for p in pairs]).statistic)


def score_plot(view: RunView, path: Path) -> Path | None:
    """Score against confirmed accuracy (Kendall tau) with at least 5 pairs; else the distribution
    of scores (validation accuracies for a run without a proxy score), confirmed ones marked."""
    plt = _plt()
    pairs = score_pairs(view)
    if len(pairs) >= 5:
        fig, ax = plt.subplots(figsize=(5.5, 4))
        ax.scatter([p[0] for p in pairs], [p[1] for p in pairs], s=20)
        proxy = any(t.score is not None for t in view.trials) or any(c.get("score") is not None
                                                                     for c in view.confirmation)
        ax.set_xlabel("score (proxy, higher is better)" if proxy else "validation accuracy during the search")
        ax.set_ylabel("validation accuracy (retrained)")
        ax.set_title(f"{'score' if proxy else 'search'} against retrained accuracy: "
                     f"Kendall tau {kendall(pairs):.2f} (n={len(pairs)})", fontsize=10)
        ax.grid(alpha=0.3)
        return save_figure(fig, path)
    metric = "score" if any(t.score is not None for t in view.trials) else "val_accuracy"
    values = [getattr(t, metric) for t in view.trials if t.state in COUNTED and getattr(t, metric) is not None]
    if not values:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.hist(values, bins=min(30, max(5, len(values) // 3)), color="C0", alpha=0.8)
    marked = [c.get(metric) for c in view.confirmation if isinstance(c.get(metric), (int, float))]
    for i, v in enumerate(marked):
        ax.axvline(v, color="C3", ls="--", lw=1, label="confirmed" if i == 0 else None)
    if marked:
        ax.legend(fontsize=8)
    name = "score (higher is better)" if metric == "score" else "validation accuracy"
    ax.set_xlabel(name)
    ax.set_ylabel("architectures")
    ax.set_title(f"distribution of {'scores' if metric == 'score' else 'validation accuracy'} ({len(values)} trials)")
    return save_figure(fig, path)
