"""Eager loading against hand-written raw SQL: 1,000 posts with their comments (5 each)
and their authors, in three queries for both contenders.

    python benchmarks/bench_relations.py [--quick] [--no-postgres]

twinrecord: `Post.query().with_('comments', 'author').all()`. Raw: the same three
SELECTs on the bare driver (keys as IN lists of bound parameters, as twinrecord sends
them), grouped into plain tuples and dicts: each post with its comment tuples and its
author tuple. SQLite runs WAL with synchronous=NORMAL; PostgreSQL (sync and async)
runs when `twinrecord.backends.postgres` exists and the server at
TWINRECORD_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) answers.
The contenders alternate run by run and each keeps its best run.
Ratio = twinrecord ops/s / raw ops/s (1.0 = as fast; the target is >= 0.5).

Here: this benchmark's models, data and both contenders (its work is not _workload.py's);
timing and printing come from _common.py.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from typing import Any, ClassVar, Optional

sys.path.insert(0, os.path.dirname(__file__))
from _common import aduel, argument_parser, duel, report

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, BelongsTo, HasMany

AUTHORS, POSTS, COMMENTS_PER_POST = 100, 1000, 5
POSTGRES_URL = os.environ.get("TWINRECORD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
POSTS_SQL = "SELECT id, user_id, title, body FROM bench_rel_posts"
COMMENTS_SQL = "SELECT id, post_id, body FROM bench_rel_comments WHERE post_id IN ({})"
AUTHORS_SQL = "SELECT id, name, email FROM bench_rel_users WHERE id IN ({})"
SCHEMA = {
    "bench_rel_users": "id {key}, name TEXT NOT NULL, email TEXT NOT NULL",
    "bench_rel_posts": "id {key}, user_id BIGINT NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL",
    "bench_rel_comments": "id {key}, post_id BIGINT NOT NULL, body TEXT NOT NULL",
}
INDEXES = ["CREATE INDEX bench_rel_comments_post ON bench_rel_comments (post_id)"]


def declare(root: type[Any]) -> tuple[type[Any], type[Any], type[Any]]:
    """The three models on `root` (sync or async): declared once for both kinds."""

    class Author(root):  # type: ignore[misc, valid-type]
        __table_name__ = "bench_rel_users"
        id: Optional[int] = None
        name: str
        email: str

    class Post(root):  # type: ignore[misc, valid-type]
        __table_name__ = "bench_rel_posts"
        id: Optional[int] = None
        user_id: int
        title: str
        body: str
        author: ClassVar[BelongsTo[Author]] = BelongsTo(foreign_key="user_id", model=Author)
        comments: ClassVar[HasMany[Any]] = HasMany(foreign_key="post_id", model="Comment")

    class Comment(root):  # type: ignore[misc, valid-type]
        __table_name__ = "bench_rel_comments"
        id: Optional[int] = None
        post_id: int
        body: str

    return Author, Post, Comment


def seed_rows() -> dict[str, list[tuple[Any, ...]]]:
    return {
        "bench_rel_users": [(a, f"author{a}", f"a{a}@example.com") for a in range(1, AUTHORS + 1)],
        "bench_rel_posts": [
            (p, p % AUTHORS + 1, f"post {p}", "lorem ipsum " * 8) for p in range(1, POSTS + 1)
        ],
        "bench_rel_comments": [
            (c, (c - 1) // COMMENTS_PER_POST + 1, f"comment {c}")
            for c in range(1, POSTS * COMMENTS_PER_POST + 1)
        ],
    }


# ---- the raw contender: three queries, grouped by hand ------------------------------------
def assemble(posts: list[Any], comments: list[Any], authors: list[Any]) -> list[dict[str, Any]]:
    by_post: dict[Any, list[Any]] = {}
    for comment in comments:
        group = by_post.get(comment[1])
        if group is None:
            by_post[comment[1]] = [comment]
        else:
            group.append(comment)
    by_id = {author[0]: author for author in authors}
    return [
        {"post": post, "comments": by_post.get(post[0], []), "author": by_id.get(post[1])}
        for post in posts
    ]


def raw_queries(mark: str) -> Callable[[list[Any]], tuple[tuple[str, list[Any]], tuple[str, list[Any]]]]:
    def second_and_third(posts: list[Any]) -> tuple[tuple[str, list[Any]], tuple[str, list[Any]]]:
        post_ids = [p[0] for p in posts]
        author_ids = list(dict.fromkeys(p[1] for p in posts))
        return (
            (COMMENTS_SQL.format(", ".join([mark] * len(post_ids))), post_ids),
            (AUTHORS_SQL.format(", ".join([mark] * len(author_ids))), author_ids),
        )

    return second_and_third


def check(ours: list[Any], raw: list[dict[str, Any]]) -> None:
    """Both contenders loaded the same graph (checked once, outside the timing)."""
    assert len(ours) == len(raw) == POSTS
    assert sum(len(p.comments()) for p in ours) == sum(len(r["comments"]) for r in raw)
    assert all(p.author().id == p.user_id for p in ours)


LABEL = f"{POSTS} posts + comments + authors"


# ---- SQLite ----------------------------------------------------------------------------
def sqlite_suite(repeats: int) -> tuple[str, float, float]:
    path = os.path.join(tempfile.mkdtemp(prefix="twinrecord-bench-"), "relations.db")
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    for table, columns in SCHEMA.items():
        conn.execute(f"CREATE TABLE {table} ({columns.format(key='INTEGER PRIMARY KEY')})")
    for statement in INDEXES:
        conn.execute(statement)
    conn.execute("BEGIN")
    for table, rows in seed_rows().items():
        conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.execute("COMMIT")
    result = sync_duel(conn.execute, "?", f"sqlite:///{path}", repeats)
    conn.close()
    return (LABEL, *result)


def sync_duel(execute: Callable[..., Any], mark: str, url: str, repeats: int) -> tuple[float, float]:
    """Raw (through `execute`, which returns a cursor) against twinrecord on `url`."""
    follow = raw_queries(mark)

    def raw() -> list[dict[str, Any]]:
        posts = execute(POSTS_SQL).fetchall()
        (comments_sql, post_ids), (authors_sql, author_ids) = follow(posts)
        comments = execute(comments_sql, post_ids).fetchall()
        authors = execute(authors_sql, author_ids).fetchall()
        return assemble(posts, comments, authors)

    base = type("SyncBench", (BaseActiveRecord,), {"__module__": __name__})
    base.configure(url)
    _, post, _ = declare(base)

    def ours() -> list[Any]:
        return post.query().with_("comments", "author").all()  # type: ignore[no-any-return]

    check(ours(), raw())
    result = duel(raw, ours, 1, repeats)  # one graph per run
    base.backend().close()
    return result


# ---- PostgreSQL ------------------------------------------------------------------------
def postgres_available() -> str | None:
    """None when PostgreSQL can be benchmarked, else why not."""
    try:
        import psycopg

        import twinrecord.backends.postgres  # noqa: F401
    except ImportError as error:
        return f"no PostgreSQL backend or driver ({error})"
    try:
        psycopg.connect(POSTGRES_URL.split("?", 1)[0], connect_timeout=3).close()
    except psycopg.Error as error:
        return f"server unreachable ({str(error).strip()})"
    return None


def postgres_seed() -> None:
    import psycopg

    with psycopg.connect(POSTGRES_URL.split("?", 1)[0], autocommit=True) as conn:
        for table, columns in SCHEMA.items():
            conn.execute(f"DROP TABLE IF EXISTS {table}")
            conn.execute(f"CREATE TABLE {table} ({columns.format(key='BIGINT PRIMARY KEY')})")
        for statement in INDEXES:
            conn.execute(statement)
        with conn.cursor() as cursor:
            for table, rows in seed_rows().items():
                marks = ", ".join(["%s"] * len(rows[0]))
                cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("ANALYZE")


def postgres_sync_suite(repeats: int) -> tuple[str, float, float]:
    import psycopg

    conn = psycopg.connect(POSTGRES_URL.split("?", 1)[0], autocommit=True)
    cursor = conn.cursor()
    result = sync_duel(cursor.execute, "%s", POSTGRES_URL, repeats)
    conn.close()
    return (LABEL + " (sync)", *result)


async def postgres_async_suite(repeats: int) -> tuple[str, float, float]:
    import psycopg

    conn = await psycopg.AsyncConnection.connect(POSTGRES_URL.split("?", 1)[0], autocommit=True)
    cursor = conn.cursor()
    follow = raw_queries("%s")

    async def raw() -> list[dict[str, Any]]:
        posts = await (await cursor.execute(POSTS_SQL)).fetchall()
        (comments_sql, post_ids), (authors_sql, author_ids) = follow(posts)
        comments = await (await cursor.execute(comments_sql, post_ids)).fetchall()
        authors = await (await cursor.execute(authors_sql, author_ids)).fetchall()
        return assemble(posts, comments, authors)

    base = type("AsyncPostgresBench", (AsyncBaseActiveRecord,), {"__module__": __name__})
    base.configure(POSTGRES_URL)
    _, post, _ = declare(base)

    async def ours() -> list[Any]:
        return await post.query().with_("comments", "author").all()  # type: ignore[no-any-return]

    loaded = await ours()
    assert len(loaded) == POSTS and all(p.comments.is_loaded() for p in loaded)
    assert len(await raw()) == POSTS
    result = await aduel(raw, ours, 1, repeats)
    await base.backend().close()
    await conn.close()
    return (LABEL + " (async)", *result)


def main() -> None:
    parser = argument_parser(__doc__ or "")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args()
    repeats = 5 if args.quick else 30
    report("Eager loading on SQLite (sync): twinrecord with_() vs raw sqlite3",
           [sqlite_suite(repeats)], "twinrecord", "sqlite3")
    problem = "skipped (--no-postgres)" if args.no_postgres else postgres_available()
    if problem is not None:
        print(f"\nPostgreSQL: {problem}")
        return
    postgres_seed()
    rows = [postgres_sync_suite(repeats), asyncio.run(postgres_async_suite(repeats))]
    report("Eager loading on PostgreSQL: twinrecord with_() vs raw psycopg 3",
           rows, "twinrecord", "psycopg")


if __name__ == "__main__":
    main()
