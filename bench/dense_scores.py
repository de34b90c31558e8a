"""Per-architecture scores of the dense ground truth, for the predictor's features: proxies and SMASH.

For every seed-0 architecture of a ground-truth table (`bench/ground_truth.py`; read where it is,
e.g. the main checkout's growing file), appends one row to `--out` (resumable, keyed by the
architecture's key): the five zero-cost proxies (`predictors.proxies`) of the built network at
initialisation (seed 0) on the first 64 TRAINING images of the table's dataset, and the SMASH
scores of one default supernet (seed 0, trained on the same training split): the default rule
(minus the loss plus weighted NASWOT on validation images), and its two terms. The supernet is
trained once and its weights kept in `--supernet` (ignored by git), so later rows score with the
same supernet. CPU seconds per part are recorded. `--no-smash` records the proxies only (the SMASH
columns then come from `bench/smash_correlation.py`'s JSON, which scores a whole table with the same
supernets: `bench/dense_predictor.py --smash-scores`).

    nice python bench/dense_scores.py --ground-truth ../main/bench/results/ground_truth.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import DEFAULT_DATA, OUT, load_table  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.supernets.smash import Smash, SmashConfig  # noqa: E402
from predictors.proxies import PROXIES, compute_proxies  # noqa: E402
from search_spaces import Architecture  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402
from search_spaces.dense import smash_subspace as smash_config  # noqa: E402

SCORES_OUT = ROOT / "bench" / "results" / "dense_arch_scores.jsonl"
SUPERNET = ROOT / "bench" / "out" / "dense_scores_smash_seed0.pt"


def done_keys(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        try:
            keys.add(json.loads(line)["key"])
        except (json.JSONDecodeError, KeyError):
            continue
    return keys


def supernet(space: DenseSpace, data, path: Path, seed: int) -> tuple[Smash, dict]:  # noqa: ANN001
    smash = Smash(space, data.num_classes, data.in_channels, replace(SmashConfig(), seed=seed))
    if path.is_file():
        smash.load_state_dict(torch.load(path, weights_only=True))
        return smash, {"loaded": str(path)}
    t0 = time.process_time()
    fit = smash.fit(data, quiet=True)
    fit["cpu_s"] = round(time.process_time() - t0, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(smash.state_dict(), path)
    return smash, fit


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ground-truth", type=Path, default=OUT)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=SCORES_OUT)
    ap.add_argument("--supernet", type=Path, default=SUPERNET)
    ap.add_argument("--seed", type=int, default=0, help="supernet and proxy initialisation seed")
    ap.add_argument("--no-smash", action="store_true", help="proxies only, no supernet")
    args = ap.parse_args()
    torch.set_num_threads(1)
    _, first, proto = load_table(args.ground_truth, args.data)
    done = done_keys(args.out)
    todo = [r for r in first if r["key"] not in done]
    print(f"{len(first)} seed-0 architectures, {len(done)} scored, {len(todo)} to do", file=sys.stderr)
    if not todo:
        return
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    smash = None
    if not args.no_smash:
        smash, fit = supernet(space, data, args.supernet, args.seed)
        print(f"supernet: {fit}", file=sys.stderr)
    x, y = next(iter(data.batches("train", 64)))  # the first 64 training images, never validation
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for k, r in enumerate(todo):
        arch = Architecture.from_dict(r["arch"])
        t0 = time.process_time()
        proxies = compute_proxies(lambda a=arch: space.build(a, data.num_classes, data.in_channels, data.input_size),
                                  x, y, seed=args.seed)
        t1 = time.process_time()
        scored = smash.scored(arch, data) if smash else {"score": None, "loss": None, "naswot": None}
        t2 = time.process_time()
        row = {"key": r["key"], "index": r["index"], **{p: proxies[p] for p in PROXIES},
               "smash": scored["score"], "smash_loss": scored["loss"], "smash_naswot": scored["naswot"],
               "smash_seed": args.seed if smash else None, "proxy_cpu_s": round(t1 - t0, 3),
               "smash_cpu_s": round(t2 - t1, 3)}
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        if k % 20 == 0:
            print(f"{k + 1}/{len(todo)} proxies {t1 - t0:.2f} s, smash {t2 - t1:.2f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
