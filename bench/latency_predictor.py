"""Latency predictor on this machine's CPU: the share of predictions within +-10% of the measured latency.

For one space and batch size: profile the space (`predictors.latency.profile_space`, timed), then
measure held-out architectures (sampled with another seed, plus the dense presets) twice, interleaved,
and compare against four predictors: the full predictor (kernel sum + correction, re-anchored at use:
its 8 reference networks measured (3 passes) just before the held-out ones), the same without re-anchoring, the
kernel sum alone, and FLOPs-proportional (ms per MAC fitted on the profile's measured networks). The
second measurement gives the noise floor: the share of re-measurements within +-10% of the first.
`--profile FILE` uses a saved profile instead of profiling (profile and evaluation in separate
windows: the re-anchoring is what carries a profile across them).

    taskset -c 1 python bench/latency_predictor.py --space dense --batch-size 1 --archs 200
    taskset -c 1 python bench/latency_predictor.py --space nb201 --batch-size 32 --archs 100 --repeats 8

Writes bench/results/latency_predictor_<space>_b<B>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.latency import LatencySettings, environment, fingerprint  # noqa: E402
from predictors.latency import (  # noqa: E402
    ANCHOR_PASSES,
    LatencyPredictor,
    LatencyProfile,
    _presets,
    measure_networks,
    profile_space,
    within,
)
from search_spaces.plugins import resolve_space  # noqa: E402


def flops_of(space, archs, s: LatencySettings) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray([space.shape(a, s.num_classes, s.in_channels, s.input_size).macs for a in archs], float)


def stats(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    err = pred / true - 1.0
    return {"within_10pct": within(pred, true), "within_5pct": within(pred, true, 0.05),
            "median_abs_err": float(np.median(np.abs(err))), "p90_abs_err": float(np.percentile(np.abs(err), 90)),
            "max_abs_err": float(np.max(np.abs(err))), "mean_err": float(np.mean(err))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="dense")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--archs", type=int, default=200)
    ap.add_argument("--kernels", type=int, default=300)
    ap.add_argument("--networks", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--clock", default="cpu", choices=("cpu", "wall"))
    ap.add_argument("--save-profile", default=None, help="also write the profile JSON here")
    ap.add_argument("--profile", default=None, help="use this saved profile instead of profiling")
    ap.add_argument("--resume", default=None, help="keep the anchor and measurements so far in this file; continue")
    ap.add_argument("--profile-only", action="store_true", help="profile (and --save-profile), measure nothing else")
    ap.add_argument("--rescore", default=None, metavar="PROFILE",
                    help="measure nothing: refit the predictor from this saved profile and score it against the "
                         "measurements already in the result JSON (after a change to the predictor's fitting)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    space = resolve_space(args.space)
    s = LatencySettings(batch_size=args.batch_size, threads=1, repeats=args.repeats, warmup=3, clock=args.clock)
    out = ROOT / "bench" / "results" / f"latency_predictor_{args.space}_b{args.batch_size}.json"
    if args.rescore:
        rescore(out, LatencyProfile.load(Path(args.rescore)), space, s)
        return
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    if args.profile:
        prof = LatencyProfile.load(Path(args.profile), fingerprint(s))
    else:
        prof = profile_space(space, s, n_kernels=args.kernels, n_networks=args.networks, seed=0)
    profile_s = prof.seconds if args.profile else time.perf_counter() - t0
    if args.save_profile:
        prof.save(Path(args.save_profile))
    if args.profile_only:
        print(f"profiled in {profile_s:.0f} s, load {load0} -> {os.getloadavg()}")
        return
    pred = LatencyPredictor(prof, space, s)
    rng = np.random.default_rng(1000)
    sampled = [space.sample(rng) for _ in range(args.archs)]
    presets = _presets(space)
    archs = sampled + presets
    # --resume FILE: the anchor and the measurements so far live in FILE (a run split over several
    # measurement windows continues where it stopped; the anchor is the one measured at its start)
    part = json.loads(Path(args.resume).read_text()) if args.resume and Path(args.resume).exists() else {}
    if "anchor" not in part:
        def measure_anchor(nets: list) -> list[float]:  # type: ignore[type-arg]
            ms = measure_networks(nets, space, s, ANCHOR_PASSES)
            part["anchor"] = {json.dumps(a.to_dict(), separators=(",", ":")): m for a, m in zip(nets, ms)}
            return ms
        pred.reanchor(measure_anchor, cached=False)  # at use time: just before the held-out measurements
    else:
        pred.reanchor(lambda nets: [part["anchor"][json.dumps(a.to_dict(), separators=(",", ":"))] for a in nets],
                      cached=False)
    t1 = time.perf_counter()
    for name in ("first", "second"):
        done = part.setdefault(name, [])
        for start in range(len(done), len(archs), 16):
            done += measure_networks(archs[start:start + 16], space, s)
            part["seconds"] = part.get("seconds", 0.0) + time.perf_counter() - t1
            t1 = time.perf_counter()
            if args.resume:
                Path(args.resume).write_text(json.dumps(part))
            print(f"{name} pass {len(done)}/{len(archs)}", flush=True)
    first, second = np.asarray(part["first"]), np.asarray(part["second"])
    measure_s = part["seconds"]
    anchor_measured = part["anchor"]
    true = (first + second) / 2
    n = len(sampled)
    result = {"space": args.space, "batch_size": args.batch_size, "archs_sampled": n, "presets": len(presets),
              "profile_seconds": round(profile_s, 1), "measure_seconds": round(measure_s, 1),
              "profile_kernels": len(prof.kernels), "profile_networks": len(prof.networks),
              "noise_floor_within_10pct": within(second, first),
              "noise_floor_median_abs_diff": float(np.median(np.abs(second / first - 1))),
              "loadavg_start": [round(x, 2) for x in load0], "loadavg_end": [round(x, 2) for x in os.getloadavg()],
              "environment": environment(s), "measured_ms": [float(x) for x in true],
              "profile_saved_at_load": prof.environment.get("loadavg"), "anchor_measured_ms": anchor_measured,
              "archs": [json.dumps(a.to_dict(), separators=(",", ":")) for a in archs],  # compact: one line each
              "cpu_affinity": sorted(os.sched_getaffinity(0)),
              "command": "python bench/latency_predictor.py " + " ".join(sys.argv[1:])}
    score(result, pred, prof, space, s, archs, true)
    print(f"{args.space} batch {args.batch_size}, {n} sampled + {len(presets)} presets, clock {args.clock}, "
          f"threads 1, load {result['loadavg_start']} -> {result['loadavg_end']}")
    print(f"profile {profile_s:.0f} s ({len(prof.kernels)} kernels, {len(prof.networks)} networks); noise floor "
          f"(re-measurement within 10%): {result['noise_floor_within_10pct']:.1%}")
    report(result, out)


def score(result: dict, pred, prof, space, s, archs, true) -> None:  # type: ignore[no-untyped-def, type-arg]
    """The three predictors against the measurements, into `result`."""
    from search_spaces.base import Architecture

    mean, std = pred.predict(archs)
    nets = [Architecture.from_dict(a) for a, _ in prof.networks]
    per_mac = np.median(np.asarray([ms for _, ms in prof.networks]) / flops_of(space, nets, s))
    rows = {"predictor": mean, "no re-anchoring": mean / pred.anchor, "kernel sum alone": pred.kernel_sum(archs),
            "FLOPs-proportional": flops_of(space, archs, s) * per_mac}
    n = result["archs_sampled"]
    result["methods"] = {name: {"all": stats(p, true), "sampled": stats(p[:n], true[:n]),
                                **({"presets": stats(p[n:], true[n:])} if result["presets"] else {})}
                         for name, p in rows.items()}
    result["within_2std"] = float(np.mean(np.abs(mean - true) <= 2 * std))
    result["correction"] = {"categories": pred.types, "coef": [float(c) for c in pred.coef],
                            "fit_rel_rmse": pred.rel_std}
    result["anchor"] = {"factor": pred.anchor, "ratios": pred.anchor_ratios}
    result["predicted_ms"] = [float(x) for x in mean]


def rescore(out: Path, prof, space, s) -> None:  # type: ignore[no-untyped-def]
    from search_spaces.base import Architecture

    result = json.loads(out.read_text())
    archs = [Architecture.from_json(a) if isinstance(a, str) else Architecture.from_dict(a) for a in result["archs"]]
    pred = LatencyPredictor(prof, space, s)
    stored = result.get("anchor_measured_ms", {})
    keys = [json.dumps(a.to_dict(), separators=(",", ":")) for a in
            (Architecture.from_dict(prof.networks[i][0]) for i in pred.reference_networks())]
    if keys and all(k in stored for k in keys):  # the same reference networks: their stored measurements
        pred.reanchor(lambda nets: [stored[json.dumps(a.to_dict(), separators=(",", ":"))] for a in nets], cached=False)
    score(result, pred, prof, space, s, archs, np.asarray(result["measured_ms"]))
    result["rescored"] = "predictor refitted from the saved profile by the current code; measurements unchanged"
    print(f"{result['space']} batch {result['batch_size']}: rescored, measurements of {result['command']}")
    report(result, out)


def report(result: dict, out: Path) -> None:  # type: ignore[type-arg]
    print(f"{'method':<22}{'within 10% all':>16}{'sampled':>10}{'presets':>10}{'median |err|':>14}{'p90 |err|':>11}")
    for name, m in result["methods"].items():
        pres = f"{m['presets']['within_10pct']:.1%}" if "presets" in m else "-"
        print(f"{name:<22}{m['all']['within_10pct']:>16.1%}{m['sampled']['within_10pct']:>10.1%}{pres:>10}"
              f"{m['all']['median_abs_err']:>14.1%}{m['all']['p90_abs_err']:>11.1%}")
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
