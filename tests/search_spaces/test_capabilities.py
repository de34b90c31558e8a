from __future__ import annotations

import pytest

from search_spaces import default_space
from search_spaces.capabilities import capabilities, has


def test_spaces_report_their_optional_capabilities() -> None:
    assert {"shape", "graph", "params_of"} <= capabilities(default_space("dense"))
    assert "source" not in capabilities(default_space("dense"))  # export adds it

    class Bare:
        name = "bare"

    assert capabilities(Bare()) == frozenset() and not has(Bare(), "shape")
    with pytest.raises(ValueError, match="unknown capability"):
        has(Bare(), "shapes")
