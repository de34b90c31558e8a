"""Export speed: forward time of the exported model.py against the in-framework module, and torch.compile
of the exported module.

Each network is exported (`nas.export.export`, fresh weights), its model.py imported, and both modules
timed in eval mode on the same input, interleaved (framework, exported, framework, ...) in one process;
the ratio of medians exported / framework is the number (goal <= 1.05), with the median of the
per-pair ratios beside it. Then the exported module goes
through `torch.compile`; its outputs are compared with eager and its median forward time printed.

    python bench/export_speed.py [--batch 16] [--repeats 15] [--threads 1] [--size 32] [--no-compile] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nas.export import ModelInfo, export  # noqa: E402
from nas.export.check import load_exported  # noqa: E402
from search_spaces import Architecture, default_space  # noqa: E402
from search_spaces.dense import preset_genotype  # noqa: E402


def networks() -> list[tuple[str, Any, Architecture, str | None]]:
    dense, nb201 = default_space("dense"), default_space("nb201")
    sampled = dense.sample(np.random.default_rng(0))
    cell = nb201.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
                             "skip_connect~2|")
    return [("resnet-20", dense, Architecture("dense", preset_genotype("resnet-20")), "resnet-20"),
            ("densenet-bc-100-12", dense, Architecture("dense", preset_genotype("densenet-bc-100-12")),
             "densenet-bc-100-12"),
            ("dense sampled (seed 0)", dense, sampled, None),
            ("nb201 best-known cell", nb201, cell, None)]


def time_once(model: torch.nn.Module, x: torch.Tensor) -> float:
    t0 = time.perf_counter()
    model(x)
    return time.perf_counter() - t0


def bench(name: str, space: Any, arch: Architecture, label: str | None, args: argparse.Namespace,
          tmp: Path) -> dict[str, Any]:
    info = ModelInfo(arch, 10, 3, args.size, label=label, source="bench")
    result = export(space, info, tmp / info.class_name, ("py",), verify=False)
    exported = load_exported(result.out, result.class_name)
    framework = space.build(arch, 10, 3, args.size)
    framework.load_state_dict(torch.load(result.out / "weights.pt", weights_only=True), strict=True)
    framework.eval()
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(0))
    times: dict[str, list[float]] = {"framework": [], "exported": []}
    with torch.no_grad():
        diff = (exported(x) - framework(x)).abs().max().item()
        for _ in range(2):  # warm-up
            framework(x), exported(x)
        for i in range(args.repeats):  # ABBA order: neither module always runs right after the other
            pair = (("framework", framework), ("exported", exported))
            for key, model in pair if i % 2 == 0 else pair[::-1]:
                times[key].append(time_once(model, x))
    row: dict[str, Any] = {"network": name, "class_name": result.class_name,
                           "model_py_lines": len((result.out / "model.py").read_text().splitlines()),
                           "framework_ms": 1000 * statistics.median(times["framework"]),
                           "exported_ms": 1000 * statistics.median(times["exported"]), "max_abs_diff": diff}
    row["ratio"] = row["exported_ms"] / row["framework_ms"]
    row["pair_ratio"] = statistics.median(e / f for e, f in zip(times["exported"], times["framework"]))
    if not args.no_compile:
        row.update(compiled(exported, x, args.repeats))
    return row


def compiled(model: torch.nn.Module, x: torch.Tensor, repeats: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    fast = torch.compile(model)
    with torch.no_grad():
        first = fast(x)
        compile_s = time.perf_counter() - t0
        diff = (first - model(x)).abs().max().item()
        ms = 1000 * statistics.median(time_once(fast, x) for _ in range(repeats))
    return {"compiled_ms": ms, "compile_s": compile_s, "compiled_max_abs_diff": diff}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "export_speed.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for net in networks():
            rows.append(bench(*net, args, Path(tmp)))
            r = rows[-1]
            line = (f"{r['network']:<24} {r['model_py_lines']:4d} lines  framework {r['framework_ms']:8.2f} ms  "
                    f"exported {r['exported_ms']:8.2f} ms  ratio {r['ratio']:.3f} (pairs {r['pair_ratio']:.3f})  "
                    f"diff {r['max_abs_diff']:.1e}")
            if not args.no_compile:
                line += (f"  compiled {r['compiled_ms']:8.2f} ms (compile {r['compile_s']:.0f} s, "
                         f"diff {r['compiled_max_abs_diff']:.1e})")
            print(line, flush=True)
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "torch": torch.__version__, "machine": platform.machine(),
                               "processor": platform.processor(), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
