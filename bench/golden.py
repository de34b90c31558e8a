"""Compare a SMASH search run directory with a golden file recorded before the pipeline rewrite
(bench/results/golden/smash_*.json): supernet losses, scores per proposal (key, phase), pick.

    nas search --threads 1 --supernet-steps 60 --trials 36 --epochs 1 --confirm-seed 0 --name small
    python bench/golden.py runs/small bench/results/golden/smash_small.json

The old search scored `--trials` samples plus 24 local-search ones and retrained with `--seed`; the
new one counts every scored architecture in `--trials` and confirms with `--seed + 1` by default,
so the equivalent new run passes --trials N+24 and --confirm-seed 0.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def new_run(run_dir: Path) -> dict:
    import optuna

    from nas.supernets.loop import read_losses

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=run_dir.name, storage=f"sqlite:///{run_dir / 'study.db'}")
    rows = sorted((t for t in study.get_trials() if t.state == optuna.trial.TrialState.COMPLETE),
                  key=lambda t: t.user_attrs["slot"])
    results = json.loads((run_dir / "results.json").read_text())
    return {"losses": read_losses(run_dir / "supernet.pt"),
            "scores": [{"key": t.user_attrs["arch_key"], "phase": t.user_attrs["phase"],
                        "score": t.user_attrs["result"]["score"]} for t in rows],
            "retrained": [{"arch_key": e["arch_key"], "val_accuracy": e["val_accuracy"]}
                          for e in results["confirmation"]],
            "pick": {k: results["best"][k] for k in ("arch_key", "val_accuracy", "test_accuracy")}}


def compare(new: dict, old: dict) -> dict:
    n = min(len(new["scores"]), len(old["scores"]))
    same_scores = sum(a["key"] == b["key"] and a["phase"] == b["phase"] and a["score"] == b["score"]
                      for a, b in zip(new["scores"], old["scores"]))
    return {"losses_identical": new["losses"] == old["losses"], "steps": [len(new["losses"]), len(old["losses"])],
            "scores_identical": f"{same_scores} of {n} (new {len(new['scores'])}, old {len(old['scores'])})",
            "retrained_val": [[e["val_accuracy"] for e in new["retrained"]],
                              [e["val_accuracy"] for e in old["retrained"]]],
            "pick_identical": new["pick"] == old["pick"], "pick": [new["pick"], old["pick"]]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path)
    p.add_argument("golden", type=Path)
    args = p.parse_args()
    report = compare(new_run(args.run_dir), json.loads(args.golden.read_text()))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
