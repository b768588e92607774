"""docs/safe-queries.md runs: its `# sync` blocks as one program on SQLite, its `# async`
blocks as one coroutine on PostgreSQL (the run's own database)."""

from __future__ import annotations

import asyncio
import os
import re
import textwrap
from pathlib import Path

import pytest

from .harness import POSTGRES_URL, require_server

DOC = Path(__file__).resolve().parents[2] / "docs" / "safe-queries.md"


def blocks(kind: str) -> str:
    found = re.findall(r"```python\n# " + kind + r"\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/safe-queries.md has no `# {kind}` samples"
    return "\n".join(found)


def test_sync_samples_run(tmp_path: Path) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        namespace: dict[str, object] = {"__name__": "safe_doc_sync"}
        exec(compile(blocks("sync"), str(DOC), "exec", dont_inherit=True), namespace)
    finally:
        model = namespace.get("Model")
        if model is not None:
            model.backend().close()  # type: ignore[attr-defined]
        os.chdir(cwd)


def test_async_samples_run() -> None:
    require_server("postgres")
    source = "async def main():\n" + textwrap.indent(blocks("async"), "    ") + (
        "\n    await AsyncModel.backend().close()\n"
    )
    namespace: dict[str, object] = {"__name__": "safe_doc_async"}
    previous = os.environ.get("DATABASE_URL")
    os.environ["DATABASE_URL"] = POSTGRES_URL
    try:
        exec(compile(source, str(DOC), "exec", dont_inherit=True), namespace)
        asyncio.run(namespace["main"]())  # type: ignore[operator]
    finally:
        if previous is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = previous


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
