"""twinrecord (sync) against raw sqlite3 on the same work, WAL + synchronous=NORMAL for both.

    python benchmarks/bench_sqlite.py [--quick]

Prints ops/s per operation for both and the ratio (twinrecord / raw; 1.0 = as fast).
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile
from typing import Optional

sys.path.insert(0, os.path.dirname(__file__))
from _common import best_rate, parse_args, report

from twinrecord import BaseActiveRecord

ROWS = 5000
CREATE = (
    "CREATE TABLE bench_users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
    "email TEXT NOT NULL, category INTEGER NOT NULL, score REAL NOT NULL, active BOOLEAN NOT NULL)"
)
INDEX = "CREATE INDEX bench_users_category ON bench_users (category)"


class BenchUser(BaseActiveRecord):
    __table_name__ = "bench_users"
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool


def fresh_raw(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("DROP TABLE IF EXISTS bench_users")
    conn.execute(CREATE)
    conn.execute(INDEX)
    return conn


def row(i: int) -> tuple[str, str, int, float, bool]:
    return (f"user{i}", f"user{i}@example.com", i % 250, i * 0.5, i % 2 == 0)


def main() -> None:
    args = parse_args(__doc__ or "")
    repeats = 2 if args.quick else 5
    n = 500 if args.quick else 2000
    directory = tempfile.mkdtemp(prefix="twinrecord-bench-")
    raw_db, orm_db = os.path.join(directory, "raw.db"), os.path.join(directory, "orm.db")
    raw = fresh_raw(raw_db)
    fresh_raw(orm_db).close()
    BenchUser.configure(f"sqlite:///{orm_db}")
    insert_sql = "INSERT INTO bench_users (name, email, category, score, active) VALUES (?, ?, ?, ?, ?)"
    results: list[tuple[str, float, float]] = []

    def clear_raw() -> None:
        raw.execute("DELETE FROM bench_users")

    def clear_orm() -> None:
        BenchUser.query().delete()

    # 1. one row per autocommit statement, id read back
    def raw_insert_one() -> None:
        for i in range(n):
            assert raw.execute(insert_sql, row(i)).lastrowid

    def orm_insert_one() -> None:
        for i in range(n):
            user = BenchUser(name=f"user{i}", email=f"user{i}@example.com", category=i % 250, score=i * 0.5, active=i % 2 == 0)
            user.save()
            assert user.id

    results.append(("insert one (autocommit, id back)", best_rate(raw_insert_one, n, repeats, clear_raw), best_rate(orm_insert_one, n, repeats, clear_orm)))

    # 2. 2000 rows in one transaction
    def raw_insert_tx() -> None:
        raw.execute("BEGIN")
        for i in range(2000):
            raw.execute(insert_sql, row(i))
        raw.execute("COMMIT")

    def orm_insert_tx() -> None:
        with BenchUser.transaction():
            for i in range(2000):
                BenchUser(name=f"user{i}", email=f"user{i}@example.com", category=i % 250, score=i * 0.5, active=i % 2 == 0).save()

    results.append(("insert 2000 in one transaction", best_rate(raw_insert_tx, 2000, repeats, clear_raw), best_rate(orm_insert_tx, 2000, repeats, clear_orm)))

    # 3. bulk insert of 2000 rows
    def raw_insert_many() -> None:
        raw.execute("BEGIN")
        raw.executemany(insert_sql, [row(i) for i in range(2000)])
        raw.execute("COMMIT")

    def orm_insert_many() -> None:
        BenchUser.insert_many([
            BenchUser(name=f"user{i}", email=f"user{i}@example.com", category=i % 250, score=i * 0.5, active=i % 2 == 0)
            for i in range(2000)
        ])

    results.append(("insert_many 2000", best_rate(raw_insert_many, 2000, repeats, clear_raw), best_rate(orm_insert_many, 2000, repeats, clear_orm)))

    # Data for the read/update benchmarks: ROWS rows in each database.
    clear_raw()
    raw_insert_many_rows = [row(i) for i in range(ROWS)]
    raw.execute("BEGIN")
    raw.executemany(insert_sql, raw_insert_many_rows)
    raw.execute("COMMIT")
    clear_orm()
    BenchUser.insert_many([BenchUser(name=r[0], email=r[1], category=r[2], score=r[3], active=r[4]) for r in raw_insert_many_rows])
    raw_ids = [r[0] for r in raw.execute("SELECT id FROM bench_users ORDER BY id")]
    orm_ids = [u["id"] for u in BenchUser.backend().fetch_all("SELECT id FROM bench_users ORDER BY id")]
    lookups = 500 if args.quick else 3000

    # 4. get by primary key
    def raw_get() -> None:
        for k in range(lookups):
            raw.execute("SELECT id, name, email, category, score, active FROM bench_users WHERE id = ?", (raw_ids[k % ROWS],)).fetchone()

    def orm_get() -> None:
        for k in range(lookups):
            BenchUser.find_one(orm_ids[k % ROWS])

    results.append(("get by primary key", best_rate(raw_get, lookups, repeats), best_rate(orm_get, lookups, repeats)))

    # 5. fetch all rows as models
    def raw_fetch_all() -> None:
        raw.execute("SELECT id, name, email, category, score, active FROM bench_users").fetchall()

    def orm_fetch_all() -> None:
        BenchUser.query().all()

    results.append((f"fetch {ROWS} rows as models", best_rate(raw_fetch_all, ROWS, repeats), best_rate(orm_fetch_all, ROWS, repeats)))

    # 6. 20 rows by an indexed column, many times
    queries = 200 if args.quick else 1000

    def raw_by_index() -> None:
        for k in range(queries):
            raw.execute("SELECT id, name, email, category, score, active FROM bench_users WHERE category = ?", (k % 250,)).fetchall()

    def orm_by_index() -> None:
        for k in range(queries):
            BenchUser.query().where({"category": k % 250}).all()

    results.append(("20 rows by indexed column", best_rate(raw_by_index, queries, repeats), best_rate(orm_by_index, queries, repeats)))

    # 7. load, change one field, save (new values every run, so every save writes)
    runs = {"raw": 0, "orm": 0}

    def raw_load_save() -> None:
        runs["raw"] += 1
        for k in range(lookups):
            key = raw_ids[k % ROWS]
            raw.execute("SELECT id, name, email, category, score, active FROM bench_users WHERE id = ?", (key,)).fetchone()
            raw.execute("UPDATE bench_users SET score = ? WHERE id = ?", (k * 1.5 + runs["raw"], key))

    def orm_load_save() -> None:
        runs["orm"] += 1
        for k in range(lookups):
            user = BenchUser.find_one(orm_ids[k % ROWS])
            user.score = k * 1.5 + runs["orm"]
            assert user.save() == 1

    results.append(("load, change one field, save", best_rate(raw_load_save, lookups, repeats), best_rate(orm_load_save, lookups, repeats)))

    # 8. update one column by primary key through a query
    def raw_update() -> None:
        for k in range(lookups):
            raw.execute("UPDATE bench_users SET score = ? WHERE id = ?", (k * 2.5, raw_ids[k % ROWS]))

    def orm_update() -> None:
        for k in range(lookups):
            BenchUser.query().where({"id": orm_ids[k % ROWS]}).update({"score": k * 2.5})

    results.append(("update one column by pk (query)", best_rate(raw_update, lookups, repeats), best_rate(orm_update, lookups, repeats)))

    # 9. delete by primary key (each run deletes a fresh slice of rows)
    deletes = min(lookups, ROWS // (repeats + 1))
    slices = {"raw": 0, "orm": 0}

    def raw_delete() -> None:
        start = slices["raw"] * deletes
        slices["raw"] += 1
        for key in raw_ids[start:start + deletes]:
            raw.execute("DELETE FROM bench_users WHERE id = ?", (key,))

    def orm_delete() -> None:
        start = slices["orm"] * deletes
        slices["orm"] += 1
        for key in orm_ids[start:start + deletes]:
            BenchUser.query().where({"id": key}).delete()

    results.append(("delete by primary key (query)", best_rate(raw_delete, deletes, repeats), best_rate(orm_delete, deletes, repeats)))

    geomean = report("SQLite (WAL, synchronous=NORMAL): twinrecord sync vs raw sqlite3", results, "twinrecord", "sqlite3")
    targets = {"get by primary key": 0.25, f"fetch {ROWS} rows as models": 0.5}
    print(f"\ntargets: geometric mean >= 0.40 (got {geomean:.2f}); "
          + "; ".join(f"{name} >= {t} (got {ours / raw_:.2f})" for name, raw_, ours in results for k, t in targets.items() if name == k))
    BenchUser.backend().close()
    raw.close()


if __name__ == "__main__":
    main()
