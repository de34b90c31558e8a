"""A SMASH search: train the supernet, score sampled architectures and a local search around the
best, retrain the top ones from scratch with the shared trainer, write everything to the run
directory. Every step resumes from what the directory already holds."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from nas.data.dataset import Dataset
from nas.smash.hypertrain import Smash, SmashConfig
from nas.smash.supernet import smash_config
from nas.training import TrainConfig, accuracy, train
from search_spaces.base import Architecture
from search_spaces.dense.space import DenseSpace, DenseSpaceConfig


@dataclass(frozen=True)
class SmashSearchConfig:
    trials: int = 100  # sampled architectures scored with generated weights
    local_rounds: int = 2  # rounds of local search around the best scored architectures
    local_top: int = 3
    local_mutations: int = 4  # mutations of each top architecture per round
    retrain_top: int = 2  # best-scored architectures retrained from scratch
    retrain: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15))
    smash: SmashConfig = field(default_factory=SmashConfig)
    space: DenseSpaceConfig = field(default_factory=DenseSpaceConfig)

    def __post_init__(self) -> None:
        if self.trials < 1 or self.retrain_top < 1 or self.local_rounds < 0 or self.local_top < 1:
            raise ValueError("--trials and the number of retrained architectures must be positive")


def run_smash(data: Dataset, config: SmashSearchConfig, run_dir: Path, quiet: bool = False) -> dict[str, Any]:
    """The whole search; returns the summary also written to `run_dir/results.json`."""
    space = DenseSpace(smash_config(config.space))
    # images too small for the space's downsampling: one line now, not a traceback mid-training
    space.shape(space.sample(np.random.default_rng(0)), data.num_classes, data.in_channels, data.input_size)
    run_dir.mkdir(parents=True, exist_ok=True)
    smash = Smash(space, data.num_classes, data.in_channels, config.smash)
    fit = smash.fit(data, run_dir / "supernet.pt", quiet=quiet)
    scores = ScoreLog(run_dir / "scores.jsonl")
    rng = np.random.default_rng(config.smash.seed + 1)
    sampled = [space.sample(rng) for _ in range(config.trials)]
    scores.score_all(smash, data, sampled, "sampled", quiet)
    for r in range(config.local_rounds):  # hill-climb: perturb the best so far
        best = scores.top(config.local_top, phases={"sampled", *(f"local-{q}" for q in range(1, r + 1))})
        children = [space.mutate(a, rng) for a in best for _ in range(config.local_mutations)]
        scores.score_all(smash, data, children, f"local-{r + 1}", quiet)
    retrained = [retrain(row, space, data, config.retrain, run_dir / f"retrain-{k + 1}", quiet)
                 for k, row in enumerate(scores.top_rows(config.retrain_top))]
    pick = max(retrained, key=lambda r: r["val_accuracy"])
    pick["test_accuracy"] = test_once(pick, space, data)  # the only look at the test split
    arch = Architecture.from_dict(pick["arch"])
    (run_dir / "arch.json").write_text(arch.to_json())
    summary = {"strategy": "smash", "run_dir": str(run_dir), "dataset": data.summary(), "supernet": fit,
               "n_trials": len(scores.rows), "config": jsonable(asdict(config)),
               "best": {k: pick[k] for k in ("arch", "score", "val_accuracy", "test_accuracy", "params", "flops",
                                            "weights")},
               "retrained": retrained}
    (run_dir / "results.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


class ScoreLog:
    """Scores appended one JSON line per architecture, so an interrupted run resumes."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    row = json.loads(line)
                    self.rows[row["key"]] = row

    def score_all(self, smash: Smash, data: Dataset, archs: list[Architecture], phase: str, quiet: bool) -> None:
        todo = [a for a in dict.fromkeys(archs) if a.key() not in self.rows]
        with self.path.open("a") as f:
            for arch in tqdm(todo, desc=f"scoring ({phase})", file=sys.stderr, disable=quiet or not todo,
                             dynamic_ncols=True):
                row = {"key": arch.key(), "phase": phase, **smash.scored(arch, data), "arch": arch.to_dict()}
                self.rows[row["key"]] = row
                f.write(json.dumps(row, sort_keys=True) + "\n")
                f.flush()

    def top_rows(self, k: int, phases: set[str] | None = None) -> list[dict[str, Any]]:
        """The k best rows (of the given phases only, so a resumed run replays the same choices)."""
        rows = [r for r in self.rows.values() if phases is None or r["phase"] in phases]
        return sorted(rows, key=lambda r: (-r["score"], r["key"]))[:k]

    def top(self, k: int, phases: set[str] | None = None) -> list[Architecture]:
        return [Architecture.from_dict(r["arch"]) for r in self.top_rows(k, phases)]


def retrain(scored: dict[str, Any], space: DenseSpace, data: Dataset, config: TrainConfig, out: Path,
            quiet: bool) -> dict[str, Any]:
    """Train one scored architecture from scratch; validation accuracy only (resuming means
    reading its finished result)."""
    done = out / "result.json"
    if done.exists():
        return json.loads(done.read_text())
    out.mkdir(parents=True, exist_ok=True)
    arch = Architecture.from_dict(scored["arch"])
    torch.manual_seed(config.seed)  # the same initial weights for the same seed
    model = space.build(arch, data.num_classes, data.in_channels, data.input_size)
    result = train(model, data, replace(config, quiet=quiet), test=False)
    shape = space.shape(arch, data.num_classes, data.in_channels, data.input_size)
    torch.save(model.state_dict(), out / "weights.pt")
    (out / "arch.json").write_text(arch.to_json())
    row = {"arch": arch.to_dict(), "score": scored["score"], "val_accuracy": result.val_accuracy,
           "test_accuracy": None, "params": shape.params, "flops": shape.macs,
           "train_seconds": result.train_seconds, "weights": str(out / "weights.pt")}
    done.write_text(json.dumps(row, indent=1, sort_keys=True))
    return row


def test_once(row: dict[str, Any], space: DenseSpace, data: Dataset) -> float:
    model = space.build(Architecture.from_dict(row["arch"]), data.num_classes, data.in_channels, data.input_size)
    model.load_state_dict(torch.load(row["weights"], weights_only=True))
    return accuracy(model, data, "test")


def jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=list))
