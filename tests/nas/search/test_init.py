"""`--init preset:NAME,...|FILE`: the first trials are those architectures; evolution mutates them first."""

from __future__ import annotations

import json

import pytest

from nas.results import Result
from nas.search.config import SearchConfig
from nas.search.evolution import PARENT_ATTR
from nas.search.pipeline import Search
from search_spaces.base import Architecture
from search_spaces.dense.presets import preset_genotype

SPACE = "dense?around=resnet-20&depths=0.5,1,1.5&widths=0.5,1&kernels=3"


class ParamsEvaluator:
    """Cheap and deterministic: fewer parameters score higher (no training)."""

    epochs, proxy = 1, False

    def __init__(self, space: object) -> None:
        self.space = space

    def evaluate(self, arch: Architecture, fidelity: object = None, on_epoch: object = None) -> Result:
        params = self.space.shape(arch).params
        return Result(val_accuracy=1.0 / (1.0 + params / 1e5), params=params)

    def test(self, arch: Architecture) -> Result:
        return self.evaluate(arch)


def run(strategy: str, init: str, trials: int = 6) -> list:
    from nas.search.session import resolve_space

    space = resolve_space(SPACE)
    config = SearchConfig(space=SPACE, strategy=strategy, evaluator="train", trials=trials, confirm=0, init=init)
    search = Search(config, None, evaluator=ParamsEvaluator(space), space=space)
    search.evaluate()
    return sorted(search.study.get_trials(deepcopy=False), key=lambda t: t.number)


@pytest.mark.parametrize("strategy", ["tpe", "evolution?population=4&tournament=2", "random"])
def test_first_trials_are_the_init_architectures(strategy: str, tmp_path) -> None:
    import optuna

    from nas.search.session import resolve_space

    space = resolve_space(SPACE)
    params = space.params_of(Architecture("dense", preset_genotype("resnet-20")))
    neighbour = space.suggest(optuna.trial.FixedTrial({**params, "s2_pattern": "dense"})).genotype
    file = tmp_path / "n.json"
    file.write_text(json.dumps(Architecture("dense", neighbour).to_dict()))
    trials = run(strategy, f"preset:resnet-20,resnet-32,{file}")
    first = [t.user_attrs["arch"]["genotype"] for t in trials[:3]]
    assert first == [preset_genotype("resnet-20"), preset_genotype("resnet-32"), neighbour]
    assert [t.user_attrs.get("init") for t in trials[:2]] == ["resnet-20", "resnet-32"]
    assert all("init" not in t.user_attrs for t in trials[3:])


def test_evolution_mutates_the_init_architectures_first() -> None:
    trials = run("evolution?population=10&tournament=1", "preset:resnet-20,resnet-32", trials=5)
    parents = [t.system_attrs.get(PARENT_ATTR) for t in trials[2:]]
    assert parents and all(p in (0, 1) for p in parents)  # children of the two --init trials, not random


def test_init_outside_the_space_is_refused() -> None:
    with pytest.raises(ValueError, match="around"):
        run("tpe", "preset:densenet-40-12")
    with pytest.raises(ValueError, match="Optuna-sampler"):
        Search(SearchConfig(space="dense", init="preset:resnet-20"), None)


def test_cli_refuses_an_init_outside_the_space_before_a_run_directory(tmp_path, capsys) -> None:
    from nas.cli import main

    code = main(["search", "--space", "dense?around=resnet-20", "--strategy", "tpe", "--init", "preset:vovnet-4-32",
                 "--dataset", "synthetic", "--trials", "2", "--runs-dir", str(tmp_path), "--quiet"])
    assert code == 2 and "dense?around=vovnet-4-32" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())
