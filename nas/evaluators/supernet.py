"""`--evaluator smash[:RUN_DIR]`: score architectures with a fitted SMASH supernet's generated
weights (a proxy: `Result.score`, higher is better; `val_accuracy` stays empty until trained).

Without RUN_DIR the run's own supernet is used (the smash strategy fits it first); with one, the
supernet that run fitted (its config.json says how it was built), so any strategy can search
with it: `nas search --strategy tpe --evaluator smash:runs/NAME`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from nas.results import EpochCallback, Result
from nas.search.evaluators import EvalContext, register_evaluator
from search_spaces.base import Architecture

SUPERNET_FILE = "supernet.pt"
FITTED_FILE = "supernet.json"  # written once the supernet has all its steps
TRAJECTORY_FILE = "arch_trajectory.json"  # a differentiable supernet's architecture parameters, every few steps


def smash_space(space: Any) -> Any:
    """The sub-space SMASH's supernet covers, of a dense space."""
    from search_spaces.dense.space import DenseSpace, smash_subspace

    if not isinstance(space, DenseSpace):
        raise ValueError("SMASH's supernet covers the dense space: use --space dense (with its options)")
    if hasattr(space, "around"):
        raise ValueError("SMASH's supernet covers dense's configured sub-space, not dense?around=NAME; "
                         "search that with --strategy tpe or evolution and --evaluator train")
    return DenseSpace(smash_subspace(space.config))


def is_fitted(run_dir: Path) -> bool:
    return (run_dir / FITTED_FILE).is_file() and (run_dir / SUPERNET_FILE).is_file()


class SupernetEvaluator:
    """Scores with the SMASH supernet saved in `run_dir` (loaded on first use)."""

    proxy = True
    epochs = 1

    def __init__(self, run_dir: Path, config: Any, data: Any = None) -> None:
        self.run_dir, self.config = run_dir, config  # config: the SearchConfig the supernet was fitted with
        self._data, self._smash, self.space = data, None, None

    @property
    def data(self) -> Any:
        if self._data is None:
            from nas.data import load_dataset

            self._data = load_dataset(self.config.dataset, seed=self.config.seed)
        return self._data

    @property
    def smash(self) -> Any:
        if self._smash is None:
            import torch

            from nas.search.session import resolve_space
            from nas.supernets.smash.model import Smash

            if not is_fitted(self.run_dir):
                raise ValueError(f"{self.run_dir} holds no fitted SMASH supernet yet (no {FITTED_FILE}); "
                                 "let its nas search fit it first")
            self.space = smash_space(resolve_space(self.config.space))
            d = self.data
            smash = Smash(self.space, d.num_classes, d.in_channels, self.config.smash)
            state = torch.load(self.run_dir / SUPERNET_FILE, weights_only=True, map_location="cpu")
            smash.load_state_dict(state["model"])
            self._smash = smash.to(getattr(self.config, "device", "cpu"))
        return self._smash

    def evaluate(self, arch: Architecture, fidelity: int | None = None,
                 on_epoch: EpochCallback | None = None) -> Result:
        start = time.perf_counter()
        smash, d = self.smash, self.data
        terms = smash.scored(arch, d)
        shape = self.space.shape(arch, d.num_classes, d.in_channels, d.input_size)
        return Result(score=float(terms.pop("score")), params=int(shape.params), flops=int(shape.macs),
                      cost_s=time.perf_counter() - start, extra={"terms": terms})

    def test(self, arch: Architecture) -> Result:
        """A supernet measures no test accuracy: the pipeline's confirmation stage trains the pick."""
        return Result(state="complete", extra={"note": "a proxy evaluator measures no test accuracy; use --confirm"})


def _smash(arg: str, ctx: EvalContext) -> SupernetEvaluator:
    from nas.search.session import read_config

    if arg.startswith("?"):
        raise ValueError("evaluator smash takes no options (set them with --smash KEY=VALUE on the run that fits it)")
    if not arg:
        if ctx.config is None:
            raise ValueError("evaluator smash without RUN_DIR scores with this run's own supernet: use "
                             "--strategy smash, or --evaluator smash:RUN_DIR of a fitted SMASH run")
        return SupernetEvaluator(Path(ctx.run_dir or "."), ctx.config)
    run_dir = Path(arg).expanduser()
    config = read_config(run_dir)
    if not is_fitted(run_dir):
        raise ValueError(f"{run_dir} holds no fitted SMASH supernet ({FITTED_FILE} is missing); run or resume it first")
    if config.space.split("?", 1)[0] != getattr(ctx.space, "name", None):
        raise ValueError(f"the supernet in {run_dir} covers space {config.space!r}; use --space {config.space}")
    if ctx.config is not None and ctx.config.dataset != config.dataset:
        raise ValueError(f"the supernet in {run_dir} was fitted on --dataset {config.dataset}; search with that one")
    return SupernetEvaluator(run_dir, config)


def read_fit(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / FITTED_FILE
    return json.loads(path.read_text()) if path.is_file() else None


register_evaluator("smash", _smash)
