"""Builder speed and memory: built DenseNet-BC-100-12 and ResNet-56 against hand-written PyTorch.

The reference networks below are written without the builder (torchvision-style DenseNet,
the usual CIFAR ResNet with option-A shortcuts); equal parameter counts are asserted. Forward +
backward time is measured interleaved (built, hand-written, built, ...) in one process, and the
ratio of medians printed. Peak memory of `memory_efficient=True` is measured as the peak RSS
growth of a fresh subprocess doing one training step.

    python bench/builder_speed.py [--batch 64] [--repeats 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from search_spaces import Architecture, default_space  # noqa: E402
from search_spaces.dense import preset_genotype  # noqa: E402


# --- hand-written references (no builder) -----------------------------------------------------
class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.norm1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2, self.conv2 = nn.BatchNorm2d(4 * growth), nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = self.conv1(F.relu(self.norm1(torch.cat(feats, 1))))
        return self.conv2(F.relu(self.norm2(x)))


class DenseBlock(nn.Module):
    def __init__(self, n: int, cin: int, growth: int):
        super().__init__()
        self.layers = nn.ModuleList(DenseLayer(cin + i * growth, growth) for i in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for layer in self.layers:
            feats.append(layer(feats))
        return torch.cat(feats, 1)


class DenseNetBC(nn.Module):
    def __init__(self, depth: int = 100, growth: int = 12, num_classes: int = 10):
        super().__init__()
        n, c = (depth - 4) // 6, 2 * growth
        layers: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1, bias=False)]
        for b in range(3):
            layers.append(DenseBlock(n, c, growth))
            c += n * growth
            if b < 2:
                layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2)]
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        self.pad = cout - cin
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = x[:, :, ::2, ::2] if self.stride > 1 else x
        if self.pad:
            short = F.pad(short, (0, 0, 0, 0, 0, self.pad))
        return F.relu(out + short)


class ResNetCifar(nn.Module):
    def __init__(self, depth: int = 56, num_classes: int = 10):
        super().__init__()
        n = (depth - 2) // 6
        layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for s, w in enumerate((16, 32, 64)):
            for b in range(n):
                layers.append(BasicBlock(cin, w, 2 if s > 0 and b == 0 else 1))
                cin = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


# --- measurement ---------------------------------------------------------------------------------
def built(name: str, memory_efficient: bool = False) -> nn.Module:
    return default_space("dense").build(Architecture("dense", preset_genotype(name)), 10, 3, 32,
                                        memory_efficient=memory_efficient)


def step_seconds(model: nn.Module, x: torch.Tensor) -> float:
    t = time.perf_counter()
    model(x).sum().backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t


def compare(name: str, reference: nn.Module, batch: int, repeats: int) -> dict:
    ours = built(name)
    n_ours, n_ref = (sum(p.numel() for p in m.parameters()) for m in (ours, reference))
    assert n_ours == n_ref, f"{name}: built {n_ours:,} params, hand-written {n_ref:,}"
    x = torch.randn(batch, 3, 32, 32)
    for m in (ours, reference):
        m.train()
        for _ in range(2):
            step_seconds(m, x)  # warm-up
    t_ours, t_ref = [], []
    for _ in range(repeats):
        t_ours.append(step_seconds(ours, x))
        t_ref.append(step_seconds(reference, x))
    mo, mr = statistics.median(t_ours), statistics.median(t_ref)
    return {"network": name, "params": n_ours, "built_ms": 1000 * mo, "hand_written_ms": 1000 * mr, "ratio": mo / mr}


def vm_hwm_mib() -> float:
    # VmHWM (peak RSS) belongs to this process image; ru_maxrss would carry the parent's peak across exec
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def peak_rss_child(name: str, memory_efficient: bool, batch: int) -> None:
    model = built(name, memory_efficient)
    x = torch.randn(batch, 3, 32, 32)
    base = vm_hwm_mib()
    model(x).sum().backward()
    print(vm_hwm_mib() - base)


def peak_rss(name: str, memory_efficient: bool, batch: int, threads: int) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", name, "--batch", str(batch), "--threads", str(threads)]
                         + (["--memory-efficient"] if memory_efficient else []),
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "builder_speed.json"))
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--memory-efficient", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        peak_rss_child(args.child, args.memory_efficient, args.batch)
        return
    torch.manual_seed(0)
    rows = [compare("densenet-bc-100-12", DenseNetBC(100, 12), args.batch, args.repeats),
            compare("resnet-56", ResNetCifar(56), args.batch, args.repeats)]
    print(f"forward+backward, batch {args.batch}, 32x32, {args.threads} threads, CPU, median of {args.repeats}")
    print(f"{'network':<20} {'params':>9} {'built ms':>9} {'hand ms':>9} {'ratio':>6}")
    for r in rows:
        print(f"{r['network']:<20} {r['params']:>9,} {r['built_ms']:>9.1f} {r['hand_written_ms']:>9.1f} "
              f"{r['ratio']:>6.3f}")
    plain = peak_rss("densenet-bc-100-12", False, args.batch, args.threads)
    efficient = peak_rss("densenet-bc-100-12", True, args.batch, args.threads)
    memory = {"network": "densenet-bc-100-12", "batch": args.batch, "peak_rss_growth_mib": plain,
              "peak_rss_growth_mib_memory_efficient": efficient, "saving": 1 - efficient / plain}
    print(f"peak memory of one training step (RSS growth), densenet-bc-100-12, batch {args.batch}: "
          f"{plain:.0f} MiB plain, {efficient:.0f} MiB memory_efficient ({100 * memory['saving']:.0f}% less)")
    result = {"speed": rows, "memory": memory, "torch": torch.__version__, "machine": platform.machine(),
              "threads": args.threads, "device": "cpu"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
