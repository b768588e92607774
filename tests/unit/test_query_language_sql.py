"""Golden SQL of the query language (API.md §4 additions, §12, §13) on every dialect.

Each case states the exact SQL for SQLite, PostgreSQL and MySQL/MariaDB and the
values bound, without a database: `to_sql(dialect)` needs no backend. Refusals are
checked here too: they raise before anything could be sent.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Optional

import pytest
from pydantic import Field

from twinrecord import (
    BaseActiveRecord,
    BelongsTo,
    ConfigurationError,
    FeatureNotSupported,
    HasMany,
    RelationNotFound,
    StatementInvalid,
    aliased,
    cte,
    exists,
    func,
    raw,
)
from twinrecord.sql.dialect import MYSQL, POSTGRES, SQLITE
from twinrecord.sql.features import Server, parse_mysql_version, parse_postgres_version


class User(BaseActiveRecord):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    email: str = ""
    age: int = 0
    score: float = 0.0
    balance: Decimal = Field(default=Decimal(0), max_digits=12, decimal_places=2)
    note: Optional[str] = None
    born: Optional[date] = None
    posts: ClassVar[HasMany[Post]] = HasMany(foreign_key="user_id")


class Post(BaseActiveRecord):
    __table_name__ = "posts"
    id: Optional[int] = None
    user_id: int
    title: str
    views: int = 0
    published: bool = False
    author: ClassVar[BelongsTo[User]] = BelongsTo(foreign_key="user_id")


class Employee(BaseActiveRecord):
    __table_name__ = "employees"
    id: Optional[int] = None
    name: str
    dept: str
    salary: float
    manager_id: Optional[int] = None


class Category(BaseActiveRecord):
    __table_name__ = "categories"
    id: Optional[int] = None
    name: str
    parent_id: Optional[int] = None


U = '"users"."id", "users"."name", "users"."email", "users"."age", "users"."score", "users"."balance", "users"."note", "users"."born"'
UM = U.replace('"', "`")
P = '"posts"."id", "posts"."user_id", "posts"."title", "posts"."views", "posts"."published"'
PM = P.replace('"', "`")


def sql_of(query: Any, dialect: Any) -> tuple[str, list[Any]]:
    return query.to_sql(dialect)  # type: ignore[no-any-return]


def check(query: Any, sqlite: str, postgres: str, mysql: str, params: list[Any]) -> None:
    """The same query on the three dialects: exact text, and the values bound."""
    assert sql_of(query, SQLITE) == (sqlite, params)
    assert sql_of(query, POSTGRES) == (postgres, params)
    assert sql_of(query, MYSQL)[0] == mysql


def pg(sql: str) -> str:
    return sql.replace("?", "%s")


def my(sql: str) -> str:
    return sql.replace('"', "`").replace("?", "%s")


def same(query: Any, sqlite: str, params: list[Any], mysql: str | None = None) -> None:
    """SQL that differs between dialects only by quoting and placeholders."""
    check(query, sqlite, pg(sqlite), mysql or my(sqlite), params)


# ---- §12 comparisons, null tests, membership -------------------------------------------------
def test_comparisons_bind_values() -> None:
    same(
        User.query().where(User.c.age >= 18).order_by(User.c.name.desc()),
        f'SELECT {U} FROM "users" WHERE ("users"."age" >= ?) ORDER BY "users"."name" DESC',
        [18],
    )
    for op, sql in [("==", "="), ("!=", "<>"), ("<", "<"), ("<=", "<="), (">", ">")]:
        condition = eval(f"User.c.age {op} 3")
        same(User.query().where(condition), f'SELECT {U} FROM "users" WHERE ("users"."age" {sql} ?)', [3])


def test_none_is_null_and_list_is_refused() -> None:
    same(User.query().where(User.c.note == None), f'SELECT {U} FROM "users" WHERE ("users"."note" IS NULL)', [])  # noqa: E711
    same(User.query().where(User.c.note != None), f'SELECT {U} FROM "users" WHERE ("users"."note" IS NOT NULL)', [])  # noqa: E711
    same(User.query().where(User.c.note.is_(None)), f'SELECT {U} FROM "users" WHERE ("users"."note" IS NULL)', [])
    same(User.query().where(User.c.note.is_not(None)), f'SELECT {U} FROM "users" WHERE ("users"."note" IS NOT NULL)', [])
    with pytest.raises(StatementInvalid, match="in_"):
        User.c.age == [1, 2]  # noqa: B015


def test_in_not_in_between() -> None:
    same(User.query().where(User.c.age.in_([1, 2, 3])), f'SELECT {U} FROM "users" WHERE ("users"."age" IN (?, ?, ?))', [1, 2, 3])
    same(User.query().where(User.c.age.not_in((1,))), f'SELECT {U} FROM "users" WHERE ("users"."age" NOT IN (?))', [1])
    same(User.query().where(User.c.age.in_([])), f'SELECT {U} FROM "users" WHERE (1 = 0)', [])
    same(User.query().where(User.c.age.not_in(set())), f'SELECT {U} FROM "users" WHERE (1 = 1)', [])
    same(User.query().where(User.c.age.between(10, 20)), f'SELECT {U} FROM "users" WHERE ("users"."age" BETWEEN ? AND ?)', [10, 20])


def test_like_ilike_and_escaped_patterns() -> None:
    same(User.query().where(User.c.email.like("%@x.org")), f'SELECT {U} FROM "users" WHERE ("users"."email" LIKE ?)', ["%@x.org"])
    check(
        User.query().where(User.c.name.ilike("an%")),
        f'SELECT {U} FROM "users" WHERE (LOWER("users"."name") LIKE LOWER(?))',
        f'SELECT {U} FROM "users" WHERE ("users"."name" ILIKE %s)',
        f"SELECT {UM} FROM `users` WHERE (LOWER(`users`.`name`) LIKE LOWER(%s))",
        ["an%"],
    )
    same(
        User.query().where(User.c.name.startswith("50%_a!")),
        f"SELECT {U} FROM \"users\" WHERE (\"users\".\"name\" LIKE ? ESCAPE '!')",
        ["50!%!_a!!%"],
    )
    assert sql_of(User.query().where(User.c.name.endswith("x")), SQLITE)[1] == ["%x"]
    assert sql_of(User.query().where(User.c.name.contains("_")), SQLITE)[1] == ["%!_%"]


def test_and_or_not_parenthesise_every_operand() -> None:
    condition = ((User.c.age > 1) | User.c.name.in_(["a"])) & ~User.c.note.is_(None)
    same(
        User.query().where(condition),
        f'SELECT {U} FROM "users" WHERE ((("users"."age" > ?) OR ("users"."name" IN (?))) AND (NOT ("users"."note" IS NULL)))',
        [1, "a"],
    )


@pytest.mark.parametrize(
    "misuse",
    [
        lambda: (User.c.age > 1) and (User.c.age < 5),
        lambda: (User.c.age > 1) or (User.c.age < 5),
        lambda: not (User.c.age > 1),
        lambda: 18 <= User.c.age < 65,
        lambda: User.c.age >= 1 & User.c.score == 2,
        lambda: bool(User.c.age == 1),
    ],
    ids=["and", "or", "not", "chained", "missing-parentheses", "if"],
)
def test_a_condition_has_no_truth_value(misuse: Any) -> None:
    with pytest.raises(TypeError, match=r"use &, \|, ~ and parenthesise each comparison"):
        misuse()


# ---- §12 arithmetic, functions, casts ------------------------------------------------------------
def test_arithmetic_true_division_and_modulo() -> None:
    check(
        User.query().select((User.c.age / 2).alias("half"), (User.c.age % 3).alias("m"), (-User.c.age).alias("n")),
        'SELECT CAST("users"."age" AS REAL) / ? AS "half", "users"."age" % ? AS "m", -"users"."age" AS "n" FROM "users"',
        'SELECT CAST("users"."age" AS DOUBLE PRECISION) / %s AS "half", "users"."age" %% %s AS "m", -"users"."age" AS "n" FROM "users"',
        "SELECT `users`.`age` / %s AS `half`, `users`.`age` %% %s AS `m`, -`users`.`age` AS `n` FROM `users`",
        [2, 3],
    )
    # a float operand divides exactly already: no cast
    assert sql_of(User.query().select((User.c.score / 2).alias("h")), SQLITE)[0] == 'SELECT "users"."score" / ? AS "h" FROM "users"'
    same(User.query().select(((User.c.age + 1) * 2).alias("x")), 'SELECT ("users"."age" + ?) * ? AS "x" FROM "users"', [1, 2])
    same(User.query().select((10 - User.c.age).alias("x")), 'SELECT ? - "users"."age" AS "x" FROM "users"', [10])


def test_plus_on_strings_concatenates() -> None:
    check(
        User.query().select((User.c.name + "!").alias("x"), ("<" + User.c.email).alias("y")),
        'SELECT "users"."name" || ? AS "x", ? || "users"."email" AS "y" FROM "users"',
        'SELECT "users"."name" || %s AS "x", %s || "users"."email" AS "y" FROM "users"',
        "SELECT CONCAT(`users`.`name`, %s) AS `x`, CONCAT(%s, `users`.`email`) AS `y` FROM `users`",
        ["!", "<"],
    )


def test_functions_count_length_distinct() -> None:
    check(
        User.query().select(func.length(User.c.name).alias("n"), func.count().alias("c"), func.count(User.c.age, distinct=True).alias("d")),
        'SELECT length("users"."name") AS "n", COUNT(*) AS "c", COUNT(DISTINCT "users"."age") AS "d" FROM "users"',
        'SELECT length("users"."name") AS "n", COUNT(*) AS "c", COUNT(DISTINCT "users"."age") AS "d" FROM "users"',
        "SELECT CHAR_LENGTH(`users`.`name`) AS `n`, COUNT(*) AS `c`, COUNT(DISTINCT `users`.`age`) AS `d` FROM `users`",
        [],
    )
    same(User.query().where(func.lower(User.c.email).like("%@example.com")), f'SELECT {U} FROM "users" WHERE (lower("users"."email") LIKE ?)', ["%@example.com"])
    with pytest.raises(AttributeError, match="identifier"):
        func.__getattr__("drop table")
    assert sql_of(User.query().select(func.coalesce(User.c.note, "none").alias("x")), SQLITE)[1] == ["none"]


def test_decimal_aggregates_stay_exact_on_sqlite() -> None:
    assert sql_of(User.query().select(func.sum(User.c.balance).alias("s")), SQLITE)[0] == 'SELECT twinrecord_decimal_sum("users"."balance") AS "s" FROM "users"'
    assert sql_of(User.query().select(func.sum(User.c.balance).alias("s")), POSTGRES)[0] == 'SELECT SUM("users"."balance") AS "s" FROM "users"'


def test_cast_names_per_dialect() -> None:
    check(
        User.query().select(User.c.age.cast(str).alias("a"), User.c.name.cast(int).alias("b"), User.c.age.cast(float).alias("c")),
        'SELECT CAST("users"."age" AS TEXT) AS "a", CAST("users"."name" AS INTEGER) AS "b", CAST("users"."age" AS REAL) AS "c" FROM "users"',
        'SELECT CAST("users"."age" AS TEXT) AS "a", CAST("users"."name" AS BIGINT) AS "b", CAST("users"."age" AS DOUBLE PRECISION) AS "c" FROM "users"',
        "SELECT CAST(`users`.`age` AS CHAR(16383)) AS `a`, CAST(`users`.`name` AS SIGNED) AS `b`, CAST(`users`.`age` AS DOUBLE) AS `c` FROM `users`",
        [],
    )


def test_nulls_first_last_native_or_emulated() -> None:
    check(
        User.query().order_by(User.c.note.asc(nulls="last"), (User.c.age + 1).desc(nulls="first")),
        f'SELECT {U} FROM "users" ORDER BY "users"."note" ASC NULLS LAST, "users"."age" + ? DESC NULLS FIRST',
        f'SELECT {U} FROM "users" ORDER BY "users"."note" ASC NULLS LAST, "users"."age" + %s DESC NULLS FIRST',
        f"SELECT {UM} FROM `users` ORDER BY `users`.`note` IS NULL ASC, `users`.`note` ASC, `users`.`age` + %s IS NULL DESC, `users`.`age` + %s DESC",
        [1],
    )
    # the emulation repeats the expression: its value is bound twice
    assert sql_of(User.query().order_by((User.c.age + 1).desc(nulls="first")), MYSQL)[1] == [1, 1]


def test_values_are_written_as_their_column_writes_them() -> None:
    query = User.query().where(User.c.born == date(2020, 1, 2)).where(User.c.balance > Decimal("1.50"))
    assert sql_of(query, SQLITE)[1] == ["2020-01-02", "1.50"]
    assert sql_of(query, POSTGRES)[1] == [date(2020, 1, 2), Decimal("1.50")]


# ---- §12 mixing, raw, Model.c -----------------------------------------------------------
def test_mixing_dict_expression_sql_folds_like_section_4() -> None:
    query = (
        User.query().where({"name": "ann"}).where(User.c.age >= 18)
        .where("email <> ?", ("x",)).or_where(User.c.note == "admin")
    )
    same(
        query,
        f'SELECT {U} FROM "users" WHERE ("users"."name" = ? AND ("users"."age" >= ?) AND (email <> ?)) OR ("users"."note" = ?)',
        ["ann", 18, "x", "admin"],
    )


def test_params_with_an_expression_are_refused() -> None:
    with pytest.raises(StatementInvalid, match="params"):
        User.query().where(User.c.age > 1, (2,))
    with pytest.raises(StatementInvalid, match="params"):
        User.query().having(func.count() > 1, (2,))


def test_raw_fragment_binds_its_values() -> None:
    same(User.query().where(raw("age > ? AND age < ?", (1, 9)) | (User.c.name == "z")), f'SELECT {U} FROM "users" WHERE ((age > ? AND age < ?) OR ("users"."name" = ?))', [1, 9, "z"])
    with pytest.raises(StatementInvalid, match="placeholder"):
        raw("a = ?", ())


def test_select_order_group_having_mix_strings_and_expressions() -> None:
    query = (
        User.query().select(User.c.age, "COUNT(*) AS n").group_by(User.c.age)
        .having(func.count() > 1).order_by("-age" if False else "age DESC")
    )
    same(query, 'SELECT "users"."age", COUNT(*) AS n FROM "users" GROUP BY "users"."age" HAVING (COUNT(*) > ?) ORDER BY age DESC', [1])


def test_model_c_lists_columns_and_refuses_unknown_names() -> None:
    assert [c.name for c in User.c] == list(User.model_fields)
    assert User.c.age is User.c.age
    with pytest.raises(AttributeError, match=r"no column 'agee'.*id, name, email, age"):
        User.c.agee  # noqa: B018
    same(User.query().select(*User.c), f'SELECT {U} FROM "users"', [])


def test_a_field_named_c_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="reserved"):

        class Bad(BaseActiveRecord):
            c: int


def test_a_window_function_in_where_or_having_is_refused() -> None:
    rank = func.row_number().over(order_by=User.c.age)
    with pytest.raises(StatementInvalid, match="window function"):
        User.query().where(rank <= 3)
    with pytest.raises(StatementInvalid, match="window function"):
        User.query().having(rank <= 3)


# ---- §4 additions ------------------------------------------------------------------------------
def test_where_keywords_and_where_not_null_safe() -> None:
    same(User.query().where(name="ann", age=[1, 2]), f'SELECT {U} FROM "users" WHERE ("users"."name" = ? AND "users"."age" IN (?, ?))', ["ann", 1, 2])
    same(User.query().where_not(age=1), f'SELECT {U} FROM "users" WHERE (("users"."age" = ?) IS NOT TRUE)', [1])
    same(User.query().where_not({"note": None}), f'SELECT {U} FROM "users" WHERE (("users"."note" IS NULL) IS NOT TRUE)', [])
    with pytest.raises(StatementInvalid, match="unknown column"):
        User.query().where(nope=1)


def test_first_and_last_order() -> None:
    same(User.query().limit(1) if False else User.query()._ordered_for(False), f'SELECT {U} FROM "users" ORDER BY "users"."id" ASC', [])
    same(User.query()._ordered_for(True), f'SELECT {U} FROM "users" ORDER BY "users"."id" DESC', [])
    same(
        User.query().order_by("name", "-age", User.c.note.asc(nulls="first"))._ordered_for(True),
        f'SELECT {U} FROM "users" ORDER BY name DESC, age ASC, "users"."note" DESC NULLS LAST',
        [],
        mysql=f"SELECT {UM} FROM `users` ORDER BY name DESC, age ASC, `users`.`note` IS NULL ASC, `users`.`note` DESC",
    )


# ---- §13.1 joins -----------------------------------------------------------------------------
def test_join_by_relation_name_and_extra_on() -> None:
    same(
        Post.query().join("author").where(User.c.name == "ann"),
        f'SELECT {P} FROM "posts" INNER JOIN "users" ON "users"."id" = "posts"."user_id" WHERE ("users"."name" = ?)',
        ["ann"],
    )
    same(
        User.query().left_join("posts", on=Post.c.published == True),  # noqa: E712
        f'SELECT {U} FROM "users" LEFT JOIN "posts" ON ("posts"."user_id" = "users"."id") AND ("posts"."published" = ?)',
        [True],
    )
    with pytest.raises(RelationNotFound, match="posts"):
        User.query().join("comments")


def test_join_model_aliased_and_duplicate_table() -> None:
    boss = aliased(Employee, "boss")
    same(
        Employee.query().left_join(boss, on=Employee.c.manager_id == boss.c.id).select(Employee.c.name, boss.c.name.alias("boss_name")),
        'SELECT "employees"."name", "boss"."name" AS "boss_name" FROM "employees" LEFT JOIN "employees" AS "boss" ON "employees"."manager_id" = "boss"."id"',
        [],
    )
    same(
        Post.query().inner_join(User, on=Post.c.user_id == User.c.id),
        f'SELECT {P} FROM "posts" INNER JOIN "users" ON "posts"."user_id" = "users"."id"',
        [],
    )
    with pytest.raises(StatementInvalid, match="alias="):
        Post.query().join("author").inner_join(User, on=Post.c.user_id == User.c.id)
    same(
        Post.query().join("author").join("author", alias="a2"),
        f'SELECT {P} FROM "posts" INNER JOIN "users" ON "users"."id" = "posts"."user_id" INNER JOIN "users" AS "a2" ON "a2"."id" = "posts"."user_id"',
        [],
    )


def test_dict_key_may_name_a_joined_relation_column() -> None:
    same(
        User.query().join("posts").where({"posts.published": True}),
        f'SELECT {U} FROM "users" INNER JOIN "posts" ON "posts"."user_id" = "users"."id" WHERE "posts"."published" = ?',
        [True],
    )
    with pytest.raises(StatementInvalid, match="unknown column"):
        User.query().join("posts").where({"posts.nope": 1})


def test_table_join_needs_on_and_right_full_joins() -> None:
    with pytest.raises(StatementInvalid, match="needs on="):
        User.query().inner_join("audit")
    same(User.query().right_join(Post, on=Post.c.user_id == User.c.id), f'SELECT {U} FROM "users" RIGHT JOIN "posts" ON "posts"."user_id" = "users"."id"', [])
    full = User.query().full_join(Post, on=Post.c.user_id == User.c.id)
    assert sql_of(full, POSTGRES)[0].endswith('FULL JOIN "posts" ON "posts"."user_id" = "users"."id"')
    with pytest.raises(FeatureNotSupported, match=r"FULL JOIN.*MySQL"):
        full._to_sql(MYSQL, Server("mysql", (8, 0, 36)))
    with pytest.raises(FeatureNotSupported, match=r"FULL JOIN.*MariaDB 10.11"):
        full._to_sql(MYSQL, Server("mariadb", (10, 11, 19)))
    with pytest.raises(FeatureNotSupported, match=r"RIGHT JOIN.*SQLite 3.38"):
        User.query().right_join(Post, on=Post.c.user_id == User.c.id)._to_sql(SQLITE, Server("sqlite", (3, 38, 0)))


# ---- §13.2 extras and distinct ordering --------------------------------------------------------
def test_distinct_ordered_by_unselected_expression_is_refused() -> None:
    with pytest.raises(StatementInvalid, match="distinct"):
        sql_of(User.query().select(User.c.name).distinct().order_by(User.c.age), SQLITE)
    same(User.query().select(User.c.name).distinct().order_by(User.c.name), 'SELECT DISTINCT "users"."name" FROM "users" ORDER BY "users"."name"', [])


# ---- §13.3 subqueries --------------------------------------------------------------------------
def test_query_as_value_in_and_exists() -> None:
    same(
        Post.query().where(Post.c.user_id.in_(User.query().where(User.c.age > 3))),
        f'SELECT {P} FROM "posts" WHERE ("posts"."user_id" IN (SELECT "users"."id" FROM "users" WHERE ("users"."age" > ?)))',
        [3],
    )
    same(
        User.query().where(~exists(Post.query().where(Post.c.user_id == User.c.id))),
        f'SELECT {U} FROM "users" WHERE (NOT (EXISTS (SELECT 1 FROM "posts" WHERE ("posts"."user_id" = "users"."id"))))',
        [],
    )
    same(
        User.query().select(User.c.name, Post.query().where(Post.c.user_id == User.c.id).select(func.count()).alias("n")),
        'SELECT "users"."name", (SELECT COUNT(*) FROM "posts" WHERE ("posts"."user_id" = "users"."id")) AS "n" FROM "users"',
        [],
    )
    with pytest.raises(StatementInvalid, match="exactly one"):
        User.c.id.in_(User.query().select(User.c.id, User.c.name))


def test_limit_inside_in_is_wrapped_on_mysql() -> None:
    check(
        Post.query().where(Post.c.user_id.in_(User.query().order_by(User.c.age).limit(2))),
        f'SELECT {P} FROM "posts" WHERE ("posts"."user_id" IN (SELECT "users"."id" FROM "users" ORDER BY "users"."age" LIMIT ?))',
        f'SELECT {P} FROM "posts" WHERE ("posts"."user_id" IN (SELECT "users"."id" FROM "users" ORDER BY "users"."age" LIMIT %s))',
        f"SELECT {PM} FROM `posts` WHERE (`posts`.`user_id` IN (SELECT * FROM (SELECT `users`.`id` FROM `users` ORDER BY `users`.`age` LIMIT %s) AS `_in`))",
        [2],
    )


def test_derived_table_join() -> None:
    recent = Post.query().where(Post.c.views > 5).subquery("recent")
    same(
        User.query().inner_join(recent, on=recent.c.user_id == User.c.id).distinct(),
        f'SELECT DISTINCT {U} FROM "users" INNER JOIN (SELECT {P} FROM "posts" WHERE ("posts"."views" > ?)) AS "recent" ON "recent"."user_id" = "users"."id"',
        [5],
    )
    with pytest.raises(AttributeError, match="no column"):
        recent.c.nope  # noqa: B018


# ---- §13.4 CTEs -----------------------------------------------------------------------------
def test_cte_hoisted_from_a_subquery_and_recursive() -> None:
    big = cte("big", Post.query().where(Post.c.views > 1000))
    same(
        User.query().where(User.c.id.in_(big.c.user_id)),
        f'WITH "big"("id", "user_id", "title", "views", "published") AS (SELECT {P} FROM "posts" WHERE ("posts"."views" > ?)) '
        f'SELECT {U} FROM "users" WHERE ("users"."id" IN (SELECT "big"."user_id" FROM "big"))',
        [1000],
    )
    tree = cte("tree", Category.query().where(Category.c.id == 1),
               recursive=lambda t: Category.query().inner_join(t, on=Category.c.parent_id == t.c.id))
    C = '"categories"."id", "categories"."name", "categories"."parent_id"'
    same(
        Category.query().from_(tree).where(Category.c.name != "x"),
        f'WITH RECURSIVE "tree"("id", "name", "parent_id") AS (SELECT {C} FROM "categories" WHERE ("categories"."id" = ?) '
        f'UNION ALL SELECT {C} FROM "categories" INNER JOIN "tree" ON "categories"."parent_id" = "tree"."id") '
        f'SELECT {C} FROM "tree" AS "categories" WHERE ("categories"."name" <> ?)',
        [1, "x"],
    )


# ---- §13.5 windows ---------------------------------------------------------------------------
def test_window_functions_and_frames() -> None:
    rank = func.row_number().over(partition_by=Employee.c.dept, order_by=Employee.c.salary.desc())
    running = func.sum(Employee.c.salary).over(order_by=Employee.c.id, rows=(None, 0))
    moving = func.avg(Employee.c.salary).over(order_by=[Employee.c.id], range=(-2, 3))
    same(
        Employee.query().select(Employee.c.name, rank.alias("rn"), running.alias("t"), moving.alias("m")),
        'SELECT "employees"."name", row_number() OVER (PARTITION BY "employees"."dept" ORDER BY "employees"."salary" DESC) AS "rn", '
        'SUM("employees"."salary") OVER (ORDER BY "employees"."id" ASC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS "t", '
        'AVG("employees"."salary") OVER (ORDER BY "employees"."id" ASC RANGE BETWEEN 2 PRECEDING AND 3 FOLLOWING) AS "m" FROM "employees"',
        [],
    )


# ---- §13.6 set operations ------------------------------------------------------------------------
def test_union_intersect_except() -> None:
    a = User.query().where(User.c.age > 1)
    b = User.query().where(User.c.age < 9)
    same(
        a.union(b).order_by(User.c.name).limit(20),
        f'SELECT {U} FROM (SELECT {U} FROM "users" WHERE ("users"."age" > ?) UNION SELECT {U} FROM "users" WHERE ("users"."age" < ?)) AS "users" ORDER BY "users"."name" LIMIT ?',
        [1, 9, 20],
    )
    ordered = b.order_by(User.c.age).limit(3)
    same(
        a.except_(ordered),
        f'SELECT {U} FROM (SELECT {U} FROM "users" WHERE ("users"."age" > ?) EXCEPT SELECT * FROM (SELECT {U} FROM "users" WHERE ("users"."age" < ?) ORDER BY "users"."age" LIMIT ?) AS "_m1") AS "users"',
        [1, 9, 3],
    )
    with pytest.raises(StatementInvalid, match="different numbers of columns"):
        a.union(User.query().select(User.c.name))
    with pytest.raises(FeatureNotSupported, match=r"INTERSECT ALL.*SQLite"):
        a.intersect(b, all=True)._to_sql(SQLITE, Server("sqlite", (3, 40, 1)))
    with pytest.raises(FeatureNotSupported, match=r"INTERSECT.*MySQL 8.0.30"):
        a.intersect(b)._to_sql(MYSQL, Server("mysql", (8, 0, 30)))
    assert "INTERSECT ALL" in a.intersect(b, all=True)._to_sql(MYSQL, Server("mariadb", (10, 11, 19)))[0]


def test_distinct_on_is_postgres_only() -> None:
    query = Employee.query().distinct_on(Employee.c.dept).order_by(Employee.c.dept, Employee.c.salary.desc())
    assert sql_of(query, POSTGRES)[0].startswith('SELECT DISTINCT ON ("employees"."dept") "employees"."id"')
    with pytest.raises(FeatureNotSupported, match=r"DISTINCT ON.*SQLite"):
        query._to_sql(SQLITE, Server("sqlite", (3, 40, 1)))
    with pytest.raises(FeatureNotSupported, match=r"DISTINCT ON.*MariaDB"):
        query._to_sql(MYSQL, Server("mariadb", (10, 11, 0)))


def test_server_versions_parse() -> None:
    assert parse_mysql_version("10.11.19-MariaDB-0+deb12u1") == Server("mariadb", (10, 11, 19))
    assert parse_mysql_version("8.0.36") == Server("mysql", (8, 0, 36))
    assert parse_mysql_version("5.5.5-10.11.19-MariaDB-0+deb12u1") == Server("mariadb", (10, 11, 19))
    assert parse_postgres_version(150020) == Server("postgresql", (15, 20))


class Tag(BaseActiveRecord):
    __table_name__ = "tags"
    id: Optional[int] = None
    label: str
    articles: ClassVar[HasMany[Article]] = HasMany(through="Tagging", foreign_key="tag_id", target_key="article_id")


class Article(BaseActiveRecord):
    __table_name__ = "articles"
    id: Optional[int] = None
    title: str


class Tagging(BaseActiveRecord):
    __table_name__ = "taggings"
    id: Optional[int] = None
    tag_id: int
    article_id: int


def test_through_relation_adds_both_joins_and_dotted_paths() -> None:
    same(
        Tag.query().join("articles").where(Article.c.title == "x"),
        'SELECT "tags"."id", "tags"."label" FROM "tags" INNER JOIN "taggings" ON "taggings"."tag_id" = "tags"."id" '
        'INNER JOIN "articles" ON "articles"."id" = "taggings"."article_id" WHERE ("articles"."title" = ?)',
        ["x"],
    )
    same(
        User.query().left_join("posts.author", alias="again"),
        f'SELECT {U} FROM "users" LEFT JOIN "posts" ON "posts"."user_id" = "users"."id" '
        'LEFT JOIN "users" AS "again" ON "again"."id" = "posts"."user_id"',
        [],
    )


def test_to_sql_compiles_for_the_newest_server_until_one_is_read() -> None:
    query = User.query().select(User.c.name).intersect(User.query().select(User.c.name))
    assert "INTERSECT" in query._to_sql(MYSQL)[0]  # newest MySQL has it
    with pytest.raises(FeatureNotSupported, match=r"MySQL 8\.0\.30"):
        query._to_sql(MYSQL, Server("mysql", (8, 0, 30)))


def test_combined_model_has_one_c_for_both_faces() -> None:
    from twinrecord import AsyncBaseActiveRecord

    class Both(BaseActiveRecord, AsyncBaseActiveRecord):
        __table_name__ = "both"
        id: Optional[int] = None
        n: int

    assert Both.aio.c is Both.c and Both.sync.c is Both.c
    assert Both.aio.query().where(Both.c.n == 1).to_sql(SQLITE)[1] == [1]


def test_a_query_compared_as_a_value_and_composite_keys() -> None:
    oldest = User.query().select(func.max(User.c.age))
    same(User.query().where(User.c.age == oldest), f'SELECT {U} FROM "users" WHERE ("users"."age" = (SELECT MAX("users"."age") FROM "users"))', [])

    class Pair(BaseActiveRecord):
        __table_name__ = "pairs"
        __primary_key__ = ("a", "b")
        a: int
        b: int

    with pytest.raises(StatementInvalid, match="composite primary key"):
        User.c.id.in_(Pair.query())


def test_distinct_order_check_also_covers_column_reference_strings() -> None:
    with pytest.raises(StatementInvalid, match="not selected"):
        User.query().select("name").distinct().order_by("age").to_sql(SQLITE)
    with pytest.raises(StatementInvalid, match="not selected"):
        User.query().order_by("-age").select("users.name").distinct().to_sql(SQLITE)
    assert User.query().select("name").distinct().order_by("-name").to_sql(SQLITE)[0] == 'SELECT DISTINCT name FROM "users" ORDER BY name DESC'
    assert "COUNT(*) AS n" in User.query().select("name", "COUNT(*) AS n").group_by("name").distinct().order_by("n").to_sql(SQLITE)[0]
    assert User.query().select("users.*").distinct().order_by("age").to_sql(SQLITE)[0].endswith("ORDER BY age")
    assert User.query().distinct().order_by("age").to_sql(SQLITE)[0].endswith("ORDER BY age")
