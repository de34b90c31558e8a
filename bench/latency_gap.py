"""Where the dense latency predictor's error comes from, measuring nothing: refit the predictor from a
saved profile (`bench/latency_predictor.py ... --save-profile FILE`) and split its error on the
measurements already in that run's JSON into
- the fit on the profile's own networks (in-sample: what the model can express),
- a common shift of the held-out sampled architectures (the machine's speed drifting between the
  profile and the evaluation; an oracle that removes only that one factor shows its share),
- the presets, and for one preset the kernel sum by the model vs by the profile's isolated kernels.

    python bench/latency_gap.py --batch-size 1 --profile /tmp/i17_prof_d1.json
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np

from nas.latency import LatencySettings
from predictors.latency import LatencyPredictor, LatencyProfile, within
from predictors.latency_kernels import features, kernels
from search_spaces.base import Architecture
from search_spaces.plugins import resolve_space

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--profile", required=True, help="the profile JSON the run saved (--save-profile)")
    ap.add_argument("--preset", default="resnet-20", help="preset whose kernel sum is split (default resnet-20)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    run = ROOT / "bench" / "results" / f"latency_predictor_dense_b{args.batch_size}.json"
    res = json.loads(run.read_text())
    prof = LatencyProfile.load(Path(args.profile))
    space = resolve_space("dense")
    s = LatencySettings(batch_size=args.batch_size, threads=1, clock=res["environment"]["clock"])
    pred = LatencyPredictor(prof, space, s)
    archs = [Architecture.from_json(a) for a in res["archs"]]
    true, n = np.asarray(res["measured_ms"]), res["archs_sampled"]
    mean, _ = pred.predict(archs)
    nets = [Architecture.from_dict(a) for a, _ in prof.networks]
    net_mean, _ = pred.predict(nets)
    shift = float(np.exp(np.mean(np.log(mean[:n] / true[:n]))))
    out = {"batch_size": args.batch_size, "run": res["command"], "profile": args.profile,
           "profile_networks_within_10pct": within(net_mean, np.asarray([ms for _, ms in prof.networks])),
           "sampled_within_10pct": within(mean[:n], true[:n]), "presets_within_10pct": within(mean[n:], true[n:]),
           "sampled_common_shift": shift - 1.0,
           "sampled_within_10pct_shift_removed": within(mean[:n] / shift, true[:n]),
           "presets_error": {name: float(p / t - 1) for name, p, t in zip(_preset_names(), mean[n:], true[n:])}}
    measured = dict(prof.kernels)
    ks = Counter(kernels(space, Architecture("dense", _genotype(args.preset)), s.num_classes, s.in_channels,
                         s.input_size))
    model = sum(c * float(pred.models[k[0]].predict(np.asarray([features(k)]))[0][0]) for k, c in ks.items())
    isolated = sum(c * measured.get(k, np.nan) for k, c in ks.items())
    out["preset_kernel_sum"] = {"preset": args.preset, "model_ms": model, "isolated_measured_ms": isolated,
                                "network_measured_ms": float(true[n + _preset_names().index(args.preset)])}
    print(json.dumps(out, indent=1))
    path = ROOT / "bench" / "results" / f"latency_gap_dense_b{args.batch_size}.json"
    path.write_text(json.dumps(out, indent=1) + "\n")


def _preset_names() -> list[str]:
    from search_spaces.dense.presets import EXAMPLES

    return list(EXAMPLES)


def _genotype(name: str) -> dict:  # type: ignore[type-arg]
    from search_spaces.dense.presets import preset_genotype

    return preset_genotype(name)


if __name__ == "__main__":
    main()
