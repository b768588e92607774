"""Every python code block of every docs page runs, so no page can rot.

Pages: every `docs/**/*.md` (a new page is picked up without registering it). For each
page, its sync blocks run in order as one program on SQLite, and its async blocks run in
order as one program, on one event loop, on PostgreSQL and then on MariaDB (the run's own
databases, harness.py). Blocks of one kind on a page share one namespace, so a later
block uses the models and records of an earlier one.

Writing a page (docs/contributing-docs.md says the same for writers):

- A block's kind is, in order: the tab it sits in (`=== "sync"` / `=== "async"`,
  pymdownx.tabbed); else a first line `# sync` / `# async`; else async when it only
  compiles with top-level `await`, sync otherwise. Top-level `await`, `async with` and
  `async for` are fine in async blocks.
- Configure with a URL: a sync block may name its own SQLite file
  (`Model.configure('sqlite:///app.db')`; the working directory is a fresh temporary
  one per page), an async block reads `os.environ['DATABASE_URL']` (set to the server
  being run). `DATABASE_URL` is set for sync blocks too (`sqlite:///docs.db`).
- Create the tables the page needs (`create_table()`); after the page, every model in
  the namespace has its table dropped and its backend closed, so pages never see each
  other's tables.
- Page options, in an HTML comment anywhere on the page (invisible once rendered):
  `<!-- docs-samples: sync=sqlite async=postgres,mysql -->` (those are the defaults);
  `sync=` / `async=` take any of `sqlite` (sync only), `postgres`, `mysql`, or `none`.
  Use it for a page about one database (mysql.md) or a feature one database lacks.
- A page whose samples need servers of their own (a replica) is run by its own test
  and named in RUN_ELSEWHERE below.
- A block that must not run (a skeleton of an application, a server that is not there)
  starts with `# not run: <why>`, a comment the reader sees. It must be rare:
  `test_blocks_not_run_are_the_listed_ones` fails until the block is added to NOT_RUN
  below, so each one is a visible decision in review.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from twinrecord.errors import ConfigurationError, ConnectionNotEstablished
from twinrecord.model._configure import backend_of, kinds_of

from .harness import MYSQL_URL, POSTGRES_URL, require_server

DOCS = Path(__file__).resolve().parents[2] / "docs"

# Pages whose samples are being made runnable by the helper that owns them; remove a
# page from here when its samples run.
TEMPORARY_EXCLUSIONS: dict[str, str] = {}

# Pages whose samples need servers of their own, run by a test of their own instead.
RUN_ELSEWHERE: dict[str, str] = {
    "replicas.md": "tests/integration/test_replicas_doc.py (a PostgreSQL primary and its standby)",
    "fastapi.md": "tests/integration/test_fastapi_app.py (excerpts of examples/fastapi_app, "
    "checked verbatim; the sync sample runs there)",
    "testing.md": "tests/integration/test_testing_plugin.py (the page's conftest and tests run "
    "as a user's project, in a pytest of their own)",
}

# Blocks that are shown but not run: (page, the reason after `# not run:`).
NOT_RUN: set[tuple[str, str]] = {
    # a fixture override; test_testing_plugin.py overrides the same fixtures for real
    ("testing.md", "a conftest.py fragment (tests/integration/test_testing_plugin.py does this)"),
    ("schema.md", "a revision script's body"),
}

DEFAULT_SERVERS = {"sync": ("sqlite",), "async": ("postgres", "mysql")}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)[^\n]*$")
TAB = re.compile(r'^(?P<indent> *)===\+? +"(?P<label>[^"]*)"')
OPTIONS = re.compile(r"<!--\s*docs-samples:(?P<options>[^>]*?)-->")
NOT_RUN_MARK = re.compile(r"^#\s*not run:\s*(?P<why>.+)$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # 1-based line of the block's first code line in the page
    kind: str  # "sync" or "async"
    source: str  # dedented
    not_run: str | None  # the reason, for a `# not run:` block


def parse_page(text: str, page: str) -> list[Block]:
    """The python blocks of a page, in order, with their kinds."""
    lines = text.split("\n")
    blocks: list[Block] = []
    tab: tuple[int, str] | None = None  # the innermost open tab: (indent, label)
    index = 0
    while index < len(lines):
        line = lines[index]
        tab_match = TAB.match(line)
        if tab_match:
            tab = (len(tab_match["indent"]), tab_match["label"].strip().lower())
            index += 1
            continue
        if tab is not None and line.strip() and len(line) - len(line.lstrip(" ")) <= tab[0]:
            tab = None  # left the tab's body
        fence = FENCE.match(line)
        if not fence:
            index += 1
            continue
        indent, marker, lang = len(fence["indent"]), fence["fence"], fence["lang"].lower()
        end = index + 1
        while end < len(lines) and not (
            lines[end].strip().startswith(marker[0] * len(marker))
            and lines[end].strip().strip(marker[0]) == ""
        ):
            end += 1
        body = [code[indent:] if code[:indent].strip() == "" else code for code in lines[index + 1 : end]]
        if lang in ("python", "py"):
            blocks.append(_block(page, index + 2, "\n".join(body), tab))
        index = end + 1
    return blocks


def _block(page: str, line: int, source: str, tab: tuple[int, str] | None) -> Block:
    source = textwrap.dedent(source)
    first = source.lstrip("\n").split("\n", 1)[0].strip()
    mark = NOT_RUN_MARK.match(first)
    if tab is not None and tab[1] in ("sync", "async"):
        kind = tab[1]
    elif first in ("# sync", "# async"):
        kind = first[2:]
    else:
        kind = "async" if _needs_top_level_await(source) else "sync"
    return Block(page, line, kind, source, mark["why"].strip() if mark else None)


def _needs_top_level_await(source: str) -> bool:
    try:
        compile(source, "<block>", "exec", dont_inherit=True)  # ast.parse accepts any await
    except SyntaxError:
        try:
            compile(source, "<block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        except SyntaxError:
            return False  # broken either way: running it as sync shows the error
        return True
    return False


def page_options(text: str) -> dict[str, tuple[str, ...]]:
    servers = dict(DEFAULT_SERVERS)
    for found in OPTIONS.finditer(text):
        for option in found["options"].split():
            kind, _, names = option.partition("=")
            if kind not in servers:
                raise ValueError(f"unknown docs-samples option {option!r}")
            chosen = tuple(name for name in names.split(",") if name and name != "none")
            unknown = set(chosen) - {"sqlite", "postgres", "mysql"}
            if unknown or (kind == "async" and "sqlite" in chosen):
                raise ValueError(f"docs-samples option {option!r}: bad server {unknown or 'sqlite'}")
            servers[kind] = chosen
    return servers


def pages() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def page_name(path: Path) -> str:
    return path.relative_to(DOCS).as_posix()


def runs() -> Iterator[Any]:
    """One pytest param per (page, kind, server) that has blocks to run."""
    for path in pages():
        name = page_name(path)
        if name in RUN_ELSEWHERE:
            continue
        text = path.read_text()
        blocks = parse_page(text, name)
        for kind, servers in page_options(text).items():
            if not any(b.kind == kind and b.not_run is None for b in blocks):
                continue
            for server in servers:
                marks = []
                if name in TEMPORARY_EXCLUSIONS:
                    marks.append(pytest.mark.skip(reason=TEMPORARY_EXCLUSIONS[name]))
                yield pytest.param(name, kind, server, id=f"{name}-{kind}-{server}", marks=marks)


def _url(server: str) -> str:
    return {"sqlite": "sqlite:///docs.db", "postgres": POSTGRES_URL, "mysql": MYSQL_URL}[server]


def _code(block: Block) -> Any:
    # Padding keeps the page's line numbers, so a traceback shows the page's own line.
    padded = "\n" * (block.line - 1) + block.source
    return compile(
        padded, str(DOCS / block.page), "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True,
    )


def _models(namespace: dict[str, Any]) -> list[type[Any]]:
    return [
        value for value in namespace.values()
        if isinstance(value, type) and kinds_of(value)
        and not value.__module__.startswith("twinrecord")
    ]


def _backends(namespace: dict[str, Any], kind: str) -> list[Any]:
    found: dict[int, Any] = {}
    for value in namespace.values():
        if isinstance(value, type) and kind in kinds_of(value):
            try:
                backend = backend_of(value, kind)
            except ConfigurationError:
                continue
            found[id(backend)] = backend
    return list(found.values())


def _failure(block: Block, error: Exception) -> AssertionError:
    return AssertionError(
        f"docs/{block.page} line {block.line} ({block.kind} block) failed: "
        f"{type(error).__name__}: {error}"
    )


def _run_sync(blocks: list[Block], namespace: dict[str, Any]) -> None:
    """Outside any event loop, as a script runs (a block may call asyncio.run itself)."""
    try:
        for block in blocks:
            try:
                exec(_code(block), namespace)
            except Exception as error:
                raise _failure(block, error) from error
    finally:
        for model in _droppable(namespace, "sync"):
            try:
                _face(model, "sync").drop_table(if_exists=True)
            except ConnectionNotEstablished:
                _reopen(model, "sync")  # the page closed its pool: the next pass drops
            except Exception:
                pass  # a table another one still references: the next pass
        for backend in _backends(namespace, "sync"):
            backend.close()


async def _run_async(blocks: list[Block], namespace: dict[str, Any]) -> None:
    try:
        for block in blocks:
            try:
                result = eval(_code(block), namespace)
                if inspect.iscoroutine(result):
                    await result
            except Exception as error:
                raise _failure(block, error) from error
    finally:
        for model in _droppable(namespace, "async"):
            try:
                await _face(model, "async").drop_table(if_exists=True)
            except ConnectionNotEstablished:
                _reopen(model, "async")
            except Exception:
                pass
        for backend in _backends(namespace, "async"):
            await backend.close()


def _reopen(model: Any, kind: str) -> None:
    backend = backend_of(model, kind)
    _face(model, kind).configure(backend.config, type(backend))


def _face(model: Any, kind: str) -> Any:
    if kinds_of(model)[0] == kind:
        return model
    return model.aio if kind == "async" else model.sync


def _droppable(namespace: dict[str, Any], kind: str) -> list[type[Any]]:
    """The page's configured models of a kind, last defined first, three passes over
    them (a table referenced by another is dropped on a later pass)."""
    models = []
    for model in reversed(_models(namespace)):
        if kind not in kinds_of(model):
            continue
        try:
            backend_of(model, kind)
        except ConfigurationError:
            continue
        models.append(model)
    return models * 3


@pytest.mark.parametrize(("page", "kind", "server"), list(runs()))
def test_samples_run(page: str, kind: str, server: str, tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    require_server(server)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", _url(server))
    blocks = [b for b in parse_page((DOCS / page).read_text(), page)
              if b.kind == kind and b.not_run is None]
    namespace: dict[str, Any] = {"__name__": f"docs_{kind}"}
    if kind == "async":
        asyncio.run(_run_async(blocks, namespace))
    else:
        _run_sync(blocks, namespace)


def test_blocks_not_run_are_the_listed_ones() -> None:
    shown = {(page_name(p), b.not_run) for p in pages() for b in parse_page(p.read_text(), page_name(p))
             if b.not_run is not None}
    assert shown == NOT_RUN, (
        "blocks marked `# not run:` must be listed in NOT_RUN (and nothing else): "
        f"unlisted {sorted(shown - NOT_RUN)}, listed but gone {sorted(NOT_RUN - shown)}"
    )


def test_every_page_with_python_runs_something() -> None:
    """A page whose python blocks all end up run by nobody is a page that can rot."""
    root = DOCS.parent
    for page, runner in RUN_ELSEWHERE.items():
        assert (DOCS / page).exists(), f"RUN_ELSEWHERE names a page that is gone: {page}"
        assert (root / runner.split()[0]).exists(), f"{page}'s own test is gone: {runner}"
    for path in pages():
        name = page_name(path)
        text = path.read_text()
        blocks = [b for b in parse_page(text, name) if b.not_run is None]
        options = page_options(text)
        for kind in ("sync", "async"):
            if any(b.kind == kind for b in blocks):
                assert options[kind], f"docs/{name} has {kind} blocks but {kind}=none"


def test_parser_reads_tabs_comments_and_marks() -> None:
    page = textwrap.dedent('''\
        Intro.

        === "sync"

            ```python
            x = 1
            ```

        === "async"

            ```python
            y = await f()
            ```

        ```python
        # async
        z = 1
        ```

        ```python
        w = await g()
        ```

        ```python
        # not run: a skeleton
        import app
        ```

        ```sh
        echo not python
        ```

        ```python
        v = 2
        ```
        <!-- docs-samples: async=postgres -->
        ''')
    blocks = parse_page(page, "p.md")
    assert [(b.kind, b.source.strip(), b.line) for b in blocks] == [
        ("sync", "x = 1", 6),
        ("async", "y = await f()", 12),
        ("async", "# async\nz = 1", 16),
        ("async", "w = await g()", 21),
        ("sync", "# not run: a skeleton\nimport app", 25),
        ("sync", "v = 2", 34),
    ]
    assert [b.not_run for b in blocks] == [None, None, None, None, "a skeleton", None]
    assert page_options(page) == {"sync": ("sqlite",), "async": ("postgres",)}
