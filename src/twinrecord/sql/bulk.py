"""Bulk write statements (API.md §15): multi-row INSERT with a conflict clause, and the
one-statement UPDATE of many rows by key. Nothing here knows a model.

Spelling per database: PostgreSQL and SQLite `ON CONFLICT`, MySQL/MariaDB
`INSERT IGNORE` / `ON DUPLICATE KEY UPDATE` (`VALUES(c)` on MariaDB, which rejects the
row alias; `AS new` on MySQL, where `VALUES()` is deprecated since 8.0.20).

Where the dialect takes arrays as parameters (`Dialect.array_insert`, PostgreSQL), a
large plain INSERT sends one array per column instead of one parameter per value:
`INSERT INTO t (a, b) SELECT * FROM unnest(CAST(? AS T1[]), CAST(? AS T2[])) RETURNING k`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from .dialect import Dialect


class ConflictInsert(NamedTuple):
    """INSERT of `rows` rows of `columns`.

    `action` 'ignore' skips colliding rows; 'update' overwrites `update` columns with
    the proposed values, sets `stamp` columns to one extra parameter (sent after the
    rows' values) and increments `bump` columns. `target`: the conflict columns (empty:
    any unique key, for 'ignore'). `returning`: columns RETURNING gives back, where
    the database has it (MariaDB's INSERT has it: `server_returning`). `computed`:
    (column, SQL) pairs for 'update', the SQL an expression compiled with `?` for its
    values (sent after the rows' values, before the stamps').
    """

    table: str
    columns: tuple[str, ...]
    rows: int
    action: str
    target: tuple[str, ...] = ()
    update: tuple[str, ...] = ()
    stamp: tuple[str, ...] = ()
    bump: tuple[str, ...] = ()
    returning: tuple[str, ...] = ()
    row_alias: bool = False  # MySQL 8: `AS new` instead of VALUES(c)
    computed: tuple[tuple[str, str], ...] = ()
    server_returning: bool = False
    # MariaDB: keep up to this many warnings of the statement for SHOW WARNINGS
    # (`SET STATEMENT max_error_count=n FOR ...`; the session keeps 64 by default).
    keep_warnings: int = 0
    node: str = "conflict_insert"


@lru_cache(maxsize=512)
def compile_conflict_insert(insert: ConflictInsert, dialect: Dialect) -> str:
    q = dialect.quote
    table = q(insert.table)
    columns = ", ".join(q(c) for c in insert.columns)
    row = "(" + ", ".join("?" * len(insert.columns)) + ")"
    values = ", ".join([row] * insert.rows)
    mysql = dialect.name == "mysql"
    if insert.action == "ignore":
        verb = "INSERT IGNORE INTO" if mysql else "INSERT INTO"
        sql = f"{verb} {table} ({columns}) VALUES {values}"
        if not mysql:
            target = f" ({', '.join(q(c) for c in insert.target)})" if insert.target else ""
            sql += f" ON CONFLICT{target} DO NOTHING"
    elif mysql:
        alias = " AS new" if insert.row_alias else ""
        sets = [
            f"{q(c)} = new.{q(c)}" if insert.row_alias else f"{q(c)} = VALUES({q(c)})"
            for c in insert.update
        ]
        sets += [f"{q(c)} = {expression}" for c, expression in insert.computed]
        sets += [f"{q(c)} = ?" for c in insert.stamp]
        sets += [f"{q(c)} = {q(c)} + 1" for c in insert.bump]
        sql = f"INSERT INTO {table} ({columns}) VALUES {values}{alias}"
        sql += " ON DUPLICATE KEY UPDATE " + ", ".join(sets)
    else:
        sets = [f"{q(c)} = EXCLUDED.{q(c)}" for c in insert.update]
        sets += [f"{q(c)} = {expression}" for c, expression in insert.computed]
        sets += [f"{q(c)} = ?" for c in insert.stamp]
        sets += [f"{q(c)} = {table}.{q(c)} + 1" for c in insert.bump]
        target = ", ".join(q(c) for c in insert.target)
        sql = f"INSERT INTO {table} ({columns}) VALUES {values}"
        sql += f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(sets)
    if insert.returning and (dialect.supports_returning or insert.server_returning):
        sql += " RETURNING " + ", ".join(q(c) for c in insert.returning)
    if insert.keep_warnings:
        sql = f"SET STATEMENT max_error_count={int(insert.keep_warnings)} FOR {sql}"
    return dialect.prepare(sql)[0]


class CaseUpdate(NamedTuple):
    """`UPDATE t SET c = CASE k WHEN ? THEN ? ... ELSE c END, ... WHERE k IN (?, ...)`.

    `key`: the primary key column, or a tuple of columns for a composite key (then
    `CASE WHEN k1 = ? AND k2 = ? THEN ? ...` and `WHERE (k1 = ? AND k2 = ?) OR ...`, each
    key taking one value per column). `cases[i]` is how many WHEN branches column
    `columns[i]` has; `casts[i]` the SQL type its values are cast to ('' for none:
    PostgreSQL needs them, its parameters being untyped inside CASE). `stamp` columns
    take one extra parameter, `bump` columns are incremented; `returning`: the key,
    where RETURNING exists.
    """

    table: str
    key: str | tuple[str, ...]
    columns: tuple[str, ...]
    cases: tuple[int, ...]
    casts: tuple[str, ...]
    keys: int
    stamp: tuple[str, ...] = ()
    bump: tuple[str, ...] = ()
    returning: bool = False
    node: str = "case_update"


@lru_cache(maxsize=512)
def compile_case_update(update: CaseUpdate, dialect: Dialect) -> str:
    q = dialect.quote
    key_columns = (update.key,) if isinstance(update.key, str) else update.key
    quoted = [q(c) for c in key_columns]
    if len(quoted) == 1:
        case, when = f"CASE {quoted[0]}", "WHEN ?"
        where = f"{quoted[0]} IN ({', '.join('?' * update.keys)})"
    else:
        case, when = "CASE", "WHEN " + " AND ".join(f"{c} = ?" for c in quoted)
        one = "(" + " AND ".join(f"{c} = ?" for c in quoted) + ")"
        where = " OR ".join([one] * update.keys)
    sets = []
    for column, count, cast in zip(update.columns, update.cases, update.casts):
        value = f"CAST(? AS {cast})" if cast else "?"
        branches = " ".join([f"{when} THEN {value}"] * count)
        sets.append(f"{q(column)} = {case} {branches} ELSE {q(column)} END")
    sets += [f"{q(c)} = ?" for c in update.stamp]
    sets += [f"{q(c)} = {q(c)} + 1" for c in update.bump]
    sql = f"UPDATE {q(update.table)} SET {', '.join(sets)} WHERE {where}"
    if update.returning and dialect.supports_returning:
        sql += " RETURNING " + ", ".join(quoted)
    return dialect.prepare(sql)[0]


class ColumnValues(list[object]):
    """One column's values, sent as one array parameter (an `ArrayInsert`'s). A type of
    its own so a driver can send it its fastest way (psycopg: binary) without changing
    how other lists are sent."""

    __slots__ = ()


class ArrayInsert(NamedTuple):
    """`INSERT INTO table (columns) SELECT * FROM unnest(...)`: one array parameter per
    column (`casts[i]`: the SQL element type column i's array is cast to), the rows in
    array order; `returning`: the columns RETURNING gives back, in the rows' order."""

    table: str
    columns: tuple[str, ...]
    casts: tuple[str, ...]
    returning: tuple[str, ...] = ()
    node: str = "array_insert"


# A type's modifiers: `VARCHAR(10)` -> `VARCHAR`. An explicit cast to a sized type cuts
# or rounds silently; cast to the bare type, the INSERT's own assignment to the column
# checks the size and raises as a VALUES insert would.
_MODIFIERS = re.compile(r"\s*\([^)]*\)")


def array_element_type(column_type_sql: str) -> str:
    """The type a column's array is cast to: its SQL type without modifiers."""
    return _MODIFIERS.sub("", column_type_sql)


@lru_cache(maxsize=256)
def compile_array_insert(insert: ArrayInsert, dialect: Dialect) -> str:
    q = dialect.quote
    columns = ", ".join(q(c) for c in insert.columns)
    arrays = ", ".join(f"CAST(? AS {cast}[])" for cast in insert.casts)
    sql = f"INSERT INTO {q(insert.table)} ({columns}) SELECT * FROM unnest({arrays})"
    if insert.returning:
        sql += " RETURNING " + ", ".join(q(c) for c in insert.returning)
    return dialect.prepare(sql)[0]
