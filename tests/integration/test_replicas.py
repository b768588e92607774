"""Read replicas (API.md §18) against two real replica setups; every scenario runs on
both, in both kinds.

- PostgreSQL: a private primary and its streaming standby (servers.py: `initdb` with
  wal_level=replica, `pg_basebackup -R`, the standby on another port). Which server
  answered: `pg_is_in_recovery()` (true only on the standby). Holding it back: WAL
  replay paused (`pg_wal_replay_pause()`).
- MariaDB: a private primary (binary log, server_id 1) and a second `mariadbd`
  replicating from it by GTID (server_id 2). Which server answered: `@@server_id`.
  Holding it back: the applier stopped (`STOP SLAVE SQL_THREAD`).

With the replica held back, rows written to the primary afterwards exist only there, so
every read API (streams included) shows by its result whether a replica or the primary
answered. Fallback is proven by stopping the replica mid-test; a stream's server by the
pools' counts while it is open.
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

from twinrecord import BelongsTo, ConnectionNotEstablished, HasMany, TransactionError

from .harness import DB
from .servers import MariaDBServer, mariadb_replication, postgres_replication

__all__ = ["mariadb_replication", "postgres_replication"]  # the session fixtures, by name


class Replicated:
    """A database of its own on the primary (so on the replica too), and the means to
    hold the replica back or take it away. Subclassed per database."""

    backend_name: ClassVar[str]
    prefix: ClassVar[str]

    def __init__(self, primary: Any, replica: Any, kind: str) -> None:
        self.primary, self.replica, self.kind = primary, replica, kind
        self.database = f"{self.prefix}_{secrets.token_hex(4)}"
        primary.create_database(self.database)
        self.caught_up()
        self.made: list[DB] = []

    def url(self, server: Any, **options: Any) -> str:
        base = server.url(self.database)
        if not options:
            return str(base)
        return f"{base}{'&' if '?' in base else '?'}{urlencode(options)}"

    def make(self, replicas: tuple[str, ...] | None = None, **options: Any) -> DB:
        """A DB on the primary with the replica as its replica; sticky_seconds=0 unless
        given, so reads right after a write go to the replica."""
        url = self.url(self.primary, **{"sticky_seconds": 0, **options})
        if replicas is None:
            replicas = (self.url(self.replica),)
        db = DB(self.backend_name, self.kind, url=url, replicas=replicas)
        self.made.append(db)
        return db

    async def on_replica(self, db: DB) -> bool:
        """Whether a raw read (`backend().fetch_one`) was answered by the replica."""
        raise NotImplementedError

    def caught_up(self) -> None:
        """Wait until the replica has applied everything the primary wrote so far."""
        raise NotImplementedError

    def pause(self) -> None:
        """From now on the primary's writes do not reach the replica (until resumed)."""
        raise NotImplementedError

    def resume(self) -> None:
        raise NotImplementedError

    def drop(self) -> None:
        raise NotImplementedError

    async def aclose(self) -> None:
        for db in self.made:
            await db.aclose()
        if not self.replica.running:
            self.replica.start()
        self.resume()
        self.drop()


class PostgresReplicated(Replicated):
    backend_name = "postgres"
    prefix = "twinrecord_r"

    async def on_replica(self, db: DB) -> bool:
        row = await db(db.backend.fetch_one("SELECT pg_is_in_recovery() AS standby"))
        return bool(row["standby"])

    def caught_up(self) -> None:
        with self.primary.connect() as connection:
            lsn = connection.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.monotonic() + 30
        while True:
            try:
                with self.replica.connect(self.database) as connection:
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

    def pause(self) -> None:
        self.caught_up()
        with self.replica.connect() as connection:
            connection.execute("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        with self.replica.connect() as connection:
            connection.execute("SELECT pg_wal_replay_resume()")

    def drop(self) -> None:
        with self.primary.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


class MariaDBReplicated(Replicated):
    backend_name = "mysql"
    prefix = "twinrecord_rm"

    async def on_replica(self, db: DB) -> bool:
        row = await db(db.backend.fetch_one("SELECT @@server_id AS id"))
        return int(row["id"]) == 2

    def _run(self, server: MariaDBServer, sql: str, params: tuple[Any, ...] = ()) -> Any:
        connection = server.connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else None
        finally:
            connection.close()

    def caught_up(self) -> None:
        position = self._run(self.primary, "SELECT @@gtid_binlog_pos")[0][0]
        waited = self._run(self.replica, "SELECT MASTER_GTID_WAIT(%s, 30)", (position,))[0][0]
        assert waited == 0, f"the replica did not reach {position} in 30 s"

    def pause(self) -> None:
        self.caught_up()
        self._run(self.replica, "STOP SLAVE SQL_THREAD")

    def resume(self) -> None:
        self._run(self.replica, "START SLAVE")

    def drop(self) -> None:
        self._run(self.primary, f"DROP DATABASE IF EXISTS `{self.database}`")


SETUPS = {"postgres": (PostgresReplicated, "postgres_replication"),
          "mariadb": (MariaDBReplicated, "mariadb_replication")}


@pytest.fixture(params=[(setup, kind) for setup in SETUPS for kind in ("sync", "async")],
                ids=lambda p: "-".join(p))
def replicated(request: pytest.FixtureRequest) -> Replicated:
    setup, kind = request.param
    make, servers = SETUPS[setup]
    primary, replica = request.getfixturevalue(servers)  # only this setup's servers start
    return make(primary, replica, kind)


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


async def diverged_library(db: DB, replicated: Replicated) -> tuple[Any, Any, Any]:
    """ann with book a1 on both servers; then, with the replica held back, bob and ann's
    a2 on the primary only."""
    Author, Book = library_models(db)
    await db.create(Author, Book)
    ann = Author(name="ann")
    await db(ann.save())
    await db(Book(author_id=ann.id, title="a1").save())
    replicated.pause()
    await db(Author(name="bob").save())
    await db(Book(author_id=ann.id, title="a2").save())
    return Author, Book, ann


def names(records: list[Any]) -> list[str]:
    return sorted(getattr(r, "name", None) or r.title for r in records)


# ---- driving a stream of either kind ------------------------------------------------------
async def take(db: DB, stream: Any, count: int | None = None) -> list[Any]:
    """The next `count` records of a stream (all of them with None)."""
    taken: list[Any] = []
    while count is None or len(taken) < count:
        try:
            record = await stream.__anext__() if db.is_async else next(stream)
        except (StopIteration, StopAsyncIteration):
            break
        taken.append(record)
    return taken


async def enter(db: DB, stream: Any) -> Any:
    return await stream.__aenter__() if db.is_async else stream.__enter__()


async def leave(db: DB, stream: Any) -> None:
    if db.is_async:
        await stream.__aexit__(None, None, None)
    else:
        stream.__exit__(None, None, None)


def in_use(db: DB) -> tuple[int, int]:
    """Connections checked out of (the primary's pool, the first replica's pool)."""
    backend = db.backend
    replica = backend.replica_set.replicas[0]
    return int(backend.pool_stats()["in_use"]), int(replica.pool_stats()["in_use"])


# ---- routing -------------------------------------------------------------------------------
async def test_reads_go_to_the_replica_writes_and_transactions_to_the_primary(
    replicated: Replicated,
) -> None:
    db = replicated.make()
    Author, Book, ann = await diverged_library(db, replicated)
    bob_on_primary = await db(Author.query().using("primary").where(name="bob").one())
    assert bob_on_primary is not None

    # Every read API, outside a transaction: the replica answers (no bob, no a2).
    assert await replicated.on_replica(db)
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
    # Streams: their own connection is the replica's while they read.
    assert names(await take(db, Author.query().iterate())) == ["ann"]
    stream = await enter(db, Author.query().with_("books").iterate(batch_size=1))
    streamed = await take(db, stream, 1)
    assert in_use(db) == (0, 1)
    assert [names(await db(a.books())) for a in streamed] == [["a1"]]         # eager, per batch
    await leave(db, stream)
    assert in_use(db) == (0, 0)

    # Pinned, locking and transactional reads, and writes: the primary.
    assert await db(Author.query().using("primary").count()) == 2
    assert names(await db(Author.query().for_update().all())) == ["ann", "bob"]
    stream = await enter(db, Author.query().using("primary").order_by("id").iterate(batch_size=1))
    assert names(await take(db, stream, 1)) == ["ann"]
    assert in_use(db) == (1, 0)
    assert names(await take(db, stream)) == ["bob"]
    await leave(db, stream)
    with pytest.raises(TransactionError, match=r"for_update\(\)"):
        await take(db, Author.query().for_update().iterate())
    with Author.using("primary"):
        assert not await replicated.on_replica(db)
        assert await db(Author.query().count()) == 2
        assert names(await db(ann.books(refresh=True))) == ["a1", "a2"]
        assert await db(Author.find_one(bob_on_primary.id)) is not None
        assert names(await take(db, Author.query().iterate())) == ["ann", "bob"]
    async with db.transaction(Author):
        assert not await replicated.on_replica(db)
        assert await db(Author.query().count()) == 2
        assert names(await take(db, Author.query().iterate())) == ["ann", "bob"]
        assert names(await take(db, Author.query().for_update().iterate())) == ["ann", "bob"]
    assert await db(db.backend.execute("UPDATE rep_authors SET name = name")) == 2
    assert await db(Author.query().count()) == 1      # after the block: the replica again
    await db(bob_on_primary.refresh())                # refresh reads the primary
    assert bob_on_primary.name == "bob"
    assert in_use(db) == (0, 0)


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
    assert not await replicated.on_replica(db)
    assert names(await take(db, Author.query().iterate())) == ["ann", "bob"]   # streams too

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


# ---- replicas down or busy -----------------------------------------------------------------
@pytest.fixture
def replica_warnings(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING, logger="twinrecord"):
        yield caplog


def warnings_about(caplog: pytest.LogCaptureFixture, server: Any) -> list[str]:
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
    assert await replicated.on_replica(db)              # the replica's pool is in use

    replicated.replica.stop()
    assert not await replicated.on_replica(db)          # answered by the primary
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1
    message = warnings_about(replica_warnings, replicated.replica)[0]
    assert "replica_retry_seconds" in message and "unreachable" in message
    assert await db(Author.query().count()) == 1        # queries too, and no new warning
    assert names(await take(db, Author.query().iterate())) == ["ann"]   # and streams
    assert not await replicated.on_replica(db)
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1

    replicated.replica.start()
    time.sleep(1.1)                                     # replica_retry_seconds has passed
    assert await replicated.on_replica(db)              # tried again, and it answers
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1


async def test_a_stream_opens_on_the_next_replica_when_one_is_unreachable(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    db = replicated.make(replica_retry_seconds=60)
    Author, _ = library_models(db)
    await db.create(Author)
    await db(Author.insert_many([Author(name="ann"), Author(name="amy")]))
    replicated.caught_up()
    replicated.replica.stop()                           # before anything was read from it
    stream = await enter(db, Author.query().order_by("id").iterate(batch_size=1))
    assert names(await take(db, stream, 1)) == ["ann"]
    assert in_use(db) == (1, 0)                         # the stream fell back to the primary
    assert names(await take(db, stream)) == ["amy"]
    await leave(db, stream)
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1


async def test_round_robin_and_fallback_to_the_next_replica(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    # Two replicas: the real one, and (standing in for a second one) the primary itself,
    # so the server's answer tells which of the two answered.
    replicas = (replicated.url(replicated.replica), replicated.url(replicated.primary))
    db = replicated.make(replicas=replicas)
    answered = [await replicated.on_replica(db) for _ in range(4)]
    assert answered in ([True, False, True, False], [False, True, False, True])

    replicated.replica.stop()
    answered = [await replicated.on_replica(db) for _ in range(4)]
    assert answered == [False] * 4                      # the next replica answers
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1
    replica_pools = db.backend.replica_set.replicas
    assert len(replica_pools) == 2 and replica_pools[0].config.port == replicated.replica.port


async def test_a_stream_whose_replica_goes_away_fails_and_later_reads_skip_it(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    db = replicated.make(replica_retry_seconds=60)

    class Page(db.Base):
        __table_name__ = "rep_pages"
        id: Optional[int] = None
        body: str

    await db.create(Page)
    # ~12 MB: more than the socket buffers hold, so an unbuffered MariaDB result cannot
    # have reached the client before the server goes away.
    rows = 3000
    for start in range(0, rows, 500):
        await db(Page.insert_many([Page(body=f"{i:06d}" + "x" * 4000)
                                   for i in range(start, start + 500)]))
    replicated.caught_up()
    stream = await enter(db, Page.query().order_by("id").iterate(batch_size=50))
    first = await take(db, stream, 1)
    assert first[0].body.startswith("000000")
    assert in_use(db) == (0, 1)                         # reading on the replica

    replicated.replica.stop()
    # No silent switch to the primary mid-stream: the rows handed out came from the
    # replica, the rest would come from elsewhere. The stream fails.
    with pytest.raises(ConnectionNotEstablished):
        await take(db, stream)
    await leave(db, stream)
    assert in_use(db) == (0, 0)
    warned = warnings_about(replica_warnings, replicated.replica)
    assert len(warned) == 1 and "unreachable" in warned[0]

    # Marked down: a new stream opens on the primary at once, without a new warning.
    assert len(await take(db, Page.query().iterate(batch_size=500))) == rows
    assert not await replicated.on_replica(db)
    assert len(warnings_about(replica_warnings, replicated.replica)) == 1


async def test_a_replica_with_no_free_connection_is_busy_not_down(
    replicated: Replicated, replica_warnings: pytest.LogCaptureFixture
) -> None:
    # An exhausted pool is load, not failure: the read fails with the pool's error after
    # pool_timeout, as it would without replicas; it does not move to the primary (which
    # would pile the replicas' load on it) and the replica is not marked down.
    busy = replicated.url(replicated.replica, pool_size=1, pool_min_size=1, pool_timeout=0.3)
    db = replicated.make(replicas=(busy,))
    Author, _ = library_models(db)
    await db.create(Author)
    await db(Author.insert_many([Author(name="ann"), Author(name="amy")]))
    replicated.caught_up()
    assert await replicated.on_replica(db)

    # The stream holds the replica's one connection.
    stream = await enter(db, Author.query().order_by("id").iterate(batch_size=1))
    assert names(await take(db, stream, 1)) == ["ann"]
    assert in_use(db) == (0, 1)
    with pytest.raises(ConnectionNotEstablished, match="no connection free"):
        await db(Author.query().count())
    with pytest.raises(ConnectionNotEstablished, match="no connection free"):
        await take(db, Author.query().iterate())        # a second stream alike
    with pytest.raises(ConnectionNotEstablished, match="no connection free"):
        await replicated.on_replica(db)
    assert in_use(db) == (0, 1)                         # nothing went to the primary
    await leave(db, stream)

    assert warnings_about(replica_warnings, replicated.replica) == []
    assert await replicated.on_replica(db)              # still in the rotation
    assert await db(Author.query().count()) == 2
