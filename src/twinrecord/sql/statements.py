"""Immutable statement descriptions and their compiler: description + dialect -> SQL.

Descriptions hold the statement's *shape* only (hashable; values travel beside
them), so compiled SQL is cached per (shape, dialect). Nothing here knows a model.

They are NamedTuples, not frozen dataclasses: a query builds one per call, and tuple
construction and hashing run in C (a frozen dataclass took ~3 us to build and hash).
Each ends with a `node` tag so that two kinds with equal fields never compare equal.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal, NamedTuple, Union

from .column_refs import ColumnRef, SortKey, render_column, render_sort_key
from .dialect import Dialect


class Ident(NamedTuple):
    """An identifier the compiler quotes (`users.id`, `name`)."""

    name: str
    node: str = "ident"


class Raw(NamedTuple):
    """A SQL fragment written by the user, with `?` placeholders."""

    sql: str
    node: str = "raw"


class ColumnTest(NamedTuple):
    """`column = ?`, `column IS NULL` or `column IN (?, ...)` for a dict condition."""

    column: str
    op: Literal["eq", "null", "not_null", "in"]
    size: int = 1  # how many values an IN list takes
    node: str = "test"


class Aggregate(NamedTuple):
    func: str  # COUNT, SUM, AVG, MIN, MAX
    column: str  # '*' or a column expression
    alias: str
    distinct: bool = False
    node: str = "aggregate"


class AllOf(NamedTuple):
    """Column tests ANDed as one condition (a dict condition with several keys)."""

    tests: tuple[ColumnTest, ...]
    node: str = "all_of"


Expression = Union[Ident, Raw, Aggregate, ColumnRef]
Condition = Union[Raw, ColumnTest, AllOf]
OrderItem = Union[SortKey, Raw]  # a parsed column reference, or raw() SQL
GroupItem = Union[ColumnRef, Raw]


class Select(NamedTuple):
    table: str
    columns: tuple[Expression, ...]
    where: tuple[tuple[str, Condition], ...] = ()  # (connector, condition)
    joins: tuple[str, ...] = ()
    group_by: tuple[GroupItem, ...] = ()
    having: tuple[tuple[str, Condition], ...] = ()
    order_by: tuple[OrderItem, ...] = ()
    has_limit: bool = False
    has_offset: bool = False
    distinct: bool = False
    for_update: bool = False
    node: str = "select"


class Insert(NamedTuple):
    table: str
    columns: tuple[str, ...]
    rows: int = 1
    returning: tuple[str, ...] = ()
    node: str = "insert"


class Update(NamedTuple):
    table: str
    columns: tuple[str, ...]
    where: tuple[tuple[str, Condition], ...]
    bump: tuple[str, ...] = ()  # columns set to `column + 1` (a lock version)
    node: str = "update"


class Delete(NamedTuple):
    table: str
    where: tuple[tuple[str, Condition], ...]
    node: str = "delete"


Compiled = tuple[str, int]  # driver SQL, placeholder count


# ---- public entry points (cached per shape and dialect) -----------------------------------
@lru_cache(maxsize=2048)
def compile_select(select: Select, dialect: Dialect) -> Compiled:
    return dialect.prepare(_select_sql(select, dialect))


@lru_cache(maxsize=1024)
def compile_scalar(select: Select, aggregate: Aggregate, dialect: Dialect) -> Compiled:
    """One aggregate over exactly the rows `select` returns."""
    return dialect.prepare(_scalar_sql(select, aggregate, dialect))


@lru_cache(maxsize=1024)
def compile_insert(insert: Insert, dialect: Dialect) -> Compiled:
    return dialect.prepare(_insert_sql(insert, dialect))


def _sets(update: Update, dialect: Dialect) -> str:
    sets = [f"{dialect.quote(c)} = ?" for c in update.columns]
    sets += [f"{dialect.quote(c)} = {dialect.quote(c)} + 1" for c in update.bump]
    return ", ".join(sets)


@lru_cache(maxsize=1024)
def compile_update(update: Update, dialect: Dialect) -> Compiled:
    sets = _sets(update, dialect)
    sql = f"UPDATE {dialect.quote(update.table)} SET {sets}"
    return dialect.prepare(sql + _where_sql(update.where, dialect))


@lru_cache(maxsize=1024)
def compile_delete(delete: Delete, dialect: Dialect) -> Compiled:
    sql = f"DELETE FROM {dialect.quote(delete.table)}"
    return dialect.prepare(sql + _where_sql(delete.where, dialect))


@lru_cache(maxsize=1024)
def compile_update_matching(update: Update, select: Select, key: str, dialect: Dialect) -> Compiled:
    """UPDATE of the rows a complex select (joins, limit, ...) matches, by key."""
    sets = _sets(update, dialect)
    sql = f"UPDATE {dialect.quote(update.table)} SET {sets}" + _key_in_subquery(
        select, key, dialect
    )
    return dialect.prepare(sql)


@lru_cache(maxsize=1024)
def compile_delete_matching(select: Select, key: str, dialect: Dialect) -> Compiled:
    sql = f"DELETE FROM {dialect.quote(select.table)}" + _key_in_subquery(select, key, dialect)
    return dialect.prepare(sql)


# ---- pieces ---------------------------------------------------------------------------
def _expression_sql(expr: Expression, dialect: Dialect) -> str:
    if isinstance(expr, Ident):
        return dialect.quote(expr.name)
    if isinstance(expr, Raw):
        return expr.sql
    if isinstance(expr, ColumnRef):
        return render_column(expr, dialect.identifier_quote)
    return f"{aggregate_call(expr)} AS {dialect.quote(expr.alias)}"


def _group_item_sql(item: GroupItem, dialect: Dialect) -> str:
    if isinstance(item, Raw):
        return item.sql
    return render_column(item, dialect.identifier_quote)


def _order_item_sql(item: OrderItem, dialect: Dialect) -> str:
    if isinstance(item, Raw):
        return item.sql
    return render_sort_key(item, dialect.identifier_quote, dialect.native_nulls_order)


def scalar_is_wrapped(s: Select) -> bool:
    """Whether a scalar aggregate runs over the query as a derived table (keeping its
    group/order/limit and their values) or over its WHERE alone."""
    return bool(s.has_limit or s.has_offset or s.distinct or s.group_by or s.having)


def aggregate_call(agg: Aggregate) -> str:
    distinct = "DISTINCT " if agg.distinct else ""
    return f"{agg.func}({distinct}{agg.column})"


def _condition_sql(condition: Condition, dialect: Dialect) -> str:
    if isinstance(condition, Raw):
        return f"({condition.sql})"
    if isinstance(condition, AllOf):
        return "(" + " AND ".join(_condition_sql(c, dialect) for c in condition.tests) + ")"
    column = dialect.quote(condition.column)
    if condition.op == "null":
        return f"{column} IS NULL"
    if condition.op == "not_null":
        return f"{column} IS NOT NULL"
    if condition.op == "in":
        if condition.size == 0:
            return "1 = 0"  # IN () is invalid SQL; an empty list matches nothing
        return f"{column} IN ({', '.join('?' * condition.size)})"
    return f"{column} = ?"


def conditions_sql(items: tuple[tuple[str, Condition], ...], dialect: Dialect) -> str:
    """Left fold: each item joins everything before it (`(A AND B) OR C`)."""
    sql = ""
    previous = ""
    for connector, condition in items:
        part = _condition_sql(condition, dialect)
        if not sql:
            sql = part
        else:
            if previous and connector != previous:
                sql = f"({sql})"
            sql = f"{sql} {connector} {part}"
            previous = connector
    return sql


def _where_sql(items: tuple[tuple[str, Condition], ...], dialect: Dialect) -> str:
    return f" WHERE {conditions_sql(items, dialect)}" if items else ""


def _select_sql(s: Select, dialect: Dialect) -> str:
    columns = ", ".join(_expression_sql(c, dialect) for c in s.columns) or "*"
    parts = ["SELECT DISTINCT " if s.distinct else "SELECT ", columns]
    parts.append(f" FROM {dialect.quote(s.table)}")
    for join in s.joins:
        parts.append(f" {join}")
    parts.append(_where_sql(s.where, dialect))
    if s.group_by:
        parts.append(" GROUP BY " + ", ".join(_group_item_sql(g, dialect) for g in s.group_by))
    if s.having:
        parts.append(" HAVING " + conditions_sql(s.having, dialect))
    if s.order_by:
        parts.append(" ORDER BY " + ", ".join(_order_item_sql(o, dialect) for o in s.order_by))
    parts.append(_limit_sql(s, dialect))
    if s.for_update:
        parts.append(dialect.row_lock)
    return "".join(parts)


def _limit_sql(s: Select, dialect: Dialect) -> str:
    if s.has_limit and s.has_offset:
        return " LIMIT ? OFFSET ?"
    if s.has_limit:
        return " LIMIT ?"
    if s.has_offset:
        return dialect.offset_only
    return ""


def _scalar_sql(s: Select, agg: Aggregate, dialect: Dialect) -> str:
    call = aggregate_call(agg)
    if scalar_is_wrapped(s):
        # Aggregate over exactly the rows the query returns: wrap it.
        inner = _select_sql(s, dialect)
        column = agg.column
        if _QUALIFIED.match(column):  # `users.age` is `age` in the derived table
            column = column.rsplit(".", 1)[-1]
        outer = aggregate_call(Aggregate(agg.func, column, agg.alias, agg.distinct))
        return f"SELECT {outer} FROM ({inner}) AS {dialect.quote('_rows')}"
    plain = Select(table=s.table, columns=(Raw(call),), where=s.where, joins=s.joins)
    return _select_sql(plain, dialect)


_QUALIFIED = re.compile(r'^[\w"`]+\.[\w"`]+$')


def _key_in_subquery(s: Select, key: str, dialect: Dialect) -> str:
    keyed = Select(
        table=s.table,
        columns=(Ident(f"{s.table}.{key}"),),
        where=s.where,
        joins=s.joins,
        group_by=s.group_by,
        having=s.having,
        order_by=s.order_by,
        has_limit=s.has_limit,
        has_offset=s.has_offset,
        distinct=s.distinct,
    )
    # The extra derived table lets MySQL read the table it is changing.
    keys = _select_sql(keyed, dialect)
    inner = f"SELECT {dialect.quote('_k.' + key)} FROM ({keys}) AS {dialect.quote('_k')}"
    return f" WHERE {dialect.quote(key)} IN ({inner})"


def _insert_sql(i: Insert, dialect: Dialect) -> str:
    table = dialect.quote(i.table)
    if not i.columns:
        body = dialect.empty_insert
        sql = f"INSERT INTO {table}{body}"
    else:
        columns = ", ".join(dialect.quote(c) for c in i.columns)
        row = "(" + ", ".join("?" * len(i.columns)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES " + ", ".join([row] * i.rows)
    if i.returning and dialect.supports_returning:
        sql += " RETURNING " + ", ".join(dialect.quote(c) for c in i.returning)
    return sql
