"""Independent check of builder + trainer + data pipeline on real CIFAR-10 images.

`reference`: a plain hand-written PyTorch ResNet-20 with option-B (1x1 conv + BN projection)
shortcuts, its own data handling (np.load, a per-class 9,000 / 1,000 split, pad-4 crop + flip
written here) and its own training loop: nothing from this project.
`ours`: `nas train --arch preset:resnet-20 --dataset npz:.../cifar10_subset.npz` with the same
schedule (30 epochs, SGD Nesterov momentum 0.9, lr 0.1 cosine, weight decay 5e-4, batch 128),
run through `nas.cli.main`.

The two must land within 2 points of test accuracy (the reference reaches about 74.8%).

    python bench/cifar_resnet20_check.py [--which reference|ours|both] [--epochs 30] [--seed 0]
                                         [--threads 2] [--arch preset:resnet-20]

Each part merges its numbers into bench/results/cifar_resnet20_check.json (so the two parts can
run as separate processes), then the table of whatever is there is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
DATA = Path("/work/shared/data/cifar10_subset.npz")
RESULTS = ROOT / "bench" / "results" / "cifar_resnet20_check.json"
REFERENCE_ACCURACY = 0.748
TOLERANCE = 0.02


# --- the hand-written reference -------------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:  # option B: projection
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet20(nn.Module):
    def __init__(self, num_classes: int = 10, n: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        layers, cin = [], 16
        for stage, width in enumerate((16, 32, 64)):
            for b in range(n):
                layers.append(BasicBlock(cin, width, 2 if stage > 0 and b == 0 else 1))
                cin = width
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.conv(x)))  # 16 x 32 x 32
        x = self.layers(x)  # 64 x 8 x 8
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def run_reference(epochs: int, seed: int) -> dict:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    with np.load(DATA, allow_pickle=False) as f:
        x_all, y_all, x_test, y_test = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
    val_idx = np.concatenate([rng.permutation(np.flatnonzero(y_all == c))[:100] for c in range(10)])
    train_mask = np.ones(len(y_all), bool)
    train_mask[val_idx] = False
    to_t = lambda a: torch.from_numpy(np.ascontiguousarray(a.transpose(0, 3, 1, 2))).float() / 255  # noqa: E731
    x_tr, y_tr = to_t(x_all[train_mask]), torch.from_numpy(y_all[train_mask])
    x_va, y_va = to_t(x_all[val_idx]), torch.from_numpy(y_all[val_idx])
    x_te, y_te = to_t(x_test), torch.from_numpy(y_test)
    mean, std = x_tr.mean((0, 2, 3), keepdim=True), x_tr.std((0, 2, 3), keepdim=True)
    x_va, x_te = (x_va - mean) / std, (x_te - mean) / std  # training batches: augmented, then normalised
    model = ResNet20()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = epochs * math.ceil(len(x_tr) / 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    history, start = [], time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_tr))
        for i in range(0, len(x_tr), 128):
            idx = perm[i:i + 128]
            xb = F.pad(x_tr[idx], (4, 4, 4, 4))  # black padding, as torchvision's RandomCrop(32, padding=4)
            out = torch.empty(len(idx), 3, 32, 32)
            for j in range(len(idx)):
                dy, dx = rng.integers(0, 9, 2)
                img = xb[j, :, dy:dy + 32, dx:dx + 32]
                out[j] = img.flip(2) if rng.random() < 0.5 else img
            loss = F.cross_entropy(model((out - mean) / std), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        val = evaluate(model, x_va, y_va)
        history.append(val)
        print(f"reference epoch {epoch + 1}/{epochs}: loss {loss.item():.3f} val {val:.4f} "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - start
    return {"test_accuracy": evaluate(model, x_te, y_te), "val_accuracy": history[-1], "val_history": history,
            "params": sum(p.numel() for p in model.parameters()), "train_seconds": seconds,
            "model": "hand-written ResNet-20, option-B shortcuts"}


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(x), 500))
    return correct / len(x)


# --- ours: nas train ------------------------------------------------------------------------
def run_ours(epochs: int, seed: int, arch: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from nas.cli import main

    argv = ["train", "--arch", arch, "--dataset", f"npz:{DATA}", "--epochs", str(epochs), "--batch-size", "128",
            "--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "5e-4", "--seed", str(seed),
            "--runs-dir", str(ROOT / "bench" / "out" / "runs"), "--json"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise SystemExit(f"nas train failed with exit code {code}")
    result = json.loads(out.getvalue())
    metrics = json.loads((Path(result["run_dir"]) / "metrics.json").read_text())
    result["val_history"] = [e["val_accuracy"] for e in metrics["epochs"]]
    result["command"] = "nas " + " ".join(argv)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--which", choices=("reference", "ours", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--arch", default="preset:resnet-20", help="the architecture `ours` trains")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = {"threads": args.threads, "torch": torch.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "epochs": args.epochs, "seed": args.seed}
    if args.which in ("reference", "both"):
        _save("reference", {**run_reference(args.epochs, args.seed), **env})
    if args.which in ("ours", "both"):
        _save(f"ours:{args.arch}", {**run_ours(args.epochs, args.seed, args.arch), **env})
    table(json.loads(RESULTS.read_text()))


def _save(key: str, entry: dict) -> None:
    """Merge one entry into the results file (re-read now: the other part may have written meanwhile)."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[key] = entry
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    tmp.replace(RESULTS)


def table(results: dict) -> None:
    ref = results.get("reference", {}).get("test_accuracy")
    print(f"{'model':<34} {'epochs':>6} {'params':>9} {'val %':>7} {'test %':>7} {'vs ref':>7} {'train s':>8}")
    for name, r in results.items():
        diff = "" if ref is None or name == "reference" else f"{100 * (r['test_accuracy'] - ref):+.2f}"
        print(f"{name:<34} {r['epochs']:>6} {r['params']:>9,} {100 * r['val_accuracy']:>7.2f} "
              f"{100 * r['test_accuracy']:>7.2f} {diff:>7} {r['train_seconds']:>8.0f}")
    if ref is not None:
        print(f"reference target {100 * REFERENCE_ACCURACY:.1f}%; 'ours' must be within {100 * TOLERANCE:.0f} points "
              "of the reference measured here")


if __name__ == "__main__":
    main()
