"""The kernel latency predictor: decomposition, profile cache and fingerprint refusal, predictions."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from nas.cli import main
from nas.latency import LatencySettings, fingerprint
from predictors.latency import LatencyPredictor, LatencyProfile, load_predictor, profile_path, profile_space
from predictors.latency_kernels import kernel_module, kernels
from search_spaces.dense import DenseSpace
from search_spaces.dense.space import DenseSpaceConfig
from search_spaces.nb201 import NB201Space

SMALL = DenseSpace(DenseSpaceConfig(stages=2, min_nodes=1, max_nodes=3, stem=8, widths=(4, 8)))
NB = NB201Space(channels=4, cells_per_stage=1)
FAST = LatencySettings(input_size=8, repeats=3, warmup=1, clock="cpu")


@pytest.mark.parametrize("space", [SMALL, NB])
def test_every_kernel_builds_and_runs_alone(space) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        for k in set(kernels(space, space.sample(rng), 10, 3, 8)):
            module, make = kernel_module(k, 2)
            with torch.inference_mode():
                out = module.eval()(*make("cpu", torch.float32))
            assert out.shape[0] == 2


def test_unknown_space_is_refused() -> None:
    class Other:
        name = "other"

    with pytest.raises(ValueError, match="no kernel decomposition"):
        kernels(Other(), None, 10, 3, 8)


@pytest.fixture(scope="module")
def nb_profile():
    return profile_space(NB, FAST, n_kernels=30, n_networks=6, seed=0)


def test_prediction_orders_cells_by_their_ops(nb_profile) -> None:
    pred = LatencyPredictor(nb_profile, NB, FAST)
    convs = NB.from_edges(["nor_conv_3x3"] * 6)
    skips = NB.from_edges(["skip_connect"] * 6)
    mean, std = pred.predict([convs, skips])
    assert (mean > 0).all() and (std >= 0).all()
    assert mean[0] > mean[1]  # six 3x3 convolutions per cell cost more than six identities


def test_profile_is_reused_from_cache_and_refused_under_another_fingerprint(nb_profile, tmp_path) -> None:
    path = profile_path(tmp_path, NB.name, FAST)
    nb_profile.save(path)
    pred = load_predictor(NB, FAST, tmp_path)
    assert pred is not None and pred.profile.fingerprint == fingerprint(FAST)
    other = LatencySettings(input_size=8, batch_size=4)
    assert load_predictor(NB, other, tmp_path) is None  # nothing profiled for batch 4
    shutil.copy(path, profile_path(tmp_path, NB.name, other))  # a profile under the wrong name
    with pytest.raises(ValueError, match="fingerprint"):
        load_predictor(NB, other, tmp_path)
    with pytest.raises(ValueError, match="fingerprint"):
        LatencyProfile.load(path, fingerprint(other))


def test_profile_round_trips_through_json(nb_profile, tmp_path) -> None:
    nb_profile.save(tmp_path / "p.json")
    back = LatencyProfile.load(tmp_path / "p.json")
    assert back.kernels == nb_profile.kernels and back.fingerprint == nb_profile.fingerprint
    (tmp_path / "bad.json").write_text(json.dumps({"format_version": 1}))
    with pytest.raises(ValueError, match="not a latency profile"):
        LatencyProfile.load(tmp_path / "bad.json")


def test_dense_profile_predicts_within_a_factor_of_three() -> None:
    prof = profile_space(SMALL, FAST, n_kernels=40, n_networks=8, seed=0, presets=False)
    assert {k[0] for k, _ in prof.kernels} >= {"stem", "op", "head", "transition"}
    pred = LatencyPredictor(prof, SMALL, FAST)
    from predictors.latency import measure_networks

    rng = np.random.default_rng(7)
    archs = [SMALL.sample(rng) for _ in range(4)]
    mean, _ = pred.predict(archs)
    assert len(set(mean.round(6))) > 1
    true = np.asarray(measure_networks(archs, SMALL, LatencySettings(input_size=8, repeats=9, clock="cpu")))
    assert np.all((mean > true / 3) & (mean < true * 3))


def test_cli_profile_then_predict(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--input-size", "8", "--repeats", "3", "--clock", "cpu", "--cache-dir", str(tmp_path)]
    arch = tmp_path / "cell.json"
    arch.write_text(NB.from_edges(["nor_conv_3x3"] * 6).to_json())
    assert main(["latency", "predict", str(arch), *flags]) == 2  # nothing profiled yet
    assert "nas latency profile" in capsys.readouterr().err
    assert main(["latency", "profile", "--space", "nb201", "--kernels", "20",
                 "--networks", "4", "--quiet", "--json", *flags]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kernels"] >= 20 and doc["fingerprint"] in doc["profile"]
    assert main(["latency", "predict", str(arch), "--json",
                 *flags]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["latency_ms"] > 0 and out["std_ms"] >= 0


def test_reanchoring_rescales_predictions_by_the_median_ratio(nb_profile, monkeypatch) -> None:
    import predictors.latency as lat

    monkeypatch.setattr(lat, "_ANCHORS", {})
    profiled = {json.dumps(a, sort_keys=True): ms for a, ms in nb_profile.networks}
    archs = [NB.from_edges(["nor_conv_3x3"] * 6), NB.from_edges(["skip_connect"] * 6)]
    pred = LatencyPredictor(nb_profile, NB, FAST)
    before, std_before = pred.predict(archs)
    seen: list[int] = []

    def twice_as_slow(nets):  # a fake measurement: the machine runs at half the profile's speed
        seen.append(len(nets))
        return [2.0 * profiled[json.dumps(a.to_dict(), sort_keys=True)] for a in nets]

    assert pred.reanchor(twice_as_slow) == pytest.approx(2.0)
    after, std_after = pred.predict(archs)
    assert np.allclose(after, 2.0 * before) and np.allclose(std_after, 2.0 * std_before)
    assert 1 < seen[0] <= len(nb_profile.networks) and len(pred.anchor_ratios) == seen[0]
    again = LatencyPredictor(nb_profile, NB, FAST)  # the factor is cached for the process
    assert again.reanchor(lambda nets: pytest.fail("measured again")) == pytest.approx(2.0)
    assert again.reanchor(lambda nets: [0.5 * profiled[json.dumps(a.to_dict(), sort_keys=True)] for a in nets],
                          cached=False) == pytest.approx(0.5)
    assert "x0.500" in again.describe_anchor()


def test_correction_fits_only_terms_that_vary_between_networks(nb_profile) -> None:
    pred = LatencyPredictor(nb_profile, NB, FAST)  # every NB201 network shares its fixed part and node sums
    coef = dict(zip(pred.types, pred.coef))
    assert coef["fixed"] == 1.0 and coef["cell_sum"] == 1.0
    assert {t for t in pred.types if t.startswith("cell_op:")} >= {"cell_op:nor_conv_3x3", "cell_op:skip_connect"}


def test_cli_predict_reports_the_anchor_and_can_skip_it(nb_profile, tmp_path, capsys) -> None:
    flags = ["--input-size", "8", "--repeats", "3", "--clock", "cpu", "--cache-dir", str(tmp_path), "--json"]
    nb_profile.save(profile_path(tmp_path, NB.name, FAST))
    arch = tmp_path / "cell.json"
    arch.write_text(NB.from_edges(["nor_conv_3x3"] * 6).to_json())
    assert main(["latency", "predict", str(arch), "--no-reanchor", *flags]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert plain["anchor_factor"] == 1.0 and plain["anchor_ratios"] == []
    assert main(["latency", "predict", str(arch), *flags]) == 0
    anchored = json.loads(capsys.readouterr().out)
    assert anchored["anchor_factor"] > 0 and len(anchored["anchor_ratios"]) > 1
    assert anchored["latency_ms"] == pytest.approx(plain["latency_ms"] * anchored["anchor_factor"])
