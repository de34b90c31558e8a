"""Ranking metrics for predictors and one-shot scores: Kendall tau, Spearman, top-k recall, and
bootstrap confidence intervals."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def kendall_tau(score: np.ndarray, truth: np.ndarray) -> float:
    return float(stats.kendalltau(score, truth).statistic)


def spearman(score: np.ndarray, truth: np.ndarray) -> float:
    return float(stats.spearmanr(score, truth).statistic)


def top_k_recall(score: np.ndarray, truth: np.ndarray, k: int = 5) -> float:
    """Fraction of the truly best k that are among the k best by score."""
    k = min(k, len(truth))
    best_true = set(np.argsort(-np.asarray(truth), kind="stable")[:k].tolist())
    best_score = set(np.argsort(-np.asarray(score), kind="stable")[:k].tolist())
    return len(best_true & best_score) / k


def bootstrap_ci(metric: Callable[[np.ndarray, np.ndarray], float], score: np.ndarray, truth: np.ndarray,
                 rng: np.random.Generator, n: int = 1000, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of `metric` over resampled (score, truth) pairs."""
    score, truth = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    values = []
    for _ in range(n):
        idx = rng.integers(0, len(truth), len(truth))
        v = metric(score[idx], truth[idx])
        if np.isfinite(v):
            values.append(v)
    lo, hi = np.percentile(values, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return float(lo), float(hi)
