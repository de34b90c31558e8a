"""A restricted unpickler for the official CIFAR and downsampled-ImageNet batch files.

These files are pickles (protocol 2, written by Python 2 with `numpy.core.multiarray` references,
or by Python 3 with `numpy._core`). A pickle can name any importable callable and call it, so
`pickle.load` on a downloaded file runs whatever the file says. `load_batch` resolves only the
globals that numpy array reconstruction needs; any other global is refused before anything is
called, so nothing in a hostile file runs.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

MAX_BATCH_BYTES = 4 << 30  # the largest official batch (ImageNet64) is about 1.6 GB


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {}
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(module, "_reconstruct")] = multiarray._reconstruct
        allowed[(module, "scalar")] = multiarray.scalar
    for module in ("numpy.core.numeric", "numpy._core.numeric"):  # protocol 5 arrays
        if hasattr(numeric, "_frombuffer"):
            allowed[(module, "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    return allowed


def _latin1_encode(text: Any, encoding: str = "utf-8", errors: str = "strict") -> bytes:
    """`_codecs.encode` as protocol-2 pickles from Python 3 use it for `bytes`; latin-1 only."""
    if not isinstance(text, str) or encoding.lower().replace("-", "").replace("_", "") not in _LATIN1:
        raise pickle.UnpicklingError("_codecs.encode is allowed only to rebuild latin-1 bytes")
    return text.encode("latin-1", errors)


_LATIN1 = {"latin1", "iso88591", "l1"}
_BUILTINS = {"set": set, "frozenset": frozenset, "bytearray": bytearray, "complex": complex}


class UnsafePickleError(ValueError):
    """The file references a global that a dataset batch never needs."""


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves numpy array reconstruction, dtypes, scalars and a few builtin containers only."""

    def __init__(self, file: Any, path: str, encoding: str = "latin1") -> None:
        super().__init__(file, encoding=encoding)
        self.path = path
        self.allowed = _numpy_globals()
        for module in ("builtins", "__builtin__"):
            for name, obj in _BUILTINS.items():
                self.allowed[(module, name)] = obj
        self.allowed[("_codecs", "encode")] = _latin1_encode

    def find_class(self, module: str, name: str) -> Any:
        obj = self.allowed.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"refusing to load {self.path}: it references {module}.{name}, which a dataset batch never "
                "needs (only numpy arrays, lists, dicts, strings and numbers are allowed); the file may be "
                "malicious or not a dataset batch")
        return obj

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"refusing to load {self.path}: it uses persistent ids, which dataset batches never do")


def load_batch(path: str | Path) -> dict[str, Any]:
    """Load one batch file through `RestrictedUnpickler`; `bytes` keys (b'data') become `str`.

    Raises `FileNotFoundError` for a missing file, `UnsafePickleError` (a `ValueError`) for a refused
    global, and `ValueError` naming the file for a corrupt or truncated one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"dataset batch file {path} not found")
    size = path.stat().st_size
    if size > MAX_BATCH_BYTES:
        raise ValueError(f"{path}: {size:,} bytes is larger than any official batch file; refusing to load it")
    data = path.read_bytes()
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), str(path)).load()
    except UnsafePickleError:
        raise
    except MemoryError:
        raise ValueError(f"{path}: corrupt batch file (it asks for more memory than there is)") from None
    except Exception as e:  # pickle signals corruption with many types: EOFError, UnpicklingError, ValueError...
        raise ValueError(f"{path}: corrupt or truncated batch file ({type(e).__name__}: {e})".rstrip()) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a dict of arrays (an official batch file), found {type(obj).__name__}")
    return {k.decode("latin-1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
