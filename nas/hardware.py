"""Device and CPU-thread choices for commands (`--device`, `--threads`); the library takes the values."""

from __future__ import annotations

import os

from nas.errors import UserError


def resolve_device(name: str) -> str:
    """`auto` -> cuda when available, else cpu; an unavailable CUDA device is a user error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name!r} is not a device; use auto, cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise UserError(f"--device {name!r}: only cpu and cuda are supported")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda, but this machine has no CUDA device; use --device cpu")
    return str(device)


def resolve_threads(value: str) -> int:
    """`--threads N` (1 to the machine's core count), or `auto`: the cores not already busy (by the
    1-minute load average), at least 1 and at most torch's default. Oversubscribed intra-op threads
    make small CPU models many times slower (30x measured for ResNet-20 on 8 x 8 digits with 2 threads
    on 2 busy cores), so on a shared machine fewer threads win."""
    import torch

    if value != "auto":
        try:
            n = int(value)
        except ValueError:
            n = 0
        if n < 1:
            raise UserError(f"--threads {value!r}: use a positive integer or auto")
        cores = os.cpu_count() or 1
        if n > cores:  # more threads than cores only contend (a 4 s job took 68 s at --threads 1000)
            raise UserError(f"--threads {n}: this machine has {cores} cores; use at most {cores}, or auto")
        return n
    most = torch.get_num_threads()
    try:
        cores = len(os.sched_getaffinity(0))
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):  # not Linux / no load average: torch's default
        return most
    return max(1, min(most, int(cores - busy + 0.5)))
