"""Datasets selected by `--dataset NAME[:PATH][?subset=N&resolution=R&val=F&classes=K]`.

Formats (the `DATASETS` registry): digits, synthetic, npz, cifar10, cifar100, imagenet16/32/64,
imagefolder. Register your own with `@register_dataset(name, needs_path=..., flip=..., about=...)`
on a function `(path, spec) -> RawData`.
"""

from nas.data import batch_files, imagefolder, readers  # noqa: F401  (register the formats)
from nas.data.dataset import Dataset, Split, load_dataset
from nas.data.formats import DATASETS, DatasetFormat, RawData, register_dataset
from nas.data.loader import Augment, iterate_batches
from nas.data.safe_pickle import RestrictedUnpickler, UnsafePickleError, load_batch
from nas.data.spec import DataSpec, parse_dataset_spec

__all__ = ["DATASETS", "Augment", "DataSpec", "Dataset", "DatasetFormat", "RawData", "RestrictedUnpickler", "Split",
           "UnsafePickleError", "iterate_batches", "load_batch", "load_dataset", "parse_dataset_spec",
           "register_dataset"]
