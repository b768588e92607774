"""twinrecord against the raw mysql-connector-python driver on MariaDB / MySQL.

    python benchmarks/bench_mysql.py [--quick]

Sync: twinrecord's MySQLBackend vs raw mysql-connector (C extension, one connection,
one reused cursor). Async: AsyncMySQLBackend vs raw `mysql.connector.aio` (one
connection; a queue of 10 for the concurrent gets). Both sides run with
`innodb_flush_log_at_trx_commit=2` (restored afterwards) on tables of the same shape.
Prints ops/s per operation, the ratio (twinrecord / raw; 1.0 = as fast) and the
geometric mean. The server comes from TWINRECORD_MYSQL_URL.

Here: the raw mysql-connector side of each operation and the database setup. The
operations and twinrecord's side are in _workload.py, timing and printing in _common.py.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
import mysql.connector
from _common import Results, Rows, aduel, duel, parse_args
from _workload import (
    BATCH,
    CATEGORIES,
    READS,
    ROWS,
    UPDATES,
    WRITES,
    AsyncBenchUser,
    AsyncOrm,
    BenchUser,
    Side,
    Sizes,
    SyncOrm,
    ameasure,
    gathered,
    in_threads,
    measure,
    row,
)
from mysql.connector import aio

from twinrecord.backends.mysql import MySQLConfig

URL = os.environ.get("TWINRECORD_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
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


class MySQLUser(BenchUser):
    __table_name__ = ORM


class AsyncMySQLUser(AsyncBenchUser):
    __table_name__ = ORM


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


def plan(quick: bool) -> Sizes:
    repeats = 2 if quick else 3
    tasks, per_task = (50, 20) if quick else (200, 50)
    return Sizes(
        repeats=repeats, inserts=300 if quick else 1000, lookups=500 if quick else 2000,
        queries=200 if quick else 1000, deletes=ROWS // (repeats + 1),
        tasks=tasks, per_task=per_task, spread=7, fresh_updates=True,
    )


def pooled_url() -> str:
    return URL + ("&" if "?" in URL else "?") + "pool_size=10"


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


# ---- the raw contenders: one connection each, reusing one cursor ------------------------


class RawSync(Side):
    """The C extension; `admin` is its connection (also the one that empties tables)."""

    def __init__(self, admin: Any, sizes: Sizes) -> None:
        super().__init__(sizes)
        self.admin = admin
        self.cursor = admin.cursor()

    def empty(self) -> None:
        truncate(self.admin, RAW)

    def insert_one(self) -> None:
        cursor = self.cursor
        for i in range(self.sizes.inserts):
            cursor.execute(INSERT, row(i))
            assert cursor.lastrowid

    def insert_in_transaction(self) -> None:
        cursor = self.cursor
        cursor.execute("START TRANSACTION")
        for i in range(BATCH):
            cursor.execute(INSERT, row(i))
        cursor.execute("COMMIT")

    def insert_many(self) -> None:
        self.cursor.executemany(INSERT, [row(i) for i in range(BATCH)])

    def get_by_pk(self) -> None:
        cursor, ids = self.cursor, self.ids
        for k in range(self.sizes.lookups):
            cursor.execute(GET, (ids[k % ROWS],))
            cursor.fetchone()

    def fetch_all(self) -> None:
        self.cursor.execute(ALL)
        self.cursor.fetchall()

    def by_index(self) -> None:
        cursor = self.cursor
        for k in range(self.sizes.queries):
            cursor.execute(BY_INDEX, (k % CATEGORIES,))
            cursor.fetchall()

    def load_change_save(self) -> None:
        cursor, ids, run = self.cursor, self.ids, self.next_run()
        for k in range(self.sizes.lookups):
            key = ids[k % ROWS]
            cursor.execute(GET, (key,))
            cursor.fetchone()
            cursor.execute(UPDATE, (run + k * 1.5, key))

    def update_by_pk(self) -> None:
        cursor, ids, base = self.cursor, self.ids, self.update_base()
        for k in range(self.sizes.lookups):
            cursor.execute(UPDATE, (base + k * 2.5, ids[k % ROWS]))

    def delete_by_pk(self) -> None:
        cursor = self.cursor
        for key in self.next_slice():
            cursor.execute(DELETE, (key,))


class RawAsync(Side):
    """`mysql.connector.aio` on `conn`; `admin` (sync) empties the table."""

    def __init__(self, conn: Any, cursor: Any, admin: Any, sizes: Sizes) -> None:
        super().__init__(sizes)
        self.conn, self.cursor, self.admin = conn, cursor, admin

    def empty(self) -> None:
        truncate(self.admin, RAW)

    async def insert_one(self) -> None:
        cursor = self.cursor
        for i in range(self.sizes.inserts):
            await cursor.execute(INSERT, row(i))
            assert cursor.lastrowid

    async def insert_in_transaction(self) -> None:
        cursor = self.cursor
        await cursor.execute("START TRANSACTION")
        for i in range(BATCH):
            await cursor.execute(INSERT, row(i))
        await cursor.execute("COMMIT")

    async def insert_many(self) -> None:
        await self.cursor.executemany(INSERT, [row(i) for i in range(BATCH)])

    async def get_by_pk(self) -> None:
        cursor, ids = self.cursor, self.ids
        for k in range(self.sizes.lookups):
            await cursor.execute(GET, (ids[k % ROWS],))
            await cursor.fetchone()

    async def fetch_all(self) -> None:
        await self.cursor.execute(ALL)
        await self.cursor.fetchall()

    async def by_index(self) -> None:
        cursor = self.cursor
        for k in range(self.sizes.queries):
            await cursor.execute(BY_INDEX, (k % CATEGORIES,))
            await cursor.fetchall()

    async def load_change_save(self) -> None:
        cursor, ids, run = self.cursor, self.ids, self.next_run()
        for k in range(self.sizes.lookups):
            key = ids[k % ROWS]
            await cursor.execute(GET, (key,))
            await cursor.fetchone()
            await cursor.execute(UPDATE, (run + k * 1.5, key))

    async def update_by_pk(self) -> None:
        cursor, ids, base = self.cursor, self.ids, self.update_base()
        for k in range(self.sizes.lookups):
            await cursor.execute(UPDATE, (base + k * 2.5, ids[k % ROWS]))

    async def delete_by_pk(self) -> None:
        cursor = self.cursor
        for key in self.next_slice():
            await cursor.execute(DELETE, (key,))


# ---- concurrent gets: the raw side shares 10 connections through a queue ----------------


def sync_concurrent(raw_ids: list[int], ours: SyncOrm) -> Rows:
    """Threads x gets by pk: a queue of 10 raw connections vs twinrecord's pool of 10."""
    sizes = ours.sizes
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

    def raw() -> None:
        in_threads(raw_worker, sizes)

    result = (f"concurrent gets ({sizes.tasks} threads x {sizes.per_task})",
              *duel(raw, ours.concurrent_gets, sizes.tasks * sizes.per_task, sizes.repeats))
    while not connections.empty():
        connections.get().close()
    return [result]


async def async_concurrent(raw_ids: list[int], ours: AsyncOrm) -> Rows:
    """Tasks x gets by pk on 10 connections: a queue of 10 raw ones vs twinrecord's pool."""
    sizes = ours.sizes
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

    async def raw() -> None:
        await gathered(raw_task, sizes)

    raw_rate, orm_rate = await aduel(raw, ours.concurrent_gets, sizes.tasks * sizes.per_task,
                                     sizes.repeats)
    while not connections.empty():
        await connections.get_nowait().close()
    return [(f"concurrent gets ({sizes.tasks} tasks x {sizes.per_task})", raw_rate, orm_rate)]


# ---- the suites --------------------------------------------------------------------------


def run_sync(admin: Any, sizes: Sizes) -> float:
    MySQLUser.configure(pooled_url())
    raw = RawSync(admin, sizes)
    ours = SyncOrm(MySQLUser, sizes, empty=lambda: truncate(admin, ORM))
    results = measure(WRITES, raw, ours)
    raw.ids, ours.ids = fill(admin, RAW), fill(admin, ORM)
    results += measure(READS, raw, ours)
    results += sync_concurrent(raw.ids, ours)
    results += measure(UPDATES, raw, ours)
    MySQLUser.backend().close()
    return RESULTS.add("MariaDB/MySQL: twinrecord sync vs raw mysql-connector (C extension)",
                  results, "twinrecord", "raw C ext")


async def run_async(admin: Any, sizes: Sizes) -> float:
    AsyncMySQLUser.configure(pooled_url())
    conn = await aio.connect(**aio_kwargs())
    raw = RawAsync(conn, await conn.cursor(), admin, sizes)
    ours = AsyncOrm(AsyncMySQLUser, sizes, empty=lambda: truncate(admin, ORM))
    results = await ameasure(WRITES, raw, ours)
    raw.ids, ours.ids = fill(admin, RAW), fill(admin, ORM)
    results += await ameasure(READS, raw, ours)
    results += await async_concurrent(raw.ids, ours)
    results += await ameasure(UPDATES, raw, ours)
    await conn.close()
    await AsyncMySQLUser.backend().close()
    return RESULTS.add("MariaDB/MySQL: twinrecord async vs raw mysql.connector.aio",
                  results, "twinrecord", "raw aio")


RESULTS = Results("bench_mysql")  # the tables printed, for --json


def main() -> None:
    args = parse_args(__doc__ or "")
    sizes = plan(args.quick)
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
    print(f"\ntargets: sync geometric mean >= 1.0 (got {sync_geomean:.2f}); "
          f"async >= 1.0 (got {async_geomean:.2f})")
    RESULTS.write(args.json)


if __name__ == "__main__":
    main()
