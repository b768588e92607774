"""The docs pages with `# sync` / `# async` samples run: each page's sync blocks as one
program on SQLite, its async blocks as one coroutine on PostgreSQL (the run's own
database)."""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
from pathlib import Path

import pytest

from .harness import POSTGRES_URL, require_server

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["queries.md", "safe-queries.md"]


def blocks(doc: Path, kind: str) -> str:
    found = re.findall(r"```python\n# " + kind + r"\n(.*?)```", doc.read_text(), re.S)
    assert found, f"docs/{doc.name} has no `# {kind}` samples"
    return "\n".join(found)


@pytest.mark.parametrize("page", PAGES)
def test_sync_samples_run(page: str, tmp_path: Path) -> None:
    doc = DOCS / page
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict[str, object] = {"__name__": "doc_sync"}
        exec(compile(blocks(doc, "sync"), str(doc), "exec", dont_inherit=True), namespace)
    finally:
        model = namespace.get("Model")
        if model is not None:
            model.backend().close()  # type: ignore[attr-defined]
        os.chdir(cwd)


@pytest.mark.parametrize("page", PAGES)
def test_async_samples_run(page: str) -> None:
    require_server("postgres")
    doc = DOCS / page
    source = "async def main():\n" + textwrap.indent(blocks(doc, "async"), "    ") + (
        "\n    await AsyncModel.backend().close()\n"
    )
    namespace: dict[str, object] = {"__name__": "doc_async"}
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = POSTGRES_URL
    try:
        exec(compile(source, str(doc), "exec", dont_inherit=True), namespace)
        asyncio.run(namespace["main"]())  # type: ignore[operator]
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
