"""Golden tests of SQL compilation for every dialect, without a database.

In the style of Peewee's `assertSQL`: each test states the exact SQL text and the
placeholder count (or the parameters) a description compiles to. The second half
drives the query builder (`QueryCore`) on a model that is never configured:
`_to_sql(dialect)` needs no backend.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from enum import IntEnum, StrEnum
from typing import Any, ClassVar

import pytest

from twinrecord import BaseActiveRecord, HasMany, HasOne, RelationNotFound, StatementInvalid
from twinrecord.errors import ConfigurationError
from twinrecord.query._core import QueryCore
from twinrecord.sql import types as t
from twinrecord.sql.column_refs import parse_group_keys, parse_sort_keys
from twinrecord.sql.ddl import column_type_sql, create_table_sql, drop_table_sql
from twinrecord.sql.dialect import (
    ISOLATION_LEVELS,
    MYSQL,
    POSTGRES,
    SQLITE,
    Dialect,
    normalize_isolation,
)
from twinrecord.sql.statements import (
    Aggregate,
    AllOf,
    ColumnTest,
    Delete,
    Ident,
    Insert,
    Raw,
    Select,
    Update,
    compile_delete,
    compile_delete_matching,
    compile_insert,
    compile_scalar,
    compile_select,
    compile_update,
    compile_update_matching,
)

DIALECTS = [SQLITE, POSTGRES, MYSQL]


def sort_keys(*texts: str) -> tuple[Any, ...]:
    return tuple(key for text in texts for key in parse_sort_keys(text))


def group_keys(*texts: str) -> tuple[Any, ...]:
    return tuple(key for text in texts for key in parse_group_keys(text))
IDS = ["sqlite", "postgres", "mysql"]
by_dialect = pytest.mark.parametrize("dialect", DIALECTS, ids=IDS)


def assert_sql(compiled: tuple[str, int], sql: str, placeholders: int) -> None:
    """Peewee's assertSQL: exact text and the number of placeholders."""
    got_sql, got_count = compiled
    assert got_sql == sql
    assert got_count == placeholders


def _where(*items: tuple[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(items)


A = Raw("a = ?")
B = Raw("b = ?")
C = Raw("c = ?")


# ---- identifier quoting ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "name", "quoted"),
    [
        (SQLITE, "users", '"users"'),
        (POSTGRES, "users", '"users"'),
        (MYSQL, "users", "`users`"),
        (SQLITE, "users.id", '"users"."id"'),
        (POSTGRES, "public.users.id", '"public"."users"."id"'),
        (MYSQL, "users.id", "`users`.`id`"),
        (SQLITE, "*", "*"),
        (MYSQL, "users.*", "`users`.*"),
        (POSTGRES, 'we"ird', '"we""ird"'),
        (SQLITE, 'a"b.c', '"a""b"."c"'),
        (MYSQL, "we`ird", "`we``ird`"),
        (MYSQL, 'dq"inside', '`dq"inside`'),  # only the dialect's own quote is doubled
        (POSTGRES, "back`tick", '"back`tick"'),
        (SQLITE, "select", '"select"'),  # reserved words are safe once quoted
    ],
)
def test_quote_identifier(dialect: Dialect, name: str, quoted: str) -> None:
    assert dialect.quote(name) == quoted


# ---- placeholders: `?` -> driver style, `%` doubling, lexical skipping ---------------------
@pytest.mark.parametrize(
    ("dialect", "sql", "expected", "count"),
    [
        # qmark (SQLite) leaves the text as written
        (SQLITE, "a = ? AND b = ?", "a = ? AND b = ?", 2),
        (POSTGRES, "a = ? AND b = ?", "a = %s AND b = %s", 2),
        (MYSQL, "a = ? AND b = ?", "a = %s AND b = %s", 2),
        # a literal % is doubled for the format drivers, wherever it stands
        (SQLITE, "name LIKE 'a%'", "name LIKE 'a%'", 0),
        (POSTGRES, "name LIKE 'a%'", "name LIKE 'a%%'", 0),
        (MYSQL, "name LIKE 'a%' AND x = ?", "name LIKE 'a%%' AND x = %s", 1),
        (POSTGRES, "a % 2 = ?", "a %% 2 = %s", 1),
        (POSTGRES, "x LIKE ? || '%'", "x LIKE %s || '%%'", 1),
        # `?` inside a single-quoted literal is text, not a placeholder
        (SQLITE, "a = '?' AND b = ?", "a = '?' AND b = ?", 1),
        (POSTGRES, "a = 'what?' AND b = ?", "a = 'what?' AND b = %s", 1),
        (POSTGRES, "a = 'it''s ?' AND b = ?", "a = 'it''s ?' AND b = %s", 1),
        (MYSQL, "a = '?%' AND b = ?", "a = '?%%' AND b = %s", 1),
        # quoted identifiers
        (
            POSTGRES,
            'SELECT "odd?col" FROM t WHERE x = ?',
            'SELECT "odd?col" FROM t WHERE x = %s',
            1,
        ),
        (POSTGRES, 'SELECT "a""?" FROM t', 'SELECT "a""?" FROM t', 0),
        (MYSQL, "SELECT `odd?col` FROM t WHERE x = ?", "SELECT `odd?col` FROM t WHERE x = %s", 1),
        (MYSQL, "SELECT `a``?` FROM t", "SELECT `a``?` FROM t", 0),
        # comments
        (POSTGRES, "SELECT 1 -- why?\nWHERE x = ?", "SELECT 1 -- why?\nWHERE x = %s", 1),
        (MYSQL, "SELECT /* a?\n b? */ x = ?", "SELECT /* a?\n b? */ x = %s", 1),
        (POSTGRES, "SELECT 1 -- 100%\n, ?", "SELECT 1 -- 100%%\n, %s", 1),
        (SQLITE, "SELECT /* ? */ ?", "SELECT /* ? */ ?", 1),
        # PostgreSQL dollar quoting
        (POSTGRES, "SELECT $$ a ? b $$, ?", "SELECT $$ a ? b $$, %s", 1),
        (POSTGRES, "SELECT $body$ it's ? $body$, ?", "SELECT $body$ it's ? $body$, %s", 1),
        # MySQL also accepts a backslash-escaped quote inside a literal ...
        (MYSQL, r"a = 'it\'s ?' AND b = ?", r"a = 'it\'s ?' AND b = %s", 1),
        (MYSQL, r"a = 'back\\' AND b = ?", r"a = 'back\\' AND b = %s", 1),
        # ... the standard dialects do not: there the backslash is an ordinary char
        (POSTGRES, r"a = 'C:\' AND b = ?", r"a = 'C:\' AND b = %s", 1),
        (SQLITE, r"a = 'C:\' AND b = ?", r"a = 'C:\' AND b = ?", 1),
        # no placeholders at all
        (POSTGRES, "SELECT 1", "SELECT 1", 0),
        (MYSQL, "", "", 0),
    ],
)
def test_prepare_rewrites_placeholders(
    dialect: Dialect, sql: str, expected: str, count: int
) -> None:
    assert_sql(dialect.prepare(sql), expected, count)


def test_prepare_counts_every_placeholder_in_a_long_statement() -> None:
    sql = "INSERT INTO t VALUES " + ", ".join(["(?, ?, '?')"] * 50)
    driver_sql, count = POSTGRES.prepare(sql)
    assert count == 100
    assert driver_sql.count("%s") == 100
    assert driver_sql.count("'?'") == 50


def test_prepare_leaves_dollar_quote_with_digit_in_tag_alone() -> None:
    assert_sql(POSTGRES.prepare("SELECT $fn1$ ? $fn1$, ?"), "SELECT $fn1$ ? $fn1$, %s", 1)


def test_prepare_leaves_mysql_hash_comment_alone() -> None:
    assert_sql(MYSQL.prepare("SELECT 1 # why?\n, ?"), "SELECT 1 # why?\n, %s", 1)


def test_prepare_leaves_mysql_double_quoted_string_with_backslash_alone() -> None:
    assert_sql(MYSQL.prepare(r'SELECT "a\"?", ?'), r'SELECT "a\"?", %s', 1)


# ---- SELECT ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'SELECT "users"."id", "users"."name" FROM "users"'),
        (POSTGRES, 'SELECT "users"."id", "users"."name" FROM "users"'),
        (MYSQL, "SELECT `users`.`id`, `users`.`name` FROM `users`"),
    ],
    ids=IDS,
)
def test_select_quotes_identifier_columns(dialect: Dialect, expected: str) -> None:
    select = Select("users", (Ident("users.id"), Ident("users.name")))
    assert_sql(compile_select(select, dialect), expected, 0)


@by_dialect
def test_select_without_columns_is_star_and_raw_columns_are_verbatim(dialect: Dialect) -> None:
    table = dialect.quote("users")
    assert_sql(compile_select(Select("users", ()), dialect), f"SELECT * FROM {table}", 0)
    raw = Select("users", (Raw("lower(name) AS n"), Raw("1")))
    assert_sql(compile_select(raw, dialect), f"SELECT lower(name) AS n, 1 FROM {table}", 0)


def test_select_aggregate_columns_are_aliased() -> None:
    select = Select(
        "emp",
        (
            Raw("department"),
            Aggregate("COUNT", "id", "n", distinct=True),
            Aggregate("AVG", "salary", "avg_salary"),
        ),
        group_by=group_keys("department"),
    )
    assert_sql(
        compile_select(select, MYSQL),
        "SELECT department, COUNT(DISTINCT id) AS `n`, AVG(salary) AS `avg_salary` "
        "FROM `emp` GROUP BY department",
        0,
    )


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (_where(("AND", A)), "(a = ?)"),
        (_where(("AND", A), ("AND", B)), "(a = ?) AND (b = ?)"),
        (_where(("AND", A), ("OR", B)), "(a = ?) OR (b = ?)"),
        # where(A).where(B).or_where(C) is (A AND B) OR C
        (_where(("AND", A), ("AND", B), ("OR", C)), "((a = ?) AND (b = ?)) OR (c = ?)"),
        # where(A).or_where(B).where(C) is (A OR B) AND C
        (_where(("AND", A), ("OR", B), ("AND", C)), "((a = ?) OR (b = ?)) AND (c = ?)"),
        (_where(("AND", A), ("OR", B), ("OR", C)), "(a = ?) OR (b = ?) OR (c = ?)"),
        # or_where first is just the condition
        (_where(("OR", A)), "(a = ?)"),
        (
            _where(("AND", A), ("OR", B), ("AND", C), ("OR", Raw("d"))),
            "(((a = ?) OR (b = ?)) AND (c = ?)) OR (d)",
        ),
    ],
    ids=["one", "and", "or", "and-then-or", "or-then-and", "or-or", "or-first", "alternating"],
)
def test_where_folds_left(where: tuple[tuple[str, Any], ...], expected: str) -> None:
    compiled = compile_select(Select("t", (), where=where), SQLITE)
    assert_sql(compiled, f'SELECT * FROM "t" WHERE {expected}', expected.count("?"))


def test_raw_conditions_are_parenthesised_so_their_own_or_cannot_leak() -> None:
    where = _where(("AND", Raw("a = ? OR b = ?")), ("AND", C))
    assert_sql(
        compile_select(Select("t", (), where=where), POSTGRES),
        'SELECT * FROM "t" WHERE (a = %s OR b = %s) AND (c = %s)',
        3,
    )


@pytest.mark.parametrize(
    ("dialect", "condition", "expected", "count"),
    [
        (SQLITE, ColumnTest("users.name", "eq"), '"users"."name" = ?', 1),
        (MYSQL, ColumnTest("users.name", "eq"), "`users`.`name` = %s", 1),
        (POSTGRES, ColumnTest("users.email", "null"), '"users"."email" IS NULL', 0),
        (MYSQL, ColumnTest("email", "null"), "`email` IS NULL", 0),
        (SQLITE, ColumnTest("users.id", "in", 3), '"users"."id" IN (?, ?, ?)', 3),
        (POSTGRES, ColumnTest("users.id", "in", 2), '"users"."id" IN (%s, %s)', 2),
        (SQLITE, ColumnTest("users.id", "in", 1), '"users"."id" IN (?)', 1),
        # an empty IN matches nothing (IN () is not valid SQL)
        (SQLITE, ColumnTest("users.id", "in", 0), "1 = 0", 0),
        (MYSQL, ColumnTest("users.id", "in", 0), "1 = 0", 0),
        (
            POSTGRES,
            AllOf((ColumnTest("a", "eq"), ColumnTest("b", "null"), ColumnTest("c", "in", 2))),
            '("a" = %s AND "b" IS NULL AND "c" IN (%s, %s))',
            3,
        ),
    ],
)
def test_column_test_conditions(
    dialect: Dialect, condition: Any, expected: str, count: int
) -> None:
    select = Select("users", (), where=(("AND", condition),))
    table = dialect.quote("users")
    assert_sql(compile_select(select, dialect), f"SELECT * FROM {table} WHERE {expected}", count)


def test_all_of_stays_one_group_under_or() -> None:
    group = AllOf((ColumnTest("a", "eq"), ColumnTest("b", "eq")))
    where = _where(("AND", C), ("OR", group))
    assert_sql(
        compile_select(Select("t", (), where=where), SQLITE),
        'SELECT * FROM "t" WHERE (c = ?) OR ("a" = ? AND "b" = ?)',
        3,
    )


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'SELECT DISTINCT "users"."id" FROM "users" LEFT JOIN posts ON posts.user_id = users.id'
            " WHERE (posts.title LIKE ?) GROUP BY users.id, users.name HAVING (COUNT(*) > ?)"
            " AND (SUM(posts.score) < ?) ORDER BY users.name DESC, users.id LIMIT ? OFFSET ?",
        ),
        (
            POSTGRES,
            'SELECT DISTINCT "users"."id" FROM "users" LEFT JOIN posts ON posts.user_id = users.id'
            " WHERE (posts.title LIKE %s) GROUP BY users.id, users.name HAVING (COUNT(*) > %s)"
            " AND (SUM(posts.score) < %s) ORDER BY users.name DESC, users.id LIMIT %s OFFSET %s",
        ),
        (
            MYSQL,
            "SELECT DISTINCT `users`.`id` FROM `users` LEFT JOIN posts ON posts.user_id = users.id"
            " WHERE (posts.title LIKE %s) GROUP BY users.id, users.name HAVING (COUNT(*) > %s)"
            " AND (SUM(posts.score) < %s) ORDER BY users.name DESC, users.id LIMIT %s OFFSET %s",
        ),
    ],
    ids=IDS,
)
def test_select_with_every_clause_in_order(dialect: Dialect, expected: str) -> None:
    select = Select(
        "users",
        (Ident("users.id"),),
        where=(("AND", Raw("posts.title LIKE ?")),),
        joins=("LEFT JOIN posts ON posts.user_id = users.id",),
        group_by=group_keys("users.id", "users.name"),
        having=(("AND", Raw("COUNT(*) > ?")), ("AND", Raw("SUM(posts.score) < ?"))),
        order_by=sort_keys("users.name DESC", "users.id"),
        has_limit=True,
        has_offset=True,
        distinct=True,
    )
    assert_sql(compile_select(select, dialect), expected, 5)


def test_several_joins_keep_their_order_and_text() -> None:
    select = Select(
        "a",
        (),
        joins=("INNER JOIN b ON b.a_id = a.id", "LEFT JOIN c ON c.b_id = b.id AND c.k = ?"),
    )
    assert_sql(
        compile_select(select, POSTGRES),
        'SELECT * FROM "a" INNER JOIN b ON b.a_id = a.id LEFT JOIN c ON c.b_id = b.id AND c.k = %s',
        1,
    )


@pytest.mark.parametrize(
    ("dialect", "limit", "offset", "tail", "count"),
    [
        (SQLITE, True, False, " LIMIT ?", 1),
        (POSTGRES, True, False, " LIMIT %s", 1),
        (MYSQL, True, False, " LIMIT %s", 1),
        (SQLITE, True, True, " LIMIT ? OFFSET ?", 2),
        (POSTGRES, True, True, " LIMIT %s OFFSET %s", 2),
        (MYSQL, True, True, " LIMIT %s OFFSET %s", 2),
        # OFFSET alone: SQLite and MySQL need a LIMIT in front of it
        (SQLITE, False, True, " LIMIT -1 OFFSET ?", 1),
        (POSTGRES, False, True, " OFFSET %s", 1),
        (MYSQL, False, True, " LIMIT 18446744073709551615 OFFSET %s", 1),
        (SQLITE, False, False, "", 0),
    ],
)
def test_limit_and_offset_per_dialect(
    dialect: Dialect, limit: bool, offset: bool, tail: str, count: int
) -> None:
    select = Select("t", (), has_limit=limit, has_offset=offset)
    assert_sql(compile_select(select, dialect), f"SELECT * FROM {dialect.quote('t')}{tail}", count)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'SELECT * FROM "t" WHERE (id = ?) LIMIT ?'),  # SQLite has no FOR UPDATE
        (POSTGRES, 'SELECT * FROM "t" WHERE (id = %s) LIMIT %s FOR UPDATE'),
        (MYSQL, "SELECT * FROM `t` WHERE (id = %s) LIMIT %s FOR UPDATE"),
    ],
    ids=IDS,
)
def test_for_update_comes_last_and_is_omitted_on_sqlite(dialect: Dialect, expected: str) -> None:
    select = Select("t", (), where=(("AND", Raw("id = ?")),), has_limit=True, for_update=True)
    assert_sql(compile_select(select, dialect), expected, 2)


def test_percent_in_raw_select_column_is_doubled_for_format_drivers() -> None:
    select = Select("t", (Raw("to_char(at, 'YYYY%MM')"),), where=(("AND", Raw("x LIKE 'a%'")),))
    assert_sql(
        compile_select(select, POSTGRES),
        "SELECT to_char(at, 'YYYY%%MM') FROM \"t\" WHERE (x LIKE 'a%%')",
        0,
    )
    assert_sql(
        compile_select(select, SQLITE),
        "SELECT to_char(at, 'YYYY%MM') FROM \"t\" WHERE (x LIKE 'a%')",
        0,
    )


# ---- INSERT ------------------------------------------------------------------------------
def test_returning_support_is_dialect_data() -> None:
    assert SQLITE.supports_returning is True
    assert POSTGRES.supports_returning is True
    assert MYSQL.supports_returning is False


@pytest.mark.parametrize(
    ("dialect", "base"),
    [
        (SQLITE, 'INSERT INTO "users" ("name", "email") VALUES (?, ?)'),
        (POSTGRES, 'INSERT INTO "users" ("name", "email") VALUES (%s, %s)'),
        (MYSQL, "INSERT INTO `users` (`name`, `email`) VALUES (%s, %s)"),
    ],
    ids=IDS,
)
def test_insert_single_row_with_returning_where_supported(dialect: Dialect, base: str) -> None:
    insert = Insert("users", ("name", "email"), 1, ("id",))
    returning = f" RETURNING {dialect.quote('id')}" if dialect.supports_returning else ""
    assert_sql(compile_insert(insert, dialect), base + returning, 2)
    assert_sql(compile_insert(Insert("users", ("name", "email")), dialect), base, 2)


def test_insert_returning_is_dropped_when_the_dialect_lacks_it() -> None:
    no_returning = dataclasses.replace(SQLITE, supports_returning=False)
    insert = Insert("users", ("name",), 1, ("id",))
    assert_sql(compile_insert(insert, no_returning), 'INSERT INTO "users" ("name") VALUES (?)', 1)
    assert_sql(
        compile_insert(insert, SQLITE), 'INSERT INTO "users" ("name") VALUES (?) RETURNING "id"', 1
    )


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?), (?, ?) RETURNING "id", "a"'),
        (
            POSTGRES,
            'INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s), (%s, %s) RETURNING "id", "a"',
        ),
        (MYSQL, "INSERT INTO `t` (`a`, `b`) VALUES (%s, %s), (%s, %s), (%s, %s)"),
    ],
    ids=IDS,
)
def test_insert_many_rows_in_one_statement(dialect: Dialect, expected: str) -> None:
    assert_sql(compile_insert(Insert("t", ("a", "b"), 3, ("id", "a")), dialect), expected, 6)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'INSERT INTO "t" DEFAULT VALUES RETURNING "id"'),
        (POSTGRES, 'INSERT INTO "t" DEFAULT VALUES RETURNING "id"'),
        (MYSQL, "INSERT INTO `t` () VALUES ()"),
    ],
    ids=IDS,
)
def test_insert_without_columns_uses_default_values(dialect: Dialect, expected: str) -> None:
    assert_sql(compile_insert(Insert("t", (), 1, ("id",)), dialect), expected, 0)


# ---- UPDATE / DELETE ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'UPDATE "users" SET "name" = ?, "age" = ? WHERE "id" = ?'),
        (POSTGRES, 'UPDATE "users" SET "name" = %s, "age" = %s WHERE "id" = %s'),
        (MYSQL, "UPDATE `users` SET `name` = %s, `age` = %s WHERE `id` = %s"),
    ],
    ids=IDS,
)
def test_update_by_key(dialect: Dialect, expected: str) -> None:
    update = Update("users", ("name", "age"), (("AND", ColumnTest("id", "eq")),))
    assert_sql(compile_update(update, dialect), expected, 3)


def test_update_with_composite_key_and_without_where() -> None:
    keyed = Update("t", ("v",), (("AND", ColumnTest("a", "eq")), ("AND", ColumnTest("b", "eq"))))
    assert_sql(compile_update(keyed, SQLITE), 'UPDATE "t" SET "v" = ? WHERE "a" = ? AND "b" = ?', 3)
    assert_sql(compile_update(Update("t", ("v",), ()), MYSQL), "UPDATE `t` SET `v` = %s", 1)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'DELETE FROM "users" WHERE (age < ?) OR "users"."email" IS NULL'),
        (POSTGRES, 'DELETE FROM "users" WHERE (age < %s) OR "users"."email" IS NULL'),
        (MYSQL, "DELETE FROM `users` WHERE (age < %s) OR `users`.`email` IS NULL"),
    ],
    ids=IDS,
)
def test_delete_with_conditions(dialect: Dialect, expected: str) -> None:
    where = (("AND", Raw("age < ?")), ("OR", ColumnTest("users.email", "null")))
    assert_sql(compile_delete(Delete("users", where), dialect), expected, 1)


def test_delete_everything() -> None:
    assert_sql(compile_delete(Delete("t", ()), POSTGRES), 'DELETE FROM "t"', 0)


_COMPLEX = Select(
    "users",
    (Ident("users.id"), Ident("users.name")),
    where=(("AND", Raw("posts.score > ?")),),
    joins=("JOIN posts ON posts.user_id = users.id",),
    order_by=sort_keys("users.name"),
    has_limit=True,
    has_offset=True,
    for_update=True,
)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'UPDATE "users" SET "name" = ? WHERE "id" IN (SELECT "_k"."id" FROM (SELECT '
            '"users"."id" FROM "users" JOIN posts ON posts.user_id = users.id WHERE '
            '(posts.score > ?) ORDER BY users.name LIMIT ? OFFSET ?) AS "_k")',
        ),
        (
            POSTGRES,
            'UPDATE "users" SET "name" = %s WHERE "id" IN (SELECT "_k"."id" FROM (SELECT '
            '"users"."id" FROM "users" JOIN posts ON posts.user_id = users.id WHERE '
            '(posts.score > %s) ORDER BY users.name LIMIT %s OFFSET %s) AS "_k")',
        ),
        (
            MYSQL,
            "UPDATE `users` SET `name` = %s WHERE `id` IN (SELECT `_k`.`id` FROM (SELECT "
            "`users`.`id` FROM `users` JOIN posts ON posts.user_id = users.id WHERE "
            "(posts.score > %s) ORDER BY users.name LIMIT %s OFFSET %s) AS `_k`)",
        ),
    ],
    ids=IDS,
)
def test_update_matching_selects_keys_in_a_derived_table(dialect: Dialect, expected: str) -> None:
    update = Update("users", ("name",), ())
    assert_sql(compile_update_matching(update, _COMPLEX, "id", dialect), expected, 4)


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'DELETE FROM "users" WHERE "id" IN (SELECT "_k"."id" FROM (SELECT DISTINCT '
            '"users"."id" FROM "users" GROUP BY users.id HAVING (COUNT(*) > ?) LIMIT -1 '
            'OFFSET ?) AS "_k")',
        ),
        (
            POSTGRES,
            'DELETE FROM "users" WHERE "id" IN (SELECT "_k"."id" FROM (SELECT DISTINCT '
            '"users"."id" FROM "users" GROUP BY users.id HAVING (COUNT(*) > %s) OFFSET %s) '
            'AS "_k")',
        ),
        (
            MYSQL,
            "DELETE FROM `users` WHERE `id` IN (SELECT `_k`.`id` FROM (SELECT DISTINCT "
            "`users`.`id` FROM `users` GROUP BY users.id HAVING (COUNT(*) > %s) LIMIT "
            "18446744073709551615 OFFSET %s) AS `_k`)",
        ),
    ],
    ids=IDS,
)
def test_delete_matching_keeps_group_having_distinct_offset(
    dialect: Dialect, expected: str
) -> None:
    select = Select(
        "users",
        (Raw("anything, the key replaces it"),),
        group_by=group_keys("users.id"),
        having=(("AND", Raw("COUNT(*) > ?")),),
        has_offset=True,
        distinct=True,
    )
    assert_sql(compile_delete_matching(select, "id", dialect), expected, 2)


# ---- scalar aggregates -------------------------------------------------------------------
_COUNT = Aggregate("COUNT", "*", "value")


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (SQLITE, 'SELECT COUNT(*) FROM "users" JOIN p ON p.u = users.id WHERE (age > ?)'),
        (POSTGRES, 'SELECT COUNT(*) FROM "users" JOIN p ON p.u = users.id WHERE (age > %s)'),
        (MYSQL, "SELECT COUNT(*) FROM `users` JOIN p ON p.u = users.id WHERE (age > %s)"),
    ],
    ids=IDS,
)
def test_scalar_aggregate_plain(dialect: Dialect, expected: str) -> None:
    # The model's columns, order_by and FOR UPDATE do not matter to a plain aggregate.
    select = Select(
        "users",
        (Ident("users.id"),),
        where=(("AND", Raw("age > ?")),),
        joins=("JOIN p ON p.u = users.id",),
        order_by=sort_keys("name"),
        for_update=True,
    )
    assert_sql(compile_scalar(select, _COUNT, dialect), expected, 1)


@pytest.mark.parametrize(
    ("aggregate", "call"),
    [
        (Aggregate("SUM", "salary", "value"), "SUM(salary)"),
        (Aggregate("AVG", "users.salary", "value"), "AVG(users.salary)"),
        (Aggregate("COUNT", "email", "value", distinct=True), "COUNT(DISTINCT email)"),
        (Aggregate("MAX", "hired", "value"), "MAX(hired)"),
        (Aggregate("MIN", "hired", "value"), "MIN(hired)"),
    ],
)
def test_scalar_aggregate_functions(aggregate: Aggregate, call: str) -> None:
    assert_sql(
        compile_scalar(Select("users", ()), aggregate, SQLITE), f'SELECT {call} FROM "users"', 0
    )


@pytest.mark.parametrize(
    ("select", "inner", "count"),
    [
        (
            Select("users", (Ident("users.id"),), has_limit=True, order_by=sort_keys("age")),
            'SELECT "users"."id" FROM "users" ORDER BY age LIMIT ?',
            1,
        ),
        (
            Select("users", (Ident("users.id"),), has_offset=True),
            'SELECT "users"."id" FROM "users" LIMIT -1 OFFSET ?',
            1,
        ),
        (
            Select("users", (Raw("name"),), distinct=True),
            'SELECT DISTINCT name FROM "users"',
            0,
        ),
        (
            Select("users", (Raw("department"),), group_by=group_keys("department"), where=(("AND", A),)),
            'SELECT department FROM "users" WHERE (a = ?) GROUP BY department',
            1,
        ),
    ],
    ids=["limit", "offset", "distinct", "group_by"],
)
def test_scalar_aggregate_wraps_limit_offset_distinct_group_by(
    select: Select, inner: str, count: int
) -> None:
    assert_sql(
        compile_scalar(select, _COUNT, SQLITE),
        f'SELECT COUNT(*) FROM ({inner}) AS "_rows"',
        count,
    )


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'SELECT SUM(DISTINCT salary) FROM (SELECT "emp"."salary" FROM "emp" LIMIT ? OFFSET ?)'
            ' AS "_rows"',
        ),
        (
            POSTGRES,
            'SELECT SUM(DISTINCT salary) FROM (SELECT "emp"."salary" FROM "emp" LIMIT %s OFFSET '
            '%s) AS "_rows"',
        ),
        (
            MYSQL,
            "SELECT SUM(DISTINCT salary) FROM (SELECT `emp`.`salary` FROM `emp` LIMIT %s OFFSET "
            "%s) AS `_rows`",
        ),
    ],
    ids=IDS,
)
def test_wrapped_scalar_refers_to_the_derived_column_without_its_table(
    dialect: Dialect, expected: str
) -> None:
    select = Select("emp", (Ident("emp.salary"),), has_limit=True, has_offset=True)
    aggregate = Aggregate("SUM", "emp.salary", "value", distinct=True)
    assert_sql(compile_scalar(select, aggregate, dialect), expected, 2)


def test_scalar_aggregate_keeps_having() -> None:
    select = Select("users", (), having=(("AND", Raw("COUNT(*) > ?")),))
    sql, count = compile_scalar(select, _COUNT, SQLITE)
    assert "HAVING (COUNT(*) > ?)" in sql
    assert count == 1


# ---- DDL -------------------------------------------------------------------------------
_KINDS = [
    # kind, sqlite, postgres, mysql
    (t.INT, "INTEGER", "BIGINT", "BIGINT"),
    (t.STR, "TEXT", "TEXT", "LONGTEXT"),
    (t.BOOL, "BOOLEAN", "BOOLEAN", "BOOLEAN"),
    (t.FLOAT, "REAL", "DOUBLE PRECISION", "DOUBLE"),
    (t.DECIMAL, "TEXT COLLATE twinrecord_decimal", "NUMERIC", "DECIMAL(38,10)"),
    (t.DATETIME, "TEXT", "TIMESTAMP(6)", "DATETIME(6)"),
    (t.DATETIME_TZ, "TEXT", "TIMESTAMPTZ(6)", "DATETIME(6)"),
    (t.DATE, "TEXT", "DATE", "DATE"),
    (t.TIME, "TEXT", "TIME(6)", "TIME(6)"),
    (t.UUID, "TEXT", "UUID", "CHAR(36)"),
    (t.BYTES, "BLOB", "BYTEA", "LONGBLOB"),
    (t.JSON, "TEXT", "JSONB", "JSON"),
]


@pytest.mark.parametrize(
    ("kind", "sqlite", "postgres", "mysql"), _KINDS, ids=[k[0] for k in _KINDS]
)
def test_column_type_of_every_kind(kind: str, sqlite: str, postgres: str, mysql: str) -> None:
    column = t.ColumnType(kind)
    assert [column_type_sql(column, d) for d in DIALECTS] == [sqlite, postgres, mysql]


def test_every_plain_kind_has_a_ddl_type_in_every_dialect() -> None:
    for dialect in DIALECTS:
        assert set(dialect.ddl_types) == t.KINDS - {t.ENUM}, dialect.name


@by_dialect
def test_varchar_from_max_length(dialect: Dialect) -> None:
    assert column_type_sql(t.ColumnType(t.STR, max_length=80), dialect) == "VARCHAR(80)"


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (
            t.ColumnType(t.DECIMAL, max_digits=12, decimal_places=2),
            ["TEXT COLLATE twinrecord_decimal", "DECIMAL(12,2)", "DECIMAL(12,2)"],
        ),
        (
            t.ColumnType(t.DECIMAL, max_digits=5, decimal_places=0),
            ["TEXT COLLATE twinrecord_decimal", "DECIMAL(5,0)", "DECIMAL(5,0)"],
        ),
        (t.ColumnType(t.DECIMAL), ["TEXT COLLATE twinrecord_decimal", "NUMERIC", "DECIMAL(38,10)"]),
    ],
)
def test_decimal_precision_and_scale(column: t.ColumnType, expected: list[str]) -> None:
    # SQLite keeps decimals as exact text whatever the facets.
    assert [column_type_sql(column, d) for d in DIALECTS] == expected


@pytest.mark.parametrize("dialect", [POSTGRES, MYSQL], ids=["postgres", "mysql"])
def test_decimal_with_max_digits_only_keeps_fractions(dialect: Dialect) -> None:
    assert not column_type_sql(t.ColumnType(t.DECIMAL, max_digits=10), dialect).endswith(",0)")


class Color(StrEnum):
    RED = "red"
    GREEN = "green"
    ULTRAVIOLET = "ultraviolet"


class Level(IntEnum):
    LOW = 1
    HIGH = 1000


@by_dialect
def test_enum_columns(dialect: Dialect) -> None:
    # str values: VARCHAR(64) at least, so values added later fit (API.md §19);
    # int values: the integer type
    assert column_type_sql(t.ColumnType(t.ENUM, python_type=Color), dialect) == "VARCHAR(64)"
    long = StrEnum("Long", {"X": "x" * 80})
    assert column_type_sql(t.ColumnType(t.ENUM, python_type=long), dialect) == "VARCHAR(80)"
    assert (
        column_type_sql(t.ColumnType(t.ENUM, python_type=Level), dialect)
        == dialect.ddl_types[t.INT]
    )


def _col(name: str, kind: str = t.INT, nullable: bool = False, **facets: Any) -> t.ColumnDef:
    auto = facets.pop("auto", False)
    return t.ColumnDef(name, t.ColumnType(kind, **facets), nullable, auto_increment=auto)


_USERS = [
    _col("id", nullable=True, auto=True),
    _col("name", t.STR, max_length=40),
    _col("bio", t.STR, nullable=True),
]


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'CREATE TABLE IF NOT EXISTS "users" (\n'
            '  "id" INTEGER NOT NULL CONSTRAINT "pk_users" PRIMARY KEY AUTOINCREMENT,\n'
            '  "name" VARCHAR(40) NOT NULL,\n'
            '  "bio" TEXT\n'
            ")",
        ),
        (
            POSTGRES,
            'CREATE TABLE IF NOT EXISTS "users" (\n'
            '  "id" BIGINT GENERATED BY DEFAULT AS IDENTITY,\n'
            '  "name" VARCHAR(40) NOT NULL,\n'
            '  "bio" TEXT,\n'
            '  CONSTRAINT "pk_users" PRIMARY KEY ("id")\n'
            ")",
        ),
        (
            MYSQL,
            "CREATE TABLE IF NOT EXISTS `users` (\n"
            "  `id` BIGINT NOT NULL AUTO_INCREMENT,\n"
            "  `name` VARCHAR(40) NOT NULL,\n"
            "  `bio` LONGTEXT,\n"
            "  CONSTRAINT `pk_users` PRIMARY KEY (`id`)\n"
            ")",
        ),
    ],
    ids=IDS,
)
def test_create_table_with_auto_increment_key(dialect: Dialect, expected: str) -> None:
    assert create_table_sql("users", _USERS, ("id",), dialect) == expected


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        (
            SQLITE,
            'CREATE TABLE "post_tags" (\n  "post_id" INTEGER NOT NULL,\n'
            '  "tag_id" INTEGER NOT NULL,\n  "note" TEXT,\n'
            '  CONSTRAINT "pk_post_tags" PRIMARY KEY ("post_id", "tag_id")\n)',
        ),
        (
            POSTGRES,
            'CREATE TABLE "post_tags" (\n  "post_id" BIGINT NOT NULL,\n  "tag_id" BIGINT NOT NULL,'
            '\n  "note" TEXT,\n  CONSTRAINT "pk_post_tags" PRIMARY KEY ("post_id", "tag_id")\n)',
        ),
        (
            MYSQL,
            "CREATE TABLE `post_tags` (\n  `post_id` BIGINT NOT NULL,\n  `tag_id` BIGINT NOT NULL,"
            "\n  `note` LONGTEXT,\n  CONSTRAINT `pk_post_tags` PRIMARY KEY (`post_id`, `tag_id`)\n)",
        ),
    ],
    ids=IDS,
)
def test_create_table_with_composite_key(dialect: Dialect, expected: str) -> None:
    columns = [_col("post_id"), _col("tag_id"), _col("note", t.STR, nullable=True)]
    sql = create_table_sql(
        "post_tags", columns, ("post_id", "tag_id"), dialect, if_not_exists=False
    )
    assert sql == expected


@by_dialect
def test_create_table_with_a_given_single_key(dialect: Dialect) -> None:
    q = dialect.quote
    columns = [_col("code", t.STR, max_length=8), _col("n")]
    assert create_table_sql("codes", columns, ("code",), dialect, if_not_exists=False) == (
        f"CREATE TABLE {q('codes')} (\n  {q('code')} VARCHAR(8) NOT NULL,\n"
        f"  {q('n')} {dialect.ddl_types[t.INT]} NOT NULL,\n"
        f"  CONSTRAINT {q('pk_codes')} PRIMARY KEY ({q('code')})\n)"
    )


def test_mysql_str_primary_key_without_max_length_is_indexable() -> None:
    sql = create_table_sql("codes", [_col("code", t.STR)], ("code",), MYSQL)
    assert "`code` LONGTEXT" not in sql


@pytest.mark.parametrize(
    ("dialect", "if_exists", "expected"),
    [
        (SQLITE, True, 'DROP TABLE IF EXISTS "users"'),
        (POSTGRES, False, 'DROP TABLE "users"'),
        (MYSQL, True, "DROP TABLE IF EXISTS `users`"),
    ],
)
def test_drop_table(dialect: Dialect, if_exists: bool, expected: str) -> None:
    assert drop_table_sql("users", dialect, if_exists) == expected


def test_ddl_quotes_awkward_names() -> None:
    sql = create_table_sql('my "table"', [_col('col"x', nullable=True)], (), POSTGRES)
    assert sql == 'CREATE TABLE IF NOT EXISTS "my ""table""" (\n  "col""x" BIGINT\n)'


# ---- transactions: isolation levels and savepoints --------------------------------------
@pytest.mark.parametrize("level", ISOLATION_LEVELS)
def test_begin_statements_per_dialect(level: str) -> None:
    assert POSTGRES.begin_statements(level) == [f"BEGIN ISOLATION LEVEL {level}"]
    assert MYSQL.begin_statements(level) == [
        f"SET TRANSACTION ISOLATION LEVEL {level}",
        "START TRANSACTION",
    ]
    assert SQLITE.begin_statements(level) == ["BEGIN IMMEDIATE"]  # always serializable; writers queue


def test_begin_without_level() -> None:
    assert SQLITE.begin_statements(None) == ["BEGIN IMMEDIATE"]
    assert POSTGRES.begin_statements(None) == ["BEGIN"]
    assert MYSQL.begin_statements(None) == ["START TRANSACTION"]


@pytest.mark.parametrize(
    "spelling", ["read committed", "Read Committed", "READ_COMMITTED", " read   committed "]
)
@by_dialect
def test_isolation_level_is_case_insensitive(dialect: Dialect, spelling: str) -> None:
    assert normalize_isolation(spelling, dialect.name) == "READ COMMITTED"


@pytest.mark.parametrize("mode", ["DEFERRED", "immediate", "Exclusive"])
def test_sqlite_locking_modes_on_sqlite_only(mode: str) -> None:
    assert SQLITE.begin_statements(mode) == [f"BEGIN {mode.upper()}"]
    for dialect in (POSTGRES, MYSQL):
        with pytest.raises(ConfigurationError, match=mode):
            dialect.begin_statements(mode)


@pytest.mark.parametrize("level", ["SNAPSHOT", "READ", "", "chaos"])
@by_dialect
def test_unknown_isolation_level_is_a_configuration_error(dialect: Dialect, level: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        dialect.begin_statements(level)
    message = str(caught.value)
    assert repr(level) in message
    assert "'SERIALIZABLE'" in message  # says what is accepted


def test_normalize_isolation_none_is_none() -> None:
    assert normalize_isolation(None, "postgresql") is None


@by_dialect
def test_savepoint_statements(dialect: Dialect) -> None:
    assert dialect.savepoint("sp_1") == "SAVEPOINT sp_1"
    assert dialect.release_savepoint("sp_1") == "RELEASE SAVEPOINT sp_1"
    assert dialect.rollback_to_savepoint("sp_1") == "ROLLBACK TO SAVEPOINT sp_1"


# ---- caching and purity ----------------------------------------------------------------
def _shape() -> Select:
    return Select(
        "cache_probe",
        (Ident("cache_probe.id"),),
        where=(("AND", ColumnTest("cache_probe.k", "in", 3)), ("OR", Raw("x = ?"))),
        has_limit=True,
    )


def test_compile_select_is_cached_per_shape_and_dialect() -> None:
    first = compile_select(_shape(), POSTGRES)
    hits = compile_select.cache_info().hits
    again = compile_select(_shape(), POSTGRES)  # an equal, separately built description
    assert again is first
    assert compile_select.cache_info().hits == hits + 1


def test_every_compile_entry_point_is_cached() -> None:
    for entry in (
        compile_select,
        compile_scalar,
        compile_insert,
        compile_update,
        compile_delete,
        compile_update_matching,
        compile_delete_matching,
    ):
        assert hasattr(entry, "cache_info"), entry.__name__
    insert = Insert("cache_probe", ("a",), 2, ("id",))
    assert compile_insert(insert, MYSQL) is compile_insert(
        Insert("cache_probe", ("a",), 2, ("id",)), MYSQL
    )


def test_compilation_leaves_the_description_unchanged() -> None:
    select = _shape()
    before = tuple(select)
    compile_select(select, SQLITE)
    compile_scalar(select, _COUNT, MYSQL)
    compile_delete_matching(select, "id", POSTGRES)
    assert tuple(select) == before
    assert select == _shape()


def test_one_description_compiles_for_each_dialect_independently() -> None:
    select = _shape()
    sqlite_sql = compile_select(select, SQLITE)
    mysql_sql = compile_select(select, MYSQL)
    postgres_sql = compile_select(select, POSTGRES)
    assert sqlite_sql == (
        'SELECT "cache_probe"."id" FROM "cache_probe" WHERE "cache_probe"."k" IN (?, ?, ?) '
        "OR (x = ?) LIMIT ?",
        5,
    )
    assert mysql_sql == (
        "SELECT `cache_probe`.`id` FROM `cache_probe` WHERE `cache_probe`.`k` IN (%s, %s, %s) "
        "OR (x = %s) LIMIT %s",
        5,
    )
    assert postgres_sql[0] == sqlite_sql[0].replace("?", "%s")
    assert compile_select(select, SQLITE) == sqlite_sql  # the first dialect is not disturbed


def test_a_replaced_dialect_gets_its_own_cache_entry() -> None:
    insert = Insert("cache_probe", ("a",), 1, ("id",))
    plain = dataclasses.replace(SQLITE, supports_returning=False)
    assert compile_insert(insert, SQLITE)[0].endswith('RETURNING "id"')
    assert not compile_insert(insert, plain)[0].endswith('RETURNING "id"')


def test_descriptions_are_immutable() -> None:
    select = _shape()
    with pytest.raises(AttributeError):
        select.distinct = True  # type: ignore[misc]


# ---- through the query builder (no database, no configure) ------------------------------
class Status(StrEnum):
    ACTIVE = "active"
    BANNED = "banned"


class Member(BaseActiveRecord):
    __table_name__ = "members"
    id: int | None = None
    name: str
    age: int = 0
    status: Status = Status.ACTIVE
    balance: Decimal = Decimal("0")
    # Relations are not columns: they change no SQL below, but with_() checks their names.
    posts: ClassVar[HasMany[MemberPost]] = HasMany(foreign_key="member_id")
    profile: ClassVar[HasOne[MemberProfile]] = HasOne(foreign_key="member_id")


class MemberPost(BaseActiveRecord):
    __table_name__ = "member_posts"
    id: int | None = None
    member_id: int
    comments: ClassVar[HasMany[MemberComment]] = HasMany(foreign_key="post_id")


class MemberComment(BaseActiveRecord):
    __table_name__ = "member_comments"
    id: int | None = None
    post_id: int


class MemberProfile(BaseActiveRecord):
    __table_name__ = "member_profiles"
    id: int | None = None
    member_id: int


def q() -> QueryCore:
    return QueryCore(Member)


_COLS = '"members"."id", "members"."name", "members"."age", "members"."status", "members"."balance"'
_MY_COLS = _COLS.replace('"', "`")


def test_builder_default_select_lists_the_model_columns() -> None:
    assert q()._to_sql(SQLITE) == (f'SELECT {_COLS} FROM "members"', [])
    assert q()._to_sql(MYSQL) == (f"SELECT {_MY_COLS} FROM `members`", [])


def test_public_to_sql_with_an_explicit_dialect_needs_no_backend() -> None:
    sql, params = Member.query().where("age > ?", (18,)).to_sql(POSTGRES)
    assert sql == f'SELECT {_COLS} FROM "members" WHERE (age > %s)'
    assert params == [18]


def test_builder_where_and_or_where_fold_with_params_in_order() -> None:
    query = q().where("age > ?", (18,)).where({"name": "Ann"}).or_where("status = ?", ("banned",))
    assert query._to_sql(POSTGRES) == (
        f'SELECT {_COLS} FROM "members" WHERE ((age > %s) AND "members"."name" = %s) OR '
        "(status = %s)",
        [18, "Ann", "banned"],
    )


@pytest.mark.parametrize(
    ("condition", "where", "params"),
    [
        ({"name": "Ann"}, '"members"."name" = ?', ["Ann"]),
        ({"name": None}, '"members"."name" IS NULL', []),
        ({"id": [3, 1, 2]}, '"members"."id" IN (?, ?, ?)', [3, 1, 2]),
        ({"id": (5,)}, '"members"."id" IN (?)', [5]),
        ({"id": []}, "1 = 0", []),
        (
            {"name": "Ann", "age": [1, 2], "status": None},
            '("members"."name" = ? AND "members"."age" IN (?, ?) AND "members"."status" IS NULL)',
            ["Ann", 1, 2],
        ),
        ({"members.name": "Ann"}, '"members"."name" = ?', ["Ann"]),
    ],
    ids=["eq", "null", "in", "in-tuple", "empty-in", "several-keys", "qualified"],
)
def test_builder_dict_conditions(condition: dict[str, Any], where: str, params: list[Any]) -> None:
    assert q().where(condition)._to_sql(SQLITE) == (
        f'SELECT {_COLS} FROM "members" WHERE {where}',
        params,
    )


def test_builder_values_never_enter_the_sql_text() -> None:
    evil = "x'); DROP TABLE members; --"
    for query in (
        q().where({"name": evil}),
        q().where("name = ?", (evil,)),
        q().or_where({"name": [evil, evil]}),
        q().having("max(name) = ?", evil),
    ):
        for dialect in DIALECTS:
            sql, params = query._to_sql(dialect)
            assert "DROP" not in sql
            assert evil in params


def test_builder_dict_values_are_written_per_column_and_free_params_adapted() -> None:
    query = (
        q()
        .where({"status": Status.BANNED, "balance": Decimal("1.50")})
        .where("balance > ?", (Decimal("2.5"),))
    )
    # SQLite stores decimals as text; the enum goes out as its value on every dialect.
    assert query._to_sql(SQLITE)[1] == ["banned", "1.50", "2.5"]
    assert query._to_sql(POSTGRES)[1] == ["banned", Decimal("1.50"), Decimal("2.5")]


def test_builder_limit_offset_and_having_params_follow_the_where_params() -> None:
    query = (
        q()
        .where("age > ?", 18)
        .group_by("status")
        .having("COUNT(*) > ?", 2)
        .order_by("status")
        .limit(10)
        .offset(20)
        .select("status")
    )
    assert query._to_sql(SQLITE) == (
        'SELECT status FROM "members" WHERE (age > ?) GROUP BY status HAVING (COUNT(*) > ?) '
        "ORDER BY status LIMIT ? OFFSET ?",
        [18, 2, 10, 20],
    )


def test_builder_joins_distinct_and_for_update() -> None:
    query = (
        q()
        .inner_join("teams", "teams.id = members.team_id")
        .left_join("badges", "badges.member_id = members.id")
        .join("CROSS JOIN settings")
        .distinct()
        .for_update()
    )
    sql, params = query._to_sql(MYSQL)
    assert sql == (
        f"SELECT DISTINCT {_MY_COLS} FROM `members` INNER JOIN teams ON teams.id = members.team_id "
        "LEFT JOIN badges ON badges.member_id = members.id CROSS JOIN settings FOR UPDATE"
    )
    assert params == []


def test_builder_unknown_dict_column_names_the_column_and_model() -> None:
    with pytest.raises(StatementInvalid) as caught:
        q().where({"nickname": "x"})
    message = str(caught.value)
    assert "'nickname'" in message
    assert "Member" in message
    assert "members" in message


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda query: query.where("a = ? AND b = ?", (1,)), "where"),
        (lambda query: query.or_where("a = ?", (1, 2)), "or_where"),
        (lambda query: query.where("a = 1", 5), "where"),
        (lambda query: query.having("COUNT(*) > ?"), "having"),
        (lambda query: query.where("a = '?' AND b = ?", (1, 2)), "where"),  # literal ? not counted
    ],
    ids=["too-few", "too-many", "none-expected", "having", "literal-question-mark"],
)
def test_builder_placeholder_count_mismatch_fails_at_the_call(call: Any, method: str) -> None:
    with pytest.raises(StatementInvalid) as caught:
        call(q())
    assert caught.value.sql
    assert f"{method}(" in str(caught.value)


def test_builder_mismatch_message_shows_types_not_values() -> None:
    with pytest.raises(StatementInvalid) as caught:
        q().where("name = ?", ("secret-value", 42))
    assert "secret-value" not in str(caught.value)
    assert caught.value.param_types == ["str", "int"]


def test_builder_is_immutable() -> None:
    base = q().where("age > ?", (18,))
    before = base._to_sql(POSTGRES)
    derived = [
        base.where({"name": "Ann"}),
        base.or_where("age < ?", (3,)),
        base.select("name"),
        base.order_by("name"),
        base.limit(1),
        base.offset(2),
        base.distinct(),
        base.join("JOIN x ON 1 = 1"),
        base.group_by("name"),
        base.having("COUNT(*) > ?", (1,)),
        base.for_update(),
        base.with_("posts"),
        base.count("id", "n"),
    ]
    for query in derived:
        assert query is not base
        assert isinstance(query, QueryCore)
        assert query._to_sql(POSTGRES) != before or query._eager or query._aggregates
    assert base._to_sql(POSTGRES) == before
    assert base._eager == ()
    assert base._aggregates == ()


def test_builder_with_records_eager_specs_in_order() -> None:
    def published(query: Any) -> Any:
        return query.where("published = ?", (True,))

    query = q().with_("posts", "posts.comments").with_(("profile", published))
    assert query._eager == (("posts", None), ("posts.comments", None), ("profile", published))
    assert query._to_sql(SQLITE) == q()._to_sql(SQLITE)  # eager loading adds no SQL here


def test_builder_with_refuses_unknown_relations_at_the_call() -> None:
    with pytest.raises(RelationNotFound) as caught:
        q().with_("posts.likes")
    assert "'likes'" in str(caught.value)
    assert "comments" in str(caught.value)  # lists the relations there are


def test_builder_aliased_aggregates_chain_into_the_select() -> None:
    query = q().group_by("status").count("id", "n").avg("age").max("members.balance")
    assert [a.alias for a in query._aggregates] == ["n", "avg_age", "max_balance"]
    assert query.count()._aggregates[-1].alias == "count"  # chains: the query is grouped


@pytest.mark.parametrize("bad", [-1, 1.5, "3"])
def test_builder_limit_and_offset_take_non_negative_ints(bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        q().limit(bad)
    with pytest.raises(ConfigurationError):
        q().offset(bad)


def test_builder_limit_none_removes_the_limit() -> None:
    assert q().limit(5).limit(None)._to_sql(SQLITE) == q()._to_sql(SQLITE)


def test_builder_dict_condition_on_another_tables_column_is_not_rewritten() -> None:
    query = q().inner_join("teams", "teams.id = members.team_id")
    try:
        sql, _ = query.where({"teams.id": 5})._to_sql(SQLITE)
    except StatementInvalid:
        return  # refusing a foreign qualifier is an acceptable fix too
    assert '"members"."id" = ?' not in sql
