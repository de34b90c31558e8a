"""Contract checks for the search's plug-in points, installed with the package (like
`search_spaces/testing.py` for spaces): a user's own evaluator or strategy passes them in a few lines.

    from nas.search.testing import check_evaluator, check_strategy
    def test_my_evaluator():
        check_evaluator(MyEvaluator(...), my_space)
    def test_my_strategy():
        register_strategy(Strategy("mine", make_sampler))
        check_strategy("mine", my_space, my_cheap_evaluator)

Each raises `AssertionError` naming the broken rule.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nas.results import Result
from search_spaces.base import Architecture


def check_evaluator(evaluator: Any, space: Any, n: int = 3, seed: int = 0) -> list[Result]:
    """`evaluate(arch)` returns a complete `Result` with a validation accuracy in [0, 1] or a finite
    score (a proxy's), never a test accuracy; the same architecture gets the same answer twice;
    `test(arch)` returns a `Result` whose test accuracy, when given, is in [0, 1]."""
    assert callable(getattr(evaluator, "evaluate", None)) and callable(getattr(evaluator, "test", None)), \
        "an evaluator has evaluate(arch, fidelity=None, on_epoch=None) and test(arch)"
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    results = []
    for arch in archs:
        r = evaluator.evaluate(arch)
        assert isinstance(r, Result), f"evaluate returned a {type(r).__name__}, not a nas.results.Result"
        assert r.state == "complete", f"evaluate of a valid architecture failed: {r.error}"
        assert r.test_accuracy is None, "evaluate must not report test accuracy (the search never sees it)"
        assert r.val_accuracy is not None or r.score is not None, "evaluate reported neither val_accuracy nor score"
        if r.val_accuracy is not None:
            assert 0.0 <= r.val_accuracy <= 1.0, f"val_accuracy {r.val_accuracy} is not a fraction"
        if r.score is not None:
            assert math.isfinite(r.score), f"score {r.score} is not finite"
            assert getattr(evaluator, "proxy", False), "an evaluator that reports a score sets proxy = True"
        for name in ("params", "flops"):
            v = getattr(r, name)
            assert v is None or (isinstance(v, int) and v >= 0), f"{name} must be a non-negative int or None"
        results.append(r)
    again = evaluator.evaluate(archs[0])
    assert (again.val_accuracy, again.score) == (results[0].val_accuracy, results[0].score), \
        "the same architecture got a different answer: seed the evaluator"
    t = evaluator.test(archs[0])
    assert isinstance(t, Result), "test must return a nas.results.Result"
    assert t.test_accuracy is None or 0.0 <= t.test_accuracy <= 1.0, "test_accuracy must be a fraction"
    return results


def check_strategy(name: str, space: Any, evaluator: Any, trials: int = 12, seed: int = 0) -> None:
    """Through the pipeline's loop (an in-memory study): exactly `trials` counted trials, each with a
    valid architecture of `space` and its result; the same seed proposes the same architectures."""
    from nas.search.config import SearchConfig
    from nas.search.pipeline import Search
    from nas.search.runner import is_counted

    runs = []
    for _ in range(2):
        search = Search(SearchConfig(space="dense", strategy=name, evaluator="train", trials=trials, seed=seed,
                                     confirm=0), None, evaluator=evaluator, space=space)
        stats = search.evaluate()
        counted = [t for t in search.study.get_trials(deepcopy=False) if is_counted(t)]
        assert len(counted) == trials, f"{len(counted)} counted trials, not {trials}"
        assert stats.evaluated + stats.duplicates >= trials, "every counted trial was evaluated or a cache hit"
        keys = []
        for t in counted:
            arch = t.user_attrs.get("arch")
            assert arch is not None and t.user_attrs.get("result") is not None, f"trial {t.number} lacks its record"
            space.validate(Architecture.from_dict(arch))
            keys.append(t.user_attrs["arch_key"])
        runs.append(keys)
    assert runs[0] == runs[1], f"strategy {name!r} proposed other architectures with the same seed"
