"""A latency predictor for tests and examples without timing anything: a profile whose kernel and
network "measurements" are a fixed function of their MACs and sizes (deterministic, instant)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def synthetic_predictor(space: Any, input_size: int, num_classes: int = 3, in_channels: int = 3,
                        archs: int = 30, seed: int = 0) -> tuple[Any, Any]:
    """(LatencyPredictor, LatencySettings) fitted on a synthetic profile of `space`: a kernel costs
    1e-5 ms per MAC plus 1e-4 ms per input / output element plus 0.01 ms; a network 1.1 x its
    kernels plus 0.002 ms per graph node."""
    from nas.latency import LatencySettings, environment, fingerprint
    from predictors.latency import LatencyPredictor, LatencyProfile, kernel_pool
    from predictors.latency_kernels import features, kernels

    settings = LatencySettings(batch_size=1, threads=1, input_size=input_size, in_channels=in_channels,
                               num_classes=num_classes)

    def ms(k: Any) -> float:
        macs, n_in, n_out = (math.expm1(v) for v in features(k)[-3:])
        return 1e-5 * macs + 1e-4 * (n_in + n_out) + 0.01

    rng = np.random.default_rng(seed)
    pool, _ = kernel_pool(space, settings, rng, n_archs=archs, presets=False)
    nets = [space.sample(rng) for _ in range(12)]
    net_ms = [1.1 * sum(ms(k) for k in kernels(space, a, num_classes, in_channels, input_size))
              + 0.002 * space.graph(a).number_of_nodes() for a in nets]
    profile = LatencyProfile(space.name, fingerprint(settings), environment(settings), [(k, ms(k)) for k in pool],
                             [(a.to_dict(), t) for a, t in zip(nets, net_ms)])
    return LatencyPredictor(profile, space, settings), settings
