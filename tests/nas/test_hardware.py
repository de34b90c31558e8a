"""`--threads`: explicit counts are checked against the machine, `auto` leaves busy cores alone."""

from __future__ import annotations

import os

import pytest
import torch

from nas.errors import UserError
from nas.hardware import resolve_threads


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """An 8-core machine where torch would use 8 threads; the test sets the load average."""

    def set_load(load: float | None, cores: int = 8, torch_threads: int = 8) -> None:
        monkeypatch.setattr(os, "cpu_count", lambda: cores)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
        monkeypatch.setattr(torch, "get_num_threads", lambda: torch_threads)

        def loadavg() -> tuple[float, float, float]:
            if load is None:
                raise OSError("no load average here")
            return (load, load, load)

        monkeypatch.setattr(os, "getloadavg", loadavg)

    return set_load


@pytest.mark.parametrize("load, expected", [(0.0, 8), (0.4, 8), (3.0, 5), (5.6, 2), (7.9, 1), (40.0, 1)])
def test_auto_uses_the_cores_not_already_busy(machine, load: float, expected: int) -> None:
    machine(load)
    assert resolve_threads("auto") == expected


def test_auto_never_exceeds_torch_default_and_falls_back_without_a_load_average(machine) -> None:
    machine(0.0, torch_threads=4)
    assert resolve_threads("auto") == 4
    machine(None, torch_threads=6)
    assert resolve_threads("auto") == 6


def test_explicit_counts(machine) -> None:
    machine(7.0)
    assert resolve_threads("3") == 3 and resolve_threads("8") == 8  # the load does not matter when asked
    with pytest.raises(UserError, match="this machine has 8 cores"):
        resolve_threads("9")
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(UserError, match="use a positive integer or auto"):
            resolve_threads(bad)
