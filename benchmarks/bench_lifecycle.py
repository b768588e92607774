"""Issue 11's rows: upsert_many vs the raw driver's upsert statement, and a save with
TimestampMixin + OptimisticLockMixin vs a plain save (sync kind).

    python benchmarks/bench_lifecycle.py [--quick] [--only sqlite|postgres|mysql]

Servers from TWINRECORD_POSTGRES_URL / TWINRECORD_MYSQL_URL (defaults: the local ones,
database `twinrecord_bench`, created when missing). Targets: upsert_many >= 0.7x the raw
statement on PostgreSQL and MariaDB; the mixin save within 15% of the plain one (>= 0.87).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from typing import Any, Optional
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from _common import argument_parser, duel, report

from twinrecord import BaseActiveRecord, OptimisticLockMixin, TimestampMixin

ROWS = 2000
SAVES = 300
DATABASE = "twinrecord_bench"


class Item(BaseActiveRecord):
    __table_name__ = "bench_items"
    id: Optional[int] = None
    code: str
    name: str
    score: float


class PlainDoc(BaseActiveRecord):
    __table_name__ = "bench_plain_docs"
    id: Optional[int] = None
    title: str
    score: float


class StampedDoc(TimestampMixin, OptimisticLockMixin, BaseActiveRecord):
    __table_name__ = "bench_stamped_docs"
    id: Optional[int] = None
    title: str
    score: float


def items(run: int) -> list[Item]:
    return [Item(code=f"c{i:05d}", name=f"run {run}", score=i * 0.5) for i in range(ROWS)]


class Raw:
    """The raw driver's side: one connection, autocommit, the upsert in one transaction."""

    def __init__(self, kind: str, connection: Any) -> None:
        self.kind = kind
        self.connection = connection
        marker = "?" if kind == "sqlite" else "%s"
        values = ", ".join([f"({marker}, {marker}, {marker})"] * ROWS)
        head = f"INSERT INTO bench_items (code, name, score) VALUES {values}"
        if kind == "mysql":
            self.sql = head + " ON DUPLICATE KEY UPDATE name = VALUES(name), score = VALUES(score)"
        else:
            self.sql = head + (
                " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, score = EXCLUDED.score"
                " RETURNING id"
            )

    def upsert(self, run: int) -> None:
        params = [v for i in range(ROWS) for v in (f"c{i:05d}", f"raw {run}", i * 0.5)]
        cursor = self.connection.cursor()
        cursor.execute("BEGIN" if self.kind != "mysql" else "START TRANSACTION")
        cursor.execute(self.sql, params)
        if self.kind != "mysql":
            cursor.fetchall()
        cursor.execute("COMMIT")


def half_existing() -> None:
    """Empty the table, then store every other code (half of the upsert's rows exist)."""
    Item.backend().execute("DELETE FROM bench_items")
    Item.insert_many([Item(code=f"c{i:05d}", name="old", score=0.0) for i in range(0, ROWS, 2)])


def bench(kind: str, url: str, raw_connection: Any, repeats: int) -> list[tuple[str, float, float]]:
    BaseActiveRecord.configure(url)
    for model in (Item, PlainDoc, StampedDoc):
        model.drop_table()
        model.create_table()
    backend = Item.backend()
    backend.execute("CREATE UNIQUE INDEX bench_items_code ON bench_items (code)" if kind != "mysql"
                    else "CREATE UNIQUE INDEX bench_items_code ON bench_items (code(20))")
    raw = Raw(kind, raw_connection)
    counter = iter(range(10**9))
    rows = []
    raw_rate, our_rate = duel(
        lambda: raw.upsert(next(counter)),
        lambda: Item.upsert_many(items(next(counter)), unique_by="code", update=("name", "score")),
        ROWS, repeats, raw_setup=half_existing, our_setup=half_existing,
    )
    rows.append(("upsert_many 2000 (half existing)", raw_rate, our_rate))

    plain = [PlainDoc.create(title="t", score=0.0) for _ in range(SAVES)]
    stamped = [StampedDoc.create(title="t", score=0.0) for _ in range(SAVES)]

    def save_all(records: list[Any]) -> None:
        for record in records:
            record.score += 1
            record.save()

    plain_rate, stamped_rate = duel(
        lambda: save_all(plain), lambda: save_all(stamped), SAVES, repeats
    )
    rows.append(("save: Timestamp+Lock vs plain", plain_rate, stamped_rate))
    for model in (Item, PlainDoc, StampedDoc):
        model.drop_table()
    backend.close()
    return rows


def server_url(variable: str, default: str) -> str:
    parts = urlsplit(os.environ.get(variable, default))
    return parts._replace(path="/" + DATABASE).geturl()


def main() -> None:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--only", choices=("sqlite", "postgres", "mysql"))
    args = parser.parse_args()
    repeats = 3 if args.quick else 7
    results = {}
    if args.only in (None, "sqlite"):
        directory = tempfile.mkdtemp()
        path = f"{directory}/bench.db"
        connection = sqlite3.connect(path, isolation_level=None)
        results["SQLite"] = bench("sqlite", f"sqlite:///{path}", connection, repeats)
    if args.only in (None, "postgres"):
        import psycopg

        url = server_url("TWINRECORD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
        admin = psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True)
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            admin.execute(f'CREATE DATABASE "{DATABASE}"')
        admin.close()
        connection = psycopg.connect(url, autocommit=True)
        results["PostgreSQL"] = bench("postgres", url, connection, repeats)
    if args.only in (None, "mysql"):
        import mysql.connector

        url = server_url("TWINRECORD_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
        parts = urlsplit(url)
        options = dict(host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
                       password=parts.password or "", autocommit=True, ssl_disabled=True)
        admin = mysql.connector.connect(**options)
        admin.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")
        admin.close()
        connection = mysql.connector.connect(database=DATABASE, use_pure=False, **options)
        results["MariaDB/MySQL"] = bench("mysql", url, connection, repeats)
    for name, rows in results.items():
        report(f"{name}: twinrecord sync (ratio = twinrecord / raw; save row: mixins / plain)",
               rows, "twinrecord", "raw")


if __name__ == "__main__":
    main()
