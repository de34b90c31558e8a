"""How steady is this machine's latency? The same networks measured again and again for a while,
with the project's one measurement function (`nas.latency.measure_models`: warm-up, then the median
of repeats), one round after another, on one thread.

A latency predictor cannot be checked to +-10% more finely than two measurements of the same
network agree: this bench reports that share (all pairs of rounds, and consecutive rounds only),
and the spread of the round medians, per network and clock. Nothing else should run meanwhile.

    taskset -c 0 python bench/latency_stability.py --seconds 120

Writes bench/results/latency_stability.json.
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

from nas.latency import LatencySettings, build_arch, environment, measure_models  # noqa: E402
from search_spaces import Architecture, default_space  # noqa: E402
from search_spaces.dense import preset_genotype  # noqa: E402


def agreement(medians: np.ndarray, tol: float = 0.10) -> dict:
    """Share of pairs of rounds (all, and consecutive) whose medians agree within `tol`."""
    ratio = medians[None, :] / medians[:, None]
    upper = np.triu_indices(len(medians), 1)
    consecutive = medians[1:] / medians[:-1]
    return {"all_pairs_within": float(np.mean(np.abs(ratio[upper] - 1) <= tol)),
            "consecutive_within": float(np.mean(np.abs(consecutive - 1) <= tol)),
            "max_over_min": float(medians.max() / medians.min()),
            "p5_p95_ms": [float(np.percentile(medians, 5)), float(np.percentile(medians, 95))]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0, help="per clock")
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--preset", action="append", help="networks to time (default: resnet-20, densenet-40-12)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "latency_stability.json")
    args = ap.parse_args()
    space = default_space("dense")
    names = args.preset or ["resnet-20", "densenet-40-12"]
    result: dict = {"command": "python bench/latency_stability.py " + " ".join(sys.argv[1:]), "clocks": {},
                    "cpu_affinity": sorted(os.sched_getaffinity(0)), "loadavg_start": list(os.getloadavg())}
    print(f"{', '.join(names)}: batch {args.batch_size}, one thread, {args.repeats} repeats a round, "
          f"{args.seconds:.0f} s per clock, load {os.getloadavg()[0]:.2f}")
    print(f"{'clock':<6}{'network':<18}{'rounds':>7}{'all pairs':>11}{'consecutive':>13}{'max/min':>9}   p5-p95 ms")
    for clock in ("cpu", "wall"):
        s = LatencySettings(batch_size=args.batch_size, threads=1, repeats=args.repeats, warmup=3, clock=clock)
        models = [build_arch(Architecture("dense", preset_genotype(n)), s, space) for n in names]
        rounds: list[list[float]] = [[] for _ in names]
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            for i, m in enumerate(measure_models(models, s)):
                rounds[i].append(m.latency_ms)
        result["environment"] = environment(s)
        result["clocks"][clock] = {}
        for name, r in zip(names, rounds):
            a = agreement(np.array(r))
            result["clocks"][clock][name] = {**a, "rounds": len(r), "medians_ms": r}
            print(f"{clock:<6}{name:<18}{len(r):>7}{a['all_pairs_within']:>11.1%}{a['consecutive_within']:>13.1%}"
                  f"{a['max_over_min']:>9.2f}   {a['p5_p95_ms'][0]:.2f}-{a['p5_p95_ms'][1]:.2f}")
    result["loadavg_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
