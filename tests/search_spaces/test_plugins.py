from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from search_spaces import SPACES, Architecture, default_space
from search_spaces import base as space_base
from search_spaces.examples.mobilenet_chain import MobileNetChain
from search_spaces.plugins import ENTRY_POINT_GROUP, available_spaces, entry_point_names, resolve_space
from search_spaces.testing import check_space

PLUGIN = '''
from search_spaces.examples.mobilenet_chain import MobileNetChain


class {cls}(MobileNetChain):
    name = "{name}"


instance = {cls}()
'''


@pytest.fixture(autouse=True)
def restore_registry() -> Iterator[None]:
    """Plug-ins register themselves; undo that after each test."""
    names, defaults, modules = set(SPACES.names()), dict(space_base._DEFAULTS), set(sys.modules)
    yield
    for name in set(SPACES.names()) - names:
        SPACES.unregister(name)
    space_base._DEFAULTS.clear()
    space_base._DEFAULTS.update(defaults)
    for name in set(sys.modules) - modules:
        if name.startswith(("plugin_", "_densedag_space_")):
            del sys.modules[name]


def write_plugin(root: Path, module: str, name: str, cls: str = "TinyChain") -> Path:
    path = root / f"{module}.py"
    path.write_text(PLUGIN.format(cls=cls, name=name))
    return path


def write_distribution(root: Path, entries: str, dist: str = "fake_plugin") -> None:
    """An installed package as importlib.metadata sees it: a dist-info folder on sys.path."""
    info = root / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{textwrap.dedent(entries)}")


def test_the_example_passes_the_contract_suite() -> None:
    check_space(MobileNetChain())


def test_registered_names() -> None:
    assert resolve_space("nb201") is default_space("nb201")
    assert resolve_space(" dense ") is default_space("dense")


def test_module_attr_class_registers_under_its_name() -> None:
    space = resolve_space("search_spaces.examples.mobilenet_chain:MobileNetChain")
    assert isinstance(space, MobileNetChain) and "mobilenet_chain" in SPACES
    assert resolve_space("mobilenet_chain").name == "mobilenet_chain"
    arch = space.sample(np.random.default_rng(0))
    with pytest.raises(ValueError, match="block 0"):  # architectures of it now validate on construction
        Architecture("mobilenet_chain", {"blocks": [{"kernel": 4, "expand": 1}] * 5})
    assert resolve_space("search_spaces.examples.mobilenet_chain:MobileNetChain").name == arch.space  # again: fine


def test_module_attr_instance_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_plugin(tmp_path, "plugin_instance", "tiny_a")
    space = resolve_space("plugin_instance:instance")
    assert space.name == "tiny_a" and default_space("tiny_a") is space
    path = write_plugin(tmp_path / "..", "plugin_file", "tiny_b")
    space = resolve_space(f"{path}:TinyChain")
    assert space.name == "tiny_b" and "tiny_b" in available_spaces()
    check_space(space, build=False)


def test_same_class_under_a_taken_name_is_fine_another_class_is_not(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_space("search_spaces.nb201:NB201Space").name == "nb201"
    monkeypatch.syspath_prepend(str(tmp_path))
    write_plugin(tmp_path, "plugin_clash", "nb201")
    with pytest.raises(ValueError, match="'nb201' belongs to NB201Space already; give your space another `name`"):
        resolve_space("plugin_clash:instance")


@pytest.mark.parametrize("spec,match", [
    ("no_such_module_xyz:Space", "cannot import no_such_module_xyz: ModuleNotFoundError.*on PYTHONPATH"),
    ("search_spaces.examples.mobilenet_chain:MobileNetChian",
     "no attribute 'MobileNetChian'; did you mean MobileNetChain"),
    ("json:dumps", "a function is not a SearchSpace \\(it lacks name, sample"),
    ("json:JSONDecoder", "class JSONDecoder is not a SearchSpace"),
    ("search_spaces.nb201:OPS", "a tuple is not a SearchSpace"),
    ("search_spaces.base:Architecture", "class Architecture is not a SearchSpace"),
    (":Space", "write module:attr"),
    ("json:", "write module:attr"),
    ("nb2O1", "unknown search space 'nb2O1'; did you mean nb201"),
    ("", "space is empty"),
    ("missing/file.py:Space", "cannot import missing/file.py: FileNotFoundError"),
])
def test_bad_specs_raise_one_clear_line(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        resolve_space(spec)
    assert "\n" not in str(info.value)


def test_user_code_that_fails_on_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "plugin_broken.py").write_text("raise RuntimeError('boom\\nsecond line')\n")
    with pytest.raises(ValueError, match="cannot import plugin_broken: RuntimeError: boom$"):
        resolve_space("plugin_broken:Space")
    (tmp_path / "plugin_syntax.py").write_text("def (:\n")
    with pytest.raises(ValueError, match="SyntaxError"):
        resolve_space(f"{tmp_path / 'plugin_syntax.py'}:Space")


def test_class_that_needs_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    base = PLUGIN.format(cls="Base", name="tiny_args").replace("instance = Base()", "")
    needs_args = "class NeedsArgs(Base):\n    def __init__(self, depth):\n        self.depth = depth\n"
    (tmp_path / "plugin_args.py").write_text(base + needs_args)
    with pytest.raises(ValueError, match=r"NeedsArgs\(\) needs arguments .*name an instance"):
        resolve_space("plugin_args:NeedsArgs")


def test_entry_points_of_installed_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_plugin(tmp_path, "plugin_pkg", "tiny_ep")
    write_distribution(tmp_path, """\
        tiny_ep = plugin_pkg:TinyChain
        misnamed = plugin_pkg:TinyChain
        broken = plugin_missing_module:Space
        """)
    assert {"tiny_ep", "misnamed", "broken"} <= set(entry_point_names())
    assert "tiny_ep" not in SPACES  # listed, not loaded
    space = resolve_space("tiny_ep")
    assert space.name == "tiny_ep" and "tiny_ep" in SPACES and resolve_space("tiny_ep") is space
    check_space(space, build=False)
    with pytest.raises(ValueError, match="calls itself 'tiny_ep'; the entry point's name must match"):
        resolve_space("misnamed")
    with pytest.raises(ValueError, match="'broken' .* fails to load: ModuleNotFoundError"):
        resolve_space("broken")
    with pytest.raises(ValueError, match="did you mean tiny_ep"):
        resolve_space("tiny_eq")


def test_two_packages_offering_one_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    write_distribution(tmp_path, "tiny_dup = plugin_a:Space\n", dist="dist_a")
    write_distribution(tmp_path, "tiny_dup = plugin_b:Space\n", dist="dist_b")
    with pytest.raises(ValueError, match="two spaces named 'tiny_dup'"):
        resolve_space("tiny_dup")
