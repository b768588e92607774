"""Generate the sync shells from the async ones, so the twins cannot drift.

    python tools/async_to_sync.py          # rewrite every sync.py from its aio.py
    python tools/async_to_sync.py --check  # exit 1 if any sync.py is out of date (CI)

The transformation works on the syntax tree (not on text): `async def` becomes
`def`, `await x` becomes `x`, `async with/for` lose `async`, and the names in
RENAMES are swapped, `Awaited[X]` becomes `X`. The output is formatted with ruff.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAIRS = [
    ROOT / "src/twinrecord/model/aio.py",
    ROOT / "src/twinrecord/query/aio.py",
]
RENAMES = {
    "AsyncBaseActiveRecord": "BaseActiveRecord",
    "AsyncActiveRecord": "ActiveRecord",
    "AsyncActiveQuery": "ActiveQuery",
    "AsyncQueryCore": "QueryCore",
    "AsyncTransactionBlock": "TransactionBlock",
    "AbstractAsyncContextManager": "AbstractContextManager",
    "AsyncIterator": "Iterator",
    "arun": "run",
    "aio": "sync",
    "asynchronous": "synchronous",
}
STRINGS = {"async": "sync"}
TEXT_REPLACEMENTS = [
    ("an asynchronous", "a synchronous"),
    ("asynchronous", "synchronous"),
    ("an async ", "a sync "),
    ("async ", "sync "),
    ("`arun`", "`run`"),
    ("Async", ""),
    ("await the", "call the"),
    ("awaited", "called"),
]


class _Unasync(ast.NodeTransformer):
    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.AST:
        self.generic_visit(node)
        fields = {name: getattr(node, name) for name in node._fields}
        return ast.copy_location(ast.FunctionDef(**fields), node)

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.generic_visit(node)
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.AST:
        # `Awaited[X]` (what a plain `def` of an async shell returns to be awaited) is `X`.
        if isinstance(node.value, ast.Name) and node.value.id == "Awaited":
            return self.visit(node.slice)
        self.generic_visit(node)
        return node

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(ast.With(items=node.items, body=node.body), node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return ast.copy_location(
            ast.For(target=node.target, iter=node.iter, body=node.body, orelse=node.orelse), node
        )

    def visit_Name(self, node: ast.Name) -> ast.AST:
        node.id = RENAMES.get(node.id, node.id)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        node.attr = RENAMES.get(node.attr, node.attr)
        return node

    def visit_alias(self, node: ast.alias) -> ast.AST:
        node.name = RENAMES.get(node.name, node.name)
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.generic_visit(node)
        if node.module:
            node.module = ".".join(RENAMES.get(part, part) for part in node.module.split("."))
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str):
            node.value = STRINGS.get(node.value, node.value)
            for old, new in TEXT_REPLACEMENTS:
                node.value = node.value.replace(old, new)
        return node


def generate(source: Path) -> str:
    tree = _Unasync().visit(ast.parse(source.read_text()))
    ast.fix_missing_locations(tree)
    header = f'"""Generated from {source.name} by tools/async_to_sync.py: do not edit by hand.\n\n'
    body = ast.unparse(tree)
    docstring = ast.get_docstring(ast.parse(body))
    if docstring is not None:  # fold the module docstring into the header
        body = body.split('"""', 2)[2].lstrip("\n")
        header += docstring + '\n"""\n'
    else:
        header += '"""\n'
    text = header + body + "\n"
    return _ruff_format(text, source.with_name("sync.py"))


def _ruff_format(text: str, target: Path) -> str:
    fixed = (
        subprocess.run(
            [
                sys.executable,
                "-m",
                "ruff",
                "check",
                "--fix-only",
                "--quiet",
                "--stdin-filename",
                str(target),
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
        or text
    )
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--quiet", "--stdin-filename", str(target), "-"],
        input=fixed,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for source in PAIRS:
        target = source.with_name("sync.py")
        text = generate(source)
        if check:
            if not target.exists() or target.read_text() != text:
                stale.append(target)
        else:
            target.write_text(text)
    for target in stale:
        print(f"{target.relative_to(ROOT)} is out of date: run python tools/async_to_sync.py")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
