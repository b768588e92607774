"""twinrecord (sync) against raw sqlite3 on the same work, WAL + synchronous=NORMAL for both.

    python benchmarks/bench_sqlite.py [--quick]

Prints ops/s per operation for both and the ratio (twinrecord / raw; 1.0 = as fast).

Here: the raw sqlite3 side of each operation and the database setup. The operations and
twinrecord's side are in _workload.py, timing and printing in _common.py.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _common import Results, parse_args, ratio
from _workload import (
    BATCH,
    CATEGORIES,
    READS,
    ROWS,
    UPDATES,
    WRITES,
    BenchUser,
    Side,
    Sizes,
    SyncOrm,
    measure,
    new_user,
    row,
)

CREATE = (
    "CREATE TABLE bench_users (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, "
    "email TEXT NOT NULL, category INTEGER NOT NULL, score REAL NOT NULL, active BOOLEAN NOT NULL)"
)
INDEX = "CREATE INDEX bench_users_category ON bench_users (category)"
INSERT = "INSERT INTO bench_users (name, email, category, score, active) VALUES (?, ?, ?, ?, ?)"
GET = "SELECT id, name, email, category, score, active FROM bench_users WHERE id = ?"
BY_CATEGORY = "SELECT id, name, email, category, score, active FROM bench_users WHERE category = ?"
UPDATE = "UPDATE bench_users SET score = ? WHERE id = ?"
DELETE = "DELETE FROM bench_users WHERE id = ?"
ALL = "SELECT id, name, email, category, score, active FROM bench_users"


def fresh_raw(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("DROP TABLE IF EXISTS bench_users")
    conn.execute(CREATE)
    conn.execute(INDEX)
    return conn


class RawSqlite(Side):
    """The raw sqlite3 side of each operation, on one autocommit connection."""

    def __init__(self, conn: sqlite3.Connection, sizes: Sizes) -> None:
        super().__init__(sizes)
        self.conn = conn

    def empty(self) -> None:
        self.conn.execute("DELETE FROM bench_users")

    def insert_one(self) -> None:
        conn = self.conn
        for i in range(self.sizes.inserts):
            assert conn.execute(INSERT, row(i)).lastrowid

    def insert_in_transaction(self) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        for i in range(BATCH):
            conn.execute(INSERT, row(i))
        conn.execute("COMMIT")

    def insert_many(self) -> None:
        conn = self.conn
        conn.execute("BEGIN")
        conn.executemany(INSERT, [row(i) for i in range(BATCH)])
        conn.execute("COMMIT")

    def get_by_pk(self) -> None:
        conn, ids = self.conn, self.ids
        for k in range(self.sizes.lookups):
            conn.execute(GET, (ids[k % ROWS],)).fetchone()

    def fetch_all(self) -> None:
        self.conn.execute(ALL).fetchall()

    def by_index(self) -> None:
        conn = self.conn
        for k in range(self.sizes.queries):
            conn.execute(BY_CATEGORY, (k % CATEGORIES,)).fetchall()

    def load_change_save(self) -> None:
        conn, ids, run = self.conn, self.ids, self.next_run()
        for k in range(self.sizes.lookups):
            key = ids[k % ROWS]
            conn.execute(GET, (key,)).fetchone()
            conn.execute(UPDATE, (run + k * 1.5, key))

    def update_by_pk(self) -> None:
        conn, ids, base = self.conn, self.ids, self.update_base()
        for k in range(self.sizes.lookups):
            conn.execute(UPDATE, (base + k * 2.5, ids[k % ROWS]))

    def delete_by_pk(self) -> None:
        conn = self.conn
        for key in self.next_slice():
            conn.execute(DELETE, (key,))


def main() -> None:
    args = parse_args(__doc__ or "")
    repeats = 2 if args.quick else 5
    lookups = 500 if args.quick else 3000
    sizes = Sizes(repeats=repeats, inserts=500 if args.quick else 2000, lookups=lookups,
                  queries=200 if args.quick else 1000, deletes=min(lookups, ROWS // (repeats + 1)))
    directory = tempfile.mkdtemp(prefix="twinrecord-bench-")
    raw_db, orm_db = os.path.join(directory, "raw.db"), os.path.join(directory, "orm.db")
    raw = RawSqlite(fresh_raw(raw_db), sizes)
    fresh_raw(orm_db).close()
    BenchUser.configure(f"sqlite:///{orm_db}")
    ours = SyncOrm(BenchUser, sizes, empty=lambda: BenchUser.query().delete())
    # Unlike the other scripts, each contender's runs come in one block (raw first), as this
    # script has always measured: its numbers stay comparable with earlier runs.
    results = measure(WRITES, raw, ours, alternate=False)

    # Data for the read/update benchmarks: ROWS rows in each database.
    raw.empty()
    raw.conn.execute("BEGIN")
    raw.conn.executemany(INSERT, [row(i) for i in range(ROWS)])
    raw.conn.execute("COMMIT")
    ours.empty()
    BenchUser.insert_many([new_user(BenchUser, i) for i in range(ROWS)])
    raw.ids = [r[0] for r in raw.conn.execute("SELECT id FROM bench_users ORDER BY id")]
    ours.ids = [u["id"] for u in BenchUser.backend().fetch_all("SELECT id FROM bench_users ORDER BY id")]
    results += measure(READS + UPDATES, raw, ours, alternate=False)

    results_out = Results("bench_sqlite")
    geomean = results_out.add("SQLite (WAL, synchronous=NORMAL): twinrecord sync vs raw sqlite3", results, "twinrecord", "sqlite3")
    targets = {f"insert {BATCH} in one transaction": 0.35, "get by primary key": 0.50}
    print(f"\ntargets: geometric mean >= 0.55 (got {geomean:.2f}); "
          + "; ".join(f"{name} >= {t} (got {ratio(results, name):.2f})" for name, t in targets.items()))
    results_out.write(args.json)
    BenchUser.backend().close()
    raw.conn.close()


if __name__ == "__main__":
    main()
