"""How well SMASH scores rank architectures, against bench/ground_truth.py's table.

Trains a SMASH supernet per variant on the ground truth's protocol data (same training split),
scores every ground-truth architecture under several scoring rules (all on the same supernet),
and reports Kendall tau and Spearman (bootstrap 95% intervals) and top-5 recall against the
architectures' trained TEST accuracy (3,000 images; the 500-image validation split is too noisy
a reference: seed-vs-seed Kendall 0.42 there, 0.68 on test) and, for reference, against
validation accuracy. Next to them: params-only, MACs-only, NASWOT on the built network at its
initialisation (the published zero-cost proxy) and an untrained HyperNet; the noise ceiling
(seed 0 vs seed 1 of the reseeded architectures); and, for the first variant, the cost
ratio (supernet training + scoring 500 architectures with the default scoring rule) / (training
one candidate from scratch on the same protocol, measured in this run).

    python bench/smash_correlation.py                       # the default SMASH configuration
    python bench/smash_correlation.py --variant mip --variant shared --no-cost --out F.json
    python bench/smash_correlation.py --steps 500 --steps 2000 --seed 0 --seed 1 --rule-only --no-cost --out F.json
    python bench/smash_correlation.py --table                # print a finished --out file again
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import DEFAULT_DATA, OUT, load_table, train_one  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.supernets.smash import Smash, SmashConfig  # noqa: E402
from predictors.metrics import bootstrap_ci, kendall_tau, spearman, top_k_recall  # noqa: E402
from predictors.zero_cost import ActivationKernel  # noqa: E402
from search_spaces import Architecture, default_space  # noqa: E402
from search_spaces.dense import DenseSpace, DenseSpaceConfig  # noqa: E402
from search_spaces.dense import smash_subspace as smash_config  # noqa: E402

# supernet variants: SmashConfig changes against the defaults (each one a training run)
VARIANTS = {
    "default": {},
    "weightnorm": {"parametrisation": "weightnorm"},  # SMASH's own
    "weightnorm-noise": {"parametrisation": "weightnorm", "noise": 8},
    "weightnorm-even": {"parametrisation": "weightnorm", "sampler": "even"},
    "weightnorm-attentive": {"parametrisation": "weightnorm", "sampler": "attentive"},
    "mip": {"parametrisation": "mip"},
    "shared": {"parametrisation": "shared"},
    "long": {"steps": 4000},
    "multi": {"archs_per_step": 4},  # 4 architectures per minibatch of 64, 16 images each
    "batch128": {"batch_size": 128, "steps": 500},  # the same images as the default in half the steps
    "sgd": {"optimizer": "sgd", "lr": 0.05},
    "adam-5e-3": {"lr": 5e-3},
    "kxk-per-stage": {"kxk_per_slot": False},
}
# scoring rules, all applied to the same trained supernet ("rule" is SmashConfig's default)
SCORINGS = {
    "rule": {},
    "loss alone": {"score_by": "loss"},  # the rule's first term
    "loss alone, 256 img": {"score_by": "loss", "score_images": 256},  # the default before NASWOT was added
    "acc, recalibrated, 500 img": {"score_by": "accuracy", "calibration_batches": 4, "score_images": 500},
    "loss, recalibrated, 500 img": {"score_by": "loss", "calibration_batches": 4, "score_images": 500},
    "acc, batch stats, 256 img": {"score_by": "accuracy", "calibration_batches": 0, "score_images": 256},
    "loss, batch stats, 500 img": {"score_by": "loss", "calibration_batches": 0, "score_images": 500},
}
NOISE_SCORINGS = {f"loss, batch stats, 500 img, noise {m}": {"score_by": "loss", "calibration_batches": 0,
                                                             "score_images": 500, "noise_at_scoring": m}
                  for m in ("fixed", "resample", "average")}


def metrics(score: np.ndarray, truth: np.ndarray, rng: np.random.Generator) -> dict:
    return {"kendall_tau": kendall_tau(score, truth), "kendall_ci": bootstrap_ci(kendall_tau, score, truth, rng),
            "spearman": spearman(score, truth), "spearman_ci": bootstrap_ci(spearman, score, truth, rng),
            "top5_recall": top_k_recall(score, truth, 5)}


def against(score: np.ndarray, test: np.ndarray, val: np.ndarray, rng: np.random.Generator) -> dict:
    return {"test": metrics(score, test, rng), "val": metrics(score, val, rng)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="repeatable; default: default")
    ap.add_argument("--steps", type=int, action="append", help="supernet steps, repeatable (default: SmashConfig's)")
    ap.add_argument("--seed", type=int, action="append", help="supernet seed, repeatable (default 0)")
    ap.add_argument("--rule-only", action="store_true", help="score with the default rule and its two terms alone only")
    ap.add_argument("--no-cost", action="store_true", help="skip the cost measurement (500 scores + 1 training)")
    ap.add_argument("--table", action="store_true", help="only print the table of an existing --out file")
    ap.add_argument("--ground-truth", type=Path, default=OUT)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "smash_correlation.json")
    args = ap.parse_args()
    if args.table:
        print_table(json.loads(args.out.read_text()))
        return
    torch.set_num_threads(args.threads)
    rows, first, proto = load_table(args.ground_truth, args.data)
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])
    space = DenseSpace(smash_config(DenseSpaceConfig()))
    archs = [Architecture.from_dict(r["arch"]) for r in first]
    test = np.array([r["test_accuracy"] for r in first])
    val = np.array([r["val_accuracy"] for r in first])
    rng = np.random.default_rng(0)

    untrained = Smash(space, data.num_classes, data.in_channels, SmashConfig(steps=1))
    report = {"n_archs": len(first), "protocol": proto, "threads": args.threads, "scorings": SCORINGS,
              "baselines": {"params": against(np.array([r["params"] for r in first], float), test, val, rng),
                            "macs": against(np.array([r["flops"] for r in first], float), test, val, rng),
                            "untrained_hypernet": against(np.array([untrained.score(a, data) for a in archs]),
                                                          test, val, rng),
                            "naswot_at_init": against(np.array([naswot_at_init(a, data) for a in archs]), test, val,
                                                      rng)},
              "noise_ceiling": ceiling(rows, first), "variants": {}}
    runs = [(name, steps, seed) for name in args.variant or ["default"] for steps in args.steps or [None]
            for seed in args.seed or [0]]
    for k, (name, steps, seed) in enumerate(runs):
        cfg = replace(SmashConfig(), seed=seed, **VARIANTS[name])
        if steps:
            cfg = replace(cfg, steps=steps)
        t0 = time.perf_counter()
        smash = Smash(space, data.num_classes, data.in_channels, cfg)
        fit = smash.fit(data, quiet=False)
        train_s = time.perf_counter() - t0
        result = {"config": asdict(cfg), "fit": fit, "scorings": {}}
        scorings = {**SCORINGS, **(NOISE_SCORINGS if cfg.noise else {})}
        if args.rule_only:  # the default rule and its loss term alone
            scorings = {k: scorings[k] for k in ("rule", "loss alone")}
        for rule, change in scorings.items():
            smash.config = replace(cfg, **change)
            scores = np.array([smash.score(a, data) for a in archs])
            result["scorings"][rule] = {**against(scores, test, val, rng), "scores": scores.tolist()}
        smash.config = cfg
        naswot = np.array([smash.measure(a, data)["naswot"] for a in archs])  # the rule's other term, alone
        result["scorings"]["naswot alone"] = {**against(naswot, test, val, rng), "scores": naswot.tolist()}
        if k == 0 and not args.no_cost:
            result["cost"] = cost(smash, space, data, archs, first, proto, train_s)
        report["variants"][f"{name}, {cfg.steps} steps, seed {seed}"] = result
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1, default=list))
        report["ensembles"] = ensembles(report["variants"], test, val, rng)
        args.out.write_text(json.dumps(report, indent=1, default=list))
    print_table(report)
    print(f"wrote {args.out}")


def naswot_at_init(arch: Architecture, data, images: int = 128) -> float:
    """NASWOT as published (Mellor et al. 2021): the activation-kernel log det of the built network at
    its initialisation, on one batch of training images."""
    with torch.random.fork_rng():  # seeds the built network without touching the caller's RNG
        torch.manual_seed(0)
        model = default_space("dense").build(arch, data.num_classes, data.in_channels, data.input_size).train()
    kernel = ActivationKernel(images)
    hooks = [m.register_forward_hook(lambda _m, _i, out: kernel.add(out)) for m in model.modules()
             if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        model(next(iter(data.batches("train", images)))[0])
    for h in hooks:
        h.remove()
    return kernel.logdet()


def zscore(values) -> np.ndarray:  # noqa: ANN001
    v = np.asarray(values, dtype=float)
    return (v - v.mean()) / (v.std() + 1e-12)


def ensembles(variants: dict, test: np.ndarray, val: np.ndarray, rng: np.random.Generator) -> dict:
    """Supernets of one variant and step count trained with different seeds, as an ensemble: the mean
    of their z-scored default-rule scores per architecture."""
    groups: dict[str, list[np.ndarray]] = {}
    for name, v in variants.items():
        scores = v["scorings"].get("rule", {}).get("scores")
        if scores is not None:
            s = np.array(scores)
            groups.setdefault(name.rsplit(", seed", 1)[0], []).append(zscore(s))
    return {f"{k}, ensemble of {len(z)} seeds": against(sum(z), test, val, rng)
            for k, z in groups.items() if len(z) > 1}


def ceiling(rows: list[dict], first: list[dict]) -> dict | None:
    pairs = {r["index"]: r for r in first}
    second = [r for r in rows if r["seed"] == 1 and r["index"] in pairs]
    if len(second) < 5:
        return None
    out = {"n": len(second)}
    for split in ("test", "val"):
        a = np.array([pairs[r["index"]][f"{split}_accuracy"] for r in second])
        b = np.array([r[f"{split}_accuracy"] for r in second])
        out[split] = {"kendall_tau": kendall_tau(a, b), "spearman": spearman(a, b)}
    return out


def cost(smash: Smash, space: DenseSpace, data, archs: list, first: list[dict], proto: dict, train_s: float) -> dict:
    """(supernet training + scoring 500 architectures) / one candidate trained from scratch."""
    smash._naswot_weights.clear()  # the reference architectures of "loss+naswot" count too
    t1 = time.perf_counter()
    extra = [space.sample(np.random.default_rng(1)) for _ in range(max(0, 500 - len(archs)))]
    for a in archs + extra:
        smash.score(a, data)
    score_s = time.perf_counter() - t1
    t2 = time.perf_counter()
    median = archs[int(np.argsort([r["params"] for r in first])[len(first) // 2])]
    one = train_one((0, 0, median.to_dict(), proto))
    one_s = time.perf_counter() - t2
    return {"supernet_train_s": train_s, "score_500_s": score_s, "one_candidate_s": one_s,
            "one_candidate_test_accuracy": one["test_accuracy"], "ratio": (train_s + score_s) / one_s}


def print_table(report: dict) -> None:
    proto = report["protocol"]
    print(f"{report['n_archs']} ground-truth architectures ({proto['dataset']}, {proto['epochs']} epochs); "
          "Kendall tau / Spearman [95% CI] against TEST accuracy; Kendall against val for reference")
    print(f"{'ranker':<44} {'Kendall (test)':<22} {'Spearman (test)':<22} {'top-5':>5} {'Kendall (val)':>14}")

    def line(name: str, m: dict) -> None:
        t = m["test"]
        print(f"{name:<44} {t['kendall_tau']:+.3f} [{t['kendall_ci'][0]:+.2f}, {t['kendall_ci'][1]:+.2f}]  "
              f"{t['spearman']:+.3f} [{t['spearman_ci'][0]:+.2f}, {t['spearman_ci'][1]:+.2f}]  "
              f"{t['top5_recall']:>5.2f} {m['val']['kendall_tau']:>+14.3f}")

    for name, m in report["baselines"].items():
        line(name, m)
    for name, v in report["variants"].items():
        cfg = v["config"]
        print(f"-- variant {name}: {cfg['steps']} steps, batch {cfg['batch_size']}, {cfg['parametrisation']}, "
              f"sampler {cfg['sampler']}, noise {cfg['noise']}, final loss {v['fit']['final_loss']:.3f}")
        for rule, m in v["scorings"].items():
            line(f"  {rule}", m)
        if "cost" in v:
            c = v["cost"]
            print(f"  cost: supernet {c['supernet_train_s']:.0f} s + scoring 500 archs {c['score_500_s']:.0f} s "
                  f"vs one candidate {c['one_candidate_s']:.0f} s: ratio {c['ratio']:.2f}")
    for name, m in report.get("ensembles", {}).items():
        line(f"{name} (mean z-score)"[:44], m)
    c = report.get("noise_ceiling")
    if c:
        print(f"noise ceiling (seed 0 vs seed 1, {c['n']} archs): Kendall tau test {c['test']['kendall_tau']:+.3f}, "
              f"val {c['val']['kendall_tau']:+.3f}")


if __name__ == "__main__":
    main()
