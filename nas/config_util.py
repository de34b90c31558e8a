"""One strict `from_dict` for the config dataclasses, and typed values from command-line text."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")
WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def strict_from_dict(cls: type[T], data: Any, what: str) -> T:
    """`cls(**data)` where every key must be a field: nested dataclass fields are built from dicts
    (through their own `from_dict` when they have one), lists become tuples. `ValueError` names the
    unknown keys and the known ones."""
    if not isinstance(data, dict):
        raise ValueError(f"{what}s must be a JSON object, got {type(data).__name__}")
    known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {what}(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        sub = hints.get(key)
        if isinstance(value, dict) and dataclasses.is_dataclass(sub):
            builder = getattr(sub, "from_dict", None)
            value = builder(value) if builder else strict_from_dict(sub, value, f"{what} {key}")  # type: ignore
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def parse_value(kind: Any, text: str) -> Any:
    """Command-line text as a value of the type of a field's default (`bool` reads true/false/1/0/
    yes/no; `None` defaults read as numbers when they look like one)."""
    if isinstance(kind, tuple):  # a comma-separated list of the first element's type
        return tuple(parse_value(kind[0] if kind else str, t.strip()) for t in text.split(",") if t.strip())
    if isinstance(kind, bool) or kind is bool:
        if text.lower() not in WORDS:
            raise ValueError(f"{text!r} is not true or false")
        return WORDS[text.lower()]
    if isinstance(kind, int) or kind is int:
        return int(text)
    if isinstance(kind, float) or kind is float:
        return float(text)
    if kind is None:
        try:
            return float(text) if any(c in text for c in ".eE") else int(text)
        except ValueError:
            return text
    return text


def typed_options(cls: type, raw: dict[str, str], where: str, exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """`raw` text options converted to the types of `cls`'s field defaults; unknown keys raise."""
    known = {f.name: f for f in dataclasses.fields(cls) if f.name not in exclude}
    out: dict[str, Any] = {}
    for key, text in raw.items():
        key = key.strip().replace("-", "_")
        if key not in known:
            raise ValueError(f"unknown {where} option {key!r}; known: {', '.join(sorted(known))}")
        default = known[key].default
        if default is dataclasses.MISSING and known[key].default_factory is not dataclasses.MISSING:
            default = known[key].default_factory()
        try:
            out[key] = parse_value(default, text.strip())
        except ValueError:
            kind = "number" if default is None else type(default).__name__
            raise ValueError(f"{where} option {key}={text!r} is not a {kind}") from None
    return out


def split_spec(text: str) -> tuple[str, str, dict[str, str]]:
    """`NAME[:ARG][?key=value&...]` -> (name, arg, raw options). The one grammar of --space,
    --strategy and --evaluator; --dataset's reader (`nas.data.spec`) cuts its path first, since a
    path may hold '?', then reads the same options."""
    head, sep, query = text.strip().partition("?")
    name, _, arg = head.partition(":")
    options = query_options(query, name)
    if sep and not options:
        raise ValueError(f"{text!r}: write options as {name}?key=value&...")
    return name.strip(), arg, options


def query_options(query: str, name: str) -> dict[str, str]:
    """`key=value&...` as raw text options (a key given twice raises)."""
    from urllib.parse import parse_qsl

    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise ValueError(f"{name}: option {key!r} is given twice")
        options[key] = value
    return options


def options_of(cls: type | None, name: str, raw: dict[str, str], kind: str) -> Any:
    """An instance of the options dataclass `cls` from `raw` text options (defaults without any)."""
    if cls is None:
        if raw:
            raise ValueError(f"{kind} {name} takes no options (got {', '.join(sorted(raw))})")
        return None
    return cls(**typed_options(cls, raw, f"{kind} {name}"))
