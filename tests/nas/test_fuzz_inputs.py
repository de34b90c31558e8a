"""Issue 19: property-based tests (hypothesis) of what users hand us. Random and mutated JSON at the
architecture loader, random and damaged bytes at every dataset reader (npz, CIFAR-10/100 batches,
downsampled-ImageNet batches, image folders): the only exceptions that come out are the one-line
errors the CLI turns into exit 2, and no example hangs (a deadline per example)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dataset_files import write_cifar10, write_cifar100, write_imagefolder, write_imagenet, write_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nas.archfile import load_arch
from nas.data import load_dataset
from nas.errors import UserError
from search_spaces.base import Architecture
from search_spaces.dense import preset_genotype

USER_ERRORS = (UserError, ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError)  # nas.cli: exit 2
EXAMPLES = 40
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=30), derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
                    | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=6)
                    | st.dictionaries(st.text(max_size=10), inner, max_size=6),
                    max_leaves=40)
VALID = Architecture("dense", preset_genotype("resnet-20")).to_json()


def _one_line_error_or_nothing(call: Any) -> None:
    try:
        call()
    except USER_ERRORS as e:
        assert str(e).strip(), f"{type(e).__name__} with no message"
    # any other exception propagates and fails the test, with hypothesis's minimal example


def _replace_at(value: Any, path: list[int], new: Any) -> Any:
    """`value` with the node reached by following `path` (child indices, modulo) replaced by `new`."""
    if not path or not isinstance(value, (dict, list)) or not value:
        return new
    if isinstance(value, list):
        i = path[0] % len(value)
        return [_replace_at(v, path[1:], new) if j == i else v for j, v in enumerate(value)]
    key = sorted(value)[path[0] % len(value)]
    return {k: (_replace_at(v, path[1:], new) if k == key else v) for k, v in value.items()}


@FUZZ
@given(doc=JSON)
def test_random_json_at_the_architecture_loader(doc: Any, tmp_path: Path) -> None:
    f = tmp_path / "arch.json"
    f.write_text(json.dumps(doc))
    _one_line_error_or_nothing(lambda: load_arch(str(f)))


@FUZZ
@given(path=st.lists(st.integers(0, 50), max_size=8), new=JSON)
def test_mutated_architecture_json(path: list[int], new: Any, tmp_path: Path) -> None:
    f = tmp_path / "arch.json"
    f.write_text(json.dumps(_replace_at(json.loads(VALID), path, new)))
    _one_line_error_or_nothing(lambda: load_arch(str(f)))


@FUZZ
@given(cut=st.integers(0, len(VALID)), junk=st.text(max_size=30), drop=st.integers(0, 40))
def test_mutated_architecture_text(cut: int, junk: str, drop: int, tmp_path: Path) -> None:
    f = tmp_path / "arch.json"
    f.write_text(VALID[:cut] + junk + VALID[cut + drop:])
    _one_line_error_or_nothing(lambda: load_arch(str(f)))


# --- dataset readers ---------------------------------------------------------------------------------------
def _npz(root: Path) -> tuple[str, Path]:
    root.mkdir()
    return f"npz:{write_npz(root / 'd.npz')}", root


def _cifar10(root: Path) -> tuple[str, Path]:
    return f"cifar10:{write_cifar10(root)}", root


def _cifar100(root: Path) -> tuple[str, Path]:
    return f"cifar100:{write_cifar100(root)}", root


def _imagenet(root: Path) -> tuple[str, Path]:
    return f"imagenet16:{write_imagenet(root, size=16, per_batch=10)}?val=0.5", root


def _imagefolder(root: Path) -> tuple[str, Path]:
    return f"imagefolder:{write_imagefolder(root, per_class=2)}?resolution=8&val=0.5", root


WRITERS = {"npz": _npz, "cifar10": _cifar10, "cifar100": _cifar100, "imagenet16": _imagenet,
           "imagefolder": _imagefolder}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
def test_damaged_dataset_files(fmt: str, tmp_path: Path) -> None:
    pristine = tmp_path / "pristine"
    spec, _ = WRITERS[fmt](pristine)
    files = sorted(p for p in pristine.rglob("*") if p.is_file())
    load_dataset(spec)  # the undamaged dataset loads
    outcomes: list[str] = []

    @FUZZ
    @given(which=st.integers(0, len(files) - 1), how=st.sampled_from(["random", "truncate", "flip", "empty"]),
           data=st.binary(max_size=2048), at=st.integers(0, 2**31), n=st.integers(1, 16))
    def damaged(which: int, how: str, data: bytes, at: int, n: int) -> None:
        target = files[which]
        original = target.read_bytes()
        body = bytearray(original)
        if how == "random":
            body = bytearray(data)
        elif how == "truncate":
            body = body[: at % max(len(body), 1)]
        elif how == "flip":
            for k in range(n):
                if body:
                    body[(at + 7919 * k) % len(body)] ^= (at >> (k % 24)) & 0xFF or 0x5A
        else:
            body = bytearray()
        target.write_bytes(bytes(body))
        try:
            load_dataset(spec)
            outcomes.append("loaded")
        except USER_ERRORS as e:
            assert str(e).strip(), f"{type(e).__name__} with no message"
            outcomes.append("refused")
        finally:
            target.write_bytes(original)

    damaged()
    assert len(outcomes) >= EXAMPLES and "refused" in outcomes

