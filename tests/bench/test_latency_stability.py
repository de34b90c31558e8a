"""bench/latency_stability.py's agreement figures on known round medians."""

from __future__ import annotations

import numpy as np
import pytest

from bench.latency_stability import agreement


def test_agreement_of_a_bimodal_machine() -> None:
    a = agreement(np.array([4.0, 4.1, 7.0, 7.0, 4.0]))
    # pairs within 10%: (4.0, 4.1), (4.0, 4.0), (4.1, 4.0), (7.0, 7.0) of 10
    assert a["all_pairs_within"] == pytest.approx(0.4)
    assert a["consecutive_within"] == pytest.approx(0.5)  # 4.0-4.1 and 7.0-7.0 of 4
    assert a["max_over_min"] == pytest.approx(7.0 / 4.0)


def test_a_steady_machine_agrees_everywhere() -> None:
    a = agreement(np.full(6, 3.0))
    assert a["all_pairs_within"] == a["consecutive_within"] == 1.0
