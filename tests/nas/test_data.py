from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from dataset_files import (
    Evil,
    dump,
    write_cifar10,
    write_cifar100,
    write_imagefolder,
    write_imagenet,
    write_npz,
)

from nas.data import (
    DATASETS,
    DataSpec,
    UnsafePickleError,
    load_batch,
    load_dataset,
    parse_dataset_spec,
    register_dataset,
)
from nas.data.loader import Augment, augment_batch, iterate_batches
from nas.data.split import balanced_subset, stratified_split

# --- the spec grammar -------------------------------------------------------------------------


def test_spec_parses_name_path_and_options() -> None:
    s = parse_dataset_spec("npz:/data/a:b.npz?subset=100&resolution=16&val=0.2&classes=3")
    assert s == DataSpec("npz", "/data/a:b.npz", subset=100, resolution=16, val=0.2, classes=3)
    assert parse_dataset_spec(str(s)) == s
    assert parse_dataset_spec("digits") == DataSpec("digits")
    assert parse_dataset_spec("cifar10:~/x").path == str(Path("~/x").expanduser())


@pytest.mark.parametrize("bad, message", [
    ("", "--dataset is empty"), ("digits?subset=0", "subset=0 must be a positive integer"),
    ("digits?sub=3", "unknown --dataset option 'sub'"), ("digits?subset=x", "subset='x' must be a positive integer"),
    ("digits?val=1.5", r"val=1.5 must be a fraction in \[0, 1\)"), ("digits?subset=1&subset=2", "given twice"),
    ("npz:", "the path after ':' is empty"), ("digits?resolution", "resolution='' must be a positive integer"),
    ("digits?classes=1", "classes must be at least 2")])
def test_spec_rejects_bad_input(bad: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_dataset_spec(bad)


def test_unknown_dataset_lists_close_matches() -> None:
    with pytest.raises(ValueError, match="did you mean cifar10"):
        load_dataset("cifar1")
    with pytest.raises(ValueError, match="duplicate|already registered"):
        register_dataset("digits", needs_path=False, flip=False, about="")(lambda p, s: None)


# --- subsets and splits -----------------------------------------------------------------------


def test_stratified_split_is_balanced_disjoint_seeded_and_not_a_tail() -> None:
    y = np.repeat(np.arange(5), 40)  # class-sorted: a tail slice would hold only class 4
    keep, held = stratified_split(y, 0.1, np.random.default_rng(0))
    assert len(held) == 20 and len(keep) == 180 and not set(keep) & set(held)
    assert np.bincount(y[held]).tolist() == [4] * 5
    again, _ = stratified_split(y, 0.1, np.random.default_rng(0))
    other, _ = stratified_split(y, 0.1, np.random.default_rng(1))
    assert (again == keep).all() and not (other == keep).all()


def test_stratified_split_keeps_every_class_in_training() -> None:
    y = np.array([0] * 50 + [1] * 2 + [2])
    keep, held = stratified_split(y, 0.3, np.random.default_rng(0))
    assert set(y[keep]) == {0, 1, 2} and 1 in set(y[held])


def test_balanced_subset_fills_from_larger_classes() -> None:
    y = np.array([0] * 100 + [1] * 100 + [2] * 5)
    idx = balanced_subset(y, 60, np.random.default_rng(0))
    counts = np.bincount(y[idx])
    assert len(idx) == 60 and counts[2] == 5 and abs(int(counts[0]) - int(counts[1])) <= 1


# --- formats ----------------------------------------------------------------------------------


def test_digits_native_resolution_one_channel_no_flip() -> None:
    d = load_dataset("digits", seed=0)
    assert (d.in_channels, d.input_size, d.num_classes) == (1, 8, 10)
    assert d.train.x.dtype == torch.uint8 and len(d.train) + len(d.val) + len(d.test) == 1797
    assert not d.augment.flip and d.augment.pad == 1
    assert set(d.val.y.tolist()) == set(range(10))
    other = load_dataset("digits", seed=1)
    assert torch.equal(other.test.x, d.test.x)  # the test split never depends on the seed
    assert not torch.equal(other.val.x, d.val.x)


def test_synthetic_is_fixed_and_sized_by_options() -> None:
    a, b = load_dataset("synthetic"), load_dataset("synthetic")
    assert torch.equal(a.train.x, b.train.x) and (a.in_channels, a.input_size) == (3, 16)
    c = load_dataset("synthetic?classes=4&resolution=8&subset=40")
    assert c.num_classes == 4 and c.input_size == 8 and len(c.train) + len(c.val) == 40


@pytest.mark.parametrize("style", ["py2", "py3", "py3-old-numpy"])
def test_cifar10_python_batches(tmp_path: Path, style: str) -> None:
    root = write_cifar10(tmp_path / "cifar-10-batches-py", style=style)
    d = load_dataset(f"cifar10:{root}")
    assert (len(d.train) + len(d.val), len(d.test), d.num_classes) == (100, 20, 10)
    assert d.class_names[0] == "airplane" and d.input_size == 32 and d.augment.flip
    raw = load_batch(root / "data_batch_1")
    first = raw["data"][0].reshape(3, 32, 32)  # R, G, B planes
    assert any(torch.equal(torch.from_numpy(first), x) for x in torch.cat([d.train.x, d.val.x]))
    parent = load_dataset(f"cifar10:{tmp_path}?resolution=16")  # the parent of cifar-10-batches-py works too
    assert parent.input_size == 16 and parent.train.x.shape[1:] == (3, 16, 16)


def test_cifar100_fine_labels(tmp_path: Path) -> None:
    root = write_cifar100(tmp_path / "cifar-100-python")
    d = load_dataset(f"cifar100:{root}?val=0.5")
    assert d.num_classes == 100 and d.class_names[7] == "fine7" and len(d.test) == 100
    assert int(torch.cat([d.train.y, d.val.y]).max()) == 99


@pytest.mark.parametrize("npz", [False, True])
def test_imagenet32_batches_one_based_labels(tmp_path: Path, npz: bool) -> None:
    root = write_imagenet(tmp_path, size=32, npz=npz)
    d = load_dataset(f"imagenet32:{root}?val=0.5")
    assert len(d.train) + len(d.val) == 60 and len(d.test) == 30 and len(d.val) == 30
    seen = torch.cat([d.train.y, d.val.y])
    assert int(seen.min()) == 0 and int(seen.max()) == 4  # labels 1..5 -> 0..4
    assert d.num_classes == 1000
    few = load_dataset(f"imagenet32:{root}?classes=2")
    assert few.num_classes == 2 and set(few.test.y.tolist()) == {0, 1}


def test_imagenet16_rejects_32_pixel_batches(tmp_path: Path) -> None:
    root = write_imagenet(tmp_path, size=32)
    with pytest.raises(ValueError, match="3 x 16 x 16"):
        load_dataset(f"imagenet16:{root}")
    assert load_dataset(f"imagenet16:{write_imagenet(tmp_path / 'i16', size=16)}").input_size == 16


def test_imagefolder_png_and_jpeg(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "folder")
    d = load_dataset(f"imagefolder:{root}?resolution=12&val=0.25")
    assert d.class_names == ["cat", "dog", "fish"] and d.input_size == 12 and len(d.test) == 6
    assert len(d.train) + len(d.val) == 12 and set(d.val.y.tolist()) == {0, 1, 2}
    means = [float(d.test.x[d.test.y == c].float().mean()) for c in range(3)]
    assert means[0] < means[1] < means[2]  # class c images are grey level 40 + 80c


def test_npz_nhwc_grey_and_class_names(tmp_path: Path) -> None:
    d = load_dataset(f"npz:{write_npz(tmp_path / 'a.npz', class_names=np.array(list('abcd')))}")
    assert (d.in_channels, d.input_size, d.class_names) == (3, 16, ["a", "b", "c", "d"])
    grey = load_dataset(f"npz:{write_npz(tmp_path / 'g.npz', channels=0)}")
    assert grey.in_channels == 1 and grey.num_classes == 4


def test_npz_with_object_arrays_is_refused(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "o.npz", class_names=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="o.npz"):
        load_dataset(f"npz:{path}")


# --- safety of pickled batches ----------------------------------------------------------------


@pytest.mark.parametrize("how", ["system", "eval", "touch"])
def test_malicious_cifar_batch_is_refused_and_runs_nothing(tmp_path: Path, how: str) -> None:
    root = write_cifar10(tmp_path / "c")
    marker = tmp_path / "pwned"
    batch = {"data": Evil(marker, how), "labels": [0]}
    (root / "data_batch_1").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UnsafePickleError, match="data_batch_1") as e:
        load_dataset(f"cifar10:{root}")
    assert "refusing" in str(e.value)
    assert not marker.exists()


def test_payload_hidden_after_valid_array_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "x": [1, Evil(marker)]}, protocol=2))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_batch(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_protocol_of_plain_arrays_loads(tmp_path: Path, protocol: int) -> None:
    path = tmp_path / "b"
    arrays = {"data": np.arange(12, dtype=np.uint8).reshape(2, 6), "labels": [1, 2], "f": np.float32(2.5),
              "i": np.arange(3, dtype=np.int64), "t": (1, 2.0, None, "s", b"b")}
    path.write_bytes(pickle.dumps(arrays, protocol=protocol))
    out = load_batch(path)
    assert (out["data"] == arrays["data"]).all() and out["labels"] == [1, 2] and out["f"] == 2.5
    assert out["t"] == (1, 2.0, None, "s", b"b")


def test_truncated_and_garbage_batches_name_the_file(tmp_path: Path) -> None:
    good = dump({"data": np.zeros((2, 3072), np.uint8), "labels": [0, 1]}, "py2")
    for name, content in (("truncated", good[: len(good) // 2]), ("garbage", b"not a pickle at all"),
                          ("empty", b""), ("list", pickle.dumps([1, 2], protocol=2))):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=name):
            load_batch(tmp_path / name)


def test_missing_paths_raise_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_dataset(f"cifar10:{tmp_path / 'nope'}")
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        load_dataset(f"cifar10:{tmp_path}")
    with pytest.raises(ValueError, match="needs a path"):
        load_dataset("cifar100")
    with pytest.raises(ValueError, match="takes no path"):
        load_dataset(f"digits:{tmp_path}")
    assert "npz" in DATASETS and "imagefolder" in DATASETS


# --- batching and augmentation ----------------------------------------------------------------


def test_batches_cover_the_split_normalised() -> None:
    d = load_dataset("synthetic")
    xs, ys = zip(*d.batches("train", 128), strict=True)
    x = torch.cat(xs)
    assert torch.equal(torch.cat(ys), d.train.y) and x.dtype == torch.float32
    assert x.mean(dim=(0, 2, 3)).abs().max() < 0.05 and (x.std(dim=(0, 2, 3)) - 1).abs().max() < 0.05
    g = torch.Generator().manual_seed(0)
    shuffled = torch.cat([y for _, y in d.batches("train", 100, train=True, generator=g)])
    assert sorted(shuffled.tolist()) == sorted(d.train.y.tolist()) and not torch.equal(shuffled, d.train.y)


def test_training_batches_need_a_generator_and_drop_a_lone_last_image() -> None:
    x, y = torch.zeros(5, 1, 4, 4, dtype=torch.uint8), torch.arange(5)
    stats = {"mean": torch.zeros(1), "std": torch.ones(1)}
    with pytest.raises(ValueError, match="Generator"):
        next(iterate_batches(x, y, 2, shuffle=True, **stats))
    sizes = [len(b) for _, b in iterate_batches(x, y, 2, shuffle=True, generator=torch.Generator(), **stats)]
    assert sizes == [2, 2]


def test_augmentation_crops_shifted_windows_and_flips() -> None:
    x = torch.arange(64, dtype=torch.float32).view(1, 1, 8, 8).repeat(200, 1, 1, 1) + 1
    g = torch.Generator().manual_seed(0)
    out = augment_batch(x, Augment(pad=2, flip=False), g)
    assert out.shape == x.shape
    assert (out == 0).any() and (out == x).all(dim=(1, 2, 3)).any()  # some padding, some untouched crops
    flipped = augment_batch(x, Augment(pad=0, flip=True), torch.Generator().manual_seed(0))
    is_flip = (flipped == x.flip(3)).all(dim=(1, 2, 3))
    assert 50 < int(is_flip.sum()) < 150 and ((flipped == x).all(dim=(1, 2, 3)) | is_flip).all()
    again = augment_batch(x, Augment(pad=2, flip=True), torch.Generator().manual_seed(3))
    assert torch.equal(again, augment_batch(x, Augment(pad=2, flip=True), torch.Generator().manual_seed(3)))


def test_imagefolder_errors_name_the_problem(tmp_path: Path) -> None:
    root = write_imagefolder(tmp_path / "f")
    (root / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match="broken.png"):
        load_dataset(f"imagefolder:{root}")
    (root / "train" / "cat" / "broken.png").unlink()
    (root / "val" / "bird").mkdir()
    with pytest.raises(ValueError, match="bird"):
        load_dataset(f"imagefolder:{root}")
    with pytest.raises(FileNotFoundError, match="train/ and val/"):
        load_dataset(f"imagefolder:{root / 'train'}")
