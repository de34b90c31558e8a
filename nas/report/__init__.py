"""Reports of a run: `report.md` and plots under `plots/` (matplotlib, headless).

`write_report(run_dir)` is what a search calls at its end and what `nas report` runs; `load_run`
reads a run directory (the one module that knows results.json's shape: `nas.report.reader`)."""

from __future__ import annotations

from nas.report.reader import RunView, Trial, load_run

__all__ = ["RunView", "Trial", "load_run", "write_report"]


def write_report(run_dir, compare=()):  # noqa: ANN001, ANN201 - re-exported, typed in nas.report.markdown
    from nas.report.markdown import write_report as write

    return write(run_dir, compare)
