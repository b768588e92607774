"""docs/replicas.md's samples run as written: its `# sync` blocks as one program, its
`# async` blocks as one coroutine, both against a private PostgreSQL primary with its
streaming standby as the replica (DATABASE_URL / REPLICA_URL) and a PgBouncer in
transaction pooling mode (PGBOUNCER_URL)."""

from __future__ import annotations

import asyncio
import os
import secrets
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .servers import pgbouncer, postgres_replication
from .test_docs_samples import parse_page

__all__ = ["pgbouncer", "postgres_replication"]  # the session fixtures, used by name
NAMES = ("DATABASE_URL", "REPLICA_URL", "PGBOUNCER_URL")
PAGE = Path(__file__).resolve().parents[2] / "docs" / "replicas.md"


def blocks(kind: str) -> str:
    """The page's blocks of one kind (its tabs), read as the docs-sample test reads them."""
    found = [b.source for b in parse_page(PAGE.read_text(), PAGE.name) if b.kind == kind]
    assert found, f"docs/{PAGE.name} has no {kind} samples"
    return "\n".join(found)


@pytest.fixture
def urls(postgres_replication: Any, pgbouncer: Any) -> Iterator[None]:
    primary, standby = postgres_replication
    database = f"twinrecord_doc_{secrets.token_hex(4)}"
    primary.create_database(database)
    pgbouncer.server.create_database(database)
    saved = {name: os.environ.get(name) for name in NAMES}
    os.environ["DATABASE_URL"] = primary.url(database)
    os.environ["REPLICA_URL"] = standby.url(database)
    os.environ["PGBOUNCER_URL"] = pgbouncer.url(database)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        for server in (primary, pgbouncer.server):
            with server.connect() as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_sync_samples_run(urls: None) -> None:
    namespace: dict[str, Any] = {"__name__": "doc_replicas_sync"}
    try:
        exec(compile(blocks("sync"), str(PAGE), "exec", dont_inherit=True), namespace)
    finally:
        if "Model" in namespace:
            namespace["Model"].backend().close()


def test_async_samples_run(urls: None) -> None:
    source = "async def main():\n" + textwrap.indent(blocks("async"), "    ") + (
        "\n    await AsyncModel.backend().close()\n"
    )
    namespace: dict[str, Any] = {"__name__": "doc_replicas_async"}
    exec(compile(source, str(PAGE), "exec", dont_inherit=True), namespace)
    asyncio.run(namespace["main"]())
