"""API.md §14: iterate() vs all() vs the raw driver's server-side cursor, for one large
result: rows per second (best of --repeats, no tracing) and peak Python memory
(tracemalloc, a separate run).

    python benchmarks/bench_streaming.py [--rows 100000] [--batch 1000] [--repeats 2]
                                         [--only sqlite|postgres|mysql]

Servers from TWINRECORD_POSTGRES_URL / TWINRECORD_MYSQL_URL (defaults: the local ones,
database `twinrecord_bench`, created when missing). Issue 13's targets, for 1,000,000
rows and batch_size=1000: iterate()'s peak under 5% of all()'s, its rows/s at least
0.8x all()'s (PostgreSQL and MariaDB, sync and async). The async MariaDB raw cursor is
mysql.connector.aio's unbuffered cursor (the driver the async backend uses).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any, Optional
from urllib.parse import urlsplit

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord

DATABASE = "twinrecord_bench"
TABLE = "bench_stream_rows"


class Row(BaseActiveRecord):
    __table_name__ = TABLE
    id: Optional[int] = None
    name: str
    score: float
    note: Optional[str] = None


class AsyncRow(AsyncBaseActiveRecord):
    __table_name__ = TABLE
    id: Optional[int] = None
    name: str
    score: float
    note: Optional[str] = None


Work = Callable[[], int]
AsyncWork = Callable[[], Awaitable[int]]


def measure(work: Work, repeats: int) -> tuple[float, float]:
    """(rows per second, best of `repeats`; peak MiB traced in one more run)."""
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        count = work()
        best = max(best, count / (time.perf_counter() - started))
    gc.collect()
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20


async def ameasure(work: AsyncWork, repeats: int) -> tuple[float, float]:
    best = 0.0
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        count = await work()
        best = max(best, count / (time.perf_counter() - started))
    gc.collect()
    tracemalloc.start()
    await work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return best, peak / 2**20


def fill(rows: int) -> None:
    Row.drop_table()
    Row.create_table()
    chunk = 5000
    for start in range(0, rows, chunk):
        Row.insert_many(
            [Row(name=f"row {i}", score=i * 0.25, note="x" * 40)
             for i in range(start, min(rows, start + chunk))]
        )


def sync_rows(raw: Callable[[], int], batch: int, repeats: int) -> list[tuple[str, float, float]]:
    def with_all() -> int:
        return len(Row.query().order_by("id").all())

    def with_iterate() -> int:
        return sum(1 for _ in Row.query().order_by("id").iterate(batch_size=batch))

    return [
        ("all()", *measure(with_all, repeats)),
        (f"iterate({batch})", *measure(with_iterate, repeats)),
        ("raw driver cursor", *measure(raw, repeats)),
    ]


async def async_rows(
    raw: AsyncWork | None, batch: int, repeats: int
) -> list[tuple[str, float, float]]:
    async def with_all() -> int:
        return len(await AsyncRow.query().order_by("id").all())

    async def with_iterate() -> int:
        count = 0
        async with AsyncRow.query().order_by("id").iterate(batch_size=batch) as rows:
            async for _ in rows:
                count += 1
        return count

    results = [
        ("all()", *await ameasure(with_all, repeats)),
        (f"iterate({batch})", *await ameasure(with_iterate, repeats)),
    ]
    if raw is not None:
        results.append(("raw driver cursor", *await ameasure(raw, repeats)))
    return results


def show(title: str, results: list[tuple[str, float, float]]) -> None:
    print(f"\n{title}")
    print(f"  {'':20} {'rows/s':>12} {'peak MiB':>10}")
    for name, rate, peak in results:
        print(f"  {name:20} {rate:12,.0f} {peak:10.1f}")
    by_name = {name: (rate, peak) for name, rate, peak in results}
    streamed = next(v for k, v in by_name.items() if k.startswith("iterate"))
    everything = by_name["all()"]
    print(
        f"  iterate/all: {streamed[0] / everything[0]:.2f}x rows/s, "
        f"{100 * streamed[1] / everything[1]:.1f}% of the peak memory"
    )


def server_url(variable: str, default: str) -> str:
    parts = urlsplit(os.environ.get(variable, default))
    return parts._replace(path="/" + DATABASE).geturl()


def bench_sqlite(args: argparse.Namespace) -> None:
    import sqlite3

    directory = tempfile.mkdtemp(prefix="twinrecord-bench-")
    path = os.path.join(directory, "bench.db")
    Row.configure(f"sqlite:///{path}")
    fill(args.rows)
    connection = sqlite3.connect(path)

    def raw() -> int:
        cursor = connection.execute(f"SELECT id, name, score, note FROM {TABLE} ORDER BY id")
        count = 0
        while rows := cursor.fetchmany(args.batch):
            count += len(rows)
        return count

    show("SQLite (sync)", sync_rows(raw, args.batch, args.repeats))
    connection.close()
    Row.backend().close()


def bench_postgres(args: argparse.Namespace) -> None:
    import psycopg

    url = server_url("TWINRECORD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    admin = psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    admin.close()
    Row.configure(url)
    fill(args.rows)
    connection = psycopg.connect(url)
    sql = f"SELECT id, name, score, note FROM {TABLE} ORDER BY id"

    def raw() -> int:
        with connection.transaction(), connection.cursor(name="bench") as cursor:
            cursor.itersize = args.batch
            cursor.execute(sql)
            count = 0
            while rows := cursor.fetchmany(args.batch):
                count += len(rows)
        return count

    show("PostgreSQL (sync)", sync_rows(raw, args.batch, args.repeats))
    connection.close()

    async def run_async() -> None:
        AsyncRow.configure(url)
        aconnection = await psycopg.AsyncConnection.connect(url)

        async def araw() -> int:
            async with aconnection.transaction(), aconnection.cursor(name="bench") as cursor:
                await cursor.execute(sql)
                count = 0
                while rows := await cursor.fetchmany(args.batch):
                    count += len(rows)
            return count

        show("PostgreSQL (async)", await async_rows(araw, args.batch, args.repeats))
        await aconnection.close()
        await AsyncRow.backend().close()

    asyncio.run(run_async())
    Row.drop_table()
    Row.backend().close()


def bench_mysql(args: argparse.Namespace) -> None:
    import mysql.connector

    url = server_url("TWINRECORD_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
    parts = urlsplit(url)
    options: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1", "port": parts.port or 3306,
        "user": parts.username or "root", "password": parts.password or "",
    }
    admin = mysql.connector.connect(**options)
    admin.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
    admin.close()
    Row.configure(url)
    fill(args.rows)
    connection: Any = mysql.connector.connect(database=DATABASE, use_pure=False, **options)
    sql = f"SELECT id, name, score, note FROM {TABLE} ORDER BY id"

    def raw() -> int:
        cursor = connection.cursor(buffered=False)  # unbuffered: rows read as taken
        cursor.execute(sql)
        count = 0
        while rows := cursor.fetchmany(args.batch):
            count += len(rows)
        cursor.close()
        return count

    show("MariaDB/MySQL (sync)", sync_rows(raw, args.batch, args.repeats))
    connection.close()

    async def run_async() -> None:
        from mysql.connector import aio

        AsyncRow.configure(url)
        aconnection: Any = await aio.connect(database=DATABASE, ssl_disabled=True, **options)

        async def araw() -> int:
            cursor = await aconnection.cursor(buffered=False)  # rows read as taken
            await cursor.execute(sql)
            count = 0
            while rows := await cursor.fetchmany(args.batch):
                count += len(rows)
            await cursor.close()
            return count

        show("MariaDB/MySQL (async)", await async_rows(araw, args.batch, args.repeats))
        await aconnection.close()
        await AsyncRow.backend().close()

    asyncio.run(run_async())
    Row.drop_table()
    Row.backend().close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", choices=("sqlite", "postgres", "mysql"))
    args = parser.parse_args()
    print(f"{args.rows:,} rows as models, batch_size={args.batch}")
    if args.only in (None, "sqlite"):
        bench_sqlite(args)
    if args.only in (None, "postgres"):
        bench_postgres(args)
    if args.only in (None, "mysql"):
        bench_mysql(args)


if __name__ == "__main__":
    main()
