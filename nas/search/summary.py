"""The human-readable summary of a search (the command line prints it; `--json` prints the dict)."""

from __future__ import annotations

from typing import Any


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The printed summary of `nas search` and `nas worker`."""
    out: list[str] = []
    best, c = summary["best"], summary["counts"]
    out.append(f"run        {summary['run_dir']}")
    if summary.get("supernet"):
        s = summary["supernet"]
        out.append(f"supernet   {s['steps']} steps, final loss {s['final_loss']:.3f}")
    skipped = f" ({c['not_evaluated']} over the limits before evaluation)" if c.get("not_evaluated") else ""
    out.append(f"trials     {summary['n_trials']} counted ({c['complete']} complete, {c['infeasible']} "
                f"infeasible{skipped}, {c['pruned']} pruned, {c['duplicates']} duplicates answered from cache); "
                f"{c['failed']} failed")
    for e in summary.get("confirmation") or []:
        score = "" if e["score"] is None else f"score {e['score']:+.3f}  "
        if e.get("rejected"):
            out.append(f"confirmed  #{e['rank']}: trial {e['trial']}  {score}not retrained: {e['rejected']}")
            continue
        out.append(f"confirmed  #{e['rank']}: trial {e['trial']}  {score}val {e['val_accuracy']:.4f}  "
                    f"params {e['params'] or 0:,}{'  <- pick' if e.get('picked') else ''}")
    if best is not None:
        val, test = best["val_accuracy"], best["test_accuracy"]
        first = f"score {best['score']:+.3f}" if val is None else f"val {val:.4f}"
        out.append(f"best       trial {best['trial']}  arch {best['arch_key']}  {first}  "
                    f"test {'-' if test is None else f'{test:.4f}'}")
        extras = [f"{k} {best[k]:,}" if isinstance(best[k], int) else f"{k} {best[k]:.3f}"
                  for k in ("params", "flops", "latency_ms") if best.get(k) is not None]
        if extras:
            out.append(f"           {'  '.join(extras)}")
        if best.get("weights"):
            out.append(f"files      {summary['run_dir']}/arch.json  {summary['run_dir']}/{best['weights']}")
    if summary.get("pareto_front") is not None:
        metrics = summary["objectives"]
        out.append(f"pareto front ({len(summary['pareto_front'])} architectures):")
        out.append("  trial  arch              " + "  ".join(f"{m:>12}" for m in metrics))
        for p in summary["pareto_front"]:
            cells = "  ".join(f"{p[m]:>12.4f}" if m in ("val_accuracy", "latency_ms", "score") else f"{int(p[m]):>12,}"
                              for m in metrics)
            out.append(f"  {p['trial']:>5}  {p['arch_key']:<16}  {cells}")
    return out
