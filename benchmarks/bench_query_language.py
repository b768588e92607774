"""The query language (API.md §12, §13) against raw psycopg 3 on PostgreSQL, sync.

    python benchmarks/bench_query_language.py [--quick]

Operations, each run by twinrecord and by a raw psycopg cursor executing the very SQL
twinrecord sends (taken from `to_sql()`), on one connection each:

- 20 rows by indexed column, three ways: `where('category = ?', (k,))` (string form),
  `where(User.c.category == k)` (expression form) and `where({'category': k})`;
  the target is the expression form within 10% of the string form.
- a two-table join returning models: `Post.query().join('author').where(User.c.category == k)`.
- a window query: row_number() over the 20 rows of a category, as dicts.

Targets: joins and windows at 0.6x the raw driver or better. Timing as in the other
scripts: the contenders alternate run by run and keep their best run. The machine's
neighbours make single numbers noisy: compare ratios, and run twice.

The URL comes from TWINRECORD_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
"""

from __future__ import annotations

import os
import sys
from typing import ClassVar, Optional

import psycopg

sys.path.insert(0, os.path.dirname(__file__))
from _common import Results, Rows, argument_parser, duel

from twinrecord import BaseActiveRecord, BelongsTo, HasMany, func
from twinrecord.backends.postgres import PostgresBackend, PostgresConfig

URL = os.environ.get("TWINRECORD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
USERS = 5000
CATEGORIES = 250  # 20 users per category
POSTS_PER_USER = 3


class QlModel(BaseActiveRecord):
    """The benchmark's base: configured once for both tables."""


class QlUser(QlModel):
    __table_name__ = "bench_ql_users"
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool
    posts: ClassVar[HasMany[QlPost]] = HasMany(foreign_key="user_id")


class QlPost(QlModel):
    __table_name__ = "bench_ql_posts"
    id: Optional[int] = None
    user_id: int
    title: str
    views: int
    author: ClassVar[BelongsTo[QlUser]] = BelongsTo(foreign_key="user_id")


def setup(config: PostgresConfig) -> None:
    QlModel.configure(config, PostgresBackend)
    backend = QlUser.backend()
    QlPost.drop_table()
    QlUser.drop_table()
    QlUser.create_table()
    QlPost.create_table()
    backend.execute("CREATE INDEX ON bench_ql_users (category)")
    backend.execute("CREATE INDEX ON bench_ql_posts (user_id)")
    users = [
        QlUser(name=f"user{i}", email=f"user{i}@example.com", category=i % CATEGORIES,
               score=i * 0.5, active=i % 2 == 0)
        for i in range(USERS)
    ]
    QlUser.insert_many(users)
    QlPost.insert_many([
        QlPost(user_id=u.id, title=f"post {u.id}/{j}", views=j) for u in users for j in range(POSTS_PER_USER)
    ])
    backend.execute("ANALYZE bench_ql_users")
    backend.execute("ANALYZE bench_ql_posts")


def main() -> None:
    args = argument_parser(__doc__.splitlines()[0]).parse_args()
    queries, repeats = (200, 3) if args.quick else (2000, 7)
    config = PostgresConfig.from_url(URL)
    setup(config)
    U, P = QlUser, QlPost
    raw = psycopg.connect(URL.replace("postgresql://", "postgresql://", 1), autocommit=True)
    cur = raw.cursor()

    by_string = U.query().where("category = ?", (0,)).to_sql()[0]
    by_expression = U.query().where(U.c.category == 0).to_sql()[0]
    join_sql = P.query().join("author").where(U.c.category == 0).to_sql()[0]
    rank = func.row_number().over(order_by=U.c.score.desc())
    window = U.query().where(U.c.category == 0).select(U.c.id, U.c.name, U.c.score, rank.alias("rn"))
    window_sql = window.to_sql()[0]

    def raw_runner(sql: str):  # type: ignore[no-untyped-def]
        def run() -> None:
            for k in range(queries):
                cur.execute(sql, (k % CATEGORIES,)).fetchall()
        return run

    def orm_string() -> None:
        for k in range(queries):
            U.query().where("category = ?", (k % CATEGORIES,)).all()

    def orm_expression() -> None:
        for k in range(queries):
            U.query().where(U.c.category == k % CATEGORIES).all()

    def orm_dict() -> None:
        for k in range(queries):
            U.query().where({"category": k % CATEGORIES}).all()

    def orm_join() -> None:
        for k in range(queries):
            P.query().join("author").where(U.c.category == k % CATEGORIES).all()

    def orm_window() -> None:
        for k in range(queries):
            (U.query().where(U.c.category == k % CATEGORIES)
             .select(U.c.id, U.c.name, U.c.score, rank.alias("rn")).to_dicts())

    rows: Rows = []
    for label, raw_sql, ours in [
        ("20 rows by column (string)", by_string, orm_string),
        ("20 rows by column (expression)", by_expression, orm_expression),
        ("20 rows by column (dict)", by_string, orm_dict),
        ("join: 60 posts as models", join_sql, orm_join),
        ("window: 20 rows ranked, dicts", window_sql, orm_window),
    ]:
        rows.append((label, *duel(raw_runner(raw_sql), ours, queries, repeats)))
    results = Results("bench_query_language")
    results.add("twinrecord sync vs raw psycopg (PostgreSQL), query language", rows, "twinrecord", "psycopg")
    string_rate, expression_rate = rows[0][2], rows[1][2]
    print(f"\nexpression form / string form: {expression_rate / string_rate:.2f} (target >= 0.90)")
    print(f"join ratio: {rows[3][2] / rows[3][1]:.2f}, window ratio: {rows[4][2] / rows[4][1]:.2f} (target >= 0.60)")
    results.write(args.json)
    raw.close()
    QlPost.drop_table()
    QlUser.drop_table()
    QlUser.backend().close()


if __name__ == "__main__":
    main()
