"""`nas train --arch preset:NAME|FILE.json --dataset SPEC`: train one architecture, write runs/<name>/.

runs/<name>/ holds config.json (the resolved configuration), arch.json, metrics.json (per-epoch
history and the final `Result`) and weights.pt (a state_dict; `torch.load(weights_only=True)`).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from typing import Any

from nas.cli import add_common, print_json
from nas.errors import UserError
from nas.train_config import OPTIMIZERS, TrainConfig

DEFAULTS = TrainConfig()


def add_parser(sub: Any) -> None:
    p = sub.add_parser("train", help="train one architecture on a dataset and save it under runs/")
    p.add_argument("--arch", required=True, help="preset:NAME (e.g. preset:resnet-20) or an architecture JSON file")
    p.add_argument("--dataset", default="digits",
                   help="NAME[:PATH][?subset=N&resolution=R&val=F&classes=K] (default digits); names: digits, "
                        "synthetic, npz, cifar10, cifar100, imagenet16, imagenet32, imagenet64, imagefolder")
    p.add_argument("--epochs", type=int, default=DEFAULTS.epochs, help=f"epochs (default {DEFAULTS.epochs})")
    p.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size,
                   help=f"training batch size (default {DEFAULTS.batch_size})")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS.optimizer,
                   help="sgd (Nesterov momentum 0.9) or adam (default sgd)")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate, cosine-decayed (default sgd 0.1, adam 1e-3)")
    p.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay,
                   help=f"weight decay on all parameters (default {DEFAULTS.weight_decay})")
    p.add_argument("--label-smoothing", type=float, default=DEFAULTS.label_smoothing, help="default 0")
    p.add_argument("--no-augment", action="store_true", help="no pad-crop / flip augmentation")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda or cuda:N (default auto)")
    p.add_argument("--threads", default="auto",
                   help="CPU threads for torch: N, or auto = the cores not already busy (default auto)")
    p.add_argument("--runs-dir", default="runs", help="where run directories go (default runs)")
    p.add_argument("--name", default=None, help="run directory name (default ARCH-DATASET-TIMESTAMP)")
    p.add_argument("--overwrite", action="store_true", help="reuse an existing --name directory")
    add_common(p, seed=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from nas.archfile import arch_label, load_arch
    from nas.data import load_dataset, parse_dataset_spec
    from nas.hardware import resolve_device, resolve_threads
    from nas.results import Result
    from nas.runs import make_run_dir, save_state_dict, write_json
    from nas.training import TrainingDiverged, train
    from search_spaces.plugins import resolve_space

    spec = parse_dataset_spec(args.dataset)
    arch = load_arch(args.arch)
    config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, optimizer=args.optimizer, lr=args.lr,
                         weight_decay=args.weight_decay, label_smoothing=args.label_smoothing,
                         augment=not args.no_augment, seed=args.seed, device=resolve_device(args.device),
                         quiet=args.quiet)
    log = _logger(args.quiet)
    if config.device == "cpu":
        torch.set_num_threads(resolve_threads(args.threads))
    run_dir = make_run_dir(args.runs_dir, args.name, f"{arch_label(args.arch)}-{spec.name}", args.overwrite)
    try:
        t0 = time.perf_counter()
        data = load_dataset(spec, seed=args.seed)
        log(f"dataset {spec}: {len(data.train):,} train / {len(data.val):,} val / {len(data.test):,} test, "
            f"{data.num_classes} classes, {data.in_channels} x {data.input_size} x {data.input_size} "
            f"({time.perf_counter() - t0:.1f} s); device {config.device}, {torch.get_num_threads()} thread(s)")
        space = resolve_space(arch.space)
        torch.manual_seed(args.seed)
        model = space.build(arch, data.num_classes, data.in_channels, data.input_size)
        params, flops = count(space, arch, model, data)
    except BaseException:
        if not any(run_dir.iterdir()):  # nothing was written: leave no empty run behind
            run_dir.rmdir()
        raise
    log(f"{args.arch}: {params:,} params" + (f", {flops:,} MACs" if flops is not None else "") + f"; run {run_dir}")
    (run_dir / "arch.json").write_text(arch.to_json() + "\n", encoding="utf-8")
    write_json(run_dir / "config.json", _config(args, arch, spec, data, config))
    from nas.runstate import track

    with track(run_dir, "train", getattr(args, "argv", None)):  # nas runs tells running from killed
        try:
            result = train(model, data, config, on_stats=lambda history: write_json(  # per epoch: a crash keeps them
                run_dir / "metrics.json", {"epochs": [vars(h) for h in history], "result": None}))
        except TrainingDiverged as e:
            failed = Result(params=params, flops=flops, state="failed", error=str(e))
            write_json(run_dir / "metrics.json", {"epochs": [], "result": failed.to_dict()})
            raise UserError(str(e)) from None
        save_state_dict(run_dir / "weights.pt", model.state_dict())
    final = Result(val_accuracy=result.val_accuracy, test_accuracy=result.test_accuracy, params=params, flops=flops,
                   cost_s=result.train_seconds, extra={"device": result.device, "epochs": config.epochs})
    write_json(run_dir / "metrics.json", {"epochs": [vars(h) for h in result.history], "result": final.to_dict(),
                                          "train_seconds": result.train_seconds})
    summary = {"test_accuracy": result.test_accuracy, "val_accuracy": result.val_accuracy, "params": params,
               "flops": flops, "run_dir": str(run_dir), "train_seconds": round(result.train_seconds, 3),
               "epochs": config.epochs, "device": result.device}
    if args.json:
        print_json(summary)
    else:
        val = "-" if result.val_accuracy is None else f"{100 * result.val_accuracy:.2f}%"
        print(f"test accuracy {100 * (result.test_accuracy or 0):.2f}% (val {val}) after {config.epochs} epochs, "
              f"{result.train_seconds:.1f} s; {params:,} params; run {run_dir}")
    return 0


def count(space: Any, arch: Any, model: Any, data: Any) -> tuple[int, int | None]:
    """(params, MACs): from the space's static `shape` when it has one, else params counted on the
    module and MACs unknown (None)."""
    if hasattr(space, "shape"):
        shape = space.shape(arch, data.num_classes, data.in_channels, data.input_size)
        return int(shape.params), int(shape.macs)
    return sum(p.numel() for p in model.parameters()), None


def _config(args: argparse.Namespace, arch: Any, spec: Any, data: Any, config: TrainConfig) -> dict[str, Any]:
    import numpy as np
    import torch

    return {"command": "train", "arch": args.arch, "arch_key": arch.key(), "space": arch.space,
            "dataset": {"spec": str(spec), **spec.to_dict()}, "data": data.summary(), "train": config.to_dict(),
            "seed": args.seed, "threads": torch.get_num_threads(),
            "args": {k: v for k, v in vars(args).items() if k != "func"},
            "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__}}


def _logger(quiet: bool) -> Any:
    def log(message: str) -> None:
        if not quiet:
            print(message, file=sys.stderr)

    return log
