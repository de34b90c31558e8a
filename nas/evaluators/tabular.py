"""`--evaluator tabular:FILE.csv`: answer from a NAS-Bench-201 style table instead of training.

The table has one row per cell (an `arch` column in the benchmark's string format) and, by
default, the columns of `../shared/nb201/nb201_cifar10.csv`: accuracies in percent (converted to
fractions), the 200-epoch training time in seconds, params and MFLOPs, latency columns. Other
tables (CIFAR-100, ImageNet16-120, ...) work by naming their columns.

Fidelity is in epochs. The table holds two schedules: `epochs` (200, column `val`) and
`low_epochs` (12, column `val_low`). `evaluate(arch, fidelity=f)` answers with the largest
schedule not above f (the low one when f is below both) and charges the simulated cost
`cost * f / epochs`; without a fidelity, the full schedule and the full cost. `on_epoch` is
called once per schedule answered, in order (epoch 12, then 200), so pruners work; an exception
it raises (e.g. `optuna.TrialPruned`) propagates, and `total_cost_s` has already counted the cost.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np

from nas.results import EpochCallback, Result
from search_spaces import Architecture, default_space
from search_spaces.nb201 import canonical_edges, parse_arch_string

INT_OPTIONS = ("epochs", "low_epochs", "num_classes", "in_channels", "input_size")
COLUMN_OPTIONS = ("arch", "val", "val_low", "test", "cost", "params", "flops", "latency")
OPTIONS = (*COLUMN_OPTIONS, *INT_OPTIONS, "percent", "counts")
COUNTS = ("network", "table")


@dataclass(frozen=True)
class _Row:
    index: int
    match: str  # "exact" or "canonical"


class TabularEvaluator:
    """Validation numbers from the table for `evaluate`; test accuracy only from `test`.

    `params` / `flops` in results come from the NB201 network built at (`num_classes`,
    `in_channels`, `input_size`) with `counts="network"` (exact integers; flops are MACs of conv
    and linear layers), or from the table's `params` / `flops` columns (millions) with
    `counts="table"`. A queried cell not in the table is answered by a row of an equivalent cell
    (same canonical form); none -> `ValueError`.
    """

    reports_costs = True  # params, flops and latency (a column) come from here: the search does not gate them

    def __init__(self, path: str | Path, *, arch: str = "arch", val: str = "c10_valid",
                 val_low: str | None = "c10_valid_hp12", test: str = "c10_test", cost: str = "c10_train_time_s",
                 params: str | None = "c10_params_mb", flops: str | None = "c10_flops_m", latency: str | None = None,
                 epochs: int = 200, low_epochs: int = 12, percent: bool = True, counts: str = "network",
                 num_classes: int = 10, in_channels: int = 3, input_size: int = 32, space: Any = None) -> None:
        if counts not in COUNTS:
            raise ValueError(f"counts = {counts!r}: use one of {', '.join(COUNTS)}")
        if not 1 <= low_epochs < epochs:
            raise ValueError(f"need 1 <= low_epochs < epochs, got {low_epochs}, {epochs}")
        self.path = Path(path)
        self.space = space if space is not None else default_space("nb201")
        self.columns = {"arch": arch, "val": val, "val_low": val_low, "test": test, "cost": cost,
                        "params": params, "flops": flops, "latency": latency}
        self.epochs, self.low_epochs, self.percent, self.counts = epochs, low_epochs, percent, counts
        self.num_classes, self.in_channels, self.input_size = num_classes, in_channels, input_size
        self.total_cost_s = 0.0  # simulated cost of every evaluate call, pruned ones included
        self.test_reads = 0  # how often test accuracy was read (once, for the final pick)
        self._counts_checked = False  # network counts vs the table's params column, on the first exact match
        self._canonical: dict[tuple[str, ...], int] | None = None
        self._load()

    @classmethod
    def from_spec(cls, spec: str) -> TabularEvaluator:
        """`FILE.csv[?option=value&...]`, e.g. `nb201.csv?latency=lat_help_pixel2_ms&val=c100_valid`;
        an empty value or `none` turns an optional column off."""
        path, _, query = spec.partition("?")
        if not path:
            raise ValueError("tabular evaluator needs a table: tabular:FILE.csv[?option=value&...]")
        options: dict[str, Any] = {}
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key not in OPTIONS:
                raise ValueError(f"unknown tabular evaluator option {key!r}; known: {', '.join(OPTIONS)}")
            if key in INT_OPTIONS:
                if not value.isdigit():
                    raise ValueError(f"tabular evaluator option {key}={value!r} must be a positive integer")
                options[key] = int(value)
            elif key in ("arch", "val", "test", "cost", "counts"):
                options[key] = value
            elif key == "percent":
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(f"tabular evaluator option percent={value!r}: use true or false")
                options[key] = value.lower() in ("true", "1")
            else:
                options[key] = None if value.lower() in ("", "none") else value
        return cls(path, **options)

    # --- loading ---------------------------------------------------------------------------
    def _load(self) -> None:
        if not self.path.is_file():
            raise FileNotFoundError(f"table {str(self.path)!r} not found (a NAS-Bench-201 style CSV)")
        with self.path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None) or []
            needed = {k: c for k, c in self.columns.items() if c is not None}
            optional = ("params", "flops") if self.counts == "network" else ()  # only cross-checked
            missing = [c for k, c in needed.items() if c not in header and k not in optional]
            if missing:
                raise ValueError(f"table {self.path.name} lacks column(s) {', '.join(missing)}; name the table's "
                                 f"columns with the evaluator's options (it has: {', '.join(header[:12])}"
                                 f"{', ...' if len(header) > 12 else ''})")
            pos = {k: header.index(c) for k, c in needed.items() if c in header}
            if "idx" in header:
                pos["idx"] = header.index("idx")
            rows, lines = [], []  # lines: each row's line in the file, for messages
            for r in reader:
                if r:
                    rows.append(r)
                    lines.append(reader.line_num)
        self._lines = lines
        self._edges_to_row: dict[tuple[str, ...], int] = {}
        self._strings: list[str] = []
        for i, r in enumerate(rows):
            text = r[pos["arch"]] if pos["arch"] < len(r) else ""
            try:
                edges = parse_arch_string(text)
            except ValueError as e:
                raise ValueError(f"table {self.path.name} line {lines[i]}: {e}") from None
            if edges in self._edges_to_row:
                raise ValueError(f"table {self.path.name}: lines {lines[self._edges_to_row[edges]]} and {lines[i]} "
                                 f"hold the same cell {text}")
            self._edges_to_row[edges] = i
            self._strings.append(text)
        self._data = {k: self._column(rows, k, p) for k, p in pos.items() if k != "arch"}

    def _column(self, rows: list[list[str]], key: str, p: int) -> np.ndarray:
        name = self.columns.get(key, key)
        values = np.empty(len(rows))
        for i, r in enumerate(rows):
            text = r[p].strip() if p < len(r) else ""
            try:
                values[i] = float(text) if text else math.nan
            except ValueError:
                raise ValueError(f"table {self.path.name} line {self._lines[i]}, column {name}: "
                                 f"{text!r} is not a number") from None
        if key in ("val", "val_low", "test"):
            top = np.nanmax(values, initial=0.0)
            if self.percent:
                if top > 100.0 or np.nanmin(values, initial=0.0) < 0.0:
                    raise ValueError(f"table {self.path.name} column {name} has values outside [0, 100] percent")
                values /= 100.0
            elif top > 1.0:
                raise ValueError(f"table {self.path.name} column {name} has values above 1; if it is in percent, "
                                 "set percent=true")
        return values

    def column(self, key: str) -> np.ndarray:
        """A copy of a loaded column by role (`val`, `test`, `cost`, ...; accuracies as fractions):
        reports draw the table's own random-search reference from it. `KeyError` if not loaded."""
        return self._data[key].copy()

    # --- queries ---------------------------------------------------------------------------
    def _row(self, arch: Architecture) -> _Row:
        edges = self.space.edges(arch)
        if edges in self._edges_to_row:
            return _Row(self._edges_to_row[edges], "exact")
        if self._canonical is None:
            self._canonical = {}
            for e, i in sorted(self._edges_to_row.items(), key=lambda item: item[1]):
                self._canonical.setdefault(canonical_edges(e), i)
        row = self._canonical.get(canonical_edges(edges))
        if row is None:
            raise ValueError(f"cell {self.space.to_string(arch)} is not in table {self.path.name}, "
                             "nor any cell equivalent to it")
        return _Row(row, "canonical")

    def evaluate(self, arch: Architecture, fidelity: int | None = None,
                 on_epoch: EpochCallback | None = None) -> Result:
        row = self._row(arch)
        budget = self.epochs if fidelity is None else int(fidelity)
        if not 1 <= budget <= self.epochs:
            raise ValueError(f"fidelity {fidelity} epochs: the table covers 1 to {self.epochs}")
        schedules = [(self.low_epochs, "val_low")] if "val_low" in self._data else []
        schedules.append((self.epochs, "val"))
        points = [(s, k) for s, k in schedules if s <= budget] or [(budget, schedules[0][1])]
        cost = float(self._data["cost"][row.index]) * budget / self.epochs
        self.total_cost_s += cost
        val = math.nan
        for epoch, key in points:
            val = float(self._data[key][row.index])
            if on_epoch is not None and not math.isnan(val):
                on_epoch(epoch, val)
        return self._result(arch, row, val, None, cost, schedule=points[-1][0])

    def test(self, arch: Architecture) -> Result:
        """Test accuracy (and the full-schedule validation accuracy): for the final pick only."""
        row = self._row(arch)
        self.test_reads += 1
        val, test = (float(self._data[k][row.index]) for k in ("val", "test"))
        return self._result(arch, row, val, test, 0.0, schedule=self.epochs)

    def _result(self, arch: Architecture, row: _Row, val: float, test: float | None, cost: float,
                schedule: int) -> Result:
        params, flops = self._counts(arch, row)
        extra: dict[str, Any] = {"table": self.path.name, "table_arch": self._strings[row.index], "match": row.match,
                                 "schedule_epochs": schedule}
        if "idx" in self._data:
            extra["idx"] = int(self._data["idx"][row.index])
        latency = None
        if "latency" in self._data:
            lat = float(self._data["latency"][row.index])
            latency = None if math.isnan(lat) else lat
            extra["latency_column"] = self.columns["latency"]
        if math.isnan(val) or (test is not None and math.isnan(test)):
            return Result(params=params, flops=flops, latency_ms=latency, cost_s=cost, state="failed",
                          error=f"the table has no accuracy for {self._strings[row.index]}", extra=extra)
        return Result(val_accuracy=val, test_accuracy=test, params=params, flops=flops, latency_ms=latency,
                      cost_s=cost, extra=extra)

    def _counts(self, arch: Architecture, row: _Row) -> tuple[int | None, int | None]:
        table = [None if k not in self._data or math.isnan(v := self._data[k][row.index]) else round(v * 1e6)
                 for k in ("params", "flops")]
        if self.counts == "table":
            return table[0], table[1]
        shape = self.space.shape(arch, self.num_classes, self.in_channels, self.input_size)
        if not self._counts_checked and row.match == "exact" and table[0] is not None:
            if abs(shape.params - table[0]) > max(1.0, 1e-5 * shape.params):
                raise ValueError(f"table {self.path.name} gives {table[0]:,} params for {self._strings[row.index]}, "
                                 f"the network at num_classes={self.num_classes}, input_size={self.input_size} has "
                                 f"{shape.params:,}: set those options to the table's dataset, or counts=table")
            self._counts_checked = True
        return shape.params, shape.macs
