"""Fast in-memory batching over uint8 tensors, with augmentation done on whole batches.

No DataLoader and no worker processes: the data sit in memory as uint8 N x C x H x W; a batch is
indexed, moved to the device, converted to float, augmented (random crop from a zero-padded
image, horizontal flip) and normalised there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augment:
    """Pad-and-crop by up to `pad` pixels each way, then flip horizontally with probability 1/2 when
    `flip`. `pad` 0 and `flip` False means no augmentation."""

    pad: int = 4
    flip: bool = True

    @property
    def active(self) -> bool:
        return self.pad > 0 or self.flip


def default_augment(input_size: int, flip: bool) -> Augment:
    """The CIFAR recipe (pad 4 at 32 x 32) scaled to the input: pad = size / 8 (1 at 8 x 8)."""
    return Augment(pad=max(1, round(input_size / 8)), flip=flip)


def augment_batch(x: torch.Tensor, aug: Augment, generator: torch.Generator) -> torch.Tensor:
    """Random crop of the zero-padded batch and random horizontal flips (float B x C x H x W)."""
    b, _, h, w = x.shape
    if aug.pad > 0:
        p = aug.pad
        padded = torch.nn.functional.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # B x 1 x H x 1
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # B x 1 x 1 x W
        batch = torch.arange(b, device=x.device)[:, None, None, None]
        chan = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, chan, rows, cols]
    if aug.flip:
        flip = (torch.rand(b, generator=generator) < 0.5).to(x.device)
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
    return x


def iterate_batches(x: torch.Tensor, y: torch.Tensor, batch_size: int, *, mean: torch.Tensor, std: torch.Tensor,
                    shuffle: bool = False, augment: Augment | None = None, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu", channels_last: bool = False
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (normalised float images, int64 labels) on `device`.

    `x` is uint8 N x C x H x W in memory; `mean`/`std` are per channel on the 0-1 scale. With
    `shuffle` the order is a permutation drawn from `generator`. A final batch of one image is
    dropped when training (`shuffle`), since BatchNorm cannot normalise a single value.
    """
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    if (shuffle or (augment and augment.active)) and generator is None:
        raise ValueError("shuffling or augmenting needs a torch.Generator (pass a seeded one)")
    n = len(x)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    device = torch.device(device)
    scale = (1.0 / (255.0 * std)).to(device).view(1, -1, 1, 1)
    shift = (mean / std).to(device).view(1, -1, 1, 1)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if shuffle and len(idx) == 1 and n > 1:
            break
        xb = x[idx].to(device, non_blocking=True).float()
        if augment is not None and augment.active:
            xb = augment_batch(xb, augment, generator)  # type: ignore[arg-type]
        xb = xb * scale - shift  # (x / 255 - mean) / std
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        yield xb, y[idx].to(device, non_blocking=True)
