"""bench/fair_comparison.py at its tiny scale on synthetic data: every network retrained with the seeds,
differences with standard errors, the finalists' ranking check, the JSON written; and
bench/weight_inheritance.py's children are reachable from their parent."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.fair_comparison import main
from bench.weight_inheritance import make_children
from search_spaces.dense.morph_plan import plan
from search_spaces.dense.presets import densenet, resnet

SPACE = "dense?stages=2&max_nodes=3&widths=4,8&stem=8"


def test_fair_comparison_tiny(tmp_path: Path) -> None:
    out = tmp_path / "fc.json"
    report = main(["--budget", "tiny", "--data", "synthetic?subset=120&resolution=8&classes=4", "--space", SPACE,
                   "--out", str(out), "--workers", "2"])  # the final trainings in worker processes
    assert json.loads(out.read_text())["budget"] == "tiny"
    methods = report["methods"]
    assert {"search pick", "random search pick"} <= set(methods)
    assert any(n.startswith("resnet-") for n in methods) and any(n.startswith("densenet-bc-") for n in methods)
    assert all(m["n"] == 2 and len(m["runs"]) == 2 for m in methods.values())  # every network, every seed
    assert set(report["differences"]) == {n for n in methods if not n.startswith(("search pick", "finalist"))}
    assert all(d["se"] >= 0 for d in report["differences"].values())
    assert report["search_wall_s"] > 0 and report["search_cpu_s"] > 0 and report["random_trials"] >= 1
    assert report["random_wall_s"] >= 0.5 * report["search_wall_s"]  # given the search's time, not a count
    assert isinstance(report["ranking"]["top_holds"], bool) and isinstance(report["goal_met"], bool)


def test_weight_inheritance_children_are_reachable() -> None:
    rng = np.random.default_rng(0)
    for parent in (resnet(8), densenet(10, 4)):
        children = make_children(parent, 4, rng)
        assert len(children) == 4
        for geno, steps in children:
            found = plan(parent, geno)
            assert found is not None and 1 <= len(found) <= len(steps)
