"""bench/differentiable_dense.py compare at toy settings on a synthetic .npz: every mode searches on two
halves of the training images, its pick is trained with each seed, and the table holds SMASH's reused
numbers, random search at the mode's compute and the differences."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.differentiable_dense import main

SPACE = "dense?bottlenecks=1&stages=2&max_nodes=3&widths=4,8&stem=8"
PROTO = {"dataset": "npz:toy.npz?subset=100&resolution=8", "epochs": 1, "batch_size": 32, "lr": 0.1,
         "weight_decay": 5e-4, "data_seed": 0}


def toy_files(tmp: Path) -> tuple[Path, Path, Path]:
    rng = np.random.default_rng(0)
    npz = tmp / "toy.npz"
    np.savez(npz, x_train=rng.integers(0, 256, (120, 8, 8, 3), dtype=np.uint8), y_train=np.arange(120) % 4,
             x_test=rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), y_test=np.arange(40) % 4)
    gt = tmp / "gt.jsonl"
    gt.write_text("".join(json.dumps({"index": i, "seed": 0, "val_accuracy": float(rng.random()), "params": 1000 + i,
                                      "test_accuracy": float(rng.random()), "cpu_seconds": 2.0, "protocol": PROTO})
                          + "\n" for i in range(12)))
    base = tmp / "base.json"
    base.write_text(json.dumps({"protocol": PROTO, "smash_compute": 3.0, "budget": 3, "methods": {
        "SMASH pick": {"params": 5000, "mean": 0.3, "sd": 0.01, "n": 3},
        "resnet-8": {"params": 4000, "mean": 0.2, "sd": 0.02, "n": 3}}}))
    return npz, gt, base


def test_compare_toy(tmp_path: Path) -> None:
    npz, gt, base = toy_files(tmp_path)
    out = tmp_path / "out.json"
    report = main(["compare", "--steps", "3", "--batch-size", "8", "--seeds", "2", "--space", SPACE, "--data", str(npz),
                   "--ground-truth", str(gt), "--baselines", str(base), "--run-dir", str(tmp_path / "run"),
                   "--out", str(out)])
    assert json.loads(out.read_text())["verdict"] == report["verdict"]
    assert set(report["modes"]) == {"darts", "gdas", "proxyless"}
    for r in report["modes"].values():
        assert r["n"] == 2 and r["seeds"] == [0, 1] and r["in_table_subspace"]
        assert r["search"]["train_images"] == r["search"]["val_images"] == 50  # halves of the 100 training images
        assert r["search"]["search_cpu_s"] > 0 and r["random_search"]["used"] >= 1
        assert {"SMASH pick", "resnet-8"} < set(r["vs"]) and all(d["se"] > 0 for d in r["vs"].values())
        assert r["param_free_share"] == 0.0 and 0.0 <= r["connections_kept"] <= 1.0
    assert report["references"]["SMASH pick"]["mean"] == 0.3 and report["smash"]["random_search_at_its_compute"]
