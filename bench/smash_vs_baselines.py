"""Does SMASH's pick beat the obvious alternatives? (issue #6)

On bench/ground_truth.py's protocol (CIFAR-10 subset at 16x16, 10 epochs): run a SMASH search
with the default SmashConfig (supernet, score `--trials` random architectures + local search,
retrain the top 2, pick by validation: `nas.search.Search`), timing all of it; retrain the pick from scratch with
`--seeds` seeds; train the parameter-matched ResNet and DenseNet-BC presets with the same seeds;
and estimate random search at the same compute from the ground-truth table (its 60 seed-0 rows
are uniform samples of the same space on the same protocol): budget B = SMASH's seconds / one
candidate training (the mean of this run's trainings of the space's architectures: SMASH's
retrained top 2 and the pick's seeds), best of B by validation, 10,000 draws.
Test accuracy (3,000 images) decides. The run directory resumes (`Search.resume`), and finished
candidate trainings are kept in `candidates.jsonl`.

    python bench/smash_vs_baselines.py [--steps N] [--trials 500] [--seeds 3] [--workers 2] [--epochs 10]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ground_truth import DEFAULT_DATA, OUT, load_table, train_one  # noqa: E402
from nas.data import load_dataset  # noqa: E402
from nas.search import Search, SearchConfig  # noqa: E402
from search_spaces import Architecture, default_space  # noqa: E402
from search_spaces.dense.presets import preset_genotype  # noqa: E402

RESNETS = [f"resnet-{d}" for d in (8, 14, 20, 26, 32, 38, 44, 56)]
DENSENETS = [f"densenet-bc-{6 * n + 4}-{k}" for n in range(1, 9) for k in range(4, 25)]
DRAWS = 10_000
CLEAR = 2.0  # a difference counts as real beyond this many standard errors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, help="supernet steps (default: SmashConfig's)")
    ap.add_argument("--trials", type=int, default=500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, help="training epochs (default: the protocol's; smoke tests only)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--ground-truth", type=Path, default=OUT)
    ap.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "bench-smash-vs-baselines")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "smash_vs_baselines.json")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if not args.data.exists():
        sys.exit(f"smash_vs_baselines: {args.data} not found; pass --data PATH to cifar10_subset.npz")
    _, table, proto = load_table(args.ground_truth, args.data)
    portable = dict(table[0]["protocol"])  # the ground truth's protocol, so both benches train the same way
    like_for_like = args.epochs in (None, proto["epochs"])
    proto["epochs"] = portable["epochs"] = args.epochs or proto["epochs"]
    data = load_dataset(proto["dataset"], seed=proto["data_seed"])

    # 1. the SMASH search, timed end to end (--trials sampled architectures plus the local search: the
    # pipeline counts both, so it is given their sum; confirmation retrains with seed 0 as before)
    assert proto["data_seed"] == 0, "the search splits the data with its own seed (0)"
    extra = {"supernet_steps": args.steps} if args.steps else {}
    local = SearchConfig().smash.local_rounds * SearchConfig().smash.local_top * SearchConfig().smash.local_mutations
    cfg = SearchConfig(dataset=proto["dataset"], trials=args.trials + local, epochs=proto["epochs"], confirm=2,
                       confirm_seed=0, confirm_train=f"train?batch_size={proto['batch_size']}&lr={proto['lr']}"
                       f"&weight_decay={proto['weight_decay']}", **extra)
    summary, smash_s, exact = timed_smash(cfg, args.run_dir)
    pick = Architecture.from_dict(summary["best"]["arch"])

    # 2. the pick and the parameter-matched presets, each trained from scratch with every seed
    space = default_space("dense")

    def params(arch: Architecture) -> int:
        return space.shape(arch, data.num_classes, data.in_channels, data.input_size).params

    target = params(pick)
    archs = {"SMASH pick": pick}
    for family in (RESNETS, DENSENETS):
        name = closest_preset(family, target, params)
        archs[name] = Architecture("dense", preset_genotype(name))
    trained = train_all(archs, range(args.seeds), proto, args.run_dir / "candidates.jsonl", args.workers)
    methods = {name: {"params": params(a), **stats([r["test_accuracy"] for r in trained[name]]),
                      "seeds": [r["seed"] for r in trained[name]], "test": [r["test_accuracy"] for r in trained[name]],
                      "val": [r["val_accuracy"] for r in trained[name]],
                      "train_seconds": [r["train_seconds"] for r in trained[name]]} for name, a in archs.items()}

    # 3. random search at SMASH's compute, in candidate trainings measured on this machine, this run. A
    # candidate is an architecture of the space, so the unit averages this run's trainings of those (SMASH's
    # retrained top-k and the pick's seeds), not the presets (DenseNet-BC trains several times slower on CPU)
    retrained = [r["train_seconds"] for r in summary["confirmation"]]
    unit = float(np.mean(retrained + methods["SMASH pick"]["train_seconds"]))
    budget = max(1, round(smash_s / unit))
    report = {"protocol": portable, "threads": args.threads, "smash_config": cfg.to_dict(),
              "smash": {"seconds": smash_s, "seconds_exact": exact, "supernet_seconds": summary["supernet"]
                        ["train_seconds"], "retrain_seconds": [r["train_seconds"] for r in summary["confirmation"]],
                        "n_scored": summary["n_trials"], "pick": summary["best"]["arch"],
                        "search_test_accuracy": summary["best"]["test_accuracy"]},
              "candidate_seconds": unit,
              "all_trainings_seconds": float(np.mean([t for m in methods.values() for t in m["train_seconds"]])),
              "budget": budget, "smash_compute": smash_s / unit, "methods": methods,
              "random_search": random_search(table, budget) if like_for_like else None,
              "ground_truth_epochs": table[0]["protocol"]["epochs"],
              "ground_truth_mean_test": float(np.mean([r["test_accuracy"] for r in table])),
              "ground_truth_mean_seconds": float(np.mean([r["train_seconds"] for r in table]))}
    if not like_for_like:
        report["random_search_skipped"] = (f"trained {proto['epochs']} epochs, but the ground-truth table (random "
                                           f"search) was trained {table[0]['protocol']['epochs']}: not comparable")
    report["verdict"] = verdict(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print_table(report)
    print(f"wrote {args.out}")


def closest_preset(family: list[str], target: int, params: Callable[[Architecture], int]) -> str:
    """The preset of `family` closest to `target` parameters in ratio (a 2x miss counts the same either way)."""
    return min(family, key=lambda n: abs(math.log(params(Architecture("dense", preset_genotype(n))) / target)))


def timed_smash(cfg: SearchConfig, run_dir: Path) -> tuple[dict, float, bool]:
    """The search (resumed when `run_dir` holds it) and its seconds. A run finished in one go records its
    time in the run directory; a resumed one only knows its recorded parts (supernet + retraining, not
    the scoring), a lower bound."""
    record = run_dir / "bench_smash.json"
    config = {k: v for k, v in cfg.to_dict().items() if k != "study_name"}
    if record.exists() and json.loads(record.read_text())["config"] != config:
        sys.exit(f"smash_vs_baselines: {run_dir} holds a search with another configuration; pass a new --run-dir")
    fresh = not (run_dir / "config.json").exists()  # nothing of the search itself done yet
    t0 = time.perf_counter()
    search = Search.create(cfg, run_dir.parent, run_dir.name) if fresh else Search.resume(run_dir)
    if fresh:
        record.write_text(json.dumps({"config": config, "seconds": None}))
    summary = search.run()
    wall = time.perf_counter() - t0
    seen = json.loads(record.read_text()) if record.exists() else {"config": config, "seconds": None}
    if fresh:
        seen["seconds"] = wall
        record.write_text(json.dumps(seen))
    if seen["seconds"] is not None:
        return summary, seen["seconds"], True
    parts = summary["supernet"]["train_seconds"] + sum(r["train_seconds"] for r in summary["confirmation"])
    print(f"smash_vs_baselines: {run_dir} was resumed, so SMASH's time ({max(wall, parts):.0f} s) is a lower "
          "bound; use a fresh --run-dir for an exact count", file=sys.stderr)
    return summary, max(wall, parts), False


def train_all(archs: dict[str, Architecture], seeds: range, proto: dict, cache: Path, workers: int) -> dict:
    """Every (architecture, seed) trained with train_one, in a pool; finished rows kept in `cache`."""
    done = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[row["key"], row["seed"], row["protocol"]["epochs"]] = row
    jobs = [(k, s, a.to_dict(), proto) for k, a in enumerate(archs.values()) for s in seeds
            if (a.key(), s, proto["epochs"]) not in done]
    print(f"training {len(jobs)} candidates ({len(archs) * len(seeds) - len(jobs)} done) with {workers} workers",
          file=sys.stderr)
    if jobs:
        with mp.get_context("spawn").Pool(workers) as pool, cache.open("a") as f:
            for row in pool.imap_unordered(train_one, jobs):
                f.write(json.dumps(row, sort_keys=True) + "\n")
                f.flush()
                done[row["key"], row["seed"], row["protocol"]["epochs"]] = row
                print(f"  {list(archs)[row['index']]} seed {row['seed']}: test {row['test_accuracy']:.3f} "
                      f"({row['train_seconds']:.0f} s)", file=sys.stderr)
    return {name: [done[a.key(), s, proto["epochs"]] for s in seeds] for name, a in archs.items()}


def random_search(table: list[dict], budget: int) -> dict:
    """Random search with `budget` candidates from the table's rows: best by validation, its test
    accuracy; many draws without replacement."""
    val = np.array([r["val_accuracy"] for r in table])
    test = np.array([r["test_accuracy"] for r in table])
    n = min(budget, len(table))
    rng = np.random.default_rng(0)
    draws = np.argsort(rng.random((DRAWS, len(table))), axis=1)[:, :n]  # each row a sample without replacement
    chosen = draws[np.arange(DRAWS), np.argmax(val[draws], axis=1)]
    out = test[chosen]
    return {"budget": budget, "used": n, "capped": budget > len(table), "draws": DRAWS, "mean": float(out.mean()),
            "sd": float(out.std()), "p5": float(np.percentile(out, 5)), "p95": float(np.percentile(out, 95)),
            "n": 1, "median_params": float(np.median([table[i]["params"] for i in chosen]))}


def stats(x: list[float]) -> dict:
    return {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)) if len(x) > 1 else 0.0, "n": len(x)}


def verdict(report: dict) -> str:
    """The best mean, and SMASH against each alternative: difference over its noise. Against random
    search the spread of its outcomes stands for one search's luck (SMASH's own search-to-search
    spread is unmeasured: one supernet)."""
    ms = dict(report["methods"])
    rs = report["random_search"]
    if rs:
        ms[f"random search (B={rs['used']})"] = rs
    s = ms.pop("SMASH pick")
    compared = {}  # name: (SMASH minus it, in standard errors)
    for name, m in ms.items():
        diff = s["mean"] - m["mean"]
        noise = math.sqrt(s["sd"] ** 2 / s["n"] + m["sd"] ** 2 / m["n"])
        compared[name] = (diff, abs(diff) / noise if noise > 0 else math.nan)  # nan: one seed, no noise estimate
    winner = max([("SMASH pick", s["mean"])] + [(k, m["mean"]) for k, m in ms.items()], key=lambda t: t[1])[0]
    clear = all(z >= CLEAR for _, z in compared.values()) if winner == "SMASH pick" else compared[winner][1] >= CLEAR
    rival = "at least one alternative" if winner == "SMASH pick" else "SMASH"
    head = f"{winner} wins" + ("" if clear else f", but not beyond the noise against {rival}")
    return f"{head}. SMASH pick {s['mean']:.3f}: " + ", ".join(
        f"vs {k} {d:+.3f} ({noise_words(z)})" for k, (d, z) in compared.items())


def noise_words(z: float) -> str:
    if math.isnan(z):
        return "noise unknown: one seed"
    return f"{z:.1f} SE, {'beyond' if z >= CLEAR else 'within'} noise"


def print_table(report: dict) -> None:
    p = report["protocol"]
    sm = report["smash"]
    bound = "" if sm["seconds_exact"] else " (lower bound: resumed)"
    print(f"{p['dataset']}, {p['epochs']} epochs. One candidate training: {report['candidate_seconds']:.0f} s "
          f"(this run's trainings of the space's archs; all this run's {report['all_trainings_seconds']:.0f} s, "
          f"the table's {report['ground_truth_mean_seconds']:.0f} s)")
    print(f"SMASH search: {sm['seconds']:.0f} s{bound} = {report['smash_compute']:.1f} trainings (supernet "
          f"{sm['supernet_seconds']:.0f} s, {sm['n_scored']} scored, retraining {sum(sm['retrain_seconds']):.0f} s)")
    print(f"{'method':<34} {'params':>9} {'test accuracy':>18} {'compute (trainings)':>20}")
    for name, m in report["methods"].items():
        cost = f"{report['smash_compute']:.1f}" if name == "SMASH pick" else "1"
        label = f"{name} (n={m['n']})"
        print(f"{label:<34} {m['params']:>9,} {m['mean']:>9.3f} ± {m['sd']:.3f}  {cost:>20}")
    rs = report["random_search"]
    if rs:
        label = f"random search, B={rs['used']}"
        print(f"{label:<34} {rs['median_params']:>9,.0f} {rs['mean']:>9.3f} ± {rs['sd']:.3f}"
              f"  {rs['used']:>20}   [5-95%: {rs['p5']:.3f}-{rs['p95']:.3f}; {rs['draws']:,} draws]")
        if rs["capped"]:
            print(f"  (budget {rs['budget']} exceeds the table's {rs['used']} architectures: all of them used)")
    else:
        print(f"random search skipped: {report['random_search_skipped']}")
    label = f"random architecture ({report['ground_truth_epochs']} ep.)"
    print(f"{label:<34} {'':>9} {report['ground_truth_mean_test']:>9.3f}{'':>8}  {1:>20}   [mean of the table]")
    print(f"verdict: {report['verdict']}")


if __name__ == "__main__":
    main()
