"""The one latency measurement: warm-up, then the median of repeats and its spread (IQR).

Every command, evaluator, predictor and benchmark times a forward pass through `measure` (one
module) or `measure_interleaved` (several, round-robin, so a load change on a shared machine hits
all of them alike). Each number comes with the settings it was measured under (device, batch
size, threads, input size, dtype, torch version, CPU / GPU model and the load average), and
`fingerprint` names the settings a latency model is valid for.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from search_spaces.base import Architecture

FORMATS = ("eager", "pt2", "compile")
DTYPES = ("float32", "float16", "bfloat16")
# wall: elapsed time (what a user waits). cpu: the thread's CPU time, which leaves out the time other
# processes hold the core: on a shared, loaded machine it is the stabler estimate of the idle latency.
CLOCKS = ("wall", "cpu")


@dataclass(frozen=True)
class LatencySettings:
    """What a latency number depends on. `repeats` timed calls follow `warmup` untimed ones."""

    device: str = "cpu"
    batch_size: int = 1
    threads: int = 1
    input_size: int = 32
    in_channels: int = 3
    num_classes: int = 10
    dtype: str = "float32"
    format: str = "eager"
    warmup: int = 5
    repeats: int = 30
    clock: str = "wall"  # or "cpu": the calling thread's CPU time (threads 1 on a CPU only)

    def __post_init__(self) -> None:
        for name in ("batch_size", "threads", "input_size", "in_channels", "num_classes", "repeats"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(self, name)}")
        if self.warmup < 0:
            raise ValueError(f"warm-up must be >= 0 calls, got {self.warmup}")
        if self.format not in FORMATS:
            raise ValueError(f"--format {self.format!r} is unknown; use one of {', '.join(FORMATS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is unknown; use one of {', '.join(DTYPES)}")
        if self.clock not in CLOCKS:
            raise ValueError(f"--clock {self.clock!r} is unknown; use one of {', '.join(CLOCKS)}")
        if self.clock == "cpu" and (self.device != "cpu" or self.threads != 1):
            raise ValueError("--clock cpu times the calling thread: use it with --device cpu --threads 1")
        if not (self.device == "cpu" or self.device.startswith("cuda")):
            raise ValueError(f"device {self.device!r}: use cpu or cuda[:N]")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Measurement:
    latency_ms: float  # the median
    iqr_ms: float
    settings: dict[str, Any]
    times_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def bound_ms(self) -> float:
        """median + 2 IQR: what a hard latency limit is checked against."""
        return self.latency_ms + 2.0 * self.iqr_ms

    def to_dict(self, times: bool = False) -> dict[str, Any]:
        out = {"latency_ms": self.latency_ms, "iqr_ms": self.iqr_ms, "bound_ms": self.bound_ms,
               "settings": self.settings}
        if times:
            out["times_ms"] = self.times_ms
        return out


def device_model(device: str) -> str:
    """The CPU model name (from /proc/cpuinfo on Linux) or the CUDA device's name."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(settings: LatencySettings) -> dict[str, Any]:
    """The settings plus what the hardware and software were, recorded beside each number."""
    import torch

    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {**settings.to_dict(), "torch": torch.__version__, "device_model": device_model(settings.device),
            "cpu_count": os.cpu_count(), "loadavg": load}


def fingerprint(settings: LatencySettings) -> str:
    """A short hash of what a latency model depends on: the device model, torch and the settings
    (not the repeat counts, not the load)."""
    import torch

    key = {k: v for k, v in settings.to_dict().items() if k not in ("warmup", "repeats")}
    key.update(torch=torch.__version__, device_model=device_model(settings.device))
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]


def _dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def example_input(settings: LatencySettings) -> Any:
    import torch

    return torch.randn(settings.batch_size, settings.in_channels, settings.input_size, settings.input_size,
                       device=settings.device, dtype=_dtype(settings.dtype))


def prepare(model: nn.Module, settings: LatencySettings, example: Any = None) -> Callable[..., Any]:
    """The model moved to the device and dtype, in eval mode, in the requested format."""
    model = model.to(device=settings.device, dtype=_dtype(settings.dtype)).eval()
    if settings.format == "eager":
        return model
    import torch

    if settings.format == "compile":
        return torch.compile(model)
    example = example if example is not None else example_input(settings)
    with torch.inference_mode(False), torch.no_grad():
        return torch.export.export(model, (example,)).module()


def measure_interleaved(fns: Sequence[Callable[[], Any]], settings: LatencySettings) -> list[Measurement]:
    """Time several zero-argument callables round-robin: `warmup` rounds, then `repeats` timed
    rounds; the median and IQR of each callable's times. Threads are set for the call and restored."""
    import torch

    if not fns:
        return []
    cuda = settings.device.startswith("cuda")
    sync = (lambda: torch.cuda.synchronize(settings.device)) if cuda else (lambda: None)
    clock = time.thread_time if settings.clock == "cpu" else time.perf_counter
    before = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    times: list[list[float]] = [[] for _ in fns]
    try:
        with torch.inference_mode():
            for r in range(settings.warmup + settings.repeats):
                for i, fn in enumerate(fns):
                    sync()
                    t0 = clock()
                    fn()
                    sync()
                    if r >= settings.warmup:
                        times[i].append((clock() - t0) * 1000.0)
    finally:
        torch.set_num_threads(before)
    env = environment(settings)
    return [Measurement(statistics.median(t), iqr(t), env, t) for t in times]


def iqr(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[2] - q[0]


def measure(model: nn.Module, settings: LatencySettings, example: Any = None) -> Measurement:
    """Latency of one forward pass of `model` on a batch of `settings.batch_size` inputs."""
    return measure_models([model], settings, example)[0]


def measure_models(models: Sequence[nn.Module], settings: LatencySettings, example: Any = None) -> list[Measurement]:
    x = example if example is not None else example_input(settings)
    fns = [prepare(m, settings, x) for m in models]
    return measure_interleaved([(lambda f=f: f(x)) for f in fns], settings)


def build_arch(arch: Architecture, settings: LatencySettings, space: Any = None) -> nn.Module:
    """The architecture's network at the settings' input size (weights are irrelevant to latency)."""
    from search_spaces.plugins import resolve_space

    space = space if space is not None else resolve_space(arch.space)
    return space.build(arch, settings.num_classes, settings.in_channels, settings.input_size)


def measure_archs(archs: Sequence[Architecture], settings: LatencySettings, space: Any = None) -> list[Measurement]:
    """Build each architecture and time them interleaved."""
    return measure_models([build_arch(a, settings, space) for a in archs], settings)


def measure_arch(arch: Architecture, settings: LatencySettings, space: Any = None) -> Measurement:
    return measure_archs([arch], settings, space)[0]


def peak_memory_mb(model: nn.Module, settings: LatencySettings) -> float:
    """Peak memory of one inference forward pass in MiB: weights, buffers and input plus the largest
    total of live activations. CUDA: the allocator's peak. CPU: every tensor an op creates is
    counted until it is freed (a storage is released with the tensor that created it)."""
    import torch

    x = example_input(settings)
    model = model.to(device=settings.device, dtype=_dtype(settings.dtype)).eval()
    if settings.device.startswith("cuda"):
        torch.cuda.synchronize(settings.device)
        torch.cuda.reset_peak_memory_stats(settings.device)
        with torch.inference_mode():
            model(x)
        torch.cuda.synchronize(settings.device)
        return torch.cuda.max_memory_allocated(settings.device) / 2**20
    static = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers(), x))
    tracker = _peak_tracker()
    with torch.inference_mode(), tracker:
        model(x)
    return (static + tracker.peak) / 2**20


def _peak_tracker() -> Any:
    import weakref

    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class PeakTracker(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.live: dict[int, int] = {}
            self.current = self.peak = 0

        def _free(self, key: int) -> None:
            self.current -= self.live.pop(key, 0)

        def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            for t in tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    storage = t.untyped_storage()
                    key, size = storage.data_ptr(), storage.nbytes()
                    if size and key not in self.live:
                        self.live[key] = size
                        self.current += size
                        self.peak = max(self.peak, self.current)
                        weakref.finalize(t, self._free, key)
            return out

    return PeakTracker()
