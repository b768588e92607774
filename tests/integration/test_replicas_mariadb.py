"""Read replicas (API.md §18) on MariaDB: a private primary (binary log, server_id 1) and
a second private `mariadbd` replicating from it by GTID (server_id 2), started by the
`mariadb_replication` fixture (servers.py).

Which server answered: `@@server_id`, and data: with the replica's applier stopped
(`STOP SLAVE SQL_THREAD`), rows written to the primary afterwards exist only there.
Fallback: the replica is stopped mid-test. The routing itself is shared with PostgreSQL
(tests/integration/test_replicas.py covers per-task pinning and sticky windows in depth).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any, ClassVar, Optional
from urllib.parse import urlencode

import pytest

from twinrecord import BelongsTo, HasMany

from .harness import DB
from .servers import MariaDBServer, mariadb_replication

__all__ = ["mariadb_replication"]  # the session fixture, used by name

SERVER_ID = "SELECT @@server_id AS id"


class Replicated:
    def __init__(self, primary: MariaDBServer, replica: MariaDBServer, kind: str) -> None:
        self.primary, self.replica, self.kind = primary, replica, kind
        self.database = f"twinrecord_rm_{secrets.token_hex(4)}"
        primary.create_database(self.database)
        self.caught_up()
        self.made: list[DB] = []

    def url(self, server: MariaDBServer, **options: Any) -> str:
        return f"{server.url(self.database)}&{urlencode(options)}" if options else server.url(
            self.database)

    def make(self, **options: Any) -> DB:
        url = self.url(self.primary, **{"sticky_seconds": 0, **options})
        db = DB("mysql", self.kind, url=url, replicas=(self.url(self.replica),))
        self.made.append(db)
        return db

    def _run(self, server: MariaDBServer, sql: str, params: tuple[Any, ...] = ()) -> Any:
        connection = server.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def caught_up(self) -> None:
        """Wait until the replica has applied everything the primary logged so far."""
        position = self._run(self.primary, "SELECT @@gtid_binlog_pos")[0][0]
        waited = self._run(self.replica, "SELECT MASTER_GTID_WAIT(%s, 30)", (position,))[0][0]
        assert waited == 0, f"the replica did not reach {position} in 30 s"

    def pause_applier(self) -> None:
        self.caught_up()
        self._run(self.replica, "STOP SLAVE SQL_THREAD")

    async def aclose(self) -> None:
        for db in self.made:
            await db.aclose()
        if not self.replica.running:
            self.replica.start()
        self._run(self.replica, "START SLAVE")
        self._run(self.primary, f"DROP DATABASE IF EXISTS `{self.database}`")


@pytest.fixture(params=["sync", "async"])
def replicated(request: pytest.FixtureRequest, mariadb_replication: Any) -> Replicated:
    primary, replica = mariadb_replication
    return Replicated(primary, replica, request.param)


def library(db: DB) -> tuple[Any, Any]:
    class Author(db.Base):
        __table_name__ = "rep_authors"
        id: Optional[int] = None
        name: str
        books: ClassVar[HasMany[Book]] = HasMany(foreign_key="author_id", inverse_of="author")

    class Book(db.Base):
        __table_name__ = "rep_books"
        id: Optional[int] = None
        author_id: int
        title: str
        author: ClassVar[BelongsTo[Author]] = BelongsTo(foreign_key="author_id", inverse_of="books")

    return Author, Book


async def server_id(db: DB) -> int:
    return int((await db(db.backend.fetch_one(SERVER_ID)))["id"])


async def test_reads_go_to_the_replica_writes_and_transactions_to_the_primary(
    replicated: Replicated,
) -> None:
    db = replicated.make()
    Author, Book = library(db)
    await db.create(Author, Book)
    ann = Author(name="ann")
    await db(ann.save())
    await db(Book(author_id=ann.id, title="a1").save())
    replicated.pause_applier()
    bob = Author(name="bob")
    await db(bob.save())
    await db(Book(author_id=ann.id, title="a2").save())

    assert await server_id(db) == 2
    assert await db(Author.query().count()) == 1
    assert [a.name for a in await db(Author.query().all())] == ["ann"]
    assert await db(Author.query().where(name="bob").exists()) is False
    assert await db(Author.find_one(bob.id)) is None
    assert len(await db(Author.find_by_sql("SELECT * FROM rep_authors"))) == 1
    assert await db(Author.query().pluck("name")) == ["ann"]
    assert [b.title for b in await db(ann.books(refresh=True))] == ["a1"]
    eager = await db(Author.query().with_("books").all())
    assert [[b.title for b in await db(a.books())] for a in eager] == [["a1"]]
    assert await db(db.backend.fetch_all("SELECT name FROM rep_authors")) == [{"name": "ann"}]

    assert await db(Author.query().using("primary").count()) == 2
    assert len(await db(Author.query().for_update().all())) == 2
    with Author.using("primary"):
        assert await server_id(db) == 1
        assert len(await db(ann.books(refresh=True))) == 2
    async with db.transaction(Author):
        assert await server_id(db) == 1
        assert await db(Author.query().count()) == 2
    assert await db(Author.query().count()) == 1

    sticky = replicated.make(sticky_seconds=60)
    StickyAuthor, _ = library(sticky)
    await sticky(StickyAuthor(name="cid").save())
    assert await sticky(StickyAuthor.query().count()) == 3   # after its write: the primary


@pytest.fixture
def replica_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="twinrecord"):
        yield caplog


async def test_an_unreachable_replica_is_skipped_and_reads_fall_back_to_the_primary(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    db = replicated.make(replica_retry_seconds=1)
    assert await server_id(db) == 2

    def warned() -> list[str]:
        return [r.getMessage() for r in replica_warnings.records
                if r.name == "twinrecord" and f"127.0.0.1:{replicated.replica.port}/"
                in r.getMessage()]

    replicated.replica.stop()
    assert await server_id(db) == 1
    assert await server_id(db) == 1
    assert len(warned()) == 1 and "unreachable" in warned()[0]

    replicated.replica.start()
    time.sleep(1.1)                                    # replica_retry_seconds has passed
    assert await server_id(db) == 2
    assert len(warned()) == 1
