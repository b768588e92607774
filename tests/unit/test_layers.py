"""Imports point down: no module of twinrecord imports from a layer above its own.

The layer order is read from docs/architecture.md (its ```layers block), so it is
written once. Every import is parsed, function-level ones included; imports under
`if TYPE_CHECKING:` are exempt (annotations only).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "twinrecord"
DOC = ROOT / "docs" / "architecture.md"


def layers() -> list[tuple[str, list[str]]]:
    block = re.search(r"```layers\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/architecture.md has no ```layers block"
    order = []
    for line in block.group(1).splitlines():
        if line.strip():
            name, _, modules = line.partition(":")
            order.append((name.strip(), modules.split()))
    return order


def layer_of(module: str, order: list[tuple[str, list[str]]]) -> int:
    """The layer of the longest listed name that is `module` or a package holding it."""
    best, best_length = None, -1
    for index, (_, names) in enumerate(order):
        for name in names:
            if name == "__init__":
                matches = module == ""
            else:
                matches = module == name or module.startswith(name + ".")
            if matches and len(name) > best_length:
                best, best_length = index, len(name)
    assert best is not None, f"twinrecord.{module} is in no layer of docs/architecture.md"
    return best


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py*")):
        if path.suffix not in (".py", ".pyi"):
            continue
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def imports(
    module: str, source: str, is_package: bool, known: dict[str, Path]
) -> list[tuple[int, str]]:
    """(line, imported twinrecord module) for every import that runs."""
    package = module.split(".") if module else []
    if not is_package:
        package = package[:-1]
    found: list[tuple[int, str]] = []

    def add(line: int, target: str) -> None:
        found.append((line, target if target in known else target.rpartition(".")[0]))

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + (node.module.split(".") if node.module else []))
            elif node.module and node.module.split(".")[0] == "twinrecord":
                target = node.module.removeprefix("twinrecord").lstrip(".")
            else:
                return
            for alias in node.names:
                add(node.lineno, f"{target}.{alias.name}".lstrip("."))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "twinrecord":
                    add(node.lineno, alias.name.removeprefix("twinrecord").lstrip("."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source))
    return found


def test_no_module_imports_from_a_layer_above() -> None:
    order = layers()
    known = modules()
    upward = []
    for module, path in known.items():
        own = layer_of(module, order)
        for line, target in imports(module, path.read_text(), path.stem == "__init__", known):
            if layer_of(target, order) > own:
                upward.append(
                    f"{path.relative_to(ROOT)}:{line}: twinrecord.{module} ({order[own][0]}) "
                    f"imports twinrecord.{target} ({order[layer_of(target, order)][0]})"
                )
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


def test_the_checker_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ..query import sync\n"
        "def f():\n    from ..query import aio\n"
        "class C:\n    def g(self):\n        import twinrecord.relations._access\n"
    )
    found = imports("model._example", source, False, modules())
    assert found == [(5, "query.aio"), (8, "relations._access")]
    order = layers()
    assert all(layer_of(t, order) > layer_of("model._meta", order) for _, t in found)


def test_every_layer_name_exists() -> None:
    known = set(modules())
    for name, listed in layers():
        for module in listed:
            assert module == "__init__" or module in known, f"{name}: no module {module}"
