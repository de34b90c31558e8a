"""Artefact formats are plug-ins: the built-ins and a user's own pass the shipped contract suite,
`nas export --format module:attr` uses one, and a format whose artefact disagrees is refused."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from test_cli_train import run

from nas.export.formats import ARTEFACT_FORMATS, Pt2, as_format
from nas.export.testing import check_format

HERE = Path(__file__).resolve()


class ChannelsLastPt2(Pt2):
    """A user's format: torch.export of the channels_last network (a deployment variant)."""

    name, filename = "pt2-cl", "model_cl.pt2"

    def save(self, model: torch.nn.Module, info, path: Path) -> None:
        super().save(model.to(memory_format=torch.channels_last), info, path)


class Drifted(Pt2):
    name, filename = "drifted", "drifted.pt2"

    def run(self, path: Path, x: torch.Tensor) -> torch.Tensor:
        return super().run(path, x) + 0.1


@pytest.fixture(autouse=True)
def _forget_plugins():
    yield
    for name in ("pt2-cl", "drifted"):
        ARTEFACT_FORMATS.unregister(name)


def test_builtin_pt2_passes_the_contract() -> None:
    diffs = check_format(Pt2())
    assert all(d is not None and d < 1e-4 for d in diffs.values())


def test_a_users_format_passes_and_the_cli_takes_it(capsys: pytest.CaptureFixture, tmp_path: Path) -> None:
    check_format(ChannelsLastPt2)
    ARTEFACT_FORMATS.unregister("pt2-cl")
    out = tmp_path / "out"
    code, _, err = run(capsys, "export", "--arch", "preset:resnet-8", "--input-size", "8", "--no-check",
                       "--format", f"py,{HERE}:ChannelsLastPt2", "--out", str(out))
    assert code == 0, err
    assert (out / "model_cl.pt2").is_file() and (out / "model.py").is_file()


def test_a_format_whose_artefact_disagrees_fails() -> None:
    with pytest.raises(ValueError, match="disagrees"):
        check_format(Drifted())


@pytest.mark.parametrize("bad, words", [
    (object(), "lacks"),
    (type("NoName", (Pt2,), {"name": "py"})(), "other than 'py'"),
    (type("Escapes", (Pt2,), {"name": "x", "filename": "../x.pt2"})(), "plain file name"),
    (type("Clobbers", (Pt2,), {"name": "x", "filename": "weights.pt"})(), "plain file name"),
])
def test_a_malformed_format_is_one_line(bad: object, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        as_format(bad, "test")


def test_unknown_format_names_close_matches(capsys: pytest.CaptureFixture) -> None:
    code, _, err = run(capsys, "export", "--arch", "preset:resnet-8", "--format", "py,pt3")
    assert code == 2 and "did you mean pt2" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "export", "--arch", "preset:resnet-8", "--format", f"{HERE}:Nothing")
    assert code == 2 and "has no attribute" in err


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
