from __future__ import annotations

import numpy as np

from predictors.metrics import bootstrap_ci, kendall_tau, spearman, top_k_recall


def test_metrics_on_known_rankings() -> None:
    truth = np.arange(10.0)
    assert abs(kendall_tau(truth, truth) - 1) < 1e-9 and abs(spearman(truth, truth) - 1) < 1e-9
    assert abs(kendall_tau(-truth, truth) + 1) < 1e-9
    assert top_k_recall(truth, truth, 5) == 1.0 and top_k_recall(-truth, truth, 5) == 0.0
    noisy = truth + np.random.default_rng(0).normal(0, 3, 10)
    lo, hi = bootstrap_ci(kendall_tau, noisy, truth, np.random.default_rng(1), n=200)
    assert -1 <= lo <= kendall_tau(noisy, truth) <= hi <= 1
