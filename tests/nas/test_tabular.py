from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nas.evaluators.tabular import TabularEvaluator
from search_spaces import default_space

SPACE = default_space("nb201")
HEADER = ["idx", "arch", "c10_valid", "c10_test", "c10_valid_hp12", "c10_test_hp12", "c10_params_mb",
          "c10_flops_m", "c10_train_time_s", "lat_dev_ms", "c100_valid"]
A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
# node 2 reads only node 0, so nodes 1 and 2 can swap: C and C_SWAPPED are the same network
C = "|nor_conv_3x3~0|+|avg_pool_3x3~0|none~1|+|none~0|skip_connect~1|nor_conv_1x1~2|"
C_SWAPPED = "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"
SKIP = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
SKIP_DEAD_CONVS = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|"  # convs off every path


def params_mb(text: str, classes: int = 10) -> str:
    return f"{SPACE.shape(SPACE.from_string(text), num_classes=classes).params / 1e6:.6g}"


def write_table(path: Path, header: list[str] = HEADER, rows: list[list[str]] | None = None) -> Path:
    rows = rows if rows is not None else [
        ["1", A, "90.5", "93.5", "82.0", "88.0", params_mb(A), "113.951", "2000", "6.5", "70.1"],
        ["0", B, "82.0", "85.0", "63.5", "69.5", params_mb(B), "15.6474", "1400", "", "60.2"],
        ["7", C, "85.0", "88.0", "70.0", "75.0", params_mb(C), "50", "1000", "4.0", "65.0"],
        ["9", SKIP, "40.0", "41.0", "30.0", "31.0", params_mb(SKIP), "7.78305", "800", "2.0", "20.0"],
    ]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([r[:len(header)] for r in rows])
    return path


@pytest.fixture
def table(tmp_path: Path) -> Path:
    return write_table(tmp_path / "nb.csv")


def test_validation_numbers_only(table: Path) -> None:
    ev = TabularEvaluator(table, latency="lat_dev_ms")
    r = ev.evaluate(SPACE.from_string(A))
    assert r.val_accuracy == pytest.approx(0.905) and r.test_accuracy is None
    assert r.cost_s == pytest.approx(2000) and r.latency_ms == pytest.approx(6.5)
    shape = SPACE.shape(SPACE.from_string(A))
    assert (r.params, r.flops) == (shape.params, shape.macs) == (802_426, 113_951_360)
    assert r.extra["idx"] == 1 and r.extra["match"] == "exact" and r.state == "complete"
    assert ev.evaluate(SPACE.from_string(B)).latency_ms is None  # an empty cell is a missing value
    assert ev.test_reads == 0


def test_test_accuracy_is_read_by_test_only(table: Path) -> None:
    ev = TabularEvaluator(table)
    r = ev.test(SPACE.from_string(B))
    assert r.test_accuracy == pytest.approx(0.85) and r.val_accuracy == pytest.approx(0.82) and r.cost_s == 0
    assert ev.test_reads == 1 and ev.total_cost_s == 0


def test_fidelity_picks_a_schedule_and_scales_the_cost(table: Path) -> None:
    ev = TabularEvaluator(table)
    arch = SPACE.from_string(A)
    low = ev.evaluate(arch, fidelity=12)
    assert low.val_accuracy == pytest.approx(0.82) and low.cost_s == pytest.approx(2000 * 12 / 200)
    mid = ev.evaluate(arch, fidelity=100)  # the largest schedule not above 100 epochs: 12
    assert mid.val_accuracy == pytest.approx(0.82) and mid.cost_s == pytest.approx(1000)
    assert ev.evaluate(arch, fidelity=1).val_accuracy == pytest.approx(0.82)
    full = ev.evaluate(arch, fidelity=200)
    assert full.val_accuracy == pytest.approx(0.905) and full.extra["schedule_epochs"] == 200
    assert ev.total_cost_s == pytest.approx(120 + 1000 + 10 + 2000)
    for bad in (0, 201):
        with pytest.raises(ValueError, match="covers 1 to 200"):
            ev.evaluate(arch, fidelity=bad)


def test_on_epoch_reports_each_schedule_and_may_stop(table: Path) -> None:
    ev = TabularEvaluator(table)
    seen: list[tuple[int, float]] = []
    ev.evaluate(SPACE.from_string(A), on_epoch=lambda e, v: seen.append((e, v)))
    assert seen == [(12, pytest.approx(0.82)), (200, pytest.approx(0.905))]

    class Pruned(Exception):
        pass

    def prune(epoch: int, value: float) -> None:
        raise Pruned

    with pytest.raises(Pruned):
        ev.evaluate(SPACE.from_string(B), on_epoch=prune)
    assert ev.total_cost_s == pytest.approx(2000 + 1400)


def test_equivalent_cells_share_a_row(table: Path) -> None:
    ev = TabularEvaluator(table)
    swapped = SPACE.from_string(C_SWAPPED)
    r = ev.evaluate(swapped)
    assert r.extra["match"] == "canonical" and r.extra["table_arch"] == C and r.val_accuracy == pytest.approx(0.85)
    dead = SPACE.from_string(SKIP_DEAD_CONVS)
    r = ev.evaluate(dead)
    assert r.extra["match"] == "canonical" and r.extra["idx"] == 9 and r.val_accuracy == pytest.approx(0.4)
    assert r.params == SPACE.shape(dead).params > SPACE.shape(SPACE.from_string(SKIP)).params  # its own network
    not_there = SPACE.from_string(C.replace("none~1|+", "nor_conv_3x3~1|+"))
    with pytest.raises(ValueError, match="not in table nb.csv, nor any cell equivalent"):
        ev.evaluate(not_there)


def test_other_column_names_and_fraction_tables(tmp_path: Path) -> None:
    table = write_table(tmp_path / "c100.csv")
    ev = TabularEvaluator(table, val="c100_valid", val_low=None, counts="table")
    r = ev.evaluate(SPACE.from_string(A), fidelity=12)  # no low-fidelity column: the full schedule
    assert r.val_accuracy == pytest.approx(0.701) and r.params == 802_426 and r.flops == 113_951_000
    rows = [["1", A, "0.9", "0.93", "0.8", "0.88", params_mb(A), "100", "50", "1", "0.7"]]
    fractions = write_table(tmp_path / "f.csv", rows=rows)
    assert TabularEvaluator(fractions, percent=False).evaluate(SPACE.from_string(A)).val_accuracy == 0.9
    with pytest.raises(ValueError, match="values outside \\[0, 100\\] percent"):
        TabularEvaluator(write_table(tmp_path / "g.csv", rows=[rows[0][:2] + ["900"] + rows[0][3:]]))
    with pytest.raises(ValueError, match="values above 1; if it is in percent, set percent=true"):
        TabularEvaluator(table, percent=False)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    header = [h for h in HEADER if h not in ("c10_valid", "c10_train_time_s")]
    table = write_table(tmp_path / "t.csv", header=header, rows=[])
    with pytest.raises(ValueError, match="lacks column\\(s\\) c10_valid, c10_train_time_s") as info:
        TabularEvaluator(table)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="lacks column\\(s\\) lat_x"):
        TabularEvaluator(write_table(tmp_path / "u.csv"), latency="lat_x")
    no_params = write_table(tmp_path / "v.csv", header=[h for h in HEADER if h != "c10_params_mb"])
    assert TabularEvaluator(no_params).evaluate(SPACE.from_string(A)).params == 802_426  # network counts
    with pytest.raises(ValueError, match="lacks column\\(s\\) c10_params_mb"):
        TabularEvaluator(no_params, counts="table")


def test_bad_tables(tmp_path: Path) -> None:
    row = ["1", A, "90", "93", "82", "88", "0.8", "100", "50", "1", "70"]
    bad_op = [row[0], A.replace("nor_conv_3x3", "conv_9x9"), *row[2:]]
    with pytest.raises(ValueError, match="line 2: .*unknown op 'conv_9x9'"):
        TabularEvaluator(write_table(tmp_path / "a.csv", rows=[bad_op]))
    with pytest.raises(ValueError, match="lines 2 and 3 hold the same cell"):
        TabularEvaluator(write_table(tmp_path / "b.csv", rows=[row, row]))
    with pytest.raises(ValueError, match="line 2, column c10_train_time_s: 'slow' is not a number"):
        TabularEvaluator(write_table(tmp_path / "c.csv", rows=[row[:8] + ["slow"] + row[9:]]))
    with pytest.raises(ValueError, match="line 2: arch string '' has 1 node"):
        TabularEvaluator(write_table(tmp_path / "d.csv", rows=[["1"]]))  # a short row
    with pytest.raises(FileNotFoundError, match="not found"):
        TabularEvaluator(tmp_path / "none.csv")


def test_counts_are_checked_against_the_table(table: Path) -> None:
    ev = TabularEvaluator(table, num_classes=100)
    with pytest.raises(ValueError, match="802,426 params .* has 808,276: set those options"):
        ev.evaluate(SPACE.from_string(A))


def test_from_spec(table: Path) -> None:
    ev = TabularEvaluator.from_spec(f"{table}?latency=lat_dev_ms&val=c100_valid&val_low=none&epochs=100&low_epochs=10")
    r = ev.evaluate(SPACE.from_string(A), fidelity=50)
    assert r.val_accuracy == pytest.approx(0.701) and r.latency_ms == 6.5 and r.cost_s == pytest.approx(1000)
    with pytest.raises(ValueError, match="unknown tabular evaluator option 'latncy'"):
        TabularEvaluator.from_spec(f"{table}?latncy=x")
    with pytest.raises(ValueError, match="epochs='ten' must be a positive integer"):
        TabularEvaluator.from_spec(f"{table}?epochs=ten")
    with pytest.raises(ValueError, match="needs a table"):
        TabularEvaluator.from_spec("?val=x")
