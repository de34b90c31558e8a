"""How SMASH proposes trials: `trials - local` architectures sampled from its space, then rounds of
hill-climbing that mutate the best scored so far. Every proposal is one trial of the study.

Trial k of the run fills the lowest free *slot* (0 .. trials-1; a slot is free unless a counted or
running trial holds it, so a killed trial's slot is proposed again). Slot s's architecture is a
pure function of the seed and of the scores of the earlier rounds, replayed from the study on
resume or in another process: the sampled ones are the first draws of `default_rng(seed + 1)`, a
local round waits until every earlier slot is scored, takes the `local_top` best (by score, then
key) and mutates each `local_mutations` times with the same generator, continued.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from nas.search.runner import is_counted
from nas.supernets.slots import SlotProposer
from nas.supernets.smash.config import SmashConfig
from search_spaces.base import Architecture


class SmashProposer(SlotProposer):
    def __init__(self, space: Any, config: SmashConfig, trials: int, study: optuna.Study, poll_s: float = 0.5):
        super().__init__(trials, study, poll_s)
        self.space, self.config = space, config
        self.local = config.local_slots(trials)
        self.sampled = trials - self.local
        self.per_round = config.local_top * config.local_mutations
        self._rng = np.random.default_rng(config.seed + 1)
        self._archs: list[Architecture] = []  # slot -> architecture, as far as known
        self._phases: list[str] = []

    def phase(self, slot: int) -> str:
        return "sampled" if slot < self.sampled else f"local-{(slot - self.sampled) // self.per_round + 1}"

    def ready(self, slot: int) -> bool:
        return slot < self.sampled or self._earlier_done(slot)

    def annotate(self, trial: optuna.Trial, slot: int, arch: Architecture) -> None:
        trial.set_user_attr("phase", self.phase(slot))

    # --- replaying the slots ----------------------------------------------------------------------
    def arch(self, slot: int) -> Architecture:
        while len(self._archs) <= slot:
            if len(self._archs) < self.sampled:
                self._archs.append(self.space.sample(self._rng))
                continue
            r = (len(self._archs) - self.sampled) // self.per_round + 1
            best = self._top(self.sampled + (r - 1) * self.per_round)
            children = [self.space.mutate(a, self._rng) for a in best for _ in range(self.config.local_mutations)]
            self._archs.extend(children[:self.trials - len(self._archs)])
        return self._archs[slot]

    def _top(self, below: int) -> list[Architecture]:
        """The `local_top` best architectures scored in slots < `below` (distinct, by score then key)."""
        rows: dict[str, tuple[float, Architecture]] = {}
        for t in self.study.get_trials(deepcopy=False):
            slot, result = t.user_attrs.get("slot"), t.user_attrs.get("result")
            if slot is None or slot >= below or not is_counted(t) or not result:
                continue
            value = result.get("score") if result.get("score") is not None else result.get("val_accuracy")
            if value is not None:
                rows[t.user_attrs["arch_key"]] = (float(value), Architecture.from_dict(t.user_attrs["arch"]))
        ranked = sorted(rows.items(), key=lambda kv: (-kv[1][0], kv[0]))
        return [arch for _, (_, arch) in ranked[:self.config.local_top]]

    def _earlier_done(self, slot: int) -> bool:
        """Every slot of the earlier rounds is scored (none is still running elsewhere)."""
        start = self.sampled + ((slot - self.sampled) // self.per_round) * self.per_round
        for t in self.study.get_trials(deepcopy=False):
            s = t.user_attrs.get("slot")
            if s is not None and s < start and t.state == TrialState.RUNNING:
                return False
        return True
