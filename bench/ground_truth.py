"""Ground truth for ranking benchmarks: architectures sampled uniformly from the SMASH sub-space
of the dense space, each trained from scratch with the shared trainer on a small real task.

Protocol (default): CIFAR-10 subset (../shared/data/cifar10_subset.npz) at 16x16, 5,000 class-
balanced training images (4,500 train / 500 validation, stratified), the 3,000 test images,
10 epochs of SGD (Nesterov, lr 0.1, cosine, weight decay 5e-4, batch 128, pad-crop + flip),
one CPU thread per process. Archs 0..N-1 come from one seeded sampler; the first `--reseed`
of them are trained a second time with another seed (the noise ceiling of any ranking).
Rows are appended to a JSON-lines file as they finish, so the run resumes where it stopped.

    python bench/ground_truth.py [--archs 60] [--reseed 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "cifar10_subset.npz"
OUT = ROOT / "bench" / "results" / "ground_truth.jsonl"


def sampled_archs(n: int, seed: int = 2026) -> list:
    from search_spaces.dense import DenseSpace, DenseSpaceConfig
    from search_spaces.dense import smash_subspace as smash_config

    space = DenseSpace(smash_config(DenseSpaceConfig()))
    rng = np.random.default_rng(seed)
    return [space.sample(rng) for _ in range(n)]


def load_table(path: Path, data_path: Path = DEFAULT_DATA) -> tuple[list[dict], list[dict], dict]:
    """Every row of a ground-truth table, its seed-0 rows in architecture order, and their protocol
    with the dataset path made local; exits when the table holds fewer than 10 architectures."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    first = sorted((r for r in rows if r["seed"] == 0), key=lambda r: r["index"])
    if len(first) < 10:
        sys.exit(f"only {len(first)} ground-truth rows in {path}; run bench/ground_truth.py")
    proto = dict(first[0]["protocol"])
    proto["dataset"] = proto["dataset"].replace("cifar10_subset.npz", str(data_path.resolve()))
    return rows, first, proto


def protocol(data_path: Path, epochs: int) -> dict:
    return {"dataset": f"npz:{data_path}?subset=5000&resolution=16", "epochs": epochs, "batch_size": 128,
            "lr": 0.1, "weight_decay": 5e-4, "data_seed": 0}


def train_one(job: tuple[int, int, dict, dict]) -> dict:
    import torch

    from nas.data import load_dataset
    from nas.training import TrainConfig, train
    from search_spaces import Architecture, default_space

    index, seed, arch_dict, proto = job
    torch.set_num_threads(1)
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    arch = Architecture.from_dict(arch_dict)
    space = default_space("dense")
    torch.manual_seed(seed)
    model = space.build(arch, data.num_classes, data.in_channels, data.input_size)
    cfg = TrainConfig(epochs=proto["epochs"], batch_size=proto["batch_size"], lr=proto["lr"],
                      weight_decay=proto["weight_decay"], seed=seed, quiet=True)
    result = train(model, data, cfg, test=True)
    shape = space.shape(arch, data.num_classes, data.in_channels, data.input_size)
    return {"index": index, "seed": seed, "key": arch.key(), "arch": arch_dict, "val_accuracy": result.val_accuracy,
            "test_accuracy": result.test_accuracy, "params": shape.params, "flops": shape.macs,
            "train_seconds": round(result.train_seconds, 2), "protocol": proto}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--archs", type=int, default=60)
    ap.add_argument("--reseed", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if not args.data.exists():
        sys.exit(f"ground_truth: {args.data} not found; pass --data PATH to cifar10_subset.npz")
    proto = protocol(args.data.resolve(), args.epochs)
    proto["dataset"] = proto["dataset"].replace(str(args.data.resolve()), "cifar10_subset.npz")  # portable rows
    done = set()
    if args.out.exists():
        for line in args.out.read_text().splitlines():
            row = json.loads(line)
            done.add((row["index"], row["seed"]))
    archs = sampled_archs(args.archs)
    jobs = [(i, 0, a.to_dict(), proto) for i, a in enumerate(archs)]
    jobs += [(i, 1, archs[i].to_dict(), proto) for i in range(min(args.reseed, args.archs))]
    todo = [j for j in jobs if (j[0], j[1]) not in done]
    print(f"ground truth: {len(jobs) - len(todo)} of {len(jobs)} rows done; training {len(todo)} "
          f"with {args.workers} workers", file=sys.stderr)
    run_proto = {**proto, "dataset": f"npz:{args.data.resolve()}?subset=5000&resolution=16"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with mp.get_context("spawn").Pool(args.workers) as pool, args.out.open("a") as f:
        for k, row in enumerate(pool.imap_unordered(train_one, [(i, s, a, run_proto) for i, s, a, _ in todo]), 1):
            row["protocol"] = proto
            f.write(json.dumps(row, sort_keys=True) + "\n")
            f.flush()
            print(f"[{k}/{len(todo)}] arch {row['index']} seed {row['seed']}: val {row['val_accuracy']:.3f} "
                  f"test {row['test_accuracy']:.3f} params {row['params']:,} ({row['train_seconds']:.0f} s; "
                  f"{time.perf_counter() - t0:.0f} s total)", file=sys.stderr)


if __name__ == "__main__":
    main()
