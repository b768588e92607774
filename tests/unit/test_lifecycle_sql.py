"""Golden SQL of the statements issue 11 adds (no database): the mixins' guarded
single-row writes, the bulk INSERT ... ON CONFLICT / ON DUPLICATE KEY and the CASE update,
and the soft-delete filter around a query's whole condition."""

from __future__ import annotations

from typing import Optional

from twinrecord import BaseActiveRecord, SoftDeleteMixin
from twinrecord.query._core import QueryCore
from twinrecord.sql.bulk import (
    CaseUpdate,
    ConflictInsert,
    compile_case_update,
    compile_conflict_insert,
)
from twinrecord.sql.dialect import MYSQL, POSTGRES, SQLITE
from twinrecord.sql.guarded import (
    GuardedDelete,
    GuardedUpdate,
    compile_guarded_delete,
    compile_guarded_update,
)


def test_guarded_update_bumps_checks_and_tests_for_null():
    statement = GuardedUpdate("docs", ("title",), ("id",), bump=("lock_version",),
                              match=("lock_version",), unset=("deleted_at",))
    assert compile_guarded_update(statement, SQLITE) == (
        'UPDATE "docs" SET "title" = ?, "lock_version" = "lock_version" + 1 '
        'WHERE "id" = ? AND "lock_version" = ? AND "deleted_at" IS NULL'
    )
    assert compile_guarded_update(statement, MYSQL) == (
        "UPDATE `docs` SET `title` = %s, `lock_version` = `lock_version` + 1 "
        "WHERE `id` = %s AND `lock_version` = %s AND `deleted_at` IS NULL"
    )


def test_guarded_delete():
    statement = GuardedDelete("docs", ("id",), ("v",))
    assert compile_guarded_delete(statement, POSTGRES) == (
        'DELETE FROM "docs" WHERE "id" = %s AND "v" = %s'
    )


def test_insert_ignore_per_database():
    statement = ConflictInsert("users", ("email", "name"), 2, "ignore", target=("email",),
                               returning=("id", "email", "name"))
    assert compile_conflict_insert(statement, POSTGRES) == (
        'INSERT INTO "users" ("email", "name") VALUES (%s, %s), (%s, %s) '
        'ON CONFLICT ("email") DO NOTHING RETURNING "id", "email", "name"'
    )
    assert compile_conflict_insert(statement._replace(target=()), SQLITE) == (
        'INSERT INTO "users" ("email", "name") VALUES (?, ?), (?, ?) '
        'ON CONFLICT DO NOTHING RETURNING "id", "email", "name"'
    )
    assert compile_conflict_insert(statement, MYSQL) == (
        "INSERT IGNORE INTO `users` (`email`, `name`) VALUES (%s, %s), (%s, %s)"
    )


def test_upsert_per_database():
    statement = ConflictInsert("users", ("email", "name"), 1, "update", target=("email",),
                               update=("name",), stamp=("updated_at",), bump=("v",),
                               returning=("id",))
    assert compile_conflict_insert(statement, POSTGRES) == (
        'INSERT INTO "users" ("email", "name") VALUES (%s, %s) ON CONFLICT ("email") DO UPDATE '
        'SET "name" = EXCLUDED."name", "updated_at" = %s, "v" = "users"."v" + 1 RETURNING "id"'
    )
    assert compile_conflict_insert(statement, MYSQL) == (
        "INSERT INTO `users` (`email`, `name`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE "
        "`name` = VALUES(`name`), `updated_at` = %s, `v` = `v` + 1"
    )
    assert compile_conflict_insert(statement._replace(row_alias=True), MYSQL) == (
        "INSERT INTO `users` (`email`, `name`) VALUES (%s, %s) AS new ON DUPLICATE KEY UPDATE "
        "`name` = new.`name`, `updated_at` = %s, `v` = `v` + 1"
    )


def test_case_update_casts_on_postgres_only():
    statement = CaseUpdate("posts", "id", ("title", "n"), (2, 1), ("TEXT", "BIGINT"), 2,
                           returning=True)
    assert compile_case_update(statement, POSTGRES) == (
        'UPDATE "posts" SET "title" = CASE "id" WHEN %s THEN CAST(%s AS TEXT) WHEN %s THEN '
        'CAST(%s AS TEXT) ELSE "title" END, "n" = CASE "id" WHEN %s THEN CAST(%s AS BIGINT) '
        'ELSE "n" END WHERE "id" IN (%s, %s) RETURNING "id"'
    )
    plain = statement._replace(casts=("", ""), returning=False)
    assert compile_case_update(plain, MYSQL) == (
        "UPDATE `posts` SET `title` = CASE `id` WHEN %s THEN %s WHEN %s THEN %s ELSE `title` "
        "END, `n` = CASE `id` WHEN %s THEN %s ELSE `n` END WHERE `id` IN (%s, %s)"
    )


def test_case_update_with_a_composite_key():
    statement = CaseUpdate("seats", ("hall", "number"), ("price",), (2,), ("",), 2,
                           bump=("v",), returning=True)
    assert compile_case_update(statement, SQLITE) == (
        'UPDATE "seats" SET "price" = CASE WHEN "hall" = ? AND "number" = ? THEN ? '
        'WHEN "hall" = ? AND "number" = ? THEN ? ELSE "price" END, "v" = "v" + 1 '
        'WHERE ("hall" = ? AND "number" = ?) OR ("hall" = ? AND "number" = ?) '
        'RETURNING "hall", "number"'
    )


class SoftPost(SoftDeleteMixin, BaseActiveRecord):
    __table_name__ = "soft_posts"
    id: Optional[int] = None
    title: str


def test_soft_delete_filter_wraps_the_whole_condition():
    query = QueryCore(SoftPost).where("title = ?", ("a",)).or_where("title = ?", ("b",))
    sql, params = query._to_sql(SQLITE)
    assert sql.endswith(
        'WHERE ((title = ?) OR (title = ?)) AND "soft_posts"."deleted_at" IS NULL'
    )
    assert params == ["a", "b"]
    sql, _ = query.only_deleted()._to_sql(SQLITE)
    assert sql.endswith('AND "soft_posts"."deleted_at" IS NOT NULL')
    sql, _ = query.with_deleted()._to_sql(SQLITE)
    assert "deleted_at\" IS" not in sql


def test_excluded_spelt_per_database():
    import pytest

    from twinrecord import StatementInvalid, excluded
    from twinrecord.sql.compiler import compile_upsert_sets
    from twinrecord.sql.features import Server

    class Page(BaseActiveRecord):
        __table_name__ = "pages"
        id: Optional[int] = None
        hits: int = 0

    shapes = ((Page.c.hits + excluded(Page.c.hits) * 2).shape,)
    assert compile_upsert_sets(shapes, POSTGRES, Server("postgresql"), False) == (
        ('"pages"."hits" + (EXCLUDED."hits" * ?)',), (0,))
    assert compile_upsert_sets(shapes, SQLITE, Server("sqlite"), False)[0] == (
        '"pages"."hits" + (EXCLUDED."hits" * ?)',)
    assert compile_upsert_sets(shapes, MYSQL, Server("mysql", (8, 0, 36)), True)[0] == (
        "`pages`.`hits` + (new.`hits` * ?)",)
    assert compile_upsert_sets(shapes, MYSQL, Server("mariadb", (10, 11)), False)[0] == (
        "`pages`.`hits` + (VALUES(`hits`) * ?)",)
    with pytest.raises(StatementInvalid, match="upsert_many"):
        QueryCore(Page).where(Page.c.hits > excluded("hits"))._to_sql(SQLITE)


def test_upsert_with_computed_sets_and_mariadb_returning():
    statement = ConflictInsert("pages", ("path", "hits"), 1, "update", target=("path",),
                               computed=(("hits", '"pages"."hits" + EXCLUDED."hits"'),),
                               stamp=("updated_at",), returning=("id",))
    assert compile_conflict_insert(statement, SQLITE) == (
        'INSERT INTO "pages" ("path", "hits") VALUES (?, ?) ON CONFLICT ("path") DO UPDATE '
        'SET "hits" = "pages"."hits" + EXCLUDED."hits", "updated_at" = ? RETURNING "id"'
    )
    mariadb = statement._replace(computed=(("hits", "`pages`.`hits` + VALUES(`hits`)"),),
                                 server_returning=True)
    assert compile_conflict_insert(mariadb, MYSQL) == (
        "INSERT INTO `pages` (`path`, `hits`) VALUES (%s, %s) ON DUPLICATE KEY UPDATE "
        "`hits` = `pages`.`hits` + VALUES(`hits`), `updated_at` = %s RETURNING `id`"
    )


def test_datetime_writers_store_naive_utc_at_a_fixed_width():
    # The stamps' writers skip isoformat/replace for speed: they must write what those would.
    from datetime import UTC, datetime, timedelta, timezone

    from twinrecord.sql.dialect import _text_datetime, _utc_naive

    samples = [
        datetime(2026, 12, 5, 18, 41, 36, 123456),
        datetime(2026, 12, 5, 18, 41, 36),  # no microseconds: still six digits
        datetime(2026, 12, 5, 18, 41, 37, 5),  # the next second after a cached one
        datetime(999, 1, 2, 3, 4, 5, 6),  # a year below 1000 keeps four digits
        datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2027, 1, 1, 1, 30, tzinfo=timezone(timedelta(hours=2))),  # crosses the year
        datetime(2026, 6, 1, 12, 0, 0, 7, tzinfo=timezone(timedelta(0))),  # UTC, not the singleton
    ]
    for value in samples + samples[::-1]:
        naive = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        assert _text_datetime(value) == naive.isoformat(sep=" ", timespec="microseconds")
        assert _utc_naive(value) == naive and _utc_naive(value).tzinfo is None
    assert _text_datetime(samples[5]) == "2026-12-31 23:30:00.000000"


# ---- plain insert_many with one array per column (PostgreSQL) ----------------------------------
def test_array_insert_sql_casts_each_array_to_its_bare_type():
    from twinrecord.sql.bulk import ArrayInsert, array_element_type, compile_array_insert

    assert array_element_type("VARCHAR(100)") == "VARCHAR"  # a sized cast would cut silently
    assert array_element_type("DECIMAL(10,2)") == "DECIMAL"
    assert array_element_type("TIMESTAMPTZ(6)") == "TIMESTAMPTZ"
    assert array_element_type("DOUBLE PRECISION") == "DOUBLE PRECISION"
    statement = ArrayInsert("t", ("a", "b"), ("TEXT", "BIGINT"), ("id",))
    assert compile_array_insert(statement, POSTGRES) == (
        'INSERT INTO "t" ("a", "b") SELECT * FROM unnest(CAST(%s AS TEXT[]), '
        'CAST(%s AS BIGINT[])) RETURNING "id"'
    )
    assert POSTGRES.array_insert and not SQLITE.array_insert and not MYSQL.array_insert


def test_array_insert_falls_back_on_values_of_mixed_types():
    from decimal import Decimal
    from operator import itemgetter

    from twinrecord.model._bulk import _arrays

    class Row:
        def __init__(self, value: object) -> None:
            self.value = value

    readers = [(itemgetter("value"), None)]
    assert _arrays([Row(1), Row(None), Row(2)], readers) == [[1, None, 2]]
    assert _arrays([Row(Decimal(1)), Row(2)], readers) is None  # one array, one element type
