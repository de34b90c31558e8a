"""`--max-latency-ms` is checked by measurement in the confirm stage: a retrained candidate whose
measured median + 2 IQR is over the limit is rejected and never the pick; the pick's latency in the
results is the one measured there."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from nas.cli import main
from nas.search.confirm import latency_check, pick_and_test
from search_spaces.dense import DenseSpace
from search_spaces.dense.space import DenseSpaceConfig

SMALL = DenseSpace(DenseSpaceConfig(stages=2, min_nodes=1, max_nodes=2, stem=8, widths=(4, 8), kernels=(3,),
                                    dilations=(1,), groups=(1,), bottlenecks=(0,)))
DATA = SimpleNamespace(input_size=8, in_channels=3, num_classes=4)


def test_the_check_keeps_the_measurement_and_rejects_over_the_limit() -> None:
    arch = SMALL.sample(np.random.default_rng(0)).to_dict()
    entry = {"arch": arch}
    assert latency_check(1e9, SMALL)(entry, DATA) is None
    assert entry["latency_ms"] > 0 and entry["latency_iqr_ms"] >= 0
    slow = {"arch": arch}
    reason = latency_check(1e-9, SMALL)(slow, DATA)
    assert reason is not None and "over --max-latency-ms" in reason and slow["latency_ms"] > 1e-9


def test_a_rejected_candidate_is_never_the_pick(tmp_path: Path) -> None:
    entries = [{"rank": 1, "arch_key": "a", "val_accuracy": 0.9, "rejected": "too slow"},
               {"rank": 2, "arch_key": "b", "val_accuracy": 0.5, "rejected": "too slow"}]
    assert pick_and_test(entries, SMALL, DATA, tmp_path) is None


def test_a_search_with_a_latency_limit_measures_its_pick(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    space = tmp_path / "small.py"
    space.write_text("from search_spaces.dense import DenseSpace\nfrom search_spaces.dense.space import "
                     "DenseSpaceConfig\nSMALL = DenseSpace(DenseSpaceConfig(stages=2, min_nodes=1, max_nodes=2, "
                     "stem=8, widths=(4, 8), kernels=(3,), dilations=(1,), groups=(1,), bottlenecks=(0,)))\n")
    code = main(["search", "--space", f"{space}:SMALL", "--evaluator", "train", "--dataset",
                 "synthetic?subset=120&resolution=8&classes=4", "--epochs", "1", "--trials", "2", "--strategy",
                 "random", "--max-latency-ms", "10000", "--confirm", "2", "--runs-dir", str(tmp_path), "--name", "l",
                 "--quiet", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    summary = json.loads(out)
    confirmed = summary["confirmation"]
    assert confirmed and all(c["rejected"] is None and c["latency_ms"] > 0 for c in confirmed)
    picked = next(c for c in confirmed if c["picked"])
    assert summary["best"]["latency_ms"] == picked["latency_ms"]
