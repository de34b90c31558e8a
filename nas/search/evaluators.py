"""`--evaluator train | inherit | tabular:FILE.csv | smash:RUN_DIR | predictor:FILE | module:attr`: the
EVALUATORS registry.

An evaluator factory takes the text after `NAME:` (or `NAME?`) and an `EvalContext` and returns an
object with `evaluate(arch, fidelity=None, on_epoch=None) -> Result` (validation numbers only) and
`test(arch) -> Result` (test accuracy, for the final pick); one whose results carry their own
params, flops and latency (a table) sets `reports_costs = True` and the search does not count or
predict them before evaluating (`nas.search.limits`). Plug one in with

    from nas.search.evaluators import register_evaluator
    register_evaluator("smash", lambda arg, ctx: SmashEvaluator.load(arg, ctx.space))

in a module that `PLUGIN_MODULES` names (imported on first use of the name), or name any
importable factory or evaluator instance directly: `--evaluator my_pkg.evals:make` or
`--evaluator path/to/file.py:make` (`make(ctx)` is called; an instance is used as is).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from nas.config_util import typed_options
from search_spaces.registry import Registry, unknown_name_message


@dataclass(frozen=True)
class EvalContext:
    """What the command line tells an evaluator besides its own argument."""

    space: Any
    dataset: str = "digits"
    epochs: int = 10
    seed: int = 0
    needs_latency: bool = False  # the search wants latency_ms (built-in evaluators leave it to its cost gate)
    quiet: bool = False
    run_dir: Any = None  # the run's directory (where its own supernet lives), when it has one
    config: Any = None  # the run's SearchConfig, when there is one
    device: str = "cpu"


EvaluatorFactory = Callable[[str, EvalContext], Any]
EVALUATORS: Registry[EvaluatorFactory] = Registry("evaluator")
# Names whose factories live in modules that register them when imported (later issues add them).
PLUGIN_MODULES = {"smash": "nas.evaluators.supernet", "predictor": "predictors.evaluator"}


def register_evaluator(name: str, factory: EvaluatorFactory) -> EvaluatorFactory:
    EVALUATORS.register(name, factory)
    return factory


def make_evaluator(spec: str, ctx: EvalContext) -> Any:
    """The evaluator `spec` names (see the module docstring); `ValueError` with one line otherwise."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("--evaluator is empty; use train, tabular:FILE.csv or module:attr")
    spec = spec.strip()
    name = spec.split(":", 1)[0].split("?", 1)[0]
    arg = spec[len(name):].removeprefix(":")
    if name not in EVALUATORS and name in PLUGIN_MODULES:
        try:
            importlib.import_module(PLUGIN_MODULES[name])
        except ModuleNotFoundError:
            raise ValueError(f"evaluator {name!r} is not available yet ({PLUGIN_MODULES[name]} is not installed)") \
                from None
    if name in EVALUATORS:
        return EVALUATORS.get(name)(arg, ctx)
    if ":" in spec and ("." in name or "/" in name or "\\" in name):
        return _from_import(spec, ctx)
    raise ValueError(unknown_name_message("evaluator", name, sorted(set(EVALUATORS.names()) | set(PLUGIN_MODULES)))
                     + "; or pass module:attr")


def _from_import(spec: str, ctx: EvalContext) -> Any:
    from search_spaces.plugins import import_attr

    obj = import_attr(spec, "evaluator", "my_pkg.evals:make")
    evaluator = obj if hasattr(obj, "evaluate") and not isinstance(obj, type) else obj(ctx)
    if not callable(getattr(evaluator, "evaluate", None)) or not callable(getattr(evaluator, "test", None)):
        raise ValueError(f"evaluator {spec!r} gave a {type(evaluator).__name__}, which lacks evaluate() or test()")
    return evaluator


def _tabular(arg: str, ctx: EvalContext) -> Any:
    from nas.evaluators.tabular import TabularEvaluator

    if getattr(ctx.space, "name", None) != "nb201":
        raise ValueError("the tabular evaluator answers NAS-Bench-201 cells: use --space nb201")
    return TabularEvaluator.from_spec(arg)


def _train(arg: str, ctx: EvalContext) -> Any:
    from nas.evaluators.train import TrainEvaluator
    from nas.training import TrainConfig

    query = arg.removeprefix("?")
    if arg and not arg.startswith("?"):
        raise ValueError(f"evaluator train takes options as train?name=value&..., not train:{arg}")
    options = typed_options(TrainConfig, dict(parse_qsl(query, keep_blank_values=True)), "train evaluator",
                            exclude=("epochs", "quiet"))
    options.setdefault("seed", ctx.seed)
    options.setdefault("device", ctx.device)
    options["epochs"] = ctx.epochs
    options["quiet"] = True  # the search's own progress bar is enough
    # latency is the search's cost gate's (predicted, or measured before training: nas.search.limits)
    return TrainEvaluator(ctx.space, ctx.dataset, TrainConfig(**options))


def _inherit(arg: str, ctx: EvalContext) -> Any:
    from pathlib import Path

    from nas.evaluators.inherit import WEIGHTS_DIR, InheritEvaluator, InheritOptions, WeightStore

    if arg and not arg.startswith("?"):
        raise ValueError(f"evaluator inherit takes options as inherit?finetune=2&steps=3, not inherit:{arg}")
    if getattr(ctx.space, "name", None) != "dense":
        raise ValueError("the inherit evaluator transforms dense networks: use --space dense or dense?around=NAME")
    raw = dict(parse_qsl(arg.removeprefix("?")))
    options = InheritOptions(**typed_options(InheritOptions, raw, "inherit evaluator"))
    store = WeightStore(None if ctx.run_dir is None else Path(ctx.run_dir) / WEIGHTS_DIR)
    return InheritEvaluator(_train("", ctx), store, options)


register_evaluator("inherit", _inherit)
register_evaluator("tabular", _tabular)
register_evaluator("train", _train)
