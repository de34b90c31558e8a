"""`--evaluator predictor:FILE`: answer a search from a fitted accuracy predictor (a file written by
`nas predictor fit --out`). The predicted mean is reported as the validation accuracy (clipped to
[0, 1]) with `extra["predicted"] = True` and the std; there is no test accuracy to read."""

from __future__ import annotations

from typing import Any

from nas.results import EpochCallback, Result
from nas.search.evaluators import EvalContext, register_evaluator
from predictors.predictor import AccuracyPredictor
from search_spaces import Architecture


class PredictorEvaluator:
    def __init__(self, predictor: AccuracyPredictor, source: str = "") -> None:
        self.predictor, self.source = predictor, source

    def _result(self, arch: Architecture) -> Result:
        self.predictor.space.validate(arch)
        mean, std = self.predictor.predict([arch])
        extra: dict[str, Any] = {"predicted": True, "predictor": self.source, "std": float(std[0]),
                                 "raw_mean": float(mean[0])}
        shape = getattr(self.predictor.space, "shape", None)
        params = flops = None
        if callable(shape):
            s = shape(arch)
            params, flops = s.params, s.macs
        return Result(val_accuracy=min(1.0, max(0.0, float(mean[0]))), params=params, flops=flops, extra=extra)

    def evaluate(self, arch: Architecture, fidelity: int | None = None,
                 on_epoch: EpochCallback | None = None) -> Result:
        return self._result(arch)

    def test(self, arch: Architecture) -> Result:
        """A predictor has no test accuracy: the predicted validation accuracy, test left empty."""
        return self._result(arch)


def _factory(arg: str, ctx: EvalContext) -> PredictorEvaluator:
    if not arg:
        raise ValueError("the predictor evaluator needs a file: predictor:FILE (write one with nas predictor fit)")
    predictor = AccuracyPredictor.load(arg)
    if getattr(predictor.space, "name", None) != getattr(ctx.space, "name", None):
        raise ValueError(f"predictor {arg} was fitted on space {predictor.config.space!r}, the search is over "
                         f"{getattr(ctx.space, 'name', '?')!r}: fit one on this space")
    predictor.space = ctx.space
    predictor.features.space = ctx.space
    return PredictorEvaluator(predictor, arg)


register_evaluator("predictor", _factory)
