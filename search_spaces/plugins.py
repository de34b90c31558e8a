"""Plug-in spaces: `--space NAME | module:attr | path/to/file.py:attr`, and installed packages.

`resolve_space(spec)` answers with a `SearchSpace` instance for
- a registered name (`register_space("mine", MySpace)` in code), or
- the name of an entry point in the group `densedag.spaces` of an installed package, e.g. in its
  pyproject.toml: `[project.entry-points."densedag.spaces"]` `mine = "my_pkg.spaces:MySpace"`;
  it is loaded and registered on the first lookup, or
- `module:attr` (or `path/to/file.py:attr`) naming a space instance or a zero-argument class;
  it is registered under its `name` when that name is free, so architectures of it validate
  and build by name (the same class under a taken name is fine; another class is an error).
Anything else raises a `ValueError` with a one-line message naming the problem.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from search_spaces.base import SPACES, default_space, register_space
from search_spaces.registry import unknown_name_message

ENTRY_POINT_GROUP = "densedag.spaces"
REQUIRED = ("name", "sample", "suggest", "mutate", "validate", "encode", "build")


def resolve_space(spec: str) -> Any:
    """The space named by `spec` (see the module docstring); registers plug-ins on first use."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("space is empty: pass a registered name (e.g. dense, nb201) or module:attr")
    spec = spec.strip()
    if ":" in spec:
        return _resolve_import(spec)
    if spec in SPACES:
        return default_space(spec)
    found = [ep for ep in _entry_points() if ep.name == spec]
    if not found:
        known = sorted(set(SPACES.names()) | set(entry_point_names()))
        raise ValueError(unknown_name_message("search space", spec, known) + "; or pass module:attr")
    if len({ep.value for ep in found}) > 1:
        raise ValueError(f"installed packages give two spaces named {spec!r}: "
                         f"{', '.join(sorted({ep.value for ep in found}))}; uninstall one")
    return _register_entry_point(found[0])


def entry_point_names() -> list[str]:
    """Spaces that installed packages offer (not loaded until looked up)."""
    return sorted({ep.name for ep in _entry_points()})


def available_spaces() -> list[str]:
    """Registered names and installed packages' space names."""
    return sorted(set(SPACES.names()) | set(entry_point_names()))


def as_space(obj: Any, where: str) -> Any:
    """`obj` if it is a space; an instance of it if it is a zero-argument space class; else `ValueError`."""
    if isinstance(obj, type):
        missing = [m for m in REQUIRED if m != "name" and not callable(getattr(obj, m, None))]
        if missing:
            raise ValueError(f"{where}: class {obj.__qualname__} is not a SearchSpace (it lacks {', '.join(missing)})")
        try:
            obj = obj()
        except TypeError as e:
            raise ValueError(f"{where}: {obj.__qualname__}() needs arguments ({e}); name an instance "
                             "or a class that takes none") from None
    missing = [m for m in REQUIRED if not hasattr(obj, m) or (m != "name" and not callable(getattr(obj, m)))]
    if missing:
        raise ValueError(f"{where}: a {type(obj).__name__} is not a SearchSpace (it lacks {', '.join(missing)})")
    if not isinstance(obj.name, str) or not obj.name:
        raise ValueError(f"{where}: the space's `name` must be a non-empty string, got {obj.name!r}")
    return obj


def _resolve_import(spec: str) -> Any:
    obj = import_attr(spec, "space", "my_pkg.spaces:MySpace")
    return _register(as_space(obj, f"space {spec!r}"), f"space {spec!r}")


def import_attr(spec: str, kind: str, example: str = "my_pkg.module:attr") -> Any:
    """The object `module:attr` or `path/to/file.py:attr` names (`attr` may be dotted): the one
    importer of user code for spaces, evaluators and strategies. `ValueError` with one line, naming
    `kind`, on any failure."""
    module_name, _, attr = spec.rpartition(":")
    if not module_name or not attr:
        raise ValueError(f"{kind} {spec!r}: write module:attr (e.g. {example}) or path/to/file.py:attr")
    module = _import(module_name, spec, kind)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("_")], n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"{kind} {spec!r}: {module_name} has no attribute {attr!r}{hint}")
        obj = getattr(obj, part)
    return obj


def _import(module_name: str, spec: str, kind: str = "space") -> Any:
    as_file = module_name.endswith(".py") or "/" in module_name or "\\" in module_name
    try:
        if not as_file:
            return importlib.import_module(module_name)
        path = Path(module_name).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"no such file {module_name!r}")
        name = f"_densedag_{kind}_{path.stem}"
        loader_spec = importlib.util.spec_from_file_location(name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise ImportError(f"cannot load {module_name!r} as Python")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        try:
            loader_spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        return module
    except Exception as e:  # any failure while importing user code is a user error
        not_found = isinstance(e, ModuleNotFoundError) and e.name is not None and module_name.startswith(e.name)
        hint = " (is it installed or on PYTHONPATH? a file works too: path/to/file.py:attr)" if not_found else ""
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{kind} {spec!r}: cannot import {module_name}: {type(e).__name__}: {first}{hint}") from None


def _register(space: Any, where: str) -> Any:
    """Register `space` under its name when the name is free; else check it is the same kind."""
    registered = SPACES.find(space.name)
    if registered is None:
        register_space(space.name, space)
        return space
    current = default_space(space.name)
    if type(current) is not type(space):
        raise ValueError(f"{where}: the name {space.name!r} belongs to {type(current).__qualname__} already; "
                         "give your space another `name`")
    return space


def _register_entry_point(ep: EntryPoint) -> Any:
    where = f"space {ep.name!r} (entry point {ep.value} in group {ENTRY_POINT_GROUP})"
    try:
        obj = ep.load()
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{where} fails to load: {type(e).__name__}: {first}") from None
    space = as_space(obj, where)
    if space.name != ep.name:
        raise ValueError(f"{where}: the space calls itself {space.name!r}; the entry point's name must match it")
    return _register(space, where)


def _entry_points() -> list[EntryPoint]:
    return list(entry_points(group=ENTRY_POINT_GROUP))
