"""Could another cheap signal lift the SMASH score? Every ground-truth architecture measured on the
same default supernets in several more ways, each ranked against test accuracy alone and added (as
a z-score) to the default score's two terms; and how stable each term is from one supernet seed to
the next (which says what an ensemble of supernets can and cannot fix).

Signals, per supernet seed (the default configuration, 500 steps):
- the default score's terms: minus the validation loss (128 images) and NASWOT (32 images);
- the same on more images: loss on 500, NASWOT on 128;
- minus the loss on 128 training images;
- minus the validation loss after one fine-tuning step on 64 training images (each tensor moved by
  0.5% of its norm along its normalised gradient), and the loss drop in that step;
- the loss and NASWOT of the supernet's snapshots at steps 250 and 375 (a snapshot ensemble);
- NASWOT on an untrained supernet (a zero-cost proxy at initialisation; one init, seed 100).

    python bench/smash_signals.py --seed 0 --seed 1 --seed 2 --seed 3
    python bench/smash_signals.py --table          # print a finished --out file again
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import DEFAULT_DATA, OUT, load_table  # noqa: E402
from bench.smash_correlation import zscore as z  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.supernets.smash import Smash, SmashConfig  # noqa: E402
from predictors.metrics import kendall_tau  # noqa: E402
from search_spaces import Architecture  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402
from search_spaces.dense import smash_subspace as smash_config  # noqa: E402

SNAPSHOTS = (250, 375)
# the default score's terms plus one more signal each, and a few larger sets
COMBOS = [("-loss", "naswot"), ("-loss (500 img)", "naswot (128 img)"), ("-loss", "naswot", "-training loss"),
          ("-loss", "naswot", "-loss after 1 step"), ("-loss", "naswot", "loss drop in 1 step"),
          ("-loss", "naswot", "-loss @250"), ("-loss", "naswot", "-loss @250", "naswot @250"),
          ("-loss", "naswot", "-loss @375", "naswot @375"), ("-loss", "naswot", "naswot, untrained supernet"),
          ("-training loss", "naswot")]


class SnapshotSmash(Smash):
    """Keeps a copy of the weights at each checkpoint step."""

    snapshots: dict[int, dict]

    def _save(self, path, opt, rng, gen, step, *rest) -> None:  # noqa: ANN001
        super()._save(path, opt, rng, gen, step, *rest)
        self.snapshots[step] = {k: v.clone() for k, v in self.state_dict().items()}


def one_step_losses(smash: Smash, geno, train_batch, val_batch) -> tuple[float, float]:
    """Validation loss before and after one normalised gradient step on a training batch (the
    weights are restored afterwards)."""
    (xs, ys), (xv, yv) = train_batch, val_batch
    smash.net.train()  # batch statistics, as in scoring
    with torch.no_grad():
        before = float(F.cross_entropy(smash.net(xv, geno, smash.hyper(geno)), yv))
    params = list(smash.parameters())
    backup = [p.detach().clone() for p in params]
    smash.zero_grad(set_to_none=True)
    F.cross_entropy(smash.net(xs, geno, smash.hyper(geno)), ys).backward()
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= 0.005 * p.norm().clamp_min(1e-3) * p.grad / (p.grad.norm() + 1e-12)
        after = float(F.cross_entropy(smash.net(xv, geno, smash.hyper(geno)), yv))
        for p, b in zip(params, backup):
            p.copy_(b)
    smash.zero_grad(set_to_none=True)
    smash.eval()
    return before, after


def signals(seed: int, space: DenseSpace, data, archs: list[Architecture]) -> dict[str, list[float]]:
    cfg = replace(SmashConfig(), seed=seed, checkpoint_every=125)
    smash = SnapshotSmash(space, data.num_classes, data.in_channels, cfg)
    smash.snapshots = {}
    scratch = ROOT / "bench" / "out" / f"smash_signals_seed{seed}.pt"
    scratch.parent.mkdir(parents=True, exist_ok=True)
    scratch.unlink(missing_ok=True)
    smash.fit(data, checkpoint=scratch)
    scratch.unlink(missing_ok=True)
    out: dict[str, list[float]] = {}

    def add(name: str, value: float) -> None:
        out.setdefault(name, []).append(value)

    train_x, train_y = next(iter(data.batches("train", 128)))
    step_batch = next(iter(data.batches("train", 64, train=True, generator=torch.Generator().manual_seed(0))))
    x256, y256 = next(iter(data.batches("val", 256)))
    more = replace(cfg, score_images=500, naswot_images=128)
    with torch.no_grad():
        for a in archs:
            geno = space.parse(a)
            smash.config = cfg
            m = smash.measure(a, data)
            add("-loss", -m["loss"])
            add("naswot", m["naswot"])
            smash.config = more
            m = smash.measure(a, data)
            add("-loss (500 img)", -m["loss"])
            add("naswot (128 img)", m["naswot"])
            smash.net.train()
            add("-training loss", -float(F.cross_entropy(smash.net(train_x, geno, smash.hyper(geno)), train_y)))
            smash.eval()
            with torch.enable_grad():
                before, after = one_step_losses(smash, geno, step_batch, (x256, y256))
            add("-loss after 1 step", -after)
            add("loss drop in 1 step", before - after)
        smash.config = cfg
        for step in SNAPSHOTS:
            smash.load_state_dict(smash.snapshots[step])
            for a in archs:
                m = smash.measure(a, data)
                add(f"-loss @{step}", -m["loss"])
                add(f"naswot @{step}", m["naswot"])
    return out


def analyse(per_seed: dict[str, dict[str, list[float]]], test: np.ndarray) -> dict:
    seeds = sorted(per_seed)
    names = list(per_seed[seeds[0]])

    def taus(combo: tuple[str, ...]) -> list[float]:
        return [kendall_tau(sum(z(per_seed[s][n]) for n in combo), test) for s in seeds]

    report: dict = {"seeds": seeds, "single": {n: taus((n,)) for n in names},
                    "combos": {" + ".join(c): taus(c) for c in COMBOS}}
    # how much each term's ranking depends on the supernet: Kendall between seeds, mean over pairs
    report["between_seeds"] = {n: float(np.mean([kendall_tau(np.array(per_seed[a][n]), np.array(per_seed[b][n]))
                                                 for a, b in itertools.combinations(seeds, 2)]))
                               for n in ("-loss", "naswot")} if len(seeds) > 1 else {}
    # ensembles of k supernets (mean z-score), Kendall averaged over every choice of k seeds
    report["ensembles"] = {" + ".join(c): [float(np.mean([kendall_tau(sum(z(per_seed[s][n]) for s in group for n in c),
                                                                       test)
                                                          for group in itertools.combinations(seeds, k)]))
                                           for k in range(1, len(seeds) + 1)]
                           for c in (("-loss",), ("naswot",), ("-loss", "naswot"))}
    return report


def print_table(report: dict) -> None:
    seeds = report["seeds"]
    print(f"Kendall tau against test accuracy, {report['n_archs']} ground-truth architectures, supernet seeds {seeds}")
    for title, rows in (("signal alone", report["single"]), ("sum of z-scores", report["combos"])):
        print(f"{title:<66} {'per seed':<{6 * len(seeds)}} mean")
        for name, t in rows.items():
            print(f"  {name:<64} {' '.join(f'{x:+.2f}' for x in t)}  {np.mean(t):+.3f}")
    for name, t in report["between_seeds"].items():
        print(f"  {name}: Kendall between supernet seeds (mean over pairs) {t:+.3f}")
    print("ensembles of k supernets (mean z-score; Kendall averaged over the choices of k seeds), k = 1, 2, ...")
    for name, t in report["ensembles"].items():
        print(f"  {name:<64} {' '.join(f'{x:+.2f}' for x in t)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, action="append", help="supernet seed, repeatable (default 0)")
    ap.add_argument("--table", action="store_true", help="only print the table of an existing --out file")
    ap.add_argument("--ground-truth", type=Path, default=OUT)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "smash_signals.json")
    args = ap.parse_args()
    _, first, proto = load_table(args.ground_truth, args.data)
    test = np.array([r["test_accuracy"] for r in first])
    if args.table:  # the analysis again, from the stored signals
        report = json.loads(args.out.read_text())
        print_table({**report, **analyse({int(k): v for k, v in report["signals"].items()}, test)})
        return
    torch.set_num_threads(args.threads)
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    archs = [Architecture.from_dict(r["arch"]) for r in first]
    t0 = time.perf_counter()
    untrained = Smash(space, data.num_classes, data.in_channels, SmashConfig(seed=100))
    naswot_untrained = [untrained.measure(a, data)["naswot"] for a in archs]
    per_seed = {seed: {**signals(seed, space, data, archs), "naswot, untrained supernet": naswot_untrained}
                for seed in args.seed or [0]}
    report = {"n_archs": len(archs), "protocol": proto, **analyse(per_seed, test),
              "signals": per_seed, "seconds": time.perf_counter() - t0}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
