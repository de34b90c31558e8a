"""Latency predictor, nn-Meter style: profile kernels once per device and settings, then predict
an architecture's latency as the sum of its kernels' predicted latencies plus a learned correction.

- `profile_space` measures a sample of the kernels (op configuration x input shape x merge) that
  sampled architectures of the space run (and the presets' kernels, for the dense space), plus a
  few dozen whole networks; the result is plain JSON (`LatencyProfile`), cached under the
  fingerprint of the device and settings (`nas.latency.fingerprint`). A profile is only used for
  the fingerprint it was measured under: loading it for another raises.
- `LatencyPredictor` fits, per kernel type, a log-log linear model of latency on MACs and tensor
  sizes with a random forest on its residuals (over channels, kernel, dilation, groups,
  resolution, ...); the network's kernel sums per kernel kind (`latency_kernels.category`) are then
  weighted by a linear model fitted on the measured networks, with graph nodes / edges, activation
  traffic and a constant (only the terms that vary between networks are fitted).
  `predict(archs) -> (mean, std)` like the accuracy predictors.
- `reanchor` rescales the predictions to the machine's speed at use: a few of the profile's
  networks measured again, the median ratio measured / profiled (cached per process).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.latency import LatencySettings, environment, fingerprint, measure_interleaved
from predictors.latency_kernels import Kernel, category, features, kernel_module, kernels, traffic

FORMAT_VERSION = 1
MAX_PROFILE_BYTES = 50_000_000
CHUNK = 16  # kernels / networks timed interleaved in one round-robin
# Beyond the kernel sums: graph nodes (each a module call: Python overhead in the network that the
# isolated kernels do not pay), activation traffic (in a network, inputs written long before are
# no longer in cache, unlike an isolated kernel's) and graph edges (inputs gathered per merge).
EXTRA_TERMS = ("graph_nodes", "activation_mb", "graph_edges")
PRIOR_WEIGHT = 0.3  # how strongly the correction keeps each kernel category's weight near 1
ANCHORS = 8  # reference networks measured to re-anchor a profile at use time
ANCHOR_PASSES = 3  # their passes, in alternating orders: one pass catches a passing load spike whole
LOOKUP_BELOW = 50  # kernel types with fewer measured configurations are looked up, not modelled
# Whole networks of the presets' families (not the presets themselves, which the bench holds out):
# sampled DAGs never repeat one convolution dozens of times as a ResNet does, so without them the
# correction never sees that pattern.
FAMILIES = ("resnet-8", "resnet-14", "resnet-26", "resnet-14-b", "densenet-22-12", "densenet-bc-40-12",
            "fractalnet-2-3", "hardnet-4-16", "vovnet-2-16", "vovnet-3-32")


@dataclass
class LatencyProfile:
    """Measured kernels and networks for one space under one fingerprint (plain JSON on disk)."""

    space: str
    fingerprint: str
    environment: dict[str, Any]
    kernels: list[tuple[Kernel, float]] = field(default_factory=list)  # (kernel, median ms)
    networks: list[tuple[dict[str, Any], float]] = field(default_factory=list)  # (arch dict, median ms)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, "space": self.space, "fingerprint": self.fingerprint,
                "environment": self.environment, "seconds": self.seconds,
                "kernels": [{"type": k[0], "features": dict(k[1]), "ms": ms} for k, ms in self.kernels],
                "networks": [{"arch": a, "ms": ms} for a, ms in self.networks]}

    def save(self, path: Path) -> None:
        from nas.runs import write_json

        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: Path, expected_fingerprint: str | None = None) -> LatencyProfile:
        """Read a profile; with `expected_fingerprint`, one measured under other settings raises."""
        if path.stat().st_size > MAX_PROFILE_BYTES:
            raise ValueError(f"latency profile {path} is larger than {MAX_PROFILE_BYTES:,} bytes; profile again")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("format_version") != FORMAT_VERSION:
                raise ValueError(f"format_version {doc.get('format_version')!r}")
            ks = [((k["type"], tuple(sorted((n, tuple(v) if isinstance(v, list) else v)
                                            for n, v in k["features"].items()))), float(k["ms"]))
                  for k in doc["kernels"]]
            nets = [(n["arch"], float(n["ms"])) for n in doc["networks"]]
            prof = cls(doc["space"], doc["fingerprint"], doc["environment"], ks, nets, float(doc["seconds"]))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path} is not a latency profile ({e}); run `nas latency profile` again") from None
        if expected_fingerprint is not None and prof.fingerprint != expected_fingerprint:
            raise ValueError(f"latency profile {path} was measured under fingerprint {prof.fingerprint} "
                             f"({_describe(prof.environment)}), not {expected_fingerprint}; "
                             "run `nas latency profile` with these settings")
        return prof


def _describe(env: dict[str, Any]) -> str:
    keys = ("device", "device_model", "batch_size", "threads", "input_size", "dtype", "torch")
    return ", ".join(f"{k}={env.get(k)}" for k in keys)


_ANCHORS: dict[tuple[Any, ...], tuple[float, list[float]]] = {}  # per profile: the process's anchor factor


# --- cache ------------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """`$NAS_LATENCY_CACHE`, else ~/.cache/densedag/latency."""
    env = os.environ.get("NAS_LATENCY_CACHE")
    return Path(os.path.expanduser(env)) if env else Path.home() / ".cache" / "densedag" / "latency"


def profile_path(cache_dir: Path, space_name: str, settings: LatencySettings) -> Path:
    return Path(cache_dir) / f"{space_name}-{fingerprint(settings)}.json"


def reanchor_default() -> bool:
    """Whether predictors are re-anchored at use: yes unless `$NAS_LATENCY_REANCHOR` is 0 / false / no."""
    return os.environ.get("NAS_LATENCY_REANCHOR", "1").strip().lower() not in ("0", "false", "no", "off")


def load_predictor(space: Any, settings: LatencySettings, cache_dir: Path | None = None,
                   reanchor: bool | None = None) -> LatencyPredictor | None:
    """The cached predictor for `space` under these settings, or None when none was profiled;
    re-anchored to the machine's speed now (`LatencyPredictor.reanchor`) unless `reanchor` is False
    (None: `reanchor_default()`)."""
    path = profile_path(cache_dir or default_cache_dir(), space.name, settings)
    if not path.exists():
        return None
    pred = LatencyPredictor(LatencyProfile.load(path, fingerprint(settings)), space, settings)
    if reanchor_default() if reanchor is None else reanchor:
        pred.reanchor()
    return pred


# --- profiling -------------------------------------------------------------------------------------
def kernel_pool(space: Any, settings: LatencySettings, rng: np.random.Generator, n_archs: int = 200,
                presets: bool = True) -> tuple[list[Kernel], list[Kernel]]:
    """(the distinct kernels of `n_archs` sampled architectures, those of the presets (dense space)
    that fit the input size)."""
    def distinct(archs: list[Any], skip_misfits: bool = False) -> list[Kernel]:
        seen: dict[Kernel, None] = {}
        for a in archs:
            try:
                ks = kernels(space, a, settings.num_classes, settings.in_channels, settings.input_size)
            except ValueError:
                if skip_misfits:  # a preset that downsamples below 1 x 1 at this input size
                    continue
                raise
            for k in ks:
                seen.setdefault(k, None)
        return list(seen)

    preset_kernels = distinct(_presets(space), skip_misfits=True) if presets else []
    known = set(preset_kernels)
    return [k for k in distinct([space.sample(rng) for _ in range(n_archs)]) if k not in known], preset_kernels


def _presets(space: Any, names: Sequence[str] | None = None) -> list[Any]:
    """The dense presets (`EXAMPLES`, or `names`) as architectures; none for another space."""
    if space.name != "dense":
        return []
    from search_spaces.base import Architecture
    from search_spaces.dense.presets import EXAMPLES, preset_genotype

    return [Architecture("dense", preset_genotype(name)) for name in (EXAMPLES if names is None else names)]


def _deeper(space: Any) -> Any:
    """The space with up to three times the nodes per stage (dense), for correction networks whose
    kernel counts spread (the per-kernel overhead is otherwise confounded with the per-type scales)."""
    config = getattr(space, "config", None)
    if space.name != "dense" or config is None:
        return space
    from dataclasses import replace

    return type(space)(replace(config, max_nodes=min(16, 3 * config.max_nodes)))


def _fits(space: Any, arch: Any, settings: LatencySettings) -> bool:
    try:
        space.shape(arch, settings.num_classes, settings.in_channels, settings.input_size)
    except ValueError:  # downsamples below 1 x 1 at this input size
        return False
    return True


def choose_kernels(pool: list[Kernel], n: int, rng: np.random.Generator, must: Sequence[Kernel] = ()) -> list[Kernel]:
    """`must`, every kernel of the rare types (at most 40 of a type), the rest drawn at random from the pool."""
    by_type: dict[str, list[Kernel]] = defaultdict(list)
    for k in pool:
        by_type[k[0]].append(k)
    chosen = list(must) + [k for ks in by_type.values() if len(ks) <= 40 for k in ks]
    rest = [k for ks in by_type.values() if len(ks) > 40 for k in ks]
    take = max(0, n - (len(chosen) - len(must)))
    if take < len(rest):
        rest = [rest[i] for i in sorted(rng.choice(len(rest), size=take, replace=False))]
    return chosen + rest


def measure_kernels(ks: Sequence[Kernel], settings: LatencySettings, progress: Callable[[int, int], None] | None = None,
                    passes: int = 2) -> list[float]:
    """Each kernel's median ms, each timed alone (its warm-up and repeats back to back, its input
    and weights warm in cache as a layer's are in a network: timed round-robin among 15 others,
    ResNet-20's kernels at batch 32 summed to 20% more than the network, alone to 2%), averaged over
    `passes` passes in different orders: on a shared machine one pass's load spike would otherwise
    stay in the profile, and a kernel a network repeats 50 times multiplies it."""
    import torch

    dtype = getattr(torch, settings.dtype)
    total = np.zeros(len(ks))
    done = 0
    for p in range(passes):
        order = np.arange(len(ks)) if p % 2 == 0 else np.arange(len(ks))[::-1]
        for i in np.roll(order, p // 2 * (CHUNK // 2)):
            module, make = kernel_module(ks[i], settings.batch_size)
            module = module.to(device=settings.device, dtype=dtype).eval()
            args = make(settings.device, dtype)
            total[i] += measure_interleaved([lambda m=module, a=args: m(*a)], settings)[0].latency_ms
            done += 1
            if progress and (done % CHUNK == 0 or done == passes * len(ks)):
                progress(done, passes * len(ks))
    return list(total / passes)


def measure_networks(archs: Sequence[Any], space: Any, settings: LatencySettings, passes: int = 1) -> list[float]:
    """Each network's median ms (timed interleaved, `CHUNK` at a time), averaged over `passes` passes
    in alternating orders."""
    from nas.latency import measure_archs

    total = np.zeros(len(archs))
    for p in range(passes):
        order = list(range(len(archs)))[::1 if p % 2 == 0 else -1]
        for start in range(0, len(order), CHUNK):
            idx = order[start:start + CHUNK]
            total[idx] += [m.latency_ms for m in measure_archs([archs[i] for i in idx], settings, space)]
    return list(total / passes)


def profile_space(space: Any, settings: LatencySettings, n_kernels: int = 300, n_networks: int = 40,
                  seed: int = 0, progress: Callable[[str, int, int], None] | None = None,
                  presets: bool = True) -> LatencyProfile:
    """Measure the presets' kernels (dense space) and `n_kernels` sampled kernels besides, and
    `n_networks` sampled networks (half of them from a deeper variant of the space) plus, with
    `presets`, networks of the presets' families (`FAMILIES`)."""
    if settings.format != "eager":
        raise ValueError("profiles are measured in eager mode; drop --format (or measure the artefact directly)")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    pool, preset_kernels = kernel_pool(space, settings, rng, presets=presets)
    chosen = choose_kernels(pool, n_kernels, rng, must=preset_kernels)
    ms = measure_kernels(chosen, settings, (lambda i, n: progress("kernels", i, n)) if progress else None)
    deeper = _deeper(space)
    nets = [(space if i % 2 == 0 else deeper).sample(rng) for i in range(n_networks)]
    nets += [a for a in _presets(space, FAMILIES) if _fits(space, a, settings)] if presets else []
    net_ms = measure_networks(nets, space, settings, passes=2)  # the reference networks' anchors among them
    if progress:
        progress("networks", len(nets), len(nets))
    return LatencyProfile(space.name, fingerprint(settings), environment(settings), list(zip(chosen, ms)),
                          [(a.to_dict(), t) for a, t in zip(nets, net_ms)], time.perf_counter() - start)


# --- the predictor ---------------------------------------------------------------------------------
class _KernelModel:
    """log ms = linear(log MACs, log input, log output) + random forest(all features) on the residual."""

    def __init__(self, x: np.ndarray, y_ms: np.ndarray, seed: int = 0) -> None:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.linear_model import Ridge

        y = np.log(np.maximum(y_ms, 1e-6))
        self.linear = Ridge(alpha=1e-3).fit(x[:, -3:], y)
        resid = y - self.linear.predict(x[:, -3:])
        self.forest = RandomForestRegressor(n_estimators=60, min_samples_leaf=2, random_state=seed)
        self.forest.fit(x, resid) if len(x) >= 4 else None
        self.fitted = len(x) >= 4

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ms, variance of ms) per row."""
        base = self.linear.predict(x[:, -3:])
        if not self.fitted:
            return np.exp(base), np.zeros(len(x))
        trees = np.stack([t.predict(x) for t in self.forest.estimators_])  # (trees, rows)
        ms = np.exp(base + trees)
        return ms.mean(0), ms.var(0)


class LatencyPredictor:
    """Kernel sum + correction, from a profile (see the module docstring)."""

    def __init__(self, profile: LatencyProfile, space: Any, settings: LatencySettings) -> None:
        if profile.space != space.name:
            raise ValueError(f"latency profile is for space {profile.space!r}, not {space.name!r}")
        self.profile, self.space, self.settings = profile, space, settings
        rows: dict[str, tuple[list[list[float]], list[float]]] = defaultdict(lambda: ([], []))
        for k, ms in profile.kernels:
            rows[k[0]][0].append(features(k))
            rows[k[0]][1].append(ms)
        self.models = {t: _KernelModel(np.asarray(x), np.asarray(y)) for t, (x, y) in rows.items()}
        # a type with few configurations is a lookup table (NB201's ops); a type with many is a model,
        # which pools a noisy measurement with its neighbours' (a table would multiply one bad
        # measurement by the 50 times a ResNet repeats its kernel)
        self.table = {k: ms for k, ms in profile.kernels if len(rows[k[0]][1]) < LOOKUP_BELOW}
        self.types = sorted({category(k) for k, _ in profile.kernels})
        self.coef: np.ndarray | None = None
        self.rel_std = 0.0
        self.anchor, self.anchor_ratios = 1.0, []  # see `reanchor`
        if profile.networks:
            from search_spaces.base import Architecture

            archs = [Architecture.from_dict(a) for a, _ in profile.networks]
            self.fit_correction(archs, np.asarray([ms for _, ms in profile.networks]))

    def kernel_terms(self, archs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """Per architecture: the predicted ms summed by kernel category, then `EXTRA_TERMS` (the
        correction's inputs); and the variance of the kernel sum."""
        s = self.settings
        per_arch = [kernels(self.space, a, s.num_classes, s.in_channels, s.input_size) for a in archs]
        by_type: dict[str, list[tuple[int, Kernel]]] = defaultdict(list)
        for i, ks in enumerate(per_arch):
            for k in ks:
                by_type[k[0]].append((i, k))
        k_cat = len(self.types)
        terms = np.zeros((len(archs), k_cat + len(EXTRA_TERMS)))
        var = np.zeros(len(archs))
        for t, items in by_type.items():
            if t not in self.models:
                raise ValueError(f"the latency profile has no {t!r} kernels; profile this space again")
            unique = list(dict.fromkeys(k for _, k in items))
            ms, v = self.models[t].predict(np.asarray([features(k) for k in unique]))
            lookup = {k: (self.table[k], 0.0) if k in self.table else (m, vv) for k, m, vv in zip(unique, ms, v)}
            for i, k in items:
                c = category(k)
                terms[i, self.types.index(c) if c in self.types else 0] += lookup[k][0]
                terms[i, k_cat + 1] += traffic(k) * s.batch_size * 4e-6  # MB of activations read and written
                var[i] += lookup[k][1]
        graphs = [self.space.graph(a) for a in archs]
        terms[:, k_cat] = [g.number_of_nodes() for g in graphs]  # module calls: Python overhead
        terms[:, k_cat + 2] = [g.number_of_edges() for g in graphs]  # inputs gathered per merge
        return terms, var

    def kernel_costs(self, ks: Sequence[Kernel]) -> np.ndarray:
        """Each kernel's share of `predict`'s mean: its predicted ms times its category's correction
        weight, plus its activation traffic's term. The mean of a network is the sum over its kernels
        plus `graph_costs` (both linear), which is what a differentiable expected latency needs."""
        k_cat = len(self.types)
        out = np.zeros(len(ks))
        for t in dict.fromkeys(k[0] for k in ks):
            if t not in self.models:
                raise ValueError(f"the latency profile has no {t!r} kernels; profile this space again")
            rows = [n for n, k in enumerate(ks) if k[0] == t]
            unique = list(dict.fromkeys(ks[n] for n in rows))
            ms, _ = self.models[t].predict(np.asarray([features(k) for k in unique]))
            got = {k: self.table.get(k, m) for k, m in zip(unique, ms)}
            for n in rows:
                k = ks[n]
                if self.coef is None:
                    out[n] = got[k]
                    continue
                c = category(k)
                out[n] = self.coef[self.types.index(c) if c in self.types else 0] * got[k] \
                    + self.coef[k_cat + 1] * traffic(k) * self.settings.batch_size * 4e-6
        return out

    def graph_costs(self) -> tuple[float, float, float]:
        """(ms per graph node, ms per graph edge, constant ms) of the correction (zeros without one)."""
        if self.coef is None:
            return 0.0, 0.0, 0.0
        k_cat = len(self.types)
        return float(self.coef[k_cat]), float(self.coef[k_cat + 2]), float(self.coef[-1])

    def kernel_sum(self, archs: Sequence[Any]) -> np.ndarray:
        """The baseline without the correction: the sum of the kernel predictions."""
        terms, _ = self.kernel_terms(archs)
        return terms[:, :len(self.types)].sum(1)

    def fit_correction(self, archs: Sequence[Any], measured_ms: np.ndarray) -> None:
        """Weights on the per-category kernel sums, `EXTRA_TERMS` and a constant, fitted to minimise
        the relative error on measured networks. Only identifiable terms are fitted: a term equal in
        every network (NB201's fixed part and node sums, which all its networks share) cannot be told
        from the constant, so a kernel category of that kind keeps weight 1 and an extra term weight 0."""
        from scipy.optimize import lsq_linear

        terms, _ = self.kernel_terms(archs)
        k, n_terms = len(self.types), terms.shape[1]
        varies = np.ptp(terms, axis=0) > 1e-9 * (1.0 + np.abs(terms).max(axis=0))
        fixed = np.zeros(n_terms)
        fixed[:k][~varies[:k]] = 1.0
        cols = np.flatnonzero(varies)
        x = np.hstack([terms[:, cols], np.ones((len(archs), 1))]) / measured_ms[:, None]
        target = 1.0 - (terms @ fixed) / measured_ms
        # pseudo-rows pull each fitted category's weight towards 1 (the kernel sum as measured), so a
        # few networks cannot trade the kernels for a constant
        cats = [i for i, c in enumerate(cols) if c < k]
        prior = np.zeros((len(cats), x.shape[1]))
        prior[np.arange(len(cats)), cats] = PRIOR_WEIGHT
        a, b = np.vstack([x, prior]), np.concatenate([target, np.full(len(cats), PRIOR_WEIGHT)])
        lower = np.zeros(x.shape[1])
        lower[-1] = -0.5 * float(measured_ms.min())  # the constant may be negative, not below half the fastest
        sol = lsq_linear(a, b, bounds=(lower, np.full(x.shape[1], np.inf))).x
        self.coef = np.append(fixed, 0.0)
        self.coef[cols], self.coef[-1] = sol[:-1], sol[-1]
        rel = np.hstack([terms, np.ones((len(archs), 1))]) @ self.coef / measured_ms - 1.0
        self.rel_std = float(np.sqrt(np.mean(rel**2))) if len(rel) > 1 else 0.0

    def predict(self, archs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
        """(mean ms, std ms) per architecture, times the anchor factor (`reanchor`)."""
        terms, var = self.kernel_terms(archs)
        if self.coef is None:
            mean = terms[:, :len(self.types)].sum(1)
            return mean * self.anchor, np.sqrt(var) * self.anchor
        x = np.hstack([terms, np.ones((len(archs), 1))])
        mean = x @ self.coef
        scale = float(np.mean(self.coef[:len(self.types)]))
        std = np.sqrt(scale**2 * var + (self.rel_std * mean) ** 2)
        return mean * self.anchor, std * self.anchor

    def reference_networks(self) -> list[int]:
        """Indices of the profile's networks that anchor it: `ANCHORS` spread over its latency range."""
        ms = np.asarray([m for _, m in self.profile.networks])
        if not len(ms):
            return []
        order = np.argsort(ms)
        spread = np.round(np.linspace(0.1, 0.9, ANCHORS) * (len(ms) - 1)).astype(int)
        return [int(order[i]) for i in dict.fromkeys(spread)]

    def reanchor(self, measure: Callable[[list[Any]], Sequence[float]] | None = None, cached: bool = True) -> float:
        """Rescale predictions to the machine's speed now: measure the reference networks (by
        `measure`, else `measure_networks` under the predictor's settings) and set the anchor factor
        to the median of measured / profiled. The machine drifts between profiling and use (on this
        shared machine, by 7% in an hour); the factor is cached for the process per profile."""
        from search_spaces.base import Architecture

        idx = self.reference_networks()
        if not idx:
            return self.anchor
        key = (self.profile.space, self.profile.fingerprint, tuple(self.profile.networks[i][1] for i in idx))
        if not (cached and key in _ANCHORS):
            archs = [Architecture.from_dict(self.profile.networks[i][0]) for i in idx]
            ms = np.asarray(measure(archs) if measure is not None else
                            measure_networks(archs, self.space, self.settings, ANCHOR_PASSES), float)
            ratios = ms / np.asarray([self.profile.networks[i][1] for i in idx])
            _ANCHORS[key] = (float(np.median(ratios)), [float(r) for r in ratios])
        self.anchor, self.anchor_ratios = _ANCHORS[key]
        return self.anchor

    def describe_anchor(self) -> str:
        if not self.anchor_ratios:
            return "not re-anchored (--no-reanchor or $NAS_LATENCY_REANCHOR=0)"
        return (f"re-anchored x{self.anchor:.3f} (median of measured / profiled over "
                f"{len(self.anchor_ratios)} reference networks)")

    def predict_one(self, arch: Any) -> tuple[float, float]:
        mean, std = self.predict([arch])
        return float(mean[0]), float(std[0])


def within(pred: np.ndarray, true: np.ndarray, tol: float = 0.10) -> float:
    """The share of predictions within +-tol (relative) of the measured latency."""
    return float(np.mean(np.abs(pred / true - 1.0) <= tol)) if len(true) else math.nan
