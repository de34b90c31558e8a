"""`--evaluator inherit`: children that a transformation makes from a stored parent are fine-tuned from
its weights, the rest trained from scratch; weights kept per architecture; evolution and BANANAS name
the parent; resume reuses the stored weights."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import optuna
import pytest
import torch

from nas.cli import main
from nas.evaluators.inherit import WEIGHTS_DIR
from nas.search.evaluators import EvalContext, make_evaluator
from nas.search.runner import run_trials
from nas.search.session import resolve_space
from nas.search.testing import check_evaluator
from search_spaces.base import Architecture
from search_spaces.dense.morph import connect_genotype, widen_genotype

TINY = "synthetic?subset=120&resolution=8&classes=4"
SPACE = "dense?stages=2&max_nodes=3&widths=4,8&stem=8&groups=1&merges=concat&bottlenecks=0"


def evaluator(run_dir: Path | None, spec: str = "inherit?finetune=1") -> object:
    return make_evaluator(spec, EvalContext(resolve_space(SPACE), TINY, 2, run_dir=run_dir))


@pytest.mark.parametrize("on_disk", [False, True])
def test_inherit_passes_the_evaluator_contract(on_disk: bool, tmp_path: Path) -> None:
    check_evaluator(evaluator(tmp_path if on_disk else None), resolve_space(SPACE), n=2)


def test_a_child_fine_tunes_its_parents_weights(tmp_path: Path) -> None:
    ev = evaluator(tmp_path)
    space = resolve_space(SPACE)
    parent = space.sample(np.random.default_rng(1))
    first = ev.evaluate(parent)
    assert first.extra["inherit"]["mode"] == "scratch" and len(first.extra["val_history"]) == 2
    geno = parent.genotype
    last = len(geno["stages"][-1]["nodes"])
    child = Architecture("dense", widen_genotype(geno, 1, last, 2 * geno["stages"][-1]["nodes"][-1]["op"]["width"]))
    r = ev.evaluate(child, parent=parent)
    assert r.extra["inherit"]["mode"] == "inherited" and r.extra["inherit"]["parent_key"] == parent.key()
    assert len(r.extra["val_history"]) == 1  # the fine-tuning budget, not the training one
    for a in (parent, child):  # every evaluated architecture keeps its weights, loadable safely
        state = torch.load(tmp_path / WEIGHTS_DIR / f"{a.key()}.pt", weights_only=True)
        model = space.build(a, 4, 3, 8)
        model.load_state_dict(state)
    assert not list((tmp_path / WEIGHTS_DIR).glob("*.tmp"))  # written atomically
    other = space.sample(np.random.default_rng(7))
    if ev.reachable(parent, other) or ev.reachable(child, other):
        pytest.skip("the random architecture happens to be reachable")
    r = ev.evaluate(other)
    assert r.extra["inherit"]["mode"] == "scratch" and "not reachable" in r.extra["inherit"]["reason"]
    t = ev.test(child)  # from the stored weights: no training
    assert t.test_accuracy is not None and t.extra["inherit"]["mode"] == "inherited"


def search(tmp_path: Path, *argv: str) -> dict:
    code = main(["search", "--space", SPACE, "--evaluator", "inherit?finetune=1", "--dataset", TINY,
                 "--epochs", "2", "--runs-dir", str(tmp_path), "--quiet", "--json", "--confirm", "0", *argv])
    assert code == 0
    return code


def trials_of(run: Path) -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=run.name, storage=f"sqlite:///{run / 'study.db'}").get_trials()


def test_evolution_names_the_parent_and_resume_keeps_the_weights(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    evo = "evolution?population=3&tournament=2"
    search(tmp_path, "--strategy", evo, "--trials", "5", "--name", "e")
    capsys.readouterr()
    assert main(["search", "--resume", str(tmp_path / "e"), "--trials", "8", "--quiet"]) == 0
    trials = [t for t in trials_of(tmp_path / "e") if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(trials) == 8
    inherited = [t for t in trials if t.user_attrs.get("inherit", {}).get("mode") == "inherited"]
    assert inherited, "no child inherited its parent's weights"
    for t in inherited:
        assert t.user_attrs["parent"] < t.number
        assert trials[t.user_attrs["parent"]].user_attrs["arch_key"] == t.user_attrs["inherit"]["parent_key"]
    scratch = [t for t in trials if t.user_attrs.get("inherit", {}).get("mode") == "scratch"]
    assert scratch and all(t.user_attrs["inherit"]["reason"] for t in scratch)
    stored = {p.stem for p in (tmp_path / "e" / WEIGHTS_DIR).glob("*.pt")}
    assert {t.user_attrs["arch_key"] for t in trials} == stored
    doc = json.loads((tmp_path / "e" / "results.json").read_text())
    assert doc["config"]["evaluator"] == "inherit?finetune=1"


def test_bananas_children_inherit_from_the_named_parent() -> None:
    from nas.search.bananas import PARENT_ATTR, BananasSampler

    space = resolve_space(SPACE)
    ev = evaluator(None)
    sampler = BananasSampler(space, seed=0, n_init=4, batch=2, n_mutations=20, n_fresh=5)
    sampler.prefer = ev.reachable
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    run_trials(study, space, ev, 8)
    children = [t for t in study.trials if PARENT_ATTR in t.system_attrs]
    assert children
    named = [t for t in children if t.user_attrs.get("inherit", {}).get("mode") == "inherited"]
    assert named and any(t.user_attrs["parent"] == t.system_attrs[PARENT_ATTR] for t in named)


def test_inherit_refuses_other_spaces_and_bad_options() -> None:
    with pytest.raises(ValueError, match="dense"):
        make_evaluator("inherit", EvalContext(resolve_space("nb201"), TINY, 1))
    with pytest.raises(ValueError, match="finetune"):
        make_evaluator("inherit?finetune=0", EvalContext(resolve_space(SPACE), TINY, 1))
    with pytest.raises(ValueError, match="unknown"):
        make_evaluator("inherit?epochs=3", EvalContext(resolve_space(SPACE), TINY, 1))


def test_reachable_is_one_way() -> None:
    ev = evaluator(None)
    g = resolve_space(SPACE).sample(np.random.default_rng(3)).genotype
    g["stages"][0]["nodes"][-1]["inputs"] = [len(g["stages"][0]["nodes"]) - 1]  # reads only its predecessor
    a = Architecture("dense", g)
    grown = Architecture("dense", connect_genotype(g, 0, len(g["stages"][0]["nodes"]), 0))
    assert ev.reachable(a, grown) and not ev.reachable(grown, a)


def test_inherit_picks_are_confirmed_by_training_from_scratch() -> None:
    from nas.search.config import PROXY_CONFIRM, SearchConfig

    assert SearchConfig(evaluator="inherit", strategy="evolution").confirm == PROXY_CONFIRM
    assert SearchConfig(evaluator="inherit", strategy="evolution").confirm_train == "train"
