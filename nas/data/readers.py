"""Array formats: `digits` (bundled with scikit-learn), `synthetic` (generated) and `npz`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nas.data.formats import RawData, labels, nhwc_to_nchw, register_dataset
from nas.data.spec import DataSpec
from nas.data.split import stratified_split

DIGITS_TEST_FRACTION = 0.2  # digits has no official test split: a fixed stratified 20%
FIXED_SEED = 0  # dataset contents (digits' test split, synthetic images) never depend on the run's seed


@register_dataset("digits", needs_path=False, flip=False,
                  about="scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes, 1 channel)")
def read_digits(path: Path | None, spec: DataSpec) -> RawData:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)[:, None]  # values 0..16 -> 0..255
    y = bunch.target.astype(np.int64)
    train, test = stratified_split(y, DIGITS_TEST_FRACTION, np.random.default_rng(FIXED_SEED))
    return RawData(x[train], y[train], x[test], y[test], [str(i) for i in range(10)])


SYNTHETIC_TRAIN_PER_CLASS = 100
SYNTHETIC_TEST_PER_CLASS = 30


@register_dataset("synthetic", needs_path=False, flip=False,
                  about="generated 16x16 RGB images: a smooth random pattern per class plus noise (learnable)")
def read_synthetic(path: Path | None, spec: DataSpec) -> RawData:
    """Each class is a smooth random template; an image is its template, randomly brightened, plus
    pixel noise. Small models separate the classes in a few epochs; the contents are fixed."""
    rng = np.random.default_rng(FIXED_SEED)
    k, size = spec.classes or 10, spec.resolution or 16
    coarse = rng.normal(size=(k, 3, 4, 4))
    cells = -(-size // 4)
    templates = np.kron(coarse, np.ones((1, 1, cells, cells)))[:, :, :size, :size]

    def draw(per_class: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(np.arange(k), per_class)
        gain = rng.uniform(0.7, 1.3, size=(len(y), 1, 1, 1))
        x = templates[y] * gain + rng.normal(scale=0.6, size=(len(y), 3, size, size))
        return np.clip(np.rint(128 + 40 * x), 0, 255).astype(np.uint8), y.astype(np.int64)

    x_tr, y_tr = draw(SYNTHETIC_TRAIN_PER_CLASS)
    x_te, y_te = draw(SYNTHETIC_TEST_PER_CLASS)
    return RawData(x_tr, y_tr, x_te, y_te, [f"class_{i}" for i in range(k)])


NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@register_dataset("npz", needs_path=True, flip=True,
                  about="a .npz archive with x_train, y_train, x_test, y_test (uint8 N x H x W x C) "
                        "and optional class_names")
def read_npz(path: Path | None, spec: DataSpec) -> RawData:
    assert path is not None
    if not path.is_file():
        raise FileNotFoundError(f"npz file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as f:
            missing = [k for k in NPZ_KEYS if k not in f.files]
            if missing:
                raise ValueError(f"{path}: missing array(s) {missing}; an npz dataset holds {', '.join(NPZ_KEYS)}")
            arrays = {k: f[k] for k in (*NPZ_KEYS, "class_names") if k in f.files}
    except ValueError as e:
        if str(e).startswith(str(path)):
            raise
        raise ValueError(f"{path}: not a readable .npz archive ({e})") from None
    except Exception as e:  # a damaged archive fails in many ways: BadZipFile, zlib.error, EOFError, OSError...
        raise ValueError(f"{path}: not a readable .npz archive ({type(e).__name__}: {e})") from None
    x_tr = nhwc_to_nchw(arrays["x_train"], f"{path}: x_train")
    x_te = nhwc_to_nchw(arrays["x_test"], f"{path}: x_test")
    y_tr = labels(arrays["y_train"], f"{path}: y_train")
    y_te = labels(arrays["y_test"], f"{path}: y_test")
    if "class_names" in arrays:
        names = [str(n) for n in arrays["class_names"].reshape(-1)]
    else:  # the classes are the labels used, which must be 0..K-1 (1000..1009 is not 1,010 classes)
        used = np.union1d(y_tr, y_te)
        if len(used) and used[-1] != len(used) - 1:
            raise ValueError(f"{path}: the labels are {len(used)} distinct values from {used[0]} to {used[-1]}; "
                             f"number them 0..{len(used) - 1} (or add a class_names array with one name per label)")
        names = [str(i) for i in range(len(used))]
    return RawData(x_tr, y_tr, x_te, y_te, names)
