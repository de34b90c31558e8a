"""`nas search` under torchrun: the supernet stage trained data-parallel by every rank.

    torchrun --nproc_per_node 2 -m nas search --strategy smash --dataset cifar10:... --threads 1

Rank 0 is the search: it creates (or resumes) the run directory, trains its share of the supernet,
writes every file, then scores, proposes and confirms alone. The other ranks open nothing but
the run's config.json (and the checkpoint, to resume), train their shares of each global batch with
rank 0 and exit when the supernet is fitted. gloo on CPU, NCCL on CUDA (one GPU per rank:
`cuda:LOCAL_RANK`). The training itself is `nas.supernets.distributed` inside the one step loop.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nas.errors import UserError

MAX_PATH = 4096  # bytes of the run directory rank 0 sends the others


def launched() -> bool:
    """Whether this process is one of several ranks started by torchrun (WORLD_SIZE > 1)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    except ValueError:
        return False


def start(device: str) -> str:
    """Join torchrun's process group (NCCL for CUDA, else gloo); this rank's device."""
    import torch
    import torch.distributed as dist

    if device.startswith("cuda"):
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"  # one GPU per rank, whatever --device said
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return device


def stop() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank()


def share(run_dir: Path | None, device: str) -> Path | None:
    """Rank 0 sends the run directory whose supernet the ranks train now (None: nothing to train
    together, e.g. rank 0 failed or the supernet is fitted); every rank returns it."""
    import torch
    import torch.distributed as dist

    buf = torch.zeros(MAX_PATH, dtype=torch.uint8, device=device)
    raw = str(Path(run_dir).resolve()).encode() if dist.get_rank() == 0 and run_dir is not None else b""
    if len(raw) < MAX_PATH:
        buf[:len(raw)] = torch.tensor(list(raw), dtype=torch.uint8)
    dist.broadcast(buf, 0)  # before any error, so no rank waits for it
    if len(raw) >= MAX_PATH:
        raise UserError(f"the run directory's path is over {MAX_PATH - 1} bytes; use a shorter --runs-dir")
    raw = bytes(buf.cpu().tolist()).rstrip(b"\0")
    return Path(raw.decode()) if raw else None


def trains_together(search: Any) -> bool:
    """Whether `search.run()` starts by training its supernet (so the other ranks must join)."""
    from nas.evaluators.supernet import read_fit

    return bool(search.config.supernet) and search.run_dir is not None and read_fit(search.run_dir) is None


def check(config: Any) -> None:
    if not config.supernet:
        raise UserError(f"torchrun trains a supernet data-parallel; --strategy {config.strategy_name} with "
                        f"--evaluator {config.evaluator} fits none: run nas search without torchrun (or use nas "
                        "worker processes)")
    if config.supernet != "smash":
        raise UserError(f"torchrun trains only SMASH's supernet data-parallel; run --strategy {config.strategy_name} "
                        "without torchrun")


def follow(run_dir: Path, device: str, threads: str, timeout: float | None) -> int:
    """A rank other than 0: train this rank's shares of the run's supernet; writes nothing."""
    from nas.cli_run import set_threads
    from nas.evaluators.supernet import SUPERNET_FILE
    from nas.search.pipeline import cached_dataset, run_space
    from nas.search.session import read_config
    from nas.supernets.smash.model import Smash

    deadline = None if timeout is None else time.monotonic() + timeout
    config = read_config(run_dir)
    set_threads(threads, config)
    data = cached_dataset(config.dataset, config.seed)
    smash = Smash(run_space(config), data.num_classes, data.in_channels, config.smash).to(device)
    smash.fit(data, run_dir / SUPERNET_FILE, quiet=True, deadline=deadline)  # reads the checkpoint, never writes
    return 0
