"""Zero-cost proxies (deterministic for a seed), the canonical split, and the predictor file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from predictors.evaluation import load_table, split
from predictors.predictor import AccuracyPredictor, PredictorConfig
from predictors.proxies import PROXIES, compute_proxies, training_batch
from search_spaces import default_space


def _tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(20, 16, 16, 3), dtype=np.uint8)
    return training_batch(x, rng.integers(0, 10, size=20), n=8, seed=1)


def test_proxies_are_deterministic_for_a_seed_and_leave_the_global_rng_alone() -> None:
    from search_spaces.nb201 import NB201Space

    space = NB201Space(channels=4, cells_per_stage=1)
    arch = space.from_edges(["nor_conv_3x3", "skip_connect", "nor_conv_1x1", "avg_pool_3x3", "nor_conv_3x3",
                             "skip_connect"])
    x, y = _tiny_batch()
    state = torch.random.get_rng_state()
    a = compute_proxies(lambda: space.build(arch, 10, 3, 16), x, y, seed=0)
    assert torch.equal(state, torch.random.get_rng_state())
    b = compute_proxies(lambda: space.build(arch, 10, 3, 16), x, y, seed=0)
    c = compute_proxies(lambda: space.build(arch, 10, 3, 16), x, y, seed=1)
    assert set(a) == set(PROXIES) and all(np.isfinite(v) for v in a.values())
    assert a == b and a != c
    with pytest.raises(ValueError, match="unknown proxy"):
        compute_proxies(lambda: space.build(arch, 10, 3, 16), x, y, which=("zen",))


def test_training_batch_draws_from_the_given_split_only() -> None:
    x = np.zeros((10, 4, 4, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="at least 64"):
        training_batch(x, np.zeros(10, dtype=np.int64))


def test_canonical_split_has_no_isomorphic_pair_across_it(nb201_table: Path) -> None:
    t = load_table(nb201_table)
    for seed in range(3):
        train, test = split(t, 300, seed, n_test=1000)
        assert len(set(train)) == 300 and len(set(test)) == 1000 and not set(train) & set(test)
        assert not {t.keys[i] for i in train} & {t.keys[i] for i in test}
    without = ~t.disconnected
    train, test = split(t, 50, 0, n_test=200, universe=without)
    assert without[train].all() and without[test].all() and t.disconnected.sum() == 341


def test_predictor_file_round_trips_and_refuses_foreign_files(nb201_table: Path, tmp_path: Path) -> None:
    t = load_table(nb201_table)
    train, test = split(t, 40, 0, n_test=50)
    config = PredictorConfig(model="rf", features=("graf", "params"), seed=2, params={"max_features": 1.0,
                                                                                        "min_samples_leaf": 1})
    p = AccuracyPredictor(t.space, config).fit([t.archs[i] for i in train], t.valid[train])
    p.save(tmp_path / "p.json")
    q = AccuracyPredictor.load(tmp_path / "p.json")
    held = [t.archs[i] for i in test]
    assert np.array_equal(p.predict(held)[0], q.predict(held)[0])
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["config"]["seed"] == 2 and len(doc["archs"]) == 40 and len(doc["targets"]) == 40
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "foreign.json").write_text('{"space": "nb201"}')
    for name, match in (("bad.json", "not a predictor file"), ("foreign.json", "not a predictor file")):
        with pytest.raises(ValueError, match=match) as e:
            AccuracyPredictor.load(tmp_path / name)
        assert "\n" not in str(e.value)
    doc["targets"][0] = "x"
    (tmp_path / "corrupt.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="corrupt"):
        AccuracyPredictor.load(tmp_path / "corrupt.json")


def test_space_default_is_registered() -> None:
    assert default_space("nb201").name == "nb201"


def test_naswot_is_the_published_log_det_of_the_relu_agreement_kernel() -> None:
    from predictors.proxies import batch_proxies

    gen = torch.Generator().manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 8),
                                torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(6, 3, 2, 2, generator=gen), torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        h1 = model[1](x.flatten(1))
        h2 = model[3](h1.relu())
    codes = torch.cat([h1, h2], 1) > 0
    agree = (codes[:, None, :] == codes[None, :, :]).sum(-1).double()
    expected = float(torch.linalg.slogdet(agree).logabsdet)  # no ridge, as Mellor et al.
    assert batch_proxies(model, x, y)["naswot"] == pytest.approx(expected, rel=1e-12)
