"""The NB201 space against the published table, and the tabular evaluator's speed.

1. For every row of ../shared/nb201/nb201_cifar10.csv: the arch string parses and prints back
   unchanged, and the static count (`NB201Space.shape`) equals the table's `c10_params_mb` and
   `c10_flops_m` at the table's precision (6 significant digits; the table's FLOPs also count the
   classifier's 10 bias additions, so they are compared with MACs + 10).
2. For a sample of rows (or all): the built torch network's parameter count and its MACs,
   counted with forward hooks on conv and linear layers, equal the static count and the table.
3. `TabularEvaluator`: seconds to load the table, and queries per second.

    python bench/nb201_check.py [--sample 200 | --all] [--seed 201] [--table PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.evaluators.tabular import TabularEvaluator  # noqa: E402
from search_spaces import default_space  # noqa: E402
from search_spaces.testing import count_macs  # noqa: E402

SPACE = default_space("nb201")


def six(x: float) -> float:
    return float(f"{x:.6g}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default=str(ROOT.parent / "shared" / "nb201" / "nb201_cifar10.csv"))
    p.add_argument("--sample", type=int, default=200, help="built networks to check (default 200)")
    p.add_argument("--all", action="store_true", help="build every one of the 15,625 networks")
    p.add_argument("--seed", type=int, default=201)
    args = p.parse_args()
    with open(args.table, newline="") as f:
        rows = list(csv.DictReader(f))

    t0 = time.perf_counter()
    static_bad = []
    for r in rows:
        arch = SPACE.from_string(r["arch"])
        shape = SPACE.shape(arch)
        if (SPACE.to_string(arch) != r["arch"] or six(shape.params / 1e6) != float(r["c10_params_mb"])
                or six((shape.macs + 10) / 1e6) != float(r["c10_flops_m"])):
            static_bad.append(r["idx"])
    static_s = time.perf_counter() - t0

    picks = range(len(rows)) if args.all else np.random.default_rng(args.seed).choice(len(rows), args.sample, False)
    t0 = time.perf_counter()
    built_bad = []
    for i in picks:
        r = rows[int(i)]
        arch = SPACE.from_string(r["arch"])
        model = SPACE.build(arch, 10, 3, 32)
        params, macs = sum(q.numel() for q in model.parameters()), count_macs(model, 32)
        shape = SPACE.shape(arch)
        if ((params, macs) != (shape.params, shape.macs) or six(params / 1e6) != float(r["c10_params_mb"])
                or six((macs + 10) / 1e6) != float(r["c10_flops_m"])):
            built_bad.append(r["idx"])
    built_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ev = TabularEvaluator(args.table, latency="lat_help_pixel2_ms")
    load_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    archs = [SPACE.sample(rng) for _ in range(2000)]
    t0 = time.perf_counter()
    for a in archs:
        ev.evaluate(a)
    qps = len(archs) / (time.perf_counter() - t0)

    out = {"rows": len(rows), "static_mismatches": static_bad, "static_seconds": round(static_s, 2),
           "built_checked": len(picks), "built_mismatches": built_bad, "built_seconds": round(built_s, 1),
           "tabular_load_seconds": round(load_s, 3), "tabular_queries_per_second": round(qps),
           "threads": torch.get_num_threads(), "machine": platform.machine(), "python": platform.python_version(),
           "torch": torch.__version__}
    print(f"{'check':<42} {'result':>24}")
    print(f"{'table rows: string round trip + static counts':<42} {len(rows) - len(static_bad):>8,} / {len(rows):,} ok")
    print(f"{'built networks: params + hooked MACs':<42} {len(picks) - len(built_bad):>8,} / {len(picks):,} ok")
    print(f"{'TabularEvaluator load':<42} {load_s:>22.3f} s")
    print(f"{'TabularEvaluator.evaluate':<42} {qps:>16,.0f} per s")
    dest = ROOT / "bench" / "out" / "nb201_check.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {dest.relative_to(ROOT)}")
    if static_bad or built_bad:
        sys.exit(1)


if __name__ == "__main__":
    main()
