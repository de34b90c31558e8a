"""`SearchConfig`: everything that defines a search (what config.json holds), the one source of the
defaults `nas search --help` prints. Light to import: no Optuna, no torch.

Fields left `None` are resolved on construction from the others, so a stored config is complete:
- `strategy`: smash for the dense space without an evaluator, else `DEFAULT_STRATEGY`;
- `evaluator`: smash (this run's own supernet) for the smash strategy, else train;
- `confirm`: architectures retrained by the confirmation stage (`PROXY_CONFIRM` for proxy
  evaluators and inherit, 1 for train, 0 for tabular and imported evaluators); `confirm_epochs`: `epochs`;
  `confirm_seed`: `seed + 1`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from nas.config_util import strict_from_dict
from nas.supernets.differentiable.config import MODES as DIFFERENTIABLE_STRATEGIES
from nas.supernets.smash.config import SmashConfig

if TYPE_CHECKING:
    from nas.search.objectives import Objectives

# The Optuna strategy `nas search` uses without --strategy once a --space other than dense or an
# --evaluator is given (with neither, `nas search` runs SMASH).
DEFAULT_STRATEGY = "tpe"
SUPERNET_STRATEGIES = ("smash",)  # strategies that fit a supernet before proposing
PROXY_EVALUATORS = ("smash", "predictor")  # scores, not accuracies: their picks are confirmed by training
PROXY_CONFIRM = 2
FORMAT_VERSION = 2  # of config.json and results.json; --resume refuses other versions


def evaluator_name(spec: str) -> str:
    return spec.split(":", 1)[0].split("?", 1)[0].strip()


@dataclass(frozen=True)
class SearchConfig:
    """Everything that defines a search; `storage=None` is `study.db` in the run directory."""

    space: str = "dense"
    strategy: str | None = None
    evaluator: str | None = None
    trials: int = 100  # scored architectures, local-search ones and cache hits included
    seed: int = 0
    dataset: str = "digits"
    epochs: int = 15  # per trained architecture (the train evaluator and confirmation)
    objectives: tuple[str, ...] = ("val_accuracy",)
    max_latency_ms: float | None = None
    # how latency is measured (and the profile's fingerprint): wall, or cpu (the thread's CPU time, --threads 1
    # on a CPU: stabler on a loaded machine, where other processes' time lands in wall-clock IQRs)
    latency_clock: str = "wall"
    max_params: int | None = None
    max_flops: int | None = None  # MACs (the project's `flops`), as `nas select --max-flops`
    pruner: str = "none"
    storage: str | None = None
    study_name: str = "search"
    confirm: int | None = None
    confirm_epochs: int | None = None
    confirm_seed: int | None = None
    confirm_train: str | None = None  # train?option=value&...: the confirmation's recipe (default: the evaluator's
    # when it is train, else TrainConfig's defaults); its epochs and seed come from confirm_epochs / confirm_seed
    supernet_steps: int = SmashConfig.steps  # minibatches of supernet training (every supernet strategy)
    device: str = "cpu"  # a torch device string (the command line resolves auto)
    init: str | None = None  # preset:NAME,...|FILE,...: the first trials (`nas.search.init`)
    smash: SmashConfig = field(default_factory=SmashConfig)

    def __post_init__(self) -> None:
        if self.latency_clock not in ("wall", "cpu"):
            raise ValueError(f"--latency-clock {self.latency_clock!r}: use wall or cpu")
        if isinstance(self.trials, int) and self.trials < 1:
            raise ValueError(f"--trials must be at least 1 (one trial = one architecture evaluated), got {self.trials}")
        for name in ("trials", "epochs", "supernet_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {value!r}")
        if not isinstance(self.smash, SmashConfig):
            raise ValueError("smash settings must be a SmashConfig")
        strategy = self.strategy
        if strategy is None:
            plain_dense = self.space.split("?", 1)[0] == "dense" and "around=" not in self.space
            strategy = "smash" if plain_dense and self.evaluator is None else DEFAULT_STRATEGY
        evaluator = self.evaluator if self.evaluator is not None else (
            "smash" if strategy.split("?", 1)[0] == "smash" else "train")
        if strategy.split("?", 1)[0] in SUPERNET_STRATEGIES and evaluator_name(evaluator) != strategy.split("?", 1)[0]:
            raise ValueError(f"--strategy {strategy} proposes from its supernet's scores: use --evaluator smash (the "
                             "default) or smash:RUN_DIR; to train every proposal use another strategy")
        if strategy.split("?", 1)[0] in DIFFERENTIABLE_STRATEGIES and evaluator_name(evaluator) == "smash":
            raise ValueError(f"--strategy {strategy} fits its own supernet and proposes from it: judge its proposals "
                             "with --evaluator train or tabular:FILE.csv, not smash")
        confirm = self.confirm
        if confirm is None:
            name = evaluator_name(evaluator)
            # inherit: a fine-tuned child's accuracy is not a from-scratch one, so its best are retrained too
            confirm = PROXY_CONFIRM if name in (*PROXY_EVALUATORS, "inherit") else 1 if name == "train" else 0
        if confirm < 0:
            raise ValueError(f"--confirm must be 0 or more, got {confirm}")
        if self.confirm_epochs is not None and self.confirm_epochs < 1:
            raise ValueError(f"--confirm-epochs must be a positive integer, got {self.confirm_epochs}")
        train = self.confirm_train if self.confirm_train is not None else (
            evaluator if evaluator_name(evaluator) == "train" else "train")
        if evaluator_name(train) != "train" or (train != "train" and not train.startswith("train?")):
            raise ValueError(f"--confirm-train {train!r}: use train?option=value&... (TrainConfig's options)")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device {self.device!r}: use cpu or cuda[:N]")
        set_ = object.__setattr__
        set_(self, "strategy", strategy)
        set_(self, "evaluator", evaluator)
        set_(self, "confirm", confirm)
        set_(self, "confirm_train", train)
        set_(self, "confirm_epochs", self.confirm_epochs or self.epochs)
        set_(self, "confirm_seed", self.seed + 1 if self.confirm_seed is None else self.confirm_seed)
        # the supernet's steps and seed have one source each: --supernet-steps and --seed
        set_(self, "smash", replace(self.smash, steps=self.supernet_steps, seed=self.seed))
        from nas.search.pruners import PRUNERS
        from nas.search.strategies import strategy_of

        strategy_of(strategy)  # unknown -> close matches; bad options -> what is known
        PRUNERS.get(self.pruner)
        set_(self, "objectives", self.objective_set.metrics)
        if self.pruner != "none" and len(self.objectives) > 1:
            raise ValueError("--pruner applies to single-objective searches (Optuna does not prune multi-objective "
                             "studies); drop --pruner or use one objective")

    @property
    def strategy_name(self) -> str:
        return (self.strategy or "").split("?", 1)[0]

    @property
    def proxy(self) -> bool:
        """Whether the evaluator scores (a supernet, a predictor) instead of measuring accuracy."""
        return evaluator_name(self.evaluator or "") in PROXY_EVALUATORS

    @property
    def supernet(self) -> str | None:
        """The supernet this run fits itself: a differentiable strategy's (darts, gdas, proxyless), or
        the smash evaluator's without a RUN_DIR (the smash strategy's default), whatever the strategy."""
        if self.strategy_name in DIFFERENTIABLE_STRATEGIES:
            return self.strategy_name
        return self.evaluator if self.evaluator in SUPERNET_STRATEGIES else None

    @property
    def objective_set(self) -> Objectives:
        from nas.search.objectives import Objectives

        return Objectives.parse(self.objectives, self.max_latency_ms, self.max_params, self.max_flops)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "objectives": list(self.objectives)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchConfig:
        return strict_from_dict(cls, data, "search config key")
