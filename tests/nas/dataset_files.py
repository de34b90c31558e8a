"""Writers of small dataset files in the official layouts, for the data tests.

`py2_pickle` emits what Python 2's cPickle wrote for the official CIFAR batches (protocol 2,
BINSTRING strings, `numpy.core.multiarray._reconstruct`), byte by byte, so the tests read the
real format rather than what Python 3's pickler would write.
"""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np


def py2_pickle(obj: Any) -> bytes:
    out = bytearray(b"\x80\x02")
    _emit(obj, out)
    return bytes(out + b".")


def _emit(v: Any, out: bytearray) -> None:
    if isinstance(v, dict):
        out += b"}("
        for k, item in v.items():
            _emit(k, out)
            _emit(item, out)
        out += b"u"
    elif isinstance(v, list):
        out += b"]("
        for item in v:
            _emit(item, out)
        out += b"e"
    elif isinstance(v, tuple):
        out += b"("
        for item in v:
            _emit(item, out)
        out += b"t"
    elif isinstance(v, (str, bytes)):
        b = v.encode("latin-1") if isinstance(v, str) else v
        out += (b"U" + bytes([len(b)]) if len(b) < 256 else b"T" + struct.pack("<i", len(b))) + b
    elif v is None:
        out += b"N"
    elif isinstance(v, bool):
        out += b"\x88" if v else b"\x89"
    elif isinstance(v, int):
        out += b"J" + struct.pack("<i", v)
    elif isinstance(v, np.ndarray):
        out += b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        _emit((0,), out)
        _emit("b", out)
        out += b"\x87R"  # TUPLE3, REDUCE: _reconstruct(ndarray, (0,), 'b')
        out += b"(" + b"J" + struct.pack("<i", 1)
        _emit(tuple(int(s) for s in v.shape), out)
        out += b"cnumpy\ndtype\n"
        _emit((v.dtype.str[1:], 0, 1), out)
        out += b"R"
        _emit((3, v.dtype.str[0], None, None, None, -1, -1, 0), out)
        out += b"b"  # BUILD: dtype.__setstate__
        _emit(False, out)
        _emit(np.ascontiguousarray(v).tobytes(), out)
        out += b"tb"  # BUILD: ndarray.__setstate__((1, shape, dtype, False, raw))
    else:
        raise TypeError(type(v))


def images(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Flat N x 3*size*size uint8 rows (R, G, B planes), as the batch files store them."""
    return rng.integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)


def write_cifar10(root: Path, per_batch: int = 20, test: int = 20, style: str = "py2") -> Path:
    """data_batch_1..5, test_batch, batches.meta. style: py2 (cPickle bytes), py3 (pickle protocol 2
    with bytes keys, numpy._core references) or py3-old-numpy (the same with numpy.core)."""
    rng = np.random.default_rng(1)
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = test if name == "test_batch" else per_batch
        batch = {"batch_label": name, "labels": [int(i % 10) for i in range(n)], "data": images(n, 32, rng),
                 "filenames": [f"img_{i}.png" for i in range(n)]}
        (root / name).write_bytes(dump(batch, style))
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"],
            "num_cases_per_batch": per_batch, "num_vis": 3072}
    (root / "batches.meta").write_bytes(dump(meta, style))
    return root


def write_cifar100(root: Path, n: int = 200, test: int = 100) -> Path:
    rng = np.random.default_rng(2)
    root.mkdir(parents=True, exist_ok=True)
    for name, count in (("train", n), ("test", test)):
        batch = {"filenames": [f"{i}.png" for i in range(count)], "batch_label": name,
                 "fine_labels": [i % 100 for i in range(count)], "coarse_labels": [i % 20 for i in range(count)],
                 "data": images(count, 32, rng)}
        (root / name).write_bytes(dump(batch, "py2"))
    meta = {"fine_label_names": [f"fine{i}" for i in range(100)], "coarse_label_names": [f"c{i}" for i in range(20)]}
    (root / "meta").write_bytes(dump(meta, "py2"))
    return root


def write_imagenet(root: Path, size: int = 32, batches: int = 2, per_batch: int = 30, classes: int = 5,
                   npz: bool = False) -> Path:
    """train_data_batch_1..N and val_data: dicts of 'data' (N x 3*size*size), 'labels' (1-based), 'mean'."""
    rng = np.random.default_rng(3)
    root.mkdir(parents=True, exist_ok=True)
    for name in [f"train_data_batch_{i}" for i in range(1, batches + 1)] + ["val_data"]:
        x = images(per_batch, size, rng)
        labels = [1 + i % classes for i in range(per_batch)]
        if npz:
            np.savez(root / f"{name}.npz", data=x, labels=np.array(labels), mean=x.mean(0))
        else:
            batch = {"data": x, "labels": labels, "mean": x.mean(0)}
            (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    return root


def write_imagefolder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fish"), per_class: int = 4) -> Path:
    from PIL import Image

    rng = np.random.default_rng(4)
    for split in ("train", "val"):
        for c, name in enumerate(classes):
            d = root / split / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class if split == "train" else 2):
                h, w = int(rng.integers(20, 60)), int(rng.integers(20, 60))
                pixels = np.full((h, w, 3), 40 + 80 * c, dtype=np.uint8)
                ext = ".png" if i % 2 == 0 else ".jpg"
                Image.fromarray(pixels).save(d / f"img{i}{ext}")
    return root


def write_npz(path: Path, n: int = 40, test: int = 20, size: int = 16, channels: int = 3, **extra: Any) -> Path:
    rng = np.random.default_rng(5)
    shape = (size, size, channels) if channels else (size, size)
    np.savez_compressed(path, x_train=rng.integers(0, 256, (n, *shape), dtype=np.uint8),
                        y_train=np.arange(n) % 4, x_test=rng.integers(0, 256, (test, *shape), dtype=np.uint8),
                        y_test=np.arange(test) % 4, **extra)
    return path


def dump(obj: Any, style: str) -> bytes:
    if style == "py2":
        return py2_pickle(obj)
    keyed = {k.encode(): v for k, v in obj.items()}  # as a Python 3 re-save with encoding="bytes" keys
    data = pickle.dumps(keyed, protocol=2)
    if style == "py3-old-numpy":
        data = data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    return data


class Evil:
    """A pickle payload: unpickling it would run `touch marker`."""

    def __init__(self, marker: Path, how: str = "system") -> None:
        self.marker, self.how = marker, how

    def __reduce__(self) -> Any:
        if self.how == "system":
            return (os.system, (f"touch {self.marker}",))
        if self.how == "eval":
            return (eval, (f"open({str(self.marker)!r}, 'w').close()",))
        return (Path.touch, (self.marker,))
