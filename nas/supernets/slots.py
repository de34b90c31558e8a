"""Proposing a fixed list of architectures as trials, resumable and shared by worker processes.

Trial k of a run fills the lowest free *slot* (0 .. trials-1; a slot is free unless a counted or
running trial holds it, so a killed trial's slot is proposed again). A subclass says which
architecture a slot holds (`arch`, a pure function of the slot and of what the study recorded, so
a resumed run or another process proposes the same) and when it can be proposed (`ready`).
"""

from __future__ import annotations

import time

import optuna
from optuna.trial import TrialState

from nas.search.runner import is_counted
from search_spaces.base import Architecture


class SlotProposer:
    def __init__(self, trials: int, study: optuna.Study, poll_s: float = 0.5) -> None:
        self.trials, self.study, self.poll_s = trials, study, poll_s

    def arch(self, slot: int) -> Architecture:
        raise NotImplementedError

    def ready(self, slot: int) -> bool:
        """Whether slot `slot` can be proposed now (False: wait for earlier slots)."""
        return True

    def annotate(self, trial: optuna.Trial, slot: int, arch: Architecture) -> None:
        """User attributes the trial records beside its slot."""

    def propose(self, trial: optuna.Trial) -> Architecture | None:
        """The architecture of the lowest free slot (None when every slot is held)."""
        while True:
            held = self._held(exclude=trial.number)
            free = [s for s in range(self.trials) if s not in held]
            if not free:
                return None
            slot = free[0]
            if not self.ready(slot):
                time.sleep(self.poll_s)
                continue
            trial.set_user_attr("slot", slot)
            if slot in self._held(exclude=trial.number, below=trial.number):  # another process took it first
                continue
            arch = self.arch(slot)
            self.annotate(trial, slot, arch)
            return arch

    def _held(self, exclude: int, below: int | None = None) -> set[int]:
        out = set()
        for t in self.study.get_trials(deepcopy=False):
            if t.number == exclude or (below is not None and t.number >= below):
                continue
            if "slot" in t.user_attrs and (is_counted(t) or t.state == TrialState.RUNNING):
                out.add(t.user_attrs["slot"])
        return out
