"""The typed surface (`model/_typed.pyi`) mirrors the shells it stands for.

The type checkers see every database method of the models as a pair of overloads
in `RecordSurface` (one per kind); the code that runs is `model/sync.py` and
`model/aio.py`. This test parses the stub and checks, for every public method the
shells define, that each kind's overload exists, is a classmethod exactly when the
shell's method is, takes the same parameters (names, kinds, defaults) and is a
coroutine exactly when the async shell's method is.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import pytest

from twinrecord.model import aio, sync

STUB = Path(aio.__file__).with_name("_typed.pyi")
SHELLS = {"SyncKind": sync.BaseActiveRecord, "AsyncKind": aio.AsyncBaseActiveRecord}


def _surface() -> dict[tuple[str, str], ast.FunctionDef | ast.AsyncFunctionDef]:
    """(method name, kind protocol) -> its overload in RecordSurface."""
    tree = ast.parse(STUB.read_text())
    surface = next(
        n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "RecordSurface"
    )
    found = {}
    for node in surface.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.args.args[0].annotation
            kind = next(
                k for k in SHELLS if first is not None and k in ast.unparse(first)
            )
            found[(node.name, kind)] = node
    return found


def _shell_methods(shell: type) -> dict[str, Any]:
    return {
        name: value
        for name, value in vars(shell).items()
        if not name.startswith("_")
        and (isinstance(value, (classmethod, staticmethod)) or inspect.isfunction(value))
    }


def _stub_parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[str, str, str]]:
    args = node.args
    positional = args.args[1:]  # without self / cls
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [
        (a.arg, "POSITIONAL_OR_KEYWORD", "-" if d is None else ast.unparse(d))
        for a, d in zip(positional, defaults)
    ]
    if args.vararg:
        params.append((args.vararg.arg, "VAR_POSITIONAL", "-"))
    for a, d in zip(args.kwonlyargs, args.kw_defaults):
        params.append((a.arg, "KEYWORD_ONLY", "-" if d is None else ast.unparse(d)))
    if args.kwarg:
        params.append((args.kwarg.arg, "VAR_KEYWORD", "-"))
    return params


def _runtime_parameters(function: Any) -> list[tuple[str, str, str]]:
    params = list(inspect.signature(function).parameters.values())[1:]
    return [
        (p.name, p.kind.name, "-" if p.default is inspect.Parameter.empty else repr(p.default))
        for p in params
    ]


CASES = [(kind, name) for kind, shell in SHELLS.items() for name in sorted(_shell_methods(shell))]


@pytest.mark.parametrize(("kind", "name"), CASES)
def test_every_shell_method_has_its_overload(kind: str, name: str) -> None:
    shell = SHELLS[kind]
    overload = _surface().get((name, kind))
    assert overload is not None, (
        f"{shell.__name__}.{name} has no overload for {kind} in RecordSurface "
        f"({STUB.name}): declare it there too, or the type checkers will not see it"
    )
    attribute = vars(shell)[name]
    decorators = {ast.unparse(d) for d in overload.decorator_list}
    assert ("classmethod" in decorators) == isinstance(attribute, classmethod), name
    function = attribute.__func__ if isinstance(attribute, classmethod) else attribute
    assert _stub_parameters(overload) == _runtime_parameters(function), name
    is_coroutine = inspect.iscoroutinefunction(function)
    assert isinstance(overload, ast.AsyncFunctionDef) == is_coroutine, name


def test_the_surface_declares_nothing_the_shells_lack() -> None:
    extra = {
        (name, kind) for name, kind in _surface() if name not in _shell_methods(SHELLS[kind])
    }
    assert not extra, f"RecordSurface declares methods no shell has: {sorted(extra)}"
