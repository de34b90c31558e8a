"""`--evaluator inherit`: a child that a function-preserving transformation makes from a trained
parent (`search_spaces.dense.morph`) starts from the parent's weights and is fine-tuned for a few
epochs instead of trained from scratch (the EAS / Net2Net idea); anything else is trained from
scratch as `--evaluator train` does.

Every evaluated architecture keeps its trained weights (`WeightStore`: `<run>/weights/<arch key>.pt`
and a JSON record beside it, both written atomically, the record last, so a resumed or parallel
run only ever sees whole files). The parent: the trial the strategy named (evolution's and
BANANAS's `*:parent` system attribute, passed by the runner as `parent=`), else the best stored
architecture the child can be reached from in at most `steps` transformations. How each result was
obtained is in `Result.extra["inherit"]` (`mode` "inherited" with the parent and the steps, or
"scratch" with the reason), which the runner copies to the trial's user attributes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nas.evaluators.train import TrainEvaluator
from nas.results import EpochCallback, Result
from search_spaces.base import Architecture

WEIGHTS_DIR = "weights"


@dataclass(frozen=True)
class InheritOptions:
    """`--evaluator inherit?finetune=2&lr_scale=0.2&steps=3`: fine-tuning epochs of a child that
    inherits, its learning rate as a fraction of the training recipe's (trained weights need smaller
    steps than fresh ones, as in Net2Net's fine-tuning), and the most transformations between parent
    and child."""

    finetune: int = 2
    lr_scale: float = 0.2
    steps: int = 3

    def __post_init__(self) -> None:
        if self.finetune < 1 or self.steps < 1:
            raise ValueError(f"inherit: finetune and steps must be at least 1, got {self.finetune}, {self.steps}")
        if not 0.0 < self.lr_scale <= 1.0:
            raise ValueError(f"inherit: lr_scale must lie in (0, 1], got {self.lr_scale}")


class WeightStore:
    """Trained weights and results by architecture key: files under `root`, or in memory when None."""

    def __init__(self, root: Path | None) -> None:
        self.root = None if root is None else Path(root)
        self._memory: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}  # key -> (state, record)
        if self.root is not None:
            self.root.mkdir(parents=True, exist_ok=True)

    def save(self, arch: Architecture, state: dict[str, Any], result: Result) -> None:
        record = {"arch": arch.to_dict(), "result": json.loads(json.dumps(result.to_dict(), default=str))}
        if self.root is None:
            self._memory[arch.key()] = ({k: v.detach().clone() for k, v in state.items()}, record)
            return
        from nas.runs import save_state_dict, write_json

        save_state_dict(self.root / f"{arch.key()}.pt", state)
        write_json(self.root / f"{arch.key()}.json", record)  # last: a record means its weights are whole

    def records(self) -> dict[str, dict[str, Any]]:
        """Every stored record (other processes' included), by key."""
        if self.root is None:
            return {k: rec for k, (_, rec) in self._memory.items()}
        out = {}
        for path in sorted(self.root.glob("*.json")):
            try:
                out[path.stem] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):  # removed or unreadable meanwhile: not a parent
                continue
        return out

    def load(self, key: str) -> dict[str, Any]:
        if self.root is None:
            return self._memory[key][0]
        import torch

        return torch.load(self.root / f"{key}.pt", map_location="cpu", weights_only=True)


class InheritEvaluator:
    """Fine-tunes a child from its stored parent's weights when a transformation reaches it, else
    trains it from scratch (`trainer`). `inherits` tells the runner to pass the strategy's parent."""

    inherits = True

    def __init__(self, trainer: TrainEvaluator, store: WeightStore, options: InheritOptions | None = None) -> None:
        self.trainer, self.store, self.options = trainer, store, options or InheritOptions()

    @property
    def epochs(self) -> int:
        return self.trainer.epochs

    def reachable(self, parent: Architecture, child: Architecture) -> bool:
        """Whether `child` can inherit `parent`'s weights (what a strategy should prefer to propose)."""
        from search_spaces.dense.morph_plan import plan

        return parent.space == child.space == "dense" and plan(
            parent.genotype, child.genotype, self.options.steps) is not None

    def find_parent(self, arch: Architecture, parent: Architecture | None = None) -> tuple[str, list[Any]] | str:
        """(stored parent key, steps), or the reason there is none."""
        from search_spaces.dense.morph_plan import plan

        if arch.space != "dense":
            return f"space {arch.space!r} has no function-preserving transformations"
        records = self.store.records()
        records.pop(arch.key(), None)
        order = sorted(records, key=lambda k: -(records[k]["result"].get("val_accuracy") or 0.0))
        if parent is not None and parent.key() in records:  # the strategy's parent first
            order.remove(parent.key())
            order.insert(0, parent.key())
        for key in order:
            steps = plan(records[key]["arch"]["genotype"], arch.genotype, self.options.steps)
            if steps is not None:
                return key, steps
        named = "" if parent is None else (" (its named parent has no stored weights)" if parent.key() not in records
                                           else " (not from its named parent either)")
        return f"not reachable by transformations from any of {len(records)} stored architectures{named}"

    def evaluate(self, arch: Architecture, fidelity: int | None = None, on_epoch: EpochCallback | None = None,
                 parent: Architecture | None = None) -> Result:
        stored = self.store.records().get(arch.key())
        if stored is not None:  # evaluated before (a resumed run, a second process): the same answer
            result = Result.from_dict(stored["result"])
            result.extra["cached_weights"] = True
            return result
        found = self.find_parent(arch, parent)
        if isinstance(found, str):
            config = self.trainer.config if fidelity is None else replace(self.trainer.config, epochs=int(fidelity))
            model = self.trainer._build(arch)
            result = self.trainer.train_model(arch, model, config, on_epoch)
            result.extra["inherit"] = {"mode": "scratch", "reason": found}
        else:
            model, result = self._finetune(arch, *found, on_epoch)
        self.store.save(arch, model.state_dict(), result)
        return result

    def _finetune(self, arch: Architecture, key: str, steps: list[Any],
                  on_epoch: EpochCallback | None) -> tuple[Any, Result]:
        from search_spaces.dense.morph_plan import inherit

        start = time.perf_counter()
        d = self.trainer.data
        build = {"num_classes": d.num_classes, "in_channels": d.in_channels, "input_size": d.input_size}
        parent = self.store.records()[key]
        _, state = inherit(parent["arch"]["genotype"], self.store.load(key), steps, build)
        model = self.trainer._build(arch)
        model.load_state_dict(state)
        recipe = self.trainer.config
        config = replace(recipe, epochs=self.options.finetune, lr=recipe.learning_rate * self.options.lr_scale)
        result = self.trainer.train_model(arch, model, config, on_epoch)
        result.cost_s = time.perf_counter() - start  # the weight transfer included
        result.extra["inherit"] = {"mode": "inherited", "parent_key": key, "steps": [[n, list(a)] for n, a in steps],
                                   "parent_val_accuracy": parent["result"].get("val_accuracy")}
        return model, result

    def test(self, arch: Architecture) -> Result:
        """Test accuracy of the stored weights when there are some, else of a model trained from scratch."""
        from nas.training import accuracy

        stored = self.store.records().get(arch.key())
        if stored is None:
            return self.trainer.test(arch)
        model = self.trainer._build(arch)
        model.load_state_dict(self.store.load(arch.key()))
        cfg = self.trainer.config
        test = accuracy(model.to(cfg.device), self.trainer.data, "test", cfg.eval_batch_size)
        return Result(val_accuracy=stored["result"].get("val_accuracy"), test_accuracy=test,
                      params=stored["result"].get("params"), flops=stored["result"].get("flops"),
                      extra={"dataset": self.trainer.dataset, "inherit": stored["result"]["extra"].get("inherit")})
