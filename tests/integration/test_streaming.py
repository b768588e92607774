"""Streaming (API.md §14), in every backend x kind combination.

What is proved, and how: rows and order equal all()'s; batches never exceed batch_size
(the `twinrecord.sql` log shows one fetch per batch, and the stream holds one batch);
every way out (exhaustion, break, exception, cancellation, garbage collection) gives
the connection back (the pool's counts) and leaves nothing open on the server
(pg_stat_activity / the processlist); MySQL/MariaDB refuse a statement on a
transaction whose stream is still reading.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Optional

import pytest

from twinrecord import BelongsTo, HasMany, TransactionError

from .harness import RUN_DATABASE

ROWS = 53


def item_model(base: Any) -> Any:
    class StreamItem(base):
        __table_name__ = "stream_items"
        id: Optional[int] = None
        n: int
        label: str

    return StreamItem


async def filled(db: Any, count: int = ROWS) -> Any:
    Item = item_model(db.Base)
    await db.create(Item)
    await db(Item.insert_many([Item(n=(i * 7) % count, label=f"item {i}") for i in range(count)]))
    return Item


class Log(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def sql_log() -> Iterator[list[str]]:
    logger = logging.getLogger("twinrecord.sql")
    handler = Log()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


# ---- driving a stream of either kind ------------------------------------------------------
async def take(db: Any, stream: Any, count: int | None = None) -> list[Any]:
    """The next `count` records of a stream (all of them with None)."""
    taken: list[Any] = []
    while count is None or len(taken) < count:
        try:
            record = await stream.__anext__() if db.is_async else next(stream)
        except (StopIteration, StopAsyncIteration):
            break
        taken.append(record)
    return taken


async def enter(db: Any, stream: Any) -> Any:
    return await stream.__aenter__() if db.is_async else stream.__enter__()


async def leave(db: Any, stream: Any, error: BaseException | None = None) -> None:
    args = (None, None, None) if error is None else (type(error), error, None)
    if db.is_async:
        await stream.__aexit__(*args)
    else:
        stream.__exit__(*args)


def in_use(db: Any) -> int:
    backend = db.backend
    if db.backend_name == "sqlite":
        pool = backend._pool
        return int(pool.size - pool.idle)
    return int(backend.pool_stats()["in_use"])


async def server_sessions(db: Any) -> list[tuple[Any, ...]]:
    """The run database's sessions on the server that are not idle outside a
    transaction (PostgreSQL: active or idle in transaction; MySQL: not sleeping, or
    holding a transaction), except the one asking."""
    if db.backend_name == "postgres":
        rows = await db(db.backend.fetch_all(
            "SELECT pid, state FROM pg_stat_activity WHERE datname = ? "
            "AND pid <> pg_backend_pid() AND state <> 'idle'", [RUN_DATABASE]))
    elif db.backend_name == "mysql":
        rows = await db(db.backend.fetch_all(
            "SELECT p.ID AS id, p.COMMAND AS command FROM information_schema.PROCESSLIST p "
            "LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID "
            "WHERE p.DB = ? AND p.ID <> CONNECTION_ID() "
            "AND (p.COMMAND <> 'Sleep' OR t.trx_id IS NOT NULL)", [RUN_DATABASE]))
    else:
        return []
    return [tuple(row.values()) for row in rows]


async def settled(db: Any) -> list[tuple[Any, ...]]:
    """server_sessions(), once a killed or closed session has had time to go."""
    for _ in range(50):
        found = await server_sessions(db)
        if not found:
            return found
        await asyncio.sleep(0.1)
    return found


# ---- rows, order, batches ------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 7, 53, 1000])
async def test_rows_and_order_equal_all(db, batch_size):
    Item = await filled(db)
    query = Item.query().where(Item.c.n >= 3).order_by("-n")
    expected = [(r.id, r.n, r.label) for r in await db(query.all())]
    streamed = await take(db, query.iterate(batch_size=batch_size))
    assert [(r.id, r.n, r.label) for r in streamed] == expected
    assert len(expected) == ROWS - 3
    assert type(streamed[0]) is Item and not streamed[0].is_new_record
    assert in_use(db) == 0


async def test_empty_result_and_batch_size_refused(db):
    Item = await filled(db, 0)
    assert await take(db, Item.query().iterate(batch_size=5)) == []
    assert in_use(db) == 0
    for bad in (0, -1, 2.5, "10", True):
        with pytest.raises(Exception, match="batch_size"):
            Item.query().iterate(batch_size=bad)


async def test_one_fetch_per_batch_and_one_batch_held(db):
    """Memory, structurally: the rows come batch_size at a time (one fetch each, the
    stream holding one batch), never the whole result."""
    Item = await filled(db)
    stream = Item.query().order_by("id").iterate(batch_size=10)
    with sql_log() as lines:
        seen = 0
        held = set()
        while True:
            got = await take(db, stream, 1)
            if not got:
                break
            seen += 1
            held.add(len(stream._batch))
    assert seen == ROWS
    assert max(held) <= 10 and held <= {10, ROWS % 10, 0}
    fetches = [line for line in lines if "next 10 rows" in line or "FETCH FORWARD 10" in line]
    # 5 full batches, then the partial one (PostgreSQL: a FETCH that comes back short).
    assert len(fetches) == ROWS // 10 + 1
    if db.backend_name == "postgres":
        assert any(line.startswith('DECLARE "twinrecord_stream_') for line in lines)
        assert any(line.startswith("BEGIN READ ONLY") for line in lines)
        assert any(line.startswith("COMMIT") for line in lines)


async def test_compound_cte_and_selected_extras_stream_like_all(db):
    Item = await filled(db)
    low = Item.query().where(Item.c.n < 5)
    high = Item.query().where(Item.c.n > 48)
    union = low.union(high).order_by(Item.c.n)
    assert [r.n for r in await take(db, union.iterate(batch_size=3))] == [
        r.n for r in await db(union.all())
    ]
    extra = Item.query().select(*Item.c, (Item.c.n * 2).alias("double")).order_by("id")
    streamed = await take(db, extra.iterate(batch_size=4))
    assert [r.extras["double"] for r in streamed] == [r.n * 2 for r in await db(extra.all())]
    named = Item.query().select("id", "n", "label", "n + 1 AS next_n").order_by("id")
    assert [r.extras["next_n"] for r in await take(db, named.iterate(batch_size=6))] == [
        r.n + 1 for r in await db(named.all())
    ]
    assert in_use(db) == 0


async def test_eager_loading_is_one_query_per_level_per_batch(db):
    class Shelf(db.Base):
        __table_name__ = "stream_shelves"
        id: Optional[int] = None
        name: str
        books: ClassVar[HasMany[Book]] = HasMany(foreign_key="shelf_id")

    class Book(db.Base):
        __table_name__ = "stream_books"
        id: Optional[int] = None
        shelf_id: int
        title: str
        shelf: ClassVar[BelongsTo[Shelf]] = BelongsTo(foreign_key="shelf_id")

    await db.create(Shelf, Book)
    for i in range(9):
        shelf = Shelf(name=f"s{i}")
        await db(shelf.save())
        await db(Book.insert_many([Book(shelf_id=shelf.id, title=f"b{i}.{j}") for j in range(i % 3)]))
    query = Shelf.query().order_by("id").with_("books")
    with sql_log() as lines:
        shelves = await take(db, query.iterate(batch_size=4))
    assert [len(await db(s.books())) for s in shelves] == [i % 3 for i in range(9)]
    book_queries = [line for line in lines if "stream_books" in line]
    assert len(book_queries) == 3  # batches of 4, 4 and 1


# ---- closing ----------------------------------------------------------------------------
async def test_break_and_exception_inside_with_close_at_once(db):
    Item = await filled(db)
    stream = await enter(db, Item.query().order_by("id").iterate(batch_size=5))
    assert [r.n for r in await take(db, stream, 3)] == [0, 7, 14]
    assert in_use(db) == 1
    await leave(db, stream)  # break
    assert in_use(db) == 0
    assert await settled(db) == []
    assert await take(db, stream) == []  # single pass: closed stays closed

    stream = await enter(db, Item.query().iterate(batch_size=5))
    await take(db, stream, 7)
    await leave(db, stream, ValueError("in the loop body"))
    assert in_use(db) == 0
    assert await settled(db) == []
    assert await db(Item.query().count()) == ROWS  # the pool works on


async def test_sync_loop_left_early_closes_when_collected(db):
    if db.is_async:
        pytest.skip("the sync kind: CPython collects the stream when the loop drops it")
    Item = await filled(db)
    for record in Item.query().iterate(batch_size=5):
        if record.n > 20:
            break
    del record
    assert in_use(db) == 0
    assert await settled(db) == []


async def test_abandoned_async_stream_is_discarded_with_a_resource_warning(db):
    if not db.is_async:
        pytest.skip("the async kind: Python does not close an async iterator left early")
    Item = await filled(db)
    before = db.backend.pool_stats()["size"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async for record in Item.query().where(Item.c.n > 1).iterate(batch_size=5):
            if record.n > 20:
                break
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any("stream_items" in m and "garbage-collected unclosed" in m for m in messages)
    stats = db.backend.pool_stats()
    assert stats["in_use"] == 0 and stats["size"] <= before  # discarded, not returned
    assert await settled(db) == []
    assert await db(Item.query().count()) == ROWS


async def test_cancelled_mid_stream_discards_and_leaves_nothing_open(async_db):
    db = async_db
    Item = await filled(db)
    started = asyncio.Event()

    async def reader() -> None:
        async with Item.query().iterate(batch_size=2) as rows:
            async for _ in rows:
                started.set()
                await asyncio.sleep(0.01)

    task = asyncio.create_task(reader())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert db.backend.pool_stats()["in_use"] == 0
    assert await settled(db) == []


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
async def test_cancellation_storm(backend):
    """100 tasks streaming on a pool of 10, half cancelled at random points (mid-fetch,
    in the loop body, or still waiting for a connection): nothing left checked out,
    nothing idle in transaction on the server, the pool usable to its full size."""
    from .harness import DB, require_server

    require_server(backend)
    db = DB(backend, "async")
    db.Base.configure(db.url + "?pool_size=10&pool_timeout=120")
    try:
        Item = await filled(db, 200)
        rng = random.Random(14)

        async def reader() -> int:
            count = 0
            async with Item.query().order_by("id").iterate(batch_size=rng.choice([1, 7, 50])) as rows:
                async for _ in rows:
                    count += 1
                    if count % 10 == 0:
                        await asyncio.sleep(0.001)
            return count

        tasks = [asyncio.create_task(reader()) for _ in range(100)]
        for task in rng.sample(tasks, 50):
            await asyncio.sleep(rng.random() * 0.01)
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        finished = [r for r in results if isinstance(r, int)]
        assert all(r == 200 for r in finished)
        assert len(results) - len(finished) >= 25  # most cancellations hit a live stream
        assert all(isinstance(r, (int, asyncio.CancelledError)) for r in results)
        assert db.backend.pool_stats()["in_use"] == 0
        assert await settled(db) == []
        async def held() -> int:  # ten at once: every connection of the pool works
            async with Item.transaction():
                await asyncio.sleep(0.05)
                return int(await Item.query().count())

        assert await asyncio.gather(*(held() for _ in range(10))) == [200] * 10
        assert db.backend.pool_stats()["in_use"] == 0
    finally:
        await db.aclose()


# ---- inside a transaction ------------------------------------------------------------------
async def test_stream_inside_a_transaction_sees_its_writes(db):
    Item = await filled(db, 10)
    async with db.transaction(Item):
        await db(Item(n=100, label="written in the transaction").save())
        stream = await enter(db, Item.query().order_by("id").iterate(batch_size=4))
        assert in_use(db) == 1  # the transaction's connection, nothing more
        first = await take(db, stream, 2)
        if db.backend_name == "mysql":
            with pytest.raises(TransactionError, match="read the stream to the end"):
                await db(Item.query().count())
        else:  # statements run between fetches
            assert await db(Item.query().count()) == 11
        rest = await take(db, stream)
        assert [r.n for r in first + rest][-1] == 100
        assert len(first + rest) == 11
        await leave(db, stream)
        assert await db(Item.query().count()) == 11  # free again once read to the end
    assert in_use(db) == 0


async def test_leaving_a_stream_early_in_a_transaction_frees_its_connection(db):
    Item = await filled(db)
    async with db.transaction(Item):
        stream = await enter(db, Item.query().order_by("id").iterate(batch_size=5))
        await take(db, stream, 6)
        if db.backend_name == "postgres":
            cursors = await db(db.backend.fetch_all("SELECT name FROM pg_cursors"))
            assert [c["name"] for c in cursors if c["name"].startswith("twinrecord_stream")]
        await leave(db, stream)
        if db.backend_name == "postgres":
            cursors = await db(db.backend.fetch_all("SELECT name FROM pg_cursors"))
            assert not [c["name"] for c in cursors if c["name"].startswith("twinrecord_stream")]
        await db(Item(n=-1, label="after the stream").save())  # MySQL: drained, usable
    assert await db(Item.query().count()) == ROWS + 1
    assert in_use(db) == 0


async def test_end_of_the_transaction_closes_its_stream(db):
    Item = await filled(db)
    async with db.transaction(Item):
        stream = Item.query().order_by("id").iterate(batch_size=5)
        await take(db, stream, 3)
    # The transaction committed (on MySQL after reading and dropping the rest).
    with pytest.raises(TransactionError, match="has ended"):
        await take(db, stream)
    await leave(db, stream)
    assert in_use(db) == 0
    assert await settled(db) == []


async def test_mysql_refuses_eager_loading_and_a_second_stream_in_a_transaction(db):
    if db.backend_name != "mysql":
        pytest.skip("MySQL/MariaDB only: an unread result blocks the connection")

    class Owner(db.Base):
        __table_name__ = "stream_owners"
        id: Optional[int] = None
        things: ClassVar[HasMany[Thing]] = HasMany(foreign_key="owner_id")

    class Thing(db.Base):
        __table_name__ = "stream_things"
        id: Optional[int] = None
        owner_id: int

    await db.create(Owner, Thing)
    await db(Owner().save())
    await db(Owner().save())
    async with db.transaction(Owner):
        with pytest.raises(TransactionError, match="with_"):
            await take(db, Owner.query().with_("things").iterate())
        stream = await enter(db, Owner.query().iterate(batch_size=1))
        assert len(await take(db, stream, 1)) == 1  # one row read, one left unread
        with pytest.raises(TransactionError, match="read the stream to the end"):
            await take(db, Owner.query().iterate())
        with pytest.raises(TransactionError, match="read the stream to the end"):
            async with db.transaction(Owner):
                pass
        await leave(db, stream)
        assert await db(Owner.query().count()) == 2
    assert in_use(db) == 0


async def test_async_for_over_an_async_query_streams_it(async_db):
    db = async_db
    Item = await filled(db)
    query = Item.query().where(Item.c.n < 40).order_by("n")
    with sql_log() as lines:
        streamed = [record.n async for record in query]
    assert streamed == [r.n for r in await query.all()]
    assert any("next 1000 rows" in line or "FETCH FORWARD 1000" in line for line in lines)
    assert db.backend.pool_stats()["in_use"] == 0


# ---- for_update() and MariaDB's recursive CTEs ---------------------------------------------
async def test_for_update_streams_inside_a_transaction_only(db):
    Item = await filled(db, 10)
    locking = Item.query().where(Item.c.n < 5).order_by("n").for_update()
    if db.backend_name == "sqlite":  # no row locks to lose: streams anywhere
        assert [r.n for r in await take(db, locking.iterate())] == [0, 1, 2, 3, 4]
    else:
        refused = pytest.raises(TransactionError, match=r"for_update\(\).*transaction\(\)")
        with sql_log() as lines, refused:
            await take(db, locking.iterate())
        assert lines == []  # refused before anything was sent
        assert in_use(db) == 0
    async with db.transaction(Item):
        stream = await enter(db, locking.iterate(batch_size=2))
        assert [r.n for r in await take(db, stream)] == [0, 1, 2, 3, 4]
        await leave(db, stream)
        if db.backend_name == "postgres":  # the rows are still locked by this transaction
            locks = await db(db.backend.fetch_one(
                "SELECT count(*) AS n FROM pg_locks WHERE pid = pg_backend_pid() "
                "AND locktype = 'transactionid'"))
            assert locks["n"] >= 1
    assert in_use(db) == 0


async def test_mariadb_recursive_cte_truncation_fails_the_stream(db):
    from twinrecord import StatementInvalid, cte

    Item = await filled(db, 3)

    def counted(limit: int) -> Any:
        counter = cte(
            "counter", Item.query().where(Item.c.n == 0).select(Item.c.n.alias("k")),
            recursive=lambda c: Item.query().from_(c).select("k + 1").where("k < ?", (limit,)),
        )
        return Item.query().from_(counter).select("k AS id", "k AS n", "'x' AS label")

    assert [r.n for r in await take(db, counted(10).iterate(batch_size=4))] == list(range(11))
    long = counted(5000)
    if db.backend_name != "mysql":  # PostgreSQL and SQLite have no such limit
        assert len(await take(db, long.iterate(batch_size=400))) == 5001
        return
    # MariaDB stops at max_recursive_iterations (1000) with a warning only: all() refuses
    # the rows, and a stream (which has handed earlier batches out) raises at its end.
    with pytest.raises(StatementInvalid, match=r"stopped early.*the stream raises"):
        await take(db, long.iterate(batch_size=400))
    assert in_use(db) == 0
    async with db.transaction(Item):
        with pytest.raises(StatementInvalid, match="stopped early"):
            await take(db, long.iterate(batch_size=400))
        assert await db(Item.query().count()) == 3  # the transaction's connection is free
    assert in_use(db) == 0
