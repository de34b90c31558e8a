"""`imagefolder`: ROOT/train/<class>/*.jpg and ROOT/val/<class>/*.jpg (e.g. Imagenette), read with Pillow.

Each image is centre-cropped to a square and resized to `resolution` (default 32) with Pillow's
antialiased bilinear filter, as RGB. The class list is the sorted folder names under train/;
val/ is the test set (the validation split is drawn from train/).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from nas.data.formats import RawData, register_dataset
from nas.data.spec import DataSpec

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm"}
DEFAULT_RESOLUTION = 32
TEST_DIRS = ("val", "test")


@register_dataset("imagefolder", needs_path=True, flip=True,
                  about="a directory with train/ and val/, one sub-folder of images per class (Pillow)")
def read_imagefolder(path: Path | None, spec: DataSpec) -> RawData:
    assert path is not None
    if not path.is_dir():
        raise FileNotFoundError(f"image folder {path} not found (or not a directory)")
    train_dir = path / "train"
    test_dir = next((path / t for t in TEST_DIRS if (path / t).is_dir()), None)
    if not train_dir.is_dir() or test_dir is None:
        raise FileNotFoundError(f"{path} needs train/ and val/ sub-directories, each with one folder per class")
    classes = sorted(d.name for d in train_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(f"{train_dir} has {len(classes)} class folder(s); an image folder needs at least 2")
    if spec.classes:
        classes = classes[: spec.classes]
    unknown = sorted(d.name for d in test_dir.iterdir() if d.is_dir() and d.name not in classes
                     and not d.name.startswith(".") and not spec.classes)
    if unknown:
        raise ValueError(f"{test_dir} has class folder(s) {unknown[:5]} that train/ lacks")
    size = spec.resolution or DEFAULT_RESOLUTION
    x_tr, y_tr = _read_split(train_dir, classes, size)
    x_te, y_te = _read_split(test_dir, classes, size)
    return RawData(x_tr, y_tr, x_te, y_te, classes)


def _read_split(root: Path, classes: list[str], size: int) -> tuple[np.ndarray, np.ndarray]:
    files = [(f, label) for label, c in enumerate(classes) if (root / c).is_dir()
             for f in sorted((root / c).iterdir()) if f.suffix.lower() in EXTENSIONS and f.is_file()]
    if not files:
        raise ValueError(f"{root} has no images ({', '.join(sorted(EXTENSIONS))}) in its class folders")
    x = np.empty((len(files), 3, size, size), dtype=np.uint8)
    for i, (f, _) in enumerate(files):
        x[i] = read_image(f, size)
    return x, np.array([label for _, label in files], dtype=np.int64)


def read_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 3 x size x size: centre square crop, antialiased bilinear resize, RGB."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.draft("RGB", (size * 2, size * 2))  # JPEG: decode at a reduced scale, much faster
                im = im.convert("RGB")
                w, h = im.size
                s = min(w, h)
                box = ((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s)
                im = im.resize((size, size), Image.Resampling.BILINEAR, box=box)
                arr = np.asarray(im, dtype=np.uint8)
    except Exception as e:  # Pillow reports damaged files in many ways: OSError, SyntaxError, zlib.error...
        raise ValueError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    return arr.transpose(2, 0, 1)
