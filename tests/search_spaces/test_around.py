"""`dense?around=NAME`: the sub-space around a network contains it and passes the space contract."""

from __future__ import annotations

import json

import numpy as np
import optuna
import pytest

from nas.search.session import resolve_space
from search_spaces.base import Architecture
from search_spaces.dense.presets import preset_genotype
from search_spaces.testing import check_space

SMALL = "&depths=0.5,1&widths=0.5,1&kernels=3"


@pytest.mark.parametrize("name", ["resnet-20", "densenet-40-12"])
def test_contract_and_contains(name: str) -> None:
    space = resolve_space(f"dense?around={name}{SMALL}")
    preset = Architecture("dense", preset_genotype(name))
    space.validate(preset)
    params = space.params_of(preset)
    assert space.suggest(optuna.trial.FixedTrial(params)) == preset
    check_space(space, n=2)


@pytest.mark.parametrize("name", ["densenet-bc-100-12", "hardnet-8-16", "vovnet-4-32", "fractalnet-3-3"])
def test_every_preset_is_in_its_own_subspace(name: str) -> None:
    space = resolve_space(f"dense?around={name}")
    assert space.contains(preset_genotype(name))
    child = space.mutate(Architecture("dense", preset_genotype(name)), np.random.default_rng(0))
    assert space.contains(child.genotype) and child.genotype != preset_genotype(name)


def test_neighbours_scale_depth_and_switch_patterns() -> None:
    space = resolve_space("dense?around=resnet-20")
    assert space.contains(preset_genotype("resnet-56"))  # depth factor 3: patterns, not per-edge choices
    assert not space.contains(preset_genotype("densenet-40-12"))
    params = space.params_of(Architecture("dense", preset_genotype("resnet-20")))
    dense = space.suggest(optuna.trial.FixedTrial({**params, "s0_pattern": "dense"}))
    nodes = dense.genotype["stages"][0]["nodes"]
    assert nodes[-1]["inputs"] == list(range(len(nodes)))  # the last node reads every earlier one
    rng = np.random.default_rng(1)
    patterns = {p for _ in range(30) for p in [space.params_of(space.sample(rng))["s1_pattern"]]}
    assert {"chain", "residual", "dense", "harmonic", "osa"} <= patterns


def test_file_and_bad_name(tmp_path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(Architecture("dense", preset_genotype("vovnet-4-32")).to_dict()))
    assert resolve_space(f"dense?around={path}").contains(preset_genotype("vovnet-4-32"))
    with pytest.raises(ValueError, match="preset"):
        resolve_space("dense?around=resnet-2x")
    with pytest.raises(ValueError, match="unknown"):
        resolve_space("dense?around=resnet-20&colour=red")


def test_describe_command_reports_size_and_presets(capsys: pytest.CaptureFixture[str]) -> None:
    from nas.cli import main

    assert main(["space", "describe", "--space", "dense?around=resnet-20", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] > 1000 and {"resnet-20", "resnet-32"} <= set(info["contains_presets"])
    assert main(["space", "describe", "--space", "dense?around=densenet-bc-22-12", "--json"]) == 0
    assert "densenet-bc-22-12" in json.loads(capsys.readouterr().out)["contains_presets"]  # not in EXAMPLES
