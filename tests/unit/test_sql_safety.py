"""One statement per call and column-reference sort keys (API.md §4), without a database.

The `?` lexer refuses a `;` followed by more SQL, reading literals, quoted identifiers,
comments and dollar quotes as each database reads them; order_by()/group_by() take only
column references; raw() is the escape hatch.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from twinrecord import BaseActiveRecord, StatementInvalid, raw
from twinrecord.query._core import QueryCore
from twinrecord.sql.column_refs import parse_group_keys, parse_sort_keys
from twinrecord.sql.dialect import MYSQL, POSTGRES, SQLITE, Dialect
from twinrecord.sql.placeholders import check_single_statement

DIALECTS = [SQLITE, POSTGRES, MYSQL]
by_dialect = pytest.mark.parametrize("dialect", DIALECTS, ids=["sqlite", "postgres", "mysql"])


# ---- the lexer: a second statement is refused, a `;` inside anything quoted is not ------
@by_dialect
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1",
        "SELECT 1;",
        "SELECT 1 ;  \n\t",
        "SELECT 1; -- done",
        "SELECT 1; /* done; really */",
        "SELECT 1 -- a; comment\n",
        "SELECT 1 /* a; comment */",
        "SELECT ';' AS semi",
        "SELECT 'it''s; fine' AS x",
        'SELECT 1 AS "odd;name"',
        "SELECT 1 AS `odd;name`",
        "UPDATE t SET a = ? WHERE b = ';';",
    ],
)
def test_one_statement_with_semicolons_in_quotes_comments_or_at_the_end_is_fine(
    dialect: Dialect, sql: str
) -> None:
    dialect.prepare(sql)  # no error


@by_dialect
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT 1; SELECT 2",
        "SELECT 1 AS x; SELECT 2 AS y",
        "SELECT * FROM t ORDER BY id; DROP TABLE canary; -- ",
        "SELECT 1;;",
        "SELECT ';'; DROP TABLE t",
        "SELECT 1 /* ; */; DELETE FROM t",
        "INSERT INTO t VALUES (?); INSERT INTO t VALUES (?)",
        "SELECT 'unterminated; DROP TABLE t",
    ],
)
def test_a_second_statement_is_refused_before_sending(dialect: Dialect, sql: str) -> None:
    with pytest.raises(StatementInvalid, match="more than one statement") as caught:
        dialect.prepare(sql)
    assert caught.value.sql == sql


def test_postgres_dollar_quotes_hide_semicolons() -> None:
    POSTGRES.prepare("SELECT $$a; b$$, $fn$ ; $fn$;")
    SQLITE.prepare("SELECT 1")


def test_a_dollar_inside_a_postgres_identifier_opens_no_quote() -> None:
    # PostgreSQL reads `x$$` as one identifier, so the DROP would run.
    with pytest.raises(StatementInvalid):
        POSTGRES.prepare("SELECT 1 AS x$$; DROP TABLE t; SELECT $$")


def test_postgres_escape_strings_take_backslash_escapes() -> None:
    # E'\'' is one literal (a quote) to PostgreSQL: the `;` after it ends a statement.
    with pytest.raises(StatementInvalid):
        POSTGRES.prepare(r"SELECT E'\''; DROP TABLE t; --'")
    POSTGRES.prepare(r"SELECT E'a\';b'")  # the `;` is inside the literal


@pytest.mark.parametrize(
    "sql",
    [
        r"SELECT '\''; DROP TABLE t; --'",  # backslash escapes the quote on MySQL
        "SELECT 1 --x; DROP TABLE t",  # `--` needs a space after it to be a comment
        "SELECT 1 /*!; DROP TABLE t */",  # MySQL runs the text of /*! ... */
        "SELECT $$; DROP TABLE t; $$",  # no dollar quotes: `$$` is an identifier
    ],
)
def test_mysql_is_lexed_as_mysql_reads_it(sql: str) -> None:
    with pytest.raises(StatementInvalid):
        MYSQL.prepare(sql)


def test_mysql_hash_comment_after_the_last_statement_is_fine() -> None:
    MYSQL.prepare("SELECT 1; # done")
    MYSQL.prepare("SELECT 1; -- done")


def test_a_final_semicolon_and_what_follows_it_are_left_out() -> None:
    assert POSTGRES.prepare("SELECT ? ; -- ?") == ("SELECT %s ", 1)
    assert SQLITE.prepare("SELECT ';'; /* x */") == ("SELECT ';'", 0)
    assert MYSQL.prepare("SELECT 1; # x") == ("SELECT 1", 0)


# ---- fragments are checked at the builder call -----------------------------------------
class Member(BaseActiveRecord):
    __table_name__ = "members"
    id: int | None = None
    name: str
    age: int = 0
    balance: Decimal = Decimal("0")


def q() -> QueryCore:
    return QueryCore(Member)


@pytest.mark.parametrize(
    "call",
    [
        lambda: q().where("age > 1; DROP TABLE members"),
        lambda: q().or_where("1 = 1; DELETE FROM members"),
        lambda: q().having("COUNT(*) > 1; DROP TABLE members"),
        lambda: q().select("name; DROP TABLE members"),
        lambda: q().join("JOIN x ON 1 = 1; DROP TABLE members"),
        lambda: raw("LOWER(name); DROP TABLE members"),
    ],
)
def test_every_fragment_refuses_a_second_statement_at_the_call(call: Any) -> None:
    with pytest.raises(StatementInvalid, match="more than one statement"):
        call()


@by_dialect
def test_a_fragment_ending_in_a_semicolon_is_refused_when_compiled(dialect: Dialect) -> None:
    with pytest.raises(StatementInvalid, match="more than one statement"):
        q().where("age > 1;")._to_sql(dialect)


def test_check_single_statement_passes_one_statement() -> None:
    check_single_statement("a = ';'")


# ---- order_by / group_by: column references only ---------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "id; DROP TABLE canary; -- ",
        "id DESC; DROP TABLE canary",
        "LOWER(name)",
        "name COLLATE nocase",
        "(SELECT 1)",
        "1",
        "name,",
        "",
        "  ",
        "-name DESC",
        "- name",
        "name DESC ASC",
        "name NULLS",
        "a.b.c",
        "name -- comment",
        "name /* c */",
        "CASE WHEN 1 THEN 1 END",
        "sleep(5)",
        'name"',
    ],
)
def test_order_by_refuses_anything_but_column_references(text: str) -> None:
    with pytest.raises(StatementInvalid, match=r"wrap SQL in raw\(\)"):
        q().order_by(text)


@pytest.mark.parametrize(
    "text", ["id; DROP TABLE canary", "LOWER(name)", "name DESC", "-name", "1", ""]
)
def test_group_by_refuses_anything_but_column_references(text: str) -> None:
    with pytest.raises(StatementInvalid, match=r"wrap SQL in raw\(\)"):
        q().group_by(text)


def test_order_by_refuses_non_strings() -> None:
    with pytest.raises(StatementInvalid):
        q().order_by(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("order", "sqlite", "mysql"),
    [
        (("name",), "name", "name"),
        (("-name",), "name DESC", "name DESC"),
        (("name desc",), "name DESC", "name DESC"),
        (("members.name ASC",), "members.name ASC", "members.name ASC"),
        (("-age", "name"), "age DESC, name", "age DESC, name"),
        (("-age, name asc",), "age DESC, name ASC", "age DESC, name ASC"),
        (('"odd name" DESC',), '"odd name" DESC', "`odd name` DESC"),
        (("`members`.`name`",), '"members"."name"', "`members`.`name`"),
        (
            ("name NULLS LAST",),
            "name NULLS LAST",
            "name IS NULL, name",
        ),
        (
            ("-name nulls first",),
            "name DESC NULLS FIRST",
            "name IS NULL DESC, name DESC",
        ),
    ],
)
def test_sort_keys_compile_per_database(order: tuple[str, ...], sqlite: str, mysql: str) -> None:
    query = q().select("name").order_by(*order)
    assert query._to_sql(SQLITE)[0] == f'SELECT name FROM "members" ORDER BY {sqlite}'
    assert query._to_sql(POSTGRES)[0] == f'SELECT name FROM "members" ORDER BY {sqlite}'
    assert query._to_sql(MYSQL)[0] == f"SELECT name FROM `members` ORDER BY {mysql}"


def test_quoted_identifiers_keep_their_quotes_escaped() -> None:
    (key,) = parse_sort_keys('"a""b"')
    assert q().select("1").order_by('"a""b"')._to_sql(MYSQL)[0].endswith("ORDER BY `a\"b`")
    assert key.column.parts == ('"a""b"',)
    assert q().select("1").order_by("`a``b`")._to_sql(POSTGRES)[0].endswith('ORDER BY "a`b"')


def test_group_keys_compile_and_select_in_aggregate_mode() -> None:
    assert parse_group_keys("department, members.name")[1].parts == ("members", "name")
    query = q().group_by("name").count("id", "n")
    assert query._to_sql(SQLITE)[0].endswith('FROM "members" GROUP BY name')


def test_raw_sort_and_group_keys_bind_their_values_in_clause_order() -> None:
    query = (
        q()
        .select("name")
        .where("age > ?", (1,))
        .group_by(raw("age % ?", (10,)))
        .having("COUNT(*) > ?", (2,))
        .order_by(raw("CASE WHEN name = ? THEN 0 ELSE 1 END", ("ann",)), "-name")
        .limit(5)
    )
    sql, params = query._to_sql(POSTGRES)
    assert sql == (
        'SELECT name FROM "members" WHERE (age > %s) GROUP BY age %% %s HAVING (COUNT(*) > %s) '
        "ORDER BY CASE WHEN name = %s THEN 0 ELSE 1 END, name DESC LIMIT %s"
    )
    assert params == [1, 10, 2, "ann", 5]


def test_raw_checks_its_placeholders_at_once() -> None:
    with pytest.raises(StatementInvalid, match="1 `\\?` placeholder"):
        raw("LOWER(?)")
    assert raw("x = ?", 5).params == (5,)
    assert repr(raw("x")) == "raw('x')"


def test_a_query_repr_and_not_found_message_name_model_and_conditions() -> None:
    query = q().where({"name": "secret-ann"}).where("age > ?", (30,))
    text = query._conditions_text()
    assert text == (
        'WHERE "members"."name" = ? AND (age > ?) (parameter types: str, int)'
    )
    assert "secret-ann" not in repr(query) and repr(query).startswith("<QueryCore Member: SELECT")
    assert q()._conditions_text() == "(no conditions)"


# ---- SQLite's Decimal collation ----------------------------------------------------------
def test_the_sqlite_decimal_collation_orders_by_value() -> None:
    from functools import cmp_to_key

    from twinrecord.backends.sqlite import compare_decimal_text

    values = ["100.00", "9.50", "-12.50", "abc", "0.75", "NaN", "-3.00", "10.25", "1E+1"]
    ordered = sorted(values, key=cmp_to_key(compare_decimal_text))
    assert ordered == ["-12.50", "-3.00", "0.75", "9.50", "1E+1", "10.25", "100.00", "NaN", "abc"]
    assert compare_decimal_text("1.0", "1.00") == 0  # one value, as NUMERIC elsewhere
    assert compare_decimal_text("2", "10") == -1 and compare_decimal_text("10", "2") == 1
