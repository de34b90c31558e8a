"""Class-balanced subsets and stratified splits (index arrays; every draw takes a numpy Generator)."""

from __future__ import annotations

import numpy as np


def balanced_subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of `n` items drawn as evenly over the classes as their counts allow (sorted)."""
    if n >= len(y):
        return np.arange(len(y))
    classes = np.unique(y)
    pools = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    quota = _fill(np.array([len(p) for p in pools]), n)
    return np.sort(np.concatenate([p[:q] for p, q in zip(pools, quota, strict=True)]))


def stratified_split(y: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) indices: about `fraction` of every class is held out, at least one item of
    each class with two or more; the held-out total is round(fraction * len(y))."""
    if fraction <= 0 or len(y) == 0:
        return np.arange(len(y)), np.arange(0)
    classes = np.unique(y)
    pools = [rng.permutation(np.flatnonzero(y == c)) for c in classes]
    counts = np.array([len(p) for p in pools])
    target = max(len(classes), round(fraction * len(y)))
    quota = np.minimum(_proportional(counts, target), np.maximum(counts - 1, 0))
    held = np.concatenate([p[:q] for p, q in zip(pools, quota, strict=True)])
    keep = np.concatenate([p[q:] for p, q in zip(pools, quota, strict=True)])
    return np.sort(keep), np.sort(held)


def _fill(counts: np.ndarray, n: int) -> np.ndarray:
    """Equal shares of `n` over classes, capped at each count; what a small class cannot take goes
    to the others (water filling)."""
    quota = np.zeros_like(counts)
    left = n
    while left > 0:
        open_ = np.flatnonzero(quota < counts)
        if len(open_) == 0:
            break
        share = max(1, left // len(open_))
        for i in open_:
            take = min(share, counts[i] - quota[i], left)
            quota[i] += take
            left -= take
            if left == 0:
                break
    return quota


def _proportional(counts: np.ndarray, total: int) -> np.ndarray:
    """Largest-remainder allocation of `total` proportional to `counts`, at least 1 each."""
    exact = counts / counts.sum() * total
    quota = np.maximum(np.floor(exact).astype(int), 1)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    for i in order[: max(0, total - int(quota.sum()))]:
        quota[i] += 1
    return quota
