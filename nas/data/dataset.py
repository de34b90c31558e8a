"""`load_dataset(spec, seed) -> Dataset`: read a format, cut it (classes, subset, stratified
validation split), resize, and compute the normalisation from the training split."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nas.data.formats import DATASETS, RawData, keep_classes
from nas.data.loader import Augment, default_augment, iterate_batches
from nas.data.spec import DataSpec, parse_dataset_spec
from nas.data.split import balanced_subset, stratified_split

SPLITS = ("train", "val", "test")


@dataclass
class Split:
    """Images as uint8 N x C x H x W and int64 labels."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))


@dataclass
class Dataset:
    """A loaded dataset: train / val / test splits in memory, and what a model needs to know of it.

    `mean` and `std` (per channel, 0-1 scale) come from the training split; `augment` is the
    format's standard augmentation (no flips for digits)."""

    spec: DataSpec
    train: Split
    val: Split
    test: Split
    num_classes: int
    class_names: list[str]
    mean: torch.Tensor
    std: torch.Tensor
    augment: Augment = field(default_factory=Augment)

    @property
    def in_channels(self) -> int:
        return int(self.train.x.shape[1])

    @property
    def input_size(self) -> int:
        return int(self.train.x.shape[2])

    def split(self, name: str) -> Split:
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return getattr(self, name)

    def batches(self, split: str, batch_size: int, *, train: bool = False, augment: bool = True,
                generator: torch.Generator | None = None, device: torch.device | str = "cpu",
                channels_last: bool = False) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised batches of a split; `train=True` shuffles and (unless `augment=False`) augments,
        drawing from `generator`."""
        s = self.split(split)
        return iterate_batches(s.x, s.y, batch_size, mean=self.mean, std=self.std, shuffle=train,
                               augment=self.augment if train and augment else None, generator=generator,
                               device=device, channels_last=channels_last)

    def summary(self) -> dict[str, Any]:
        return {"dataset": str(self.spec), "train": len(self.train), "val": len(self.val), "test": len(self.test),
                "num_classes": self.num_classes, "class_names": list(self.class_names), "in_channels": self.in_channels,
                "input_size": self.input_size,
                "mean": [round(float(v), 4) for v in self.mean], "std": [round(float(v), 4) for v in self.std],
                "augment": {"pad": self.augment.pad, "flip": self.augment.flip}}


def load_dataset(spec: str | DataSpec, seed: int = 0) -> Dataset:
    """Load `spec` (a `--dataset` string or a `DataSpec`); `seed` draws the subset and the stratified
    validation split (the test set never depends on it)."""
    if isinstance(spec, str):
        spec = parse_dataset_spec(spec)
    fmt = DATASETS.get(spec.name)
    if fmt.needs_path and not spec.path:
        raise ValueError(f"dataset {spec.name} needs a path: --dataset {spec.name}:PATH ({fmt.about})")
    if not fmt.needs_path and spec.path:
        raise ValueError(f"dataset {spec.name} takes no path ({fmt.about}); drop ':{spec.path}'")
    raw = fmt.reader(Path(spec.path) if spec.path else None, spec)
    raw.check(str(spec.path or spec.name))
    if spec.classes:
        raw = keep_classes(raw, spec.classes)
    return prepare(raw, spec, seed, flip=fmt.flip)


def prepare(raw: RawData, spec: DataSpec, seed: int, flip: bool) -> Dataset:
    """Subset, stratified split, resize, normalisation statistics from the training split."""
    rng = np.random.default_rng(seed)
    x, y = raw.x_train, raw.y_train
    if spec.subset:
        idx = balanced_subset(y, spec.subset, rng)
        x, y = x[idx], y[idx]
    train_idx, val_idx = stratified_split(y, spec.val, rng)
    present = len(np.unique(y))
    if len(val_idx) < present:  # every search and `nas train` pick by validation accuracy
        raise ValueError(f"the validation split has {len(val_idx)} image(s) for {present} classes; it needs one per "
                         f"class at least: raise val=F (now {spec.val:g}) or subset=N (now {spec.subset or len(y)})")
    splits = {"train": (x[train_idx], y[train_idx]), "val": (x[val_idx], y[val_idx]),
              "test": (raw.x_test, raw.y_test)}
    tensors = {k: Split(resize(torch.from_numpy(np.ascontiguousarray(a)), spec.resolution), torch.from_numpy(b))
               for k, (a, b) in splits.items()}
    mean, std = channel_stats(tensors["train"].x)
    size = tensors["train"].x.shape[2]
    return Dataset(spec, tensors["train"], tensors["val"], tensors["test"], len(raw.class_names),
                   list(raw.class_names), mean, std, default_augment(size, flip))


def resize(x: torch.Tensor, size: int | None, chunk: int = 2048) -> torch.Tensor:
    """uint8 N x C x H x W -> N x C x size x size, bilinear (antialiased when shrinking), chunked."""
    if size is None or tuple(x.shape[2:]) == (size, size):
        return x
    out = torch.empty((x.shape[0], x.shape[1], size, size), dtype=torch.uint8)
    shrink = size < min(x.shape[2:])
    for s in range(0, len(x), chunk):
        xf = x[s:s + chunk].float()
        r = torch.nn.functional.interpolate(xf, size=(size, size), mode="bilinear", align_corners=False,
                                            antialias=shrink)
        out[s:s + chunk] = r.round_().clamp_(0, 255).to(torch.uint8)
    return out


def channel_stats(x: torch.Tensor, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std on the 0-1 scale (float64 sums over chunks, no full float copy)."""
    c = x.shape[1]
    total = torch.zeros(c, dtype=torch.float64)
    squares = torch.zeros(c, dtype=torch.float64)
    for s in range(0, len(x), chunk):
        xf = x[s:s + chunk].to(torch.float64) / 255.0
        total += xf.sum(dim=(0, 2, 3))
        squares += (xf * xf).sum(dim=(0, 2, 3))
    n = max(1, x.shape[0] * x.shape[2] * x.shape[3])
    mean = total / n
    std = (squares / n - mean * mean).clamp_min(0).sqrt().clamp_min(1e-3)
    return mean.float(), std.float()
