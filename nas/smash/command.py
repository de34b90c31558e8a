"""`nas search --strategy smash`: the SMASH search from the command line (the default main job)."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

from nas.errors import UserError
from nas.smash.hypertrain import SmashConfig
from nas.smash.search import SmashSearchConfig, jsonable, run_smash
from nas.training import TrainConfig

DEFAULTS = {"dataset": "digits", "trials": 100, "epochs": 15, "seed": 0, "supernet_steps": SmashConfig.steps,
            "smash": {}}
OWN_FLAGS = ("steps", "seed")  # SmashConfig fields set by --supernet-steps and --seed
IGNORED = ("evaluator", "objectives", "max_latency_ms", "max_params", "pruner", "storage")


def run_smash_command(args: argparse.Namespace) -> int:
    from nas.cli import print_json
    from nas.data import load_dataset
    from nas.runs import make_run_dir, write_json

    given = [f"--{f.replace('_', '-')}" for f in IGNORED if getattr(args, f, None) is not None]
    if given:
        raise UserError(f"--strategy smash scores with its own supernet; {', '.join(given)} do not apply")
    if args.space not in (None, "dense"):
        raise UserError(f"--strategy smash searches the dense space; --space {args.space} is not supported")
    if args.resume:
        run_dir = Path(os.path.expanduser(args.resume))
        settings = _read_settings(run_dir)
        config = _config(settings)
    else:
        settings = {k: getattr(args, k, None) if getattr(args, k, None) is not None else v for k, v in DEFAULTS.items()}
        settings["smash"] = _smash_options(args.smash or [])
        config = _config(settings)  # validate before making a directory
        run_dir = make_run_dir(args.runs_dir or "runs", args.name, "dense-smash")
        write_json(run_dir / "config.json", {"strategy": "smash", "settings": settings,
                                             "resolved": jsonable(asdict(config))})
    from nas.commands.search import report
    from nas.runstate import track

    with track(run_dir, "search", getattr(args, "argv", None)):  # so nas runs tells a running search from a killed one
        data = load_dataset(settings["dataset"], seed=settings["seed"])
        summary = run_smash(data, config, run_dir, quiet=args.quiet)
    report(run_dir, args.command)
    if args.json:
        print_json(summary)
    else:
        best = summary["best"]
        print(f"run        {run_dir}")
        print(f"scored     {summary['n_trials']} architectures with generated weights "
              f"(supernet: {summary['supernet']['steps']} steps, final loss {summary['supernet']['final_loss']:.3f})")
        for k, r in enumerate(summary["retrained"], start=1):
            print(f"retrained  #{k}: SMASH score {r['score']:+.3f} (higher is better)  val {r['val_accuracy']:.4f}  "
                  f"params {r['params']:,}")
        print(f"best       val {best['val_accuracy']:.4f}  test {best['test_accuracy']:.4f}  "
              f"params {best['params']:,}  MACs {best['flops']:,}")
        print(f"files      {run_dir / 'arch.json'}  {best['weights']}  {run_dir / 'results.json'}")
    return 0


def _config(s: dict[str, Any]) -> SmashSearchConfig:
    for key in ("trials", "epochs", "supernet_steps"):
        if not isinstance(s[key], int) or s[key] < 1:
            raise UserError(f"--{key.replace('_', '-')} must be a positive integer, got {s[key]!r}")
    try:
        smash = replace(SmashConfig(), steps=s["supernet_steps"], seed=s["seed"], **s.get("smash", {}))
    except ValueError as e:
        raise UserError(f"--smash: {e}") from None
    return SmashSearchConfig(trials=s["trials"], retrain=TrainConfig(epochs=s["epochs"], seed=s["seed"]), smash=smash)


def _smash_options(items: list[str]) -> dict[str, Any]:
    """`--smash KEY=VALUE` settings, converted to the type of the SmashConfig field."""
    types = {f.name: type(f.default) for f in fields(SmashConfig) if f.name not in OWN_FLAGS}
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in types:
            raise UserError(f"--smash {item!r}: use KEY=VALUE with KEY one of {', '.join(sorted(types))} "
                            "(steps and seed have their own flags)")
        try:
            out[key] = _parse(types[key], value.strip())
        except ValueError:
            raise UserError(f"--smash {key}: {value!r} is not a valid {types[key].__name__}") from None
    return out


def _read_settings(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        raise UserError(f"{run_dir} is not a run directory (no config.json); pass runs/<name>")
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError:
        raise UserError(f"{path} is not valid JSON") from None
    settings = {"smash": {}, **doc.get("settings", {})}  # runs from before --smash have no "smash"
    if doc.get("strategy") != "smash" or set(settings) != set(DEFAULTS):
        raise UserError(f"{run_dir} is not a SMASH run")
    return settings


def is_smash_run(run_dir: str) -> bool:
    try:
        return json.loads((Path(os.path.expanduser(run_dir)) / "config.json").read_text()).get("strategy") == "smash"
    except (OSError, ValueError):
        return False


def _parse(kind: type, text: str) -> Any:
    if kind is bool:  # bool("false") is True
        words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
        if text.lower() not in words:
            raise ValueError(text)
        return words[text.lower()]
    return kind(text)
