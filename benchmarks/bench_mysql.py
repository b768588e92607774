"""twinrecord against the raw mysql-connector-python driver on MariaDB / MySQL.

    python benchmarks/bench_mysql.py [--quick]

Sync: twinrecord's MySQLBackend vs raw mysql-connector (C extension, one connection,
one reused cursor). Async: AsyncMySQLBackend vs raw `mysql.connector.aio` (one
connection; a queue of 10 for the concurrent gets). Both sides run with
`innodb_flush_log_at_trx_commit=2` (restored afterwards) on tables of the same shape.
Prints ops/s per operation, the ratio (twinrecord / raw; 1.0 = as fast) and the
geometric mean. The server comes from TWINRECORD_MYSQL_URL.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(__file__))
import mysql.connector
from _common import parse_args, report
from mysql.connector import aio

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
from twinrecord.backends.mysql import MySQLConfig

URL = os.environ.get("TWINRECORD_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
ROWS = 5000
BULK = 2000
COLUMNS = "id, name, email, category, score, active"
TABLE_DDL = (
    "CREATE TABLE {table} (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
    "name VARCHAR(100) NOT NULL, email VARCHAR(100) NOT NULL, category BIGINT NOT NULL, "
    "score DOUBLE NOT NULL, active BOOLEAN NOT NULL, INDEX (category))"
)
RAW, ORM = "bench_raw", "bench_orm"
INSERT = f"INSERT INTO {RAW} (name, email, category, score, active) VALUES (%s, %s, %s, %s, %s)"
GET = f"SELECT {COLUMNS} FROM {RAW} WHERE id = %s"
BY_INDEX = f"SELECT {COLUMNS} FROM {RAW} WHERE category = %s"
UPDATE = f"UPDATE {RAW} SET score = %s WHERE id = %s"
DELETE = f"DELETE FROM {RAW} WHERE id = %s"
ALL = f"SELECT {COLUMNS} FROM {RAW}"
Rows = list[tuple[str, float, float]]
Work = Callable[[], Awaitable[None]]
RUNS = itertools.count(1)


class BenchUser(BaseActiveRecord):
    __table_name__ = ORM
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool


class AsyncBenchUser(AsyncBaseActiveRecord):
    __table_name__ = ORM
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool


def row(i: int) -> tuple[str, str, int, float, bool]:
    return (f"user{i}", f"user{i}@example.com", i % 250, i * 0.5, i % 2 == 0)


def fields(i: int) -> dict[str, Any]:
    name, email, category, score, active = row(i)
    return {"name": name, "email": email, "category": category, "score": score, "active": active}


def aio_kwargs() -> dict[str, Any]:
    """The raw async driver's options: TLS exactly when twinrecord would use it (the
    driver itself fails against a server without TLS unless told ssl_disabled)."""
    probe = mysql.connector.connect(use_pure=False, **connect_kwargs())
    cursor = probe.cursor()
    cursor.execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
    offers_tls = bool(cursor.fetchone()[1])
    probe.close()
    return {**connect_kwargs(), "ssl_disabled": not offers_tls}


def connect_kwargs() -> dict[str, Any]:
    config = MySQLConfig.from_url(URL)
    kwargs = {"host": config.host, "port": config.port, "user": config.user,
              "password": config.password, "database": config.database, "autocommit": True}
    return kwargs


class Sizes:
    def __init__(self, quick: bool) -> None:
        self.repeats = 2 if quick else 3
        self.inserts = 300 if quick else 1000
        self.lookups = 500 if quick else 2000
        self.queries = 200 if quick else 1000
        self.tasks, self.per_task = (50, 20) if quick else (200, 50)


def interleaved(ops: int, repeats: int, raw: Callable[[], Any], orm: Callable[[], Any],
                raw_setup: Callable[[], Any] | None = None,
                orm_setup: Callable[[], Any] | None = None) -> tuple[float, float]:
    """Best ops/s of each side, the two alternating run by run so that background load
    on a shared machine hits both alike."""
    best = [math.inf, math.inf]
    for _ in range(repeats):
        for side, (work, setup) in enumerate(((raw, raw_setup), (orm, orm_setup))):
            if setup is not None:
                setup()
            started = time.perf_counter()
            work()
            best[side] = min(best[side], time.perf_counter() - started)
    return ops / best[0], ops / best[1]


async def ainterleaved(ops: int, repeats: int, raw: Work, orm: Work,
                       raw_setup: Callable[[], Any] | None = None,
                       orm_setup: Callable[[], Any] | None = None) -> tuple[float, float]:
    """`interleaved` for coroutine functions (setups stay plain functions)."""
    best = [math.inf, math.inf]
    for _ in range(repeats):
        for side, (work, setup) in enumerate(((raw, raw_setup), (orm, orm_setup))):
            if setup is not None:
                setup()
            started = time.perf_counter()
            await work()
            best[side] = min(best[side], time.perf_counter() - started)
    return ops / best[0], ops / best[1]


# ---- setup -------------------------------------------------------------------------------


def prepare_server(raw: Any) -> Any:
    cursor = raw.cursor()
    cursor.execute("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit")
    (previous,) = cursor.fetchone()
    cursor.execute("SET GLOBAL innodb_flush_log_at_trx_commit = 2")
    for table in (RAW, ORM):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(TABLE_DDL.format(table=table))
    return previous


def truncate(raw: Any, table: str) -> None:
    cursor = raw.cursor()
    cursor.execute(f"TRUNCATE TABLE {table}")


def fill(raw: Any, table: str) -> list[int]:
    """ROWS rows in `table` (one multi-row statement per 1000); returns their ids."""
    truncate(raw, table)
    cursor = raw.cursor()
    sql = INSERT.replace(RAW, table)
    for start in range(0, ROWS, 1000):
        cursor.executemany(sql, [row(i) for i in range(start, start + 1000)])
    cursor.execute(f"SELECT id FROM {table} ORDER BY id")
    return [key for (key,) in cursor.fetchall()]


# ---- sync --------------------------------------------------------------------------------


def sync_writes(raw: Any, cursor: Any, sizes: Sizes) -> Rows:
    n, repeats = sizes.inserts, sizes.repeats

    def raw_insert_one() -> None:
        for i in range(n):
            cursor.execute(INSERT, row(i))
            assert cursor.lastrowid

    def orm_insert_one() -> None:
        for i in range(n):
            user = BenchUser(**fields(i))
            user.save()
            assert user.id

    def raw_insert_tx() -> None:
        cursor.execute("START TRANSACTION")
        for i in range(BULK):
            cursor.execute(INSERT, row(i))
        cursor.execute("COMMIT")

    def orm_insert_tx() -> None:
        with BenchUser.transaction():
            for i in range(BULK):
                BenchUser(**fields(i)).save()

    def raw_insert_many() -> None:
        cursor.executemany(INSERT, [row(i) for i in range(BULK)])

    def orm_insert_many() -> None:
        BenchUser.insert_many([BenchUser(**fields(i)) for i in range(BULK)])

    def clear_raw() -> None:
        truncate(raw, RAW)

    def clear_orm() -> None:
        truncate(raw, ORM)

    return [
        ("insert one (autocommit, id back)",
         *interleaved(n, repeats, raw_insert_one, orm_insert_one, clear_raw, clear_orm)),
        (f"insert {BULK} in one transaction",
         *interleaved(BULK, repeats, raw_insert_tx, orm_insert_tx, clear_raw, clear_orm)),
        (f"insert_many {BULK}",
         *interleaved(BULK, repeats, raw_insert_many, orm_insert_many, clear_raw, clear_orm)),
    ]


def sync_reads(cursor: Any, raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    lookups, queries, repeats = sizes.lookups, sizes.queries, sizes.repeats

    def raw_get() -> None:
        for k in range(lookups):
            cursor.execute(GET, (raw_ids[k % ROWS],))
            cursor.fetchone()

    def orm_get() -> None:
        for k in range(lookups):
            BenchUser.find_one(orm_ids[k % ROWS])

    def raw_fetch_all() -> None:
        cursor.execute(ALL)
        cursor.fetchall()

    def orm_fetch_all() -> None:
        BenchUser.query().all()

    def raw_by_index() -> None:
        for k in range(queries):
            cursor.execute(BY_INDEX, (k % 250,))
            cursor.fetchall()

    def orm_by_index() -> None:
        for k in range(queries):
            BenchUser.query().where({"category": k % 250}).all()

    return [
        ("get by primary key",
         *interleaved(lookups, repeats, raw_get, orm_get)),
        (f"fetch {ROWS} rows as models",
         *interleaved(ROWS, repeats, raw_fetch_all, orm_fetch_all)),
        ("20 rows by indexed column",
         *interleaved(queries, repeats, raw_by_index, orm_by_index)),
    ]


def sync_updates(cursor: Any, raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    lookups, repeats = sizes.lookups, sizes.repeats

    def raw_load_save() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            key = raw_ids[k % ROWS]
            cursor.execute(GET, (key,))
            cursor.fetchone()
            cursor.execute(UPDATE, (bump + k * 1.5, key))

    def orm_load_save() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            user = BenchUser.find_one(orm_ids[k % ROWS])
            assert user is not None
            user.score = bump + k * 1.5
            user.save()

    def raw_update() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            cursor.execute(UPDATE, (bump + k * 2.5, raw_ids[k % ROWS]))

    def orm_update() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            BenchUser.query().where({"id": orm_ids[k % ROWS]}).update({"score": bump + k * 2.5})

    deletes = ROWS // (repeats + 1)
    raw_slices, orm_slices = iter(range(repeats)), iter(range(repeats))

    def raw_delete() -> None:
        start = next(raw_slices) * deletes
        for key in raw_ids[start : start + deletes]:
            cursor.execute(DELETE, (key,))

    def orm_delete() -> None:
        start = next(orm_slices) * deletes
        for key in orm_ids[start : start + deletes]:
            BenchUser.query().where({"id": key}).delete()

    return [
        ("load, change one field, save",
         *interleaved(lookups, repeats, raw_load_save, orm_load_save)),
        ("update one column by pk (query)",
         *interleaved(lookups, repeats, raw_update, orm_update)),
        ("delete by primary key (query)",
         *interleaved(deletes, repeats, raw_delete, orm_delete)),
    ]


def sync_concurrent(raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    """Threads x gets by pk; the raw side shares 10 connections through a queue."""
    total = sizes.tasks * sizes.per_task
    connections: queue.Queue[Any] = queue.Queue()
    for _ in range(10):
        connections.put(mysql.connector.connect(use_pure=False, **connect_kwargs()))

    def raw_worker(offset: int) -> None:
        for k in range(sizes.per_task):
            conn = connections.get()
            try:
                cursor = conn.cursor()
                cursor.execute(GET, (raw_ids[(offset + k) % ROWS],))
                cursor.fetchone()
                cursor.close()
            finally:
                connections.put(conn)

    def orm_worker(offset: int) -> None:
        for k in range(sizes.per_task):
            BenchUser.find_one(orm_ids[(offset + k) % ROWS])

    def in_threads(worker: Callable[[int], None]) -> Callable[[], None]:
        def run() -> None:
            threads = [threading.Thread(target=worker, args=(t * 7,)) for t in range(sizes.tasks)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        return run

    result = (f"concurrent gets ({sizes.tasks} threads x {sizes.per_task})",
              *interleaved(total, sizes.repeats, in_threads(raw_worker), in_threads(orm_worker)))
    while not connections.empty():
        connections.get().close()
    return [result]


def pooled_url() -> str:
    return URL + ("&" if "?" in URL else "?") + "pool_size=10"


def run_sync(raw: Any, sizes: Sizes) -> float:
    BenchUser.configure(pooled_url())
    cursor = raw.cursor()
    results = sync_writes(raw, cursor, sizes)
    raw_ids, orm_ids = fill(raw, RAW), fill(raw, ORM)
    results += sync_reads(cursor, raw_ids, orm_ids, sizes)
    results += sync_concurrent(raw_ids, orm_ids, sizes)
    results += sync_updates(cursor, raw_ids, orm_ids, sizes)
    BenchUser.backend().close()
    return report("MariaDB/MySQL: twinrecord sync vs raw mysql-connector (C extension)",
                  results, "twinrecord", "raw C ext")


# ---- async -------------------------------------------------------------------------------


async def async_writes(raw: Any, admin: Any, sizes: Sizes) -> Rows:
    n, repeats = sizes.inserts, sizes.repeats
    cursor = await raw.cursor()

    async def raw_insert_one() -> None:
        for i in range(n):
            await cursor.execute(INSERT, row(i))
            assert cursor.lastrowid

    async def orm_insert_one() -> None:
        for i in range(n):
            user = AsyncBenchUser(**fields(i))
            await user.save()
            assert user.id

    async def raw_insert_tx() -> None:
        await cursor.execute("START TRANSACTION")
        for i in range(BULK):
            await cursor.execute(INSERT, row(i))
        await cursor.execute("COMMIT")

    async def orm_insert_tx() -> None:
        async with AsyncBenchUser.transaction():
            for i in range(BULK):
                await AsyncBenchUser(**fields(i)).save()

    async def raw_insert_many() -> None:
        await cursor.executemany(INSERT, [row(i) for i in range(BULK)])

    async def orm_insert_many() -> None:
        await AsyncBenchUser.insert_many([AsyncBenchUser(**fields(i)) for i in range(BULK)])

    def clear_raw() -> None:
        truncate(admin, RAW)

    def clear_orm() -> None:
        truncate(admin, ORM)

    cases: list[tuple[str, Work, Work, int]] = [
        ("insert one (autocommit, id back)", raw_insert_one, orm_insert_one, n),
        (f"insert {BULK} in one transaction", raw_insert_tx, orm_insert_tx, BULK),
        (f"insert_many {BULK}", raw_insert_many, orm_insert_many, BULK),
    ]
    rows: Rows = []
    for name, raw_work, orm_work, ops in cases:
        rows.append((name, *await ainterleaved(ops, repeats, raw_work, orm_work, clear_raw, clear_orm)))
    return rows


async def async_reads(raw: Any, raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    lookups, queries, repeats = sizes.lookups, sizes.queries, sizes.repeats
    cursor = await raw.cursor()

    async def raw_get() -> None:
        for k in range(lookups):
            await cursor.execute(GET, (raw_ids[k % ROWS],))
            await cursor.fetchone()

    async def orm_get() -> None:
        for k in range(lookups):
            await AsyncBenchUser.find_one(orm_ids[k % ROWS])

    async def raw_fetch_all() -> None:
        await cursor.execute(ALL)
        await cursor.fetchall()

    async def orm_fetch_all() -> None:
        await AsyncBenchUser.query().all()

    async def raw_by_index() -> None:
        for k in range(queries):
            await cursor.execute(BY_INDEX, (k % 250,))
            await cursor.fetchall()

    async def orm_by_index() -> None:
        for k in range(queries):
            await AsyncBenchUser.query().where({"category": k % 250}).all()

    return [
        ("get by primary key",
         *await ainterleaved(lookups, repeats, raw_get, orm_get)),
        (f"fetch {ROWS} rows as models",
         *await ainterleaved(ROWS, repeats, raw_fetch_all, orm_fetch_all)),
        ("20 rows by indexed column",
         *await ainterleaved(queries, repeats, raw_by_index, orm_by_index)),
    ]


async def async_updates(raw: Any, raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    lookups, repeats = sizes.lookups, sizes.repeats
    cursor = await raw.cursor()

    async def raw_load_save() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            key = raw_ids[k % ROWS]
            await cursor.execute(GET, (key,))
            await cursor.fetchone()
            await cursor.execute(UPDATE, (bump + k * 1.5, key))

    async def orm_load_save() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            user = await AsyncBenchUser.find_one(orm_ids[k % ROWS])
            assert user is not None
            user.score = bump + k * 1.5
            await user.save()

    async def raw_update() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            await cursor.execute(UPDATE, (bump + k * 2.5, raw_ids[k % ROWS]))

    async def orm_update() -> None:
        bump = next(RUNS)  # a new value each run: unchanged rows would skip the write
        for k in range(lookups):
            await AsyncBenchUser.query().where({"id": orm_ids[k % ROWS]}).update({"score": bump + k * 2.5})

    deletes = ROWS // (repeats + 1)
    raw_slices, orm_slices = iter(range(repeats)), iter(range(repeats))

    async def raw_delete() -> None:
        start = next(raw_slices) * deletes
        for key in raw_ids[start : start + deletes]:
            await cursor.execute(DELETE, (key,))

    async def orm_delete() -> None:
        start = next(orm_slices) * deletes
        for key in orm_ids[start : start + deletes]:
            await AsyncBenchUser.query().where({"id": key}).delete()

    return [
        ("load, change one field, save",
         *await ainterleaved(lookups, repeats, raw_load_save, orm_load_save)),
        ("update one column by pk (query)",
         *await ainterleaved(lookups, repeats, raw_update, orm_update)),
        ("delete by primary key (query)",
         *await ainterleaved(deletes, repeats, raw_delete, orm_delete)),
    ]


async def async_concurrent(raw_ids: list[int], orm_ids: list[int], sizes: Sizes) -> Rows:
    """Tasks x gets by pk on 10 connections: a queue of 10 raw ones vs twinrecord's pool."""
    total = sizes.tasks * sizes.per_task
    connections: asyncio.Queue[Any] = asyncio.Queue()
    for _ in range(10):
        connections.put_nowait(await aio.connect(**aio_kwargs()))

    async def raw_task(offset: int) -> None:
        for k in range(sizes.per_task):
            conn = await connections.get()
            try:
                cursor = await conn.cursor()
                await cursor.execute(GET, (raw_ids[(offset + k) % ROWS],))
                await cursor.fetchone()
                await cursor.close()
            finally:
                connections.put_nowait(conn)

    async def orm_task(offset: int) -> None:
        for k in range(sizes.per_task):
            await AsyncBenchUser.find_one(orm_ids[(offset + k) % ROWS])

    async def raw_all() -> None:
        await asyncio.gather(*(raw_task(t * 7) for t in range(sizes.tasks)))

    async def orm_all() -> None:
        await asyncio.gather(*(orm_task(t * 7) for t in range(sizes.tasks)))

    raw_rate, orm_rate = await ainterleaved(total, sizes.repeats, raw_all, orm_all)
    while not connections.empty():
        await connections.get_nowait().close()
    return [(f"concurrent gets ({sizes.tasks} tasks x {sizes.per_task})", raw_rate, orm_rate)]


async def run_async(admin: Any, sizes: Sizes) -> float:
    AsyncBenchUser.configure(pooled_url())
    raw = await aio.connect(**aio_kwargs())
    results = await async_writes(raw, admin, sizes)
    raw_ids, orm_ids = fill(admin, RAW), fill(admin, ORM)
    results += await async_reads(raw, raw_ids, orm_ids, sizes)
    results += await async_concurrent(raw_ids, orm_ids, sizes)
    results += await async_updates(raw, raw_ids, orm_ids, sizes)
    await raw.close()
    await AsyncBenchUser.backend().close()
    return report("MariaDB/MySQL: twinrecord async vs raw mysql.connector.aio",
                  results, "twinrecord", "raw aio")


def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = Sizes(args.quick)
    admin = mysql.connector.connect(use_pure=False, **connect_kwargs())
    previous = prepare_server(admin)
    try:
        sync_geomean = run_sync(admin, sizes)
        async_geomean = asyncio.run(run_async(admin, sizes))
    finally:
        cursor = admin.cursor()
        cursor.execute(f"SET GLOBAL innodb_flush_log_at_trx_commit = {int(previous)}")
        for table in (RAW, ORM):
            cursor.execute(f"DROP TABLE IF EXISTS {table}")
        admin.close()
    print(f"\ntargets: sync geometric mean >= 0.75 (got {sync_geomean:.2f}); "
          f"async >= 0.90 (got {async_geomean:.2f})")


if __name__ == "__main__":
    main()
