"""Generate the sync shells from the async ones, so the twins cannot drift.

    python tools/async_to_sync.py          # rewrite every sync.py from its aio.py
    python tools/async_to_sync.py --check  # exit 1 if any sync.py is out of date (CI)

The syntax tree says what to change; the change is made to the source text, so
everything else stays as written: comments, string constants, layout. `async def`
becomes `def`, `await x` becomes `x`, `async with/for` lose `async`, `Awaited[X]`
becomes `X`, and the names in RENAMES are swapped (names only: never inside a string
or a comment). A string constant equal to a key of STRINGS (the kind's name) is
swapped whole; docstrings and comments are prose, reworded by TEXT_REPLACEMENTS.

Async-only code (psycopg's idiom): a statement whose line ends with `# ASYNC` is left
out of the sync file, and an `if True:  # ASYNC` block is replaced by its `else:`
block (or left out when it has none). The output is formatted with ruff.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
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
    "AsyncBackend": "SyncBackend",
    "arun": "run",
    "astream": "stream",
    "AsyncPlanStream": "PlanStream",
    "AsyncRecordStream": "RecordStream",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "StopAsyncIteration": "StopIteration",
    "aclose": "close",
    "aio": "sync",
    "asynchronous": "synchronous",
}
STRINGS = {"async": "sync"}
TEXT_REPLACEMENTS = [
    ("An asynchronous", "A synchronous"),
    ("an asynchronous", "a synchronous"),
    ("An async ", "A sync "),
    ("asynchronous", "synchronous"),
    ("an async ", "a sync "),
    ("async ", "sync "),
    ("`arun`", "`run`"),
    ("Async", ""),
    ("await the", "call the"),
    ("awaited", "called"),
]


ASYNC_MARK = re.compile(r"#\s*ASYNC\s*$")
Edit = tuple[int, int, str]  # (start offset, end offset, replacement)


def _offsets(source: str) -> list[int]:
    """The offset where each line starts (line numbers are 1-based)."""
    starts = [0, 0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    return starts


def _apply(source: str, edits: list[Edit]) -> str:
    """Apply non-overlapping edits; an edit inside an earlier (wider) one is dropped."""
    result, position = [], 0
    for start, end, text in sorted(edits, key=lambda e: (e[0], -e[1])):
        if start < position:
            continue
        result.append(source[position:start] + text)
        position = end
    return "".join(result) + source[position:]


def _line_span(node: ast.stmt, starts: list[int], source: str) -> tuple[int, int]:
    """The whole lines of a statement, its trailing comment and newline included."""
    end_line = node.end_lineno or node.lineno
    return starts[node.lineno], starts[end_line + 1] if end_line + 1 < len(starts) else len(source)


def _async_only(source: str) -> str:
    """Leave out `# ASYNC` statements; an `if True:  # ASYNC` block becomes its else."""
    lines = source.splitlines()
    starts = _offsets(source)
    edits: list[Edit] = []
    for node in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody", "handlers"):
            statements = getattr(node, field, [])
            if not isinstance(statements, list):
                continue  # an expression's `body` (IfExp, Lambda)
            for statement in statements:
                if not isinstance(statement, ast.stmt):
                    continue
                if not ASYNC_MARK.search(lines[statement.lineno - 1]):
                    continue
                start, end = _line_span(statement, starts, source)
                if isinstance(statement, ast.If):
                    edits.append((start, end, _dedented_else(statement, lines)))
                else:
                    edits.append((start, end, ""))
    return _apply(source, edits)


def _dedented_else(node: ast.If, lines: list[str]) -> str:
    if not node.orelse:
        return ""
    first, last = node.orelse[0].lineno, node.orelse[-1].end_lineno or node.orelse[-1].lineno
    body = lines[first - 1 : last]
    shift = (node.orelse[0].col_offset - node.col_offset)
    return "".join(line[shift:] + "\n" if line.strip() else "\n" for line in body)


def _unasync(source: str) -> str:
    """Drop `async` / `await` and unwrap `Awaited[X]`, by editing the text."""
    starts = _offsets(source)

    def at(line: int, column: int) -> int:
        return starts[line] + len(source[starts[line] :].encode()[:column].decode())

    edits: list[Edit] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.AsyncFunctionDef, ast.AsyncWith, ast.AsyncFor)):
            start = at(node.lineno, node.col_offset)
            keyword = re.match(r"async\s+", source[start:])
            assert keyword, source[start : start + 20]
            edits.append((start, start + keyword.end(), ""))
        elif isinstance(node, ast.Await):
            start = at(node.lineno, node.col_offset)
            edits.append((start, at(node.value.lineno, node.value.col_offset), ""))
        elif (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Awaited"
        ):
            inner = ast.get_source_segment(source, node.slice) or ""
            start = at(node.lineno, node.col_offset)
            end = at(node.end_lineno or node.lineno, node.end_col_offset or 0)
            edits.append((start, end, inner))
    return _apply(source, edits)


def _reword(text: str) -> str:
    for old, new in TEXT_REPLACEMENTS:
        text = text.replace(old, new)
    return text


def _docstring_positions(tree: ast.Module) -> set[tuple[int, int]]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            first = node.body[0] if node.body else None
            if (
                isinstance(first, ast.Expr)
                and isinstance(first.value, ast.Constant)
                and isinstance(first.value.value, str)
            ):
                found.add((first.value.lineno, first.value.col_offset))
    return found


def _rename(source: str) -> str:
    """Swap names, kind-name strings, and reword docstrings and comments (by token)."""
    docstrings = _docstring_positions(ast.parse(source))
    starts = _offsets(source)
    edits: list[Edit] = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        (line, column), (end_line, end_column) = token.start, token.end
        start, end = starts[line] + column, starts[end_line] + end_column
        if token.type == tokenize.NAME and token.string in RENAMES:
            edits.append((start, end, RENAMES[token.string]))
        elif token.type == tokenize.COMMENT:
            edits.append((start, end, _reword(token.string)))
        elif token.type == tokenize.STRING:
            prefix = token.string[: len(token.string) - len(token.string.lstrip("rRbBuUfF"))]
            plain = token.string[-1] in "'\"" and "f" not in prefix.lower()
            value = ast.literal_eval(token.string) if plain else None  # f-strings: never
            if (line, column) in docstrings:
                edits.append((start, end, _reword(token.string)))
            elif isinstance(value, str) and value in STRINGS:
                quote = token.string[-1]
                edits.append((start, end, f"{quote}{STRINGS[value]}{quote}"))
    return _apply(source, edits)


def convert(source: str) -> str:
    """The sync twin of an async module's source (before the header and formatting)."""
    return _rename(_unasync(_async_only(source)))


def generate(source: Path) -> str:
    body = convert(source.read_text())
    header = f'"""Generated from {source.name} by tools/async_to_sync.py: do not edit by hand.\n\n'
    docstring = ast.get_docstring(ast.parse(body), clean=False)
    if docstring is not None:  # fold the module docstring into the header
        body = body.split('"""', 2)[2].lstrip("\n")
        header += docstring.strip("\n") + '\n"""\n\n'
    else:
        header += '"""\n\n'
    return _ruff_format(header + body, source.with_name("sync.py"))


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
