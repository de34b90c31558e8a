"""`nas latency measure | profile | predict`: the one latency measurement, and the nn-Meter style
predictor profiled once per device and settings (cached by fingerprint)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

from nas.cli import add_common, print_json

ARCH_HELP = ("preset:NAME, an architecture JSON file, or a run directory (its arch.json / best architecture); "
             "measure also takes an exported model.pt2")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def add_settings(p: argparse.ArgumentParser, input_default: str = "32x32x3") -> None:
    """The flags a latency number depends on (shared with `nas select`)."""
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--batch-size", type=positive_int, default=1, help="inputs per forward pass (default 1)")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU intra-op threads (default 1)")
    p.add_argument("--input-size", type=positive_int, default=None,
                   help=f"input height = width (default: {input_default})")
    p.add_argument("--in-channels", type=positive_int, default=None, help="input channels (default 3, or the run's)")
    p.add_argument("--num-classes", type=positive_int, default=None, help="classes (default 10, or the run's)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (default); cpu: the thread's CPU time (threads 1 on a CPU only), "
                        "stabler on a loaded machine")
    p.add_argument("--repeats", type=positive_int, default=30, help="timed forward passes after warm-up (default 30)")
    p.add_argument("--cache-dir", default=None, help="latency profiles (default $NAS_LATENCY_CACHE or "
                                                     "~/.cache/densedag/latency)")


def add_reanchor(p: argparse.ArgumentParser) -> None:
    """`--no-reanchor` (shared with `nas select`)."""
    p.add_argument("--no-reanchor", dest="reanchor", action="store_false",
                   help="use the profile as measured; by default 5 of its networks are measured again first and "
                        "predictions scaled by the median ratio now / then (the machine's speed drifts)")


def add_parser(sub: Any) -> None:
    p = sub.add_parser("latency", help="measure, profile and predict inference latency")
    verbs = p.add_subparsers(dest="verb", parser_class=type(p), metavar="VERB")
    m = verbs.add_parser("measure", help="median latency and IQR of one architecture's forward pass")
    m.add_argument("arch", metavar="ARCH", help=ARCH_HELP)
    m.add_argument("--format", choices=("eager", "pt2", "compile"), default="eager",
                   help="eager module, torch.export program (pt2) or torch.compile (default eager)")
    add_settings(m, "32x32x3, or the run's dataset")
    add_common(m)
    m.set_defaults(func=run_measure)
    pr = verbs.add_parser("profile", help="measure kernels and networks of a space, fit and cache the predictor")
    pr.add_argument("--space", default="dense", help="a registered space (dense, nb201) or module:attr (default dense)")
    pr.add_argument("--kernels", type=positive_int, default=300, help="kernels to measure (default 300)")
    pr.add_argument("--networks", type=positive_int, default=40,
                    help="whole networks measured for the correction (default 40)")
    pr.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    add_settings(pr)
    add_common(pr)
    pr.set_defaults(func=run_profile)
    pd = verbs.add_parser("predict", help="predicted latency (mean and std) from the cached profile")
    pd.add_argument("arch", metavar="ARCH", help=ARCH_HELP)
    pd.add_argument("--space", default=None, help="the space as profiled, when not the architecture's default")
    add_settings(pd, "32x32x3, or the run's dataset")
    add_reanchor(pd)
    add_common(pd)
    pd.set_defaults(func=run_predict)
    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


def settings_from(args: argparse.Namespace, inputs: dict[str, int] | None = None, fmt: str = "eager") -> Any:
    from nas.hardware import resolve_device
    from nas.latency import LatencySettings

    device = resolve_device(args.device)
    if device == "cuda":
        device = "cuda:0"
    inputs = inputs or {}
    return LatencySettings(
        device=device, batch_size=args.batch_size, threads=args.threads, format=fmt, repeats=args.repeats,
        clock=args.clock,
        input_size=args.input_size or inputs.get("input_size", 32),
        in_channels=args.in_channels or inputs.get("in_channels", 3),
        num_classes=args.num_classes or inputs.get("num_classes", 10))


def resolve_arch(spec: str) -> tuple[Any, dict[str, int] | None]:
    """ARCH -> (architecture, the run's input shape when ARCH is a run directory)."""
    from nas.archfile import load_arch

    path = Path(spec).expanduser()
    if spec.startswith("preset:") or not path.is_dir():
        return load_arch(spec), None
    from nas.select import read_run, run_inputs
    from search_spaces.base import Architecture

    if (path / "arch.json").exists():
        arch = load_arch(str(path / "arch.json"))
    else:
        from nas.select import _json

        best = _json(path / "results.json").get("best") if (path / "results.json").exists() else None
        if isinstance(best, dict) and isinstance(best.get("arch"), dict):
            arch = Architecture.from_dict(best["arch"])
        else:
            arch = max(read_run(path), key=lambda c: c.accuracy).arch
    return arch, run_inputs(path)


def _space(spec: str | None, arch: Any = None) -> Any:
    from search_spaces.plugins import resolve_space

    return resolve_space(spec or arch.space)


def run_measure(args: argparse.Namespace) -> int:
    from nas.latency import example_input, measure_arch, measure_interleaved

    if args.arch.endswith(".pt2") and Path(args.arch).expanduser().is_file():  # an exported artefact as is
        import torch

        settings = settings_from(args, None, "eager")
        module, x = torch.export.load(str(Path(args.arch).expanduser())).module(), example_input(settings)
        m = measure_interleaved([lambda: module(x)], settings)[0]  # an exported program has no eval() / to()
        doc = {"artefact": args.arch, **m.to_dict(), "min_ms": min(m.times_ms)}
        m.settings["format"] = "pt2"
    else:
        arch, inputs = resolve_arch(args.arch)
        settings = settings_from(args, inputs, args.format)
        m = measure_arch(arch, settings)
        doc = {"arch_key": arch.key(), "space": arch.space, **m.to_dict(), "min_ms": min(m.times_ms)}
    if args.json:
        print_json(doc)
    else:
        s = m.settings
        print(f"{m.latency_ms:.3f} ms (IQR {m.iqr_ms:.3f} ms, median of {s['repeats']}) on {s['device']} "
              f"({s['device_model']}), batch {s['batch_size']}, {s['threads']} thread(s), "
              f"{s['in_channels']}x{s['input_size']}x{s['input_size']} {s['dtype']}, {s['format']}, "
              f"torch {s['torch']}, load {s['loadavg']}")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from predictors.latency import LatencyPredictor, default_cache_dir, profile_path, profile_space

    space = _space(args.space)
    settings = settings_from(args)
    path = profile_path(Path(args.cache_dir) if args.cache_dir else default_cache_dir(), space.name, settings)

    def progress(what: str, i: int, n: int) -> None:
        if not args.quiet:
            print(f"\r{what} {i}/{n}", end="\n" if i == n else "", file=sys.stderr, flush=True)

    start = time.perf_counter()
    prof = profile_space(space, settings, n_kernels=args.kernels, n_networks=args.networks, seed=args.seed,
                         progress=progress)
    prof.save(path)
    pred = LatencyPredictor(prof, space, settings)
    doc = {"profile": str(path), "fingerprint": prof.fingerprint, "space": space.name, "kernels": len(prof.kernels),
           "networks": len(prof.networks), "seconds": round(time.perf_counter() - start, 2),
           "correction_rel_rmse": round(pred.rel_std, 4), "settings": prof.environment}
    if args.json:
        print_json(doc)
    else:
        print(f"profiled {doc['kernels']} kernels and {doc['networks']} networks of {space.name} in "
              f"{doc['seconds']:.1f} s; fit relative RMSE {pred.rel_std:.1%}; saved {path}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from nas.errors import UserError
    from nas.latency import fingerprint
    from predictors.latency import default_cache_dir, load_predictor

    arch, inputs = resolve_arch(args.arch)
    space = _space(args.space, arch)
    settings = settings_from(args, inputs)
    cache = Path(args.cache_dir) if args.cache_dir else default_cache_dir()
    pred = load_predictor(space, settings, cache, reanchor=args.reanchor)
    if pred is None:
        raise UserError(f"no latency profile of {space.name} for these settings (fingerprint {fingerprint(settings)}) "
                        f"in {cache}; run `nas latency profile --space {space.name}` with the same flags")
    mean, std = pred.predict_one(arch)
    doc = {"arch_key": arch.key(), "space": space.name, "latency_ms": mean, "std_ms": std,
           "anchor_factor": pred.anchor, "anchor_ratios": pred.anchor_ratios,
           "fingerprint": pred.profile.fingerprint, "settings": settings.to_dict()}
    if args.json:
        print_json(doc)
    else:
        print(f"{mean:.3f} ms +- {std:.3f} (predicted; batch {settings.batch_size}, {settings.threads} thread(s), "
              f"{settings.device}; {pred.describe_anchor()})")
    return 0
