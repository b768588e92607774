"""Read replicas (API.md §18) against a real PostgreSQL primary and its streaming standby.

The servers are private to the test session (servers.py: `initdb` with wal_level=replica,
`pg_basebackup -R`, the standby on another port). Which server answered is proven two
ways: `pg_is_in_recovery()` (true only on the standby), and data: with WAL replay paused
on the standby, rows written to the primary afterwards exist only there, so every read
API shows by its result whether a replica or the primary answered. Fallback is proven by
stopping the standby mid-test.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar, Optional
from urllib.parse import urlencode

import pytest

from twinrecord import BelongsTo, HasMany

from .harness import DB
from .servers import PostgresServer, postgres_replication

__all__ = ["postgres_replication"]  # the session fixture, used by name

KINDS = ["sync", "async"]
RECOVERY = "SELECT pg_is_in_recovery() AS standby"


class Replicated:
    """A database of its own on the primary (so on the standby too), and the means to
    hold the standby back (pause WAL replay) or take it away (stop it)."""

    def __init__(self, primary: PostgresServer, standby: PostgresServer, kind: str) -> None:
        self.primary, self.standby, self.kind = primary, standby, kind
        self.database = f"twinrecord_r_{secrets.token_hex(4)}"
        primary.create_database(self.database)
        self.caught_up()
        self.made: list[DB] = []

    def make(self, replicas: tuple[str, ...] | None = None, **options: Any) -> DB:
        """A DB on the primary with the standby as its replica; sticky_seconds=0 unless
        given, so reads right after a write go to the replica."""
        query = urlencode({"sticky_seconds": 0, **options})
        url = f"{self.primary.url(self.database)}?{query}"
        if replicas is None:
            replicas = (self.standby.url(self.database),)
        db = DB("postgres", self.kind, url=url, replicas=replicas)
        self.made.append(db)
        return db

    def caught_up(self) -> None:
        """Wait until the standby has replayed everything the primary wrote so far."""
        with self.primary.connect() as connection:
            lsn = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.standby.connect(self.database) as connection:
                    row = connection.execute(
                        "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), %s) >= 0", [lsn]
                    ).fetchone()
                    if row[0]:
                        return
            except Exception:
                if time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise AssertionError("the standby did not catch up in 30 s")
            time.sleep(0.05)

    def pause_replay(self) -> None:
        """From now on the primary's writes do not reach the standby (until resumed)."""
        self.caught_up()
        with self.standby.connect() as connection:
            connection.execute("SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        with self.standby.connect() as connection:
            connection.execute("SELECT pg_wal_replay_resume()")

    async def aclose(self) -> None:
        for db in self.made:
            await db.aclose()
        if not self.standby.running:
            self.standby.start()
        self.resume_replay()
        with self.primary.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@pytest.fixture(params=KINDS)
def replicated(request: pytest.FixtureRequest, postgres_replication: Any) -> Replicated:
    primary, standby = postgres_replication
    return Replicated(primary, standby, request.param)


def library_models(db: DB) -> tuple[Any, Any]:
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


async def on_standby(db: DB) -> bool:
    """Whether a raw read (`backend().fetch_one`) was answered by the standby."""
    row = await db(db.backend.fetch_one(RECOVERY))
    return bool(row["standby"])


async def diverged_library(db: DB, replicated: Replicated) -> tuple[Any, Any, Any]:
    """ann with book a1 on both servers; then, with replay paused, bob and ann's a2 on
    the primary only."""
    Author, Book = library_models(db)
    await db.create(Author, Book)
    ann = Author(name="ann")
    await db(ann.save())
    await db(Book(author_id=ann.id, title="a1").save())
    replicated.pause_replay()
    await db(Author(name="bob").save())
    await db(Book(author_id=ann.id, title="a2").save())
    return Author, Book, ann


def names(records: list[Any]) -> list[str]:
    return sorted(getattr(r, "name", None) or r.title for r in records)


async def test_reads_go_to_the_replica_writes_and_transactions_to_the_primary(
    replicated: Replicated,
) -> None:
    db = replicated.make()
    Author, Book, ann = await diverged_library(db, replicated)
    bob_on_primary = await db(Author.query().using("primary").where(name="bob").one())
    assert bob_on_primary is not None

    # Every read API, outside a transaction: the standby answers (no bob, no a2).
    assert await on_standby(db)
    assert await db(Author.query().count()) == 1
    assert names(await db(Author.query().all())) == ["ann"]
    assert await db(Author.query().where(name="bob").one()) is None
    assert await db(Author.query().where(name="bob").first()) is None
    assert await db(Author.query().where(name="bob").exists()) is False
    assert await db(Author.find_one(bob_on_primary.id)) is None
    assert names(await db(Author.find_all())) == ["ann"]
    assert names(await db(Author.find_by_sql("SELECT * FROM rep_authors"))) == ["ann"]
    assert await db(Author.query().pluck("name")) == ["ann"]
    assert await db(Author.query().select("name").to_dicts()) == [{"name": "ann"}]
    assert await db(Book.query().group_by("author_id").count("id", "n").aggregate()) == [
        {"author_id": ann.id, "n": 1}
    ]
    assert await db(Book.query().max("title")) == "a1"
    assert names(await db(ann.books(refresh=True))) == ["a1"]                  # relation call
    eager = await db(Author.query().with_("books").all())
    assert [names(await db(a.books())) for a in eager] == [["a1"]]             # eager loading
    assert await db(db.backend.fetch_all("SELECT name FROM rep_authors")) == [{"name": "ann"}]

    # Pinned, locking and transactional reads, and writes: the primary.
    assert await db(Author.query().using("primary").count()) == 2
    assert names(await db(Author.query().for_update().all())) == ["ann", "bob"]
    with Author.using("primary"):
        assert not await on_standby(db)
        assert await db(Author.query().count()) == 2
        assert names(await db(ann.books(refresh=True))) == ["a1", "a2"]
        assert await db(Author.find_one(bob_on_primary.id)) is not None
    async with db.transaction(Author):
        assert not await on_standby(db)
        assert await db(Author.query().count()) == 2
    assert await db(db.backend.execute("UPDATE rep_authors SET name = name")) == 2
    assert await db(Author.query().count()) == 1      # after the block: the replica again
    await db(bob_on_primary.refresh())                # refresh reads the primary
    assert bob_on_primary.name == "bob"


async def test_using_primary_is_per_task_and_thread(replicated: Replicated) -> None:
    db = replicated.make()
    Author, _, _ = await diverged_library(db, replicated)

    async def count_elsewhere() -> int:
        if db.is_async:  # another task, started with a context of its own
            task = asyncio.get_running_loop().create_task(
                db(Author.query().count()), context=contextvars.Context()
            )
            return int(await task)
        with ThreadPoolExecutor(1) as pool:   # another thread (a context of its own)
            return int(pool.submit(Author.query().count).result())

    with Author.using("primary"):
        assert await db(Author.query().count()) == 2
        assert await count_elsewhere() == 1
    assert await db(Author.query().count()) == 1


async def test_sticky_seconds_keep_reads_of_the_writer_on_the_primary(
    replicated: Replicated,
) -> None:
    db = replicated.make(sticky_seconds=60)
    Author, _, _ = await diverged_library(db, replicated)   # its last statement is a write
    assert await db(Author.query().count()) == 2            # this task or thread: the primary
    assert not await on_standby(db)

    async def elsewhere() -> int:
        if db.is_async:
            task = asyncio.get_running_loop().create_task(
                db(Author.query().count()), context=contextvars.Context()
            )
            return int(await task)
        with ThreadPoolExecutor(1) as pool:
            return int(pool.submit(Author.query().count).result())

    assert await elsewhere() == 1                           # no write there: the replica

    # The same database with a short window: the primary right after a write, then the
    # replica once the window has passed (sticky is a floor, not an upper bound).
    short = replicated.make(sticky_seconds=0.3)
    ShortAuthor, _ = library_models(short)
    await short(ShortAuthor(name="cid").save())
    assert await short(ShortAuthor.query().count()) == 3
    time.sleep(0.4)
    assert await short(ShortAuthor.query().count()) == 1
    # A transaction that wrote keeps reads on the primary from its end.
    async with short.transaction(ShortAuthor):
        await short(ShortAuthor(name="dan").save())
    assert await short(ShortAuthor.query().count()) == 4
    # Reads alone do not: after a read-only transaction the replica answers.
    time.sleep(0.4)
    async with short.transaction(ShortAuthor):
        assert await short(ShortAuthor.query().count()) == 4
    assert await short(ShortAuthor.query().count()) == 1


@pytest.fixture
def replica_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="twinrecord"):
        yield caplog


def warnings_about(caplog: pytest.LogCaptureFixture, server: PostgresServer) -> list[str]:
    return [
        r.getMessage() for r in caplog.records
        if r.name == "twinrecord" and r.levelno == logging.WARNING
        and f"127.0.0.1:{server.port}/" in r.getMessage()
    ]


async def test_an_unreachable_replica_is_skipped_and_reads_fall_back_to_the_primary(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    db = replicated.make(replica_retry_seconds=1)
    Author, _ = library_models(db)
    await db.create(Author)
    await db(Author(name="ann").save())
    replicated.caught_up()
    assert await on_standby(db)                         # the replica's pool is in use

    replicated.standby.stop()
    assert not await on_standby(db)                     # answered by the primary
    assert len(warnings_about(replica_warnings, replicated.standby)) == 1
    message = warnings_about(replica_warnings, replicated.standby)[0]
    assert "replica_retry_seconds" in message and "unreachable" in message
    assert await db(Author.query().count()) == 1        # queries too, and no new warning
    assert not await on_standby(db)
    assert len(warnings_about(replica_warnings, replicated.standby)) == 1

    replicated.standby.start()
    time.sleep(1.1)                                     # replica_retry_seconds has passed
    assert await on_standby(db)                         # tried again, and it answers
    assert len(warnings_about(replica_warnings, replicated.standby)) == 1


async def test_round_robin_and_fallback_to_the_next_replica(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    # Two replicas: the standby, and (standing in for a second standby) the primary
    # itself, so pg_is_in_recovery() tells which of the two answered.
    replicas = (replicated.standby.url(replicated.database),
                replicated.primary.url(replicated.database))
    db = replicated.make(replicas=replicas)
    answered = [await on_standby(db) for _ in range(4)]
    assert answered in ([True, False, True, False], [False, True, False, True])

    replicated.standby.stop()
    answered = [await on_standby(db) for _ in range(4)]
    assert answered == [False] * 4                      # the next replica answers
    assert len(warnings_about(replica_warnings, replicated.standby)) == 1
    replica_pools = db.backend.replica_set.replicas
    assert len(replica_pools) == 2 and replica_pools[0].config.port == replicated.standby.port

