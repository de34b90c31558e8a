"""Weight inheritance (`--evaluator inherit`): is a child judged by fine-tuning its trained parent's
weights ranked like the same child trained from scratch, and what does it cost?

Parents: `--parents` ground-truth architectures (bench/results/ground_truth.jsonl, the cheaper half
by measured training time, spread over the accuracy range), each trained from scratch here.
Children: `--per-parent` per parent, each one or two function-preserving transformations
(`search_spaces.dense.morph`: add a connection, widen a node, deepen a stage) drawn at random among
those that apply. Every child is evaluated twice, through the library's evaluators: by inheritance
(`InheritEvaluator`: the parent's weights carried over, `--finetune` epochs at lr x `--lr-scale`)
and from scratch (`TrainEvaluator`, `--epochs` epochs, the same recipe as the parents). Reported:
CPU seconds per child both ways (one thread; the parents' training is a search's sunk cost and is
listed apart), Kendall tau of inherited against scratch accuracy over all children, the same for the
parent's own accuracy (the "no fine-tuning" baseline), and the mean Kendall within each parent's
children.

The protocol is a reduced ground truth (stated in bench/README.md): the CIFAR-10 subset at 16x16,
`--images` class-balanced images (90% train / 10% validation), `--epochs` epochs, SGD 0.1 cosine.
Rows are appended to a JSONL file as they finish, so a killed run resumes; `--shard K/N` processes
share the parents (and the file), and the last to finish writes the report.

    python bench/weight_inheritance.py [--parents 6 --per-parent 5 --images 3000 --epochs 5 --finetune 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GT = ROOT / "bench" / "results" / "ground_truth.jsonl"
# ../shared beside the checkout (a git worktree one level deeper looks one more level up)
DATA = next((d / "shared" / "data" / "cifar10_subset.npz" for d in (ROOT.parent, ROOT.parent.parent)
             if (d / "shared" / "data").exists()), ROOT.parent / "shared" / "data" / "cifar10_subset.npz")
OUT = ROOT / "bench" / "results" / "weight_inheritance.json"


def pick_parents(n: int) -> list[dict]:
    """`n` ground-truth architectures among the cheaper half, spread over the accuracy range."""
    rows = [json.loads(line) for line in GT.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["seed"] == 0]
    cost = np.array([r.get("cpu_seconds", r["train_seconds"]) for r in rows])
    cheap = sorted((r for r, c in zip(rows, cost) if c <= np.median(cost)), key=lambda r: r["val_accuracy"])
    return [cheap[int(i)] for i in np.linspace(0, len(cheap) - 1, n).round()]


def transformations(geno: dict) -> list[tuple[str, tuple[int, int, int]]]:
    """Every single transformation that applies to `geno` (widen doubles a node's width)."""
    from search_spaces.dense.morph_plan import _GENOTYPE

    out = []
    for s, stage in enumerate(geno["stages"]):
        for i, node in enumerate(stage["nodes"], start=1):
            steps = [("connect", (s, i, j)) for j in range(i) if j not in node["inputs"]]
            steps += [("deepen", (s, i, 3))]
            if node["op"]["type"] == "conv":
                steps.append(("widen", (s, i, 2 * node["op"]["width"])))
            for name, args in steps:
                try:
                    _GENOTYPE[name](geno, *args)
                except ValueError:
                    continue
                out.append((name, args))
    return out


def make_children(geno: dict, k: int, rng: np.random.Generator) -> list[tuple[dict, list]]:
    """`k` distinct children: one transformation each, every third child two."""
    from search_spaces.dense.morph_plan import _GENOTYPE

    children: dict[str, tuple[dict, list]] = {}
    for _ in range(50 * k):
        g, steps = geno, []
        for _ in range(2 if len(children) % 3 == 2 else 1):
            options = transformations(g)
            kinds = sorted({n for n, _ in options})  # the kind first: deepen applies everywhere, the others less
            kind = kinds[int(rng.integers(len(kinds)))]
            options = [o for o in options if o[0] == kind]
            name, args = options[int(rng.integers(len(options)))]
            g = _GENOTYPE[name](g, *args)
            steps.append([name, list(args)])
        from search_spaces.base import Architecture

        children.setdefault(Architecture("dense", g).key(), (g, steps))
        if len(children) == k:
            break
    return list(children.values())


def kendall(a: list[float], b: list[float]) -> float:
    from scipy.stats import kendalltau

    return float(kendalltau(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parents", type=int, default=6)
    ap.add_argument("--per-parent", type=int, default=5)
    ap.add_argument("--images", type=int, default=3000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--finetune", type=int, default=1)
    ap.add_argument("--lr-scale", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--shard", default="0/1", help="K/N: this process takes every N-th parent from the K-th")
    ap.add_argument("--reverse", action="store_true", help="parents and children last to first (a helper "
                    "process meeting a running shard in the middle)")
    ap.add_argument("--report", action="store_true", help="only report the rows so far (no training)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()

    import torch

    from nas.evaluators.inherit import InheritEvaluator, InheritOptions, WeightStore
    from nas.evaluators.train import TrainEvaluator
    from nas.training import TrainConfig
    from search_spaces import Architecture, default_space

    torch.set_num_threads(1)
    space = default_space("dense")
    dataset = f"npz:{args.data}?subset={args.images}&resolution=16"
    recipe = TrainConfig(epochs=args.epochs, batch_size=128, lr=0.1, weight_decay=5e-4, seed=args.seed, quiet=True,
                         channels_last=False)
    scratch = TrainEvaluator(space, dataset, recipe)
    store_dir = Path(tempfile.gettempdir()) / f"{args.out.stem}_weights"  # large: kept out of the repository
    inherit = InheritEvaluator(scratch, WeightStore(store_dir), InheritOptions(args.finetune, args.lr_scale, 2))
    rows_path = args.out.with_suffix(".jsonl")
    rows_path.parent.mkdir(parents=True, exist_ok=True)
    k, n = (int(x) for x in args.shard.split("/"))
    done = read_rows(rows_path)
    t0 = time.perf_counter()
    order = list(enumerate(pick_parents(args.parents)))
    for p, gt in reversed(order) if args.reverse else order:
        if p % n != k or args.report:
            continue
        parent = Architecture.from_dict(gt["arch"])
        cpu = time.process_time()
        pr = inherit.evaluate(parent)  # from scratch (no stored parent reaches it), weights stored
        if f"parent {p}" not in done:
            cpu_s = None if pr.extra.get("cached_weights") else round(time.process_time() - cpu, 2)
            append(rows_path, {"parent": f"parent {p}", "key": parent.key(), "val_accuracy": pr.val_accuracy,
                               "params": pr.params, "cpu_s": cpu_s, "gt_val_accuracy": gt["val_accuracy"]})
        rng = np.random.default_rng(args.seed + 1000 * p)  # per parent: shards draw the same children
        children = list(enumerate(make_children(parent.genotype, args.per_parent, rng)))
        for c, (geno, steps) in reversed(children) if args.reverse else children:
            child = Architecture("dense", geno)
            name = f"{p}.{c}"
            done = read_rows(rows_path)  # another process may have done it meanwhile
            if name in done and done[name]["key"] == child.key():
                continue
            (store_dir / f"{child.key()}.json").unlink(missing_ok=True)  # a half-done child of a killed run
            cpu = time.process_time()
            ri = inherit.evaluate(child, parent=parent)
            cpu_inherit = time.process_time() - cpu
            assert ri.extra["inherit"]["mode"] == "inherited", ri.extra["inherit"]
            cpu = time.process_time()
            rs = scratch.evaluate(child)
            cpu_scratch = time.process_time() - cpu
            row = {"child": name, "key": child.key(), "parent": parent.key(), "steps": steps, "params": rs.params,
                   "parent_val": pr.val_accuracy, "inherited_val": ri.val_accuracy, "scratch_val": rs.val_accuracy,
                   "cpu_inherit_s": round(cpu_inherit, 2), "cpu_scratch_s": round(cpu_scratch, 2)}
            append(rows_path, row)
            print(f"{name:5s} {'+'.join(s[0] for s in steps):15s} parent {pr.val_accuracy:.3f} inherited "
                  f"{ri.val_accuracy:.3f} ({cpu_inherit:5.1f} CPU s) scratch {rs.val_accuracy:.3f} "
                  f"({cpu_scratch:5.1f} CPU s)  [{time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)
    everything = read_rows(rows_path)
    rows = [r for name, r in everything.items() if "child" in r]
    parents = [r for name, r in everything.items() if "parent" in r and "child" not in r]
    if len(rows) < args.parents * args.per_parent:
        print(f"{len(rows)} of {args.parents * args.per_parent} children so far (other shards running?); "
              "the report is written by the last", file=sys.stderr)
        if n > 1 and not args.report:
            return
    report(rows, parents, args, dataset)


def read_rows(path: Path) -> dict[str, dict]:
    """Rows by child name ("0.3") or parent ("parent 0"); a line cut short by a kill is skipped."""
    out = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[row.get("child", row.get("parent"))] = row
    return out


def append(path: Path, row: dict) -> None:
    with path.open("a") as f:  # one short write per row: shards appending at once do not interleave
        f.write(json.dumps(row) + "\n")


def report(rows: list[dict], parents: list[dict], args: argparse.Namespace, dataset: str) -> None:
    inh, scr, par = ([r[k] for r in rows] for k in ("inherited_val", "scratch_val", "parent_val"))
    ci, cs = np.array([r["cpu_inherit_s"] for r in rows]), np.array([r["cpu_scratch_s"] for r in rows])
    within = []
    for p in {r["parent"] for r in rows}:
        mine = [r for r in rows if r["parent"] == p]
        if len(mine) > 2:
            within.append(kendall([r["inherited_val"] for r in mine], [r["scratch_val"] for r in mine]))
    summary = {
        "children": len(rows), "parents": len(parents),
        "kendall_inherited_vs_scratch": kendall(inh, scr), "kendall_parent_vs_scratch": kendall(par, scr),
        "kendall_within_parent_mean": float(np.nanmean(within)) if np.isfinite(within).any() else None,
        "cpu_s_inherit_median": float(np.median(ci)), "cpu_s_scratch_median": float(np.median(cs)),
        "cost_ratio_median": float(np.median(ci / cs)),
        "mean_inherited_val": float(np.mean(inh)), "mean_scratch_val": float(np.mean(scr)),
        "parent_cpu_s_total": float(sum(p["cpu_s"] or 0.0 for p in parents)),
        "parents_cost_unknown": sum(p["cpu_s"] is None for p in parents),  # trained by an earlier, killed run
        "total_cpu_s": float(ci.sum() + cs.sum() + sum(p["cpu_s"] or 0.0 for p in parents)),
    }
    protocol = {"dataset": dataset, "epochs": args.epochs, "finetune_epochs": args.finetune,
                "finetune_lr": 0.1 * args.lr_scale, "threads": 1, "seed": args.seed}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"summary": summary, "protocol": protocol, "parents": parents, "rows": rows},
                                   indent=1) + "\n")
    print(f"\n{'':34s} {'inherited':>10s} {'scratch':>10s}")
    print(f"{'median CPU s per child':34s} {summary['cpu_s_inherit_median']:10.1f} "
          f"{summary['cpu_s_scratch_median']:10.1f}")
    print(f"{'mean val accuracy':34s} {summary['mean_inherited_val']:10.3f} {summary['mean_scratch_val']:10.3f}")
    print(f"Kendall tau, inherited vs scratch ({len(rows)} children): {summary['kendall_inherited_vs_scratch']:.3f}")
    print(f"Kendall tau, parent's accuracy vs scratch (no fine-tuning): {summary['kendall_parent_vs_scratch']:.3f}")
    if summary["kendall_within_parent_mean"] is not None:
        print(f"mean Kendall tau within a parent's children: {summary['kendall_within_parent_mean']:.3f}")
    print(f"cost ratio inherited / scratch (median): {summary['cost_ratio_median']:.2f}; "
          f"total CPU {summary['total_cpu_s']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
