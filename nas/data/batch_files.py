"""The official pickled batch formats: CIFAR-10/100 (python version) and downsampled ImageNet.

Every pickle goes through `nas.data.safe_pickle.load_batch` (never plain `pickle.load`). Images in
these files are flat rows of 3 x R x R planes (all red, then green, then blue), row-major.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from nas.data.formats import RawData, labels, register_dataset
from nas.data.safe_pickle import load_batch
from nas.data.spec import DataSpec


def _directory(path: Path | None, first_file: str, subdir: str, what: str) -> Path:
    """The directory holding `first_file`; also accepts its parent holding `subdir`."""
    assert path is not None
    if not path.exists():
        raise FileNotFoundError(f"{what} directory {path} not found")
    if path.is_file():
        hint = " (extract it first: tar xzf FILE)" if path.name.endswith((".tar.gz", ".tgz", ".tar")) else ""
        raise NotADirectoryError(f"{path} is a file; {what} takes the directory holding {first_file}{hint}")
    for d in (path, path / subdir):
        if (d / first_file).exists() or (d / f"{first_file}.npz").exists():
            return d
    raise FileNotFoundError(f"{path} has no {first_file}; pass the {what} directory ({subdir}/ of the official "
                            "download, extracted)")


def _images(batch: dict[str, Any], path: Path, size: int) -> np.ndarray:
    data = batch.get("data")
    if not isinstance(data, np.ndarray):
        raise ValueError(f"{path}: no 'data' array; not an official batch file")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * size * size:
        raise ValueError(f"{path}: 'data' is {data.dtype} {data.shape}; expected uint8 N x {3 * size * size} "
                         f"(3 x {size} x {size} planes)")
    return data.reshape(-1, 3, size, size)


def _labels(batch: dict[str, Any], key: str, path: Path, n: int, offset: int = 0) -> np.ndarray:
    if key not in batch:
        raise ValueError(f"{path}: no {key!r} entry; not an official batch file")
    y = labels(batch[key], f"{path}: {key}", offset)
    if len(y) != n:
        raise ValueError(f"{path}: {n} images but {len(y)} labels")
    return y


def _names(batch: dict[str, Any], key: str, n: int) -> list[str]:
    names = batch.get(key)
    if isinstance(names, list) and len(names) == n:
        return [x.decode("latin-1") if isinstance(x, bytes) else str(x) for x in names]
    return [str(i) for i in range(n)]


@register_dataset("cifar10", needs_path=True, flip=True,
                  about="CIFAR-10 python version: a directory with data_batch_1..5, test_batch, batches.meta")
def read_cifar10(path: Path | None, spec: DataSpec) -> RawData:
    d = _directory(path, "data_batch_1", "cifar-10-batches-py", "CIFAR-10")
    xs, ys = [], []
    for i in range(1, 6):
        f = d / f"data_batch_{i}"
        batch = load_batch(f)
        xs.append(_images(batch, f, 32))
        ys.append(_labels(batch, "labels", f, len(xs[-1])))
    test = load_batch(d / "test_batch")
    x_te = _images(test, d / "test_batch", 32)
    meta = load_batch(d / "batches.meta") if (d / "batches.meta").exists() else {}
    return RawData(np.concatenate(xs), np.concatenate(ys), x_te, _labels(test, "labels", d / "test_batch", len(x_te)),
                   _names(meta, "label_names", 10))


@register_dataset("cifar100", needs_path=True, flip=True,
                  about="CIFAR-100 python version: a directory with train, test, meta (fine labels)")
def read_cifar100(path: Path | None, spec: DataSpec) -> RawData:
    d = _directory(path, "train", "cifar-100-python", "CIFAR-100")
    out = []
    for split in ("train", "test"):
        batch = load_batch(d / split)
        x = _images(batch, d / split, 32)
        out += [x, _labels(batch, "fine_labels", d / split, len(x))]
    meta = load_batch(d / "meta") if (d / "meta").exists() else {}
    return RawData(*out, class_names=_names(meta, "fine_label_names", 100))


def _downsampled_imagenet(size: int) -> Any:
    def read(path: Path | None, spec: DataSpec) -> RawData:
        d = _directory(path, "val_data", f"Imagenet{size}_val", f"ImageNet{size}")
        files = sorted((f for f in d.iterdir() if re.fullmatch(r"train_data_batch_\d+(\.npz)?", f.name)),
                       key=lambda f: int(re.sub(r"\D", "", f.name.removesuffix(".npz"))))
        if not files:
            raise FileNotFoundError(f"{d} has val_data but no train_data_batch_* files; put the train batches "
                                    f"(Imagenet{size}_train, extracted) in the same directory")
        keep = spec.classes  # filter each batch as it is read: the full training set is 1.28M images
        xs, ys = [], []
        for f in files:
            x, y = _imagenet_batch(f, size, keep)
            xs.append(x)
            ys.append(y)
        val = d / "val_data.npz" if (d / "val_data.npz").exists() and not (d / "val_data").exists() else d / "val_data"
        x_te, y_te = _imagenet_batch(val, size, keep)
        names = _imagenet_names(d)
        return RawData(np.concatenate(xs), np.concatenate(ys), x_te, y_te, names[:keep] if keep else names)

    return read


def _imagenet_batch(f: Path, size: int, keep: int | None) -> tuple[np.ndarray, np.ndarray]:
    if f.suffix == ".npz":
        try:
            with np.load(f, allow_pickle=False) as z:
                batch = {k: z[k] for k in ("data", "labels") if k in z.files}
        except Exception as e:
            raise ValueError(f"{f}: not a readable .npz batch ({e})") from None
    else:
        batch = load_batch(f)
    x = _images(batch, f, size)
    y = _labels(batch, "labels", f, len(x), offset=1)  # the releases number classes 1..1000
    if y.size and y.max() >= 1000:
        raise ValueError(f"{f}: label {int(y.max()) + 1} is above 1000")
    if keep:
        mask = y < keep
        x, y = x[mask], y[mask]
    return x, y


def _imagenet_names(d: Path) -> list[str]:
    """Class names from the devkit's map_clsloc.txt ('n02119789 1 kit_fox') when it is there."""
    names = [f"class_{i}" for i in range(1000)]
    mapping = d / "map_clsloc.txt"
    if mapping.is_file() and mapping.stat().st_size < 1_000_000:
        for line in mapping.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit() and 1 <= int(parts[1]) <= 1000:
                names[int(parts[1]) - 1] = parts[2]
    return names


for _size in (16, 32, 64):
    register_dataset(f"imagenet{_size}", needs_path=True, flip=True,
                     about=f"downsampled ImageNet {_size}x{_size}: a directory with train_data_batch_1..10 "
                           "and val_data (pickled or .npz; val_data is the test set)")(_downsampled_imagenet(_size))
