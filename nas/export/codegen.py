"""Source-code pieces for `model.py`: a space's own module code, cut out of its files with `inspect`
and `ast`, and the checks that the assembled file stands alone (only torch and the standard library).

Copying the builder's code (rather than writing a second generator) keeps the exported network and
the in-framework one from drifting apart; the exporter still checks their outputs are equal.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

PROJECT_PACKAGES = ("nas", "search_spaces", "predictors")
FORBIDDEN_CALLS = ("exec", "eval", "compile", "__import__")


@dataclass
class Code:
    """Python source split into its imports (hoisted to the top of model.py) and the rest."""

    imports: list[str] = field(default_factory=list)
    body: list[str] = field(default_factory=list)

    def add(self, other: Code) -> Code:
        self.imports += [i for i in other.imports if i not in self.imports]
        self.body += other.body
        return self


def is_project_module(name: str | None) -> bool:
    return bool(name) and name.split(".")[0] in PROJECT_PACKAGES  # type: ignore[union-attr]


def split_source(text: str, where: str) -> Code:
    """Top-level imports apart from the rest; drops the module docstring, `from __future__` and imports
    of this project (the names they bring must be defined by other pieces of model.py)."""
    text = textwrap.dedent(text)
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise ValueError(f"{where}: the source is not valid Python ({e.msg}, line {e.lineno})") from None
    lines = text.splitlines()
    drop: set[int] = set()
    imports: list[str] = []
    for i, node in enumerate(tree.body):
        span = range(node.lineno - 1, node.end_lineno or node.lineno)
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) \
                and isinstance(node.value.value, str):
            drop.update(span)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            drop.update(span)
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module == "__future__" or is_project_module(module):
                continue
            if isinstance(node, ast.Import) and any(is_project_module(a.name) for a in node.names):
                continue
            imports.append(ast.get_source_segment(text, node) or "")
    body = "\n".join(line for n, line in enumerate(lines) if n not in drop).strip("\n")
    return Code(imports, [body] if body else [])


def module_code(module: ModuleType) -> Code:
    """A whole module's code, as in its file."""
    return split_source(inspect.getsource(module), module.__name__)


def objects_code(*objs: Any, fields_only: bool = False) -> Code:
    """Classes or functions as in their files; `fields_only` keeps a dataclass's fields and drops
    its methods (model.py needs the data, not the validation and JSON round-trips)."""
    code = Code()
    for obj in objs:
        text = textwrap.dedent(inspect.getsource(obj))
        if fields_only:
            text = _without_methods(text)
        code.body.append(text.strip("\n"))
    return code


def _without_methods(text: str) -> str:
    tree = ast.parse(text)
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef)
    drop: set[int] = set()
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            drop.update(range(first - 1, node.end_lineno or node.lineno))
    lines = [line for n, line in enumerate(text.splitlines()) if n not in drop]
    return "\n".join(lines).rstrip() + "\n"


def check_standalone(text: str, where: str = "model.py") -> None:
    """`ValueError` when the generated file imports this project or calls exec / eval."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad = [a.name for a in node.names if is_project_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            bad = [node.module] if is_project_module(node.module) else []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            raise ValueError(f"{where} would call {node.func.id}() (line {node.lineno}); exported code must not")
        else:
            continue
        if bad:
            raise ValueError(f"{where} would import {bad[0]} (line {node.lineno}); exported code must need only "
                             "torch: a space's source(arch) may not import this project")


def render(code: Code) -> str:
    """Imports first (the standard library's, then the rest), then the body pieces."""
    def rank(line: str) -> tuple[int, int, str]:  # isort's order: standard library first, `import` before `from`
        module = line.split()[1]
        return (module.split(".")[0] not in sys.stdlib_module_names, line.startswith("from"), module)

    imports = sorted(set(code.imports), key=rank)
    text = "\n".join(imports) + "\n\n\n" + "\n\n\n".join(p.strip("\n") for p in code.body if p.strip()) + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)  # at most two blank lines, whatever the pieces end with
