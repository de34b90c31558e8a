"""The dataset registry: each format reads its files into `RawData` (uint8 NCHW arrays)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nas.data.spec import DataSpec
from search_spaces.registry import Registry


@dataclass
class RawData:
    """A format's images before splitting: uint8 N x C x H x W, int64 labels in [0, len(class_names))."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]

    def check(self, where: str) -> None:
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{where}: {split} images must be uint8 N x C x H x W, got {x.dtype} {x.shape}")
            if y.ndim != 1 or len(y) != len(x):
                raise ValueError(f"{where}: {len(x)} {split} images but labels of shape {y.shape}")
            if len(y) and (y.min() < 0 or y.max() >= len(self.class_names)):
                raise ValueError(f"{where}: {split} labels outside [0, {len(self.class_names)})")
        if len(self.x_train) == 0:
            raise ValueError(f"{where}: no training images")
        if self.x_train.shape[1:] != self.x_test.shape[1:] and len(self.x_test):
            raise ValueError(f"{where}: train images are {self.x_train.shape[1:]} "
                             f"but test images {self.x_test.shape[1:]}")


Reader = Callable[[Path | None, DataSpec], RawData]


@dataclass(frozen=True)
class DatasetFormat:
    """`reader(path, spec)`; `needs_path`: PATH is required (else forbidden); `flip`: horizontal flips
    keep the label (not for digits or text); `about`: one line for help texts and errors."""

    name: str
    reader: Reader
    needs_path: bool
    flip: bool
    about: str


DATASETS: Registry[DatasetFormat] = Registry("dataset")


def register_dataset(name: str, *, needs_path: bool, flip: bool, about: str) -> Callable[[Reader], Reader]:
    """Decorator: `@register_dataset("mine", needs_path=True, flip=True, about="...")` on a reader."""

    def decorator(reader: Reader) -> Reader:
        DATASETS.register(name, DatasetFormat(name, reader, needs_path, flip, about))
        return reader

    return decorator


def nhwc_to_nchw(x: np.ndarray, where: str) -> np.ndarray:
    """N x H x W (grey) or N x H x W x C uint8 -> contiguous N x C x H x W."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise ValueError(f"{where}: images must be N x H x W x C (C = 1 or 3) or N x H x W, got shape {x.shape}")
    if x.dtype != np.uint8:
        raise ValueError(f"{where}: images must be uint8 (0-255), got {x.dtype}")
    return np.ascontiguousarray(x[..., :3].transpose(0, 3, 1, 2))


def labels(y: object, where: str, offset: int = 0) -> np.ndarray:
    """Integer labels as int64, minus `offset` (1 for the 1-based downsampled-ImageNet labels)."""
    arr = np.asarray(y)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"{where}: labels must be a 1-d list of integers, got {arr.dtype} {arr.shape}")
    arr = arr.astype(np.int64) - offset
    if arr.size and arr.min() < 0:
        raise ValueError(f"{where}: label {int(arr.min()) + offset} is below {offset}")
    return arr


def keep_classes(raw: RawData, k: int) -> RawData:
    """The first `k` classes only."""
    if k > len(raw.class_names):
        raise ValueError(f"classes={k}, but the dataset has {len(raw.class_names)} classes")
    tr, te = raw.y_train < k, raw.y_test < k
    return RawData(raw.x_train[tr], raw.y_train[tr], raw.x_test[te], raw.y_test[te], raw.class_names[:k])
