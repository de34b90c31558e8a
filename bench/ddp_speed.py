"""Data-parallel SMASH supernet training: wall time of N steps with 1 process against 2 processes
(gloo on loopback, one torch thread each) on the same global batch.

Each configuration is a fresh set of processes training the default SMASH supernet (dense space,
batch 64) on the CIFAR-10 subset at 16x16; the time is the step loop's own (`train_seconds`: no
start-up, data loading or process-group set-up), next to each rank's CPU seconds in it (the work
a rank did, whatever the machine's load let it run). Rounds alternate 1 and 2 processes so a change
in the machine's load hits both alike; the load average (`uptime`) is recorded before each run.
The loss curves of the two are compared too (float32, so they drift apart slowly).

    python bench/ddp_speed.py                       # 3 rounds of 40 steps, global batch 64
    python bench/ddp_speed.py --steps 100 --rounds 5 --batch-size 64 --batch-size 128 \
        --dataset "npz:FILE?subset=5000&resolution=16"
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = ROOT / "bench" / "results" / "ddp_speed.json"
DATA = f"npz:{ROOT.parent / 'shared' / 'data' / 'cifar10_subset.npz'}?subset=5000&resolution=16"  # as ground_truth.py


def _rank(rank: int, world: int, tmp: str, steps: int, batch_size: int, data_spec: str) -> None:
    torch.set_num_threads(1)
    if world > 1:
        torch.distributed.init_process_group("gloo", init_method=f"file://{tmp}/store", rank=rank, world_size=world,
                                             timeout=timedelta(seconds=300))
    try:
        from nas.data import load_dataset
        from nas.supernets.smash import Smash, SmashConfig
        from search_spaces.dense import DenseSpace, DenseSpaceConfig, smash_subspace

        data = load_dataset(data_spec)
        space = DenseSpace(smash_subspace(DenseSpaceConfig()))
        smash = Smash(space, data.num_classes, data.in_channels, SmashConfig(steps=steps, batch_size=batch_size))
        from torch.nn.parallel import DistributedDataParallel  # noqa: F401  (its import is seconds of CPU: not a step's)

        cpu = time.process_time()
        out = smash.fit(data, None, quiet=True)
        Path(tmp, f"result{rank}.json").write_text(json.dumps({"seconds": out["train_seconds"],
                                                                "cpu_seconds": time.process_time() - cpu,
                                                                "losses": smash.last_losses}))
    finally:
        if world > 1:
            torch.distributed.destroy_process_group()


def one_run(world: int, steps: int, batch_size: int, data_spec: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        load = os.getloadavg()
        t0 = time.perf_counter()
        mp.start_processes(_rank, args=(world, tmp, steps, batch_size, data_spec), nprocs=world, join=True,
                           start_method="spawn")
        results = [json.loads(Path(tmp, f"result{r}.json").read_text()) for r in range(world)]
    seconds = results[0]["seconds"]
    return {"processes": world, "load_before": [round(v, 2) for v in load], "train_seconds": seconds,
            "steps_per_s": steps / seconds, "cpu_seconds_per_rank": [r["cpu_seconds"] for r in results],
            "wall_seconds": time.perf_counter() - t0, "losses": results[0]["losses"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, action="append", help="global batch, repeatable (default 64)")
    p.add_argument("--dataset", default=DATA)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()
    configs = [compare(args.steps, b, args.rounds, args.dataset) for b in args.batch_size or [64]]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": args.steps, "dataset": args.dataset, "threads_per_process": 1,
                                    "cores": os.cpu_count(), "configs": configs}, indent=1) + "\n")
    print(f"wrote {args.out}")


def compare(steps: int, batch_size: int, rounds: int, dataset: str) -> dict[str, Any]:
    """`rounds` of 1 and 2 processes, alternating which goes first; prints the table."""
    runs = []
    for r in range(rounds):
        for world in ((1, 2) if r % 2 == 0 else (2, 1)):  # interleaved: 1 2 | 2 1 | 1 2 ...
            run = one_run(world, steps, batch_size, dataset)
            runs.append({"round": r, **run})
            print(f"batch {batch_size}  round {r}  {world} process(es)  {run['train_seconds']:7.2f} s  "
                  f"load {run['load_before'][0]:.2f}", file=sys.stderr)
    med = {w: statistics.median(x["train_seconds"] for x in runs if x["processes"] == w) for w in (1, 2)}
    cpu = {w: statistics.median(max(x["cpu_seconds_per_rank"]) for x in runs if x["processes"] == w) for w in (1, 2)}
    ratios = [a["train_seconds"] / b["train_seconds"] for a, b in
              zip([x for x in runs if x["processes"] == 1], [x for x in runs if x["processes"] == 2])]
    curves = [torch.tensor(x["losses"]) for x in runs[:2]]
    drift = float(((curves[0] - curves[1]).abs() / curves[0].abs()).max())
    print(f"\nSMASH supernet, {steps} steps, global batch {batch_size}, {dataset}, 1 thread per process")
    print(f"{'processes':>9}  {'median s':>9}  {'steps/s':>8}  {'CPU s/rank':>10}  runs (s)")
    for w in (1, 2):
        times = " ".join(f"{x['train_seconds']:.1f}" for x in runs if x["processes"] == w)
        print(f"{w:>9}  {med[w]:9.2f}  {steps / med[w]:8.2f}  {cpu[w]:10.2f}  {times}")
    print(f"speed-up (1-process time / 2-process time): median {statistics.median(ratios):.2f}, per round "
          + " ".join(f"{r:.2f}" for r in ratios))
    print(f"loss curves of round 0, 1 vs 2 processes: largest relative difference {drift:.2e}")
    print(f"load average before the runs: {', '.join(str(x['load_before'][0]) for x in runs)} ({os.cpu_count()} cores)")
    return {"batch_size": batch_size, "median_seconds": {str(w): med[w] for w in med},
            "median_cpu_seconds_per_rank": {str(w): cpu[w] for w in cpu},
            "speedup_median": statistics.median(ratios), "speedup_per_round": ratios, "loss_curve_max_rel_diff": drift,
            "runs": [{k: v for k, v in x.items() if k != "losses"} for x in runs]}

if __name__ == "__main__":
    main()
