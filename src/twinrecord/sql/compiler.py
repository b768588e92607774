"""The query-language compiler: query shapes with expressions, joins, subqueries, CTEs,
windows and set operations -> SQL for one dialect and server (API.md §12 to §13).

Rule: values never reach the SQL text. A shape's values sit beside it in the order a
walk of the shape meets them; the compiler emits `?` and records, for each, the index
of the value it stands for (`order`), so SQL that repeats an expression (NULLS LAST
emulated on MySQL) still binds the right values. Compiled SQL is cached per
(shape, dialect, server). The plain statements of `statements.py` keep their own,
simpler compiler; this one also reads their condition nodes.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any, NamedTuple

from ..errors import StatementInvalid
from . import features
from . import types as t
from .column_refs import ColumnRef as ColumnName
from .column_refs import SortKey, render_column, render_sort_key
from .dialect import Dialect
from .placeholders import prepare
from .statements import (
    Aggregate,
    AllOf,
    ColumnTest,
    Ident,
    Raw,
    Select,
    _limit_sql,
    aggregate_call,
)

Shape = Any


class SourceShape(NamedTuple):
    """What a FROM or JOIN reads: a table, a CTE, or a query (derived table), maybe aliased."""

    kind: str  # 'table' | 'cte' | 'query'
    name: str  # table or CTE name; for a query, its alias
    alias: str | None = None
    query: Any = None  # QueryShape | CompoundShape for kind 'query'


class JoinShape(NamedTuple):
    kind: str  # INNER, LEFT, RIGHT, FULL; 'RAW' for a whole SQL clause in `source.name`
    source: SourceShape
    on: Shape = None


class CteShape(NamedTuple):
    name: str
    columns: tuple[str, ...]
    anchor: Any  # QueryShape
    recursive: Any = None  # QueryShape of the recursive member
    distinct: bool = False  # UNION instead of UNION ALL (stops cycles)


class QueryShape(NamedTuple):
    source: SourceShape
    columns: tuple[Shape, ...] = ()
    joins: tuple[JoinShape, ...] = ()
    where: tuple[tuple[str, Shape], ...] = ()
    group_by: tuple[Shape, ...] = ()
    having: tuple[tuple[str, Shape], ...] = ()
    order_by: tuple[Shape, ...] = ()
    has_limit: bool = False
    has_offset: bool = False
    distinct: bool = False
    distinct_on: tuple[Shape, ...] = ()
    for_update: bool = False
    ctes: tuple[CteShape, ...] = ()


class CompoundShape(NamedTuple):
    """`first UNION [ALL] second ...`: members in value order."""

    first: Any
    rest: tuple[tuple[str, bool, Any], ...]  # (UNION|INTERSECT|EXCEPT, all, member)


class UpdateShape(NamedTuple):
    table: str
    sets: tuple[tuple[str, Shape], ...]  # (column, expression shape or ('?',))
    where: tuple[tuple[str, Shape], ...] = ()
    keys: Any = None  # (key column, QueryShape): rows chosen by key, for complex queries


class DeleteShape(NamedTuple):
    table: str
    where: tuple[tuple[str, Shape], ...] = ()
    keys: Any = None


Compiled = tuple[str, "tuple[int, ...] | None"]  # driver SQL; value order (None: as given)


# ---- entry points ---------------------------------------------------------------------
@lru_cache(maxsize=2048)
def compile_query(shape: object, dialect: Dialect, server: features.Server) -> Compiled:
    ctx = _Context(dialect, server)
    return _finish(ctx, _statement_sql(shape, ctx, 0))


@lru_cache(maxsize=1024)
def compile_update_shape(shape: UpdateShape, dialect: Dialect, server: features.Server) -> Compiled:
    ctx = _Context(dialect, server)
    base = 0
    sets = []
    for column, value in shape.sets:
        sets.append(f"{dialect.quote(column)} = {_x(value, ctx, base)}")
        base += count(value)
    sql = f"UPDATE {dialect.quote(shape.table)} SET {', '.join(sets)}"
    return _finish(ctx, sql + _filter_sql(shape.where, shape.keys, ctx, base))


@lru_cache(maxsize=1024)
def compile_delete_shape(shape: DeleteShape, dialect: Dialect, server: features.Server) -> Compiled:
    ctx = _Context(dialect, server)
    sql = f"DELETE FROM {dialect.quote(shape.table)}"
    return _finish(ctx, sql + _filter_sql(shape.where, shape.keys, ctx, 0))


def bind(compiled: Compiled, values: list[Any]) -> list[Any]:
    """The values in the order the SQL's placeholders take them."""
    order = compiled[1]
    return values if order is None else [values[i] for i in order]


@lru_cache(maxsize=512)
def compile_upsert_sets(
    sets: tuple[Shape, ...], dialect: Dialect, server: features.Server, row_alias: bool
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The SQL of the expressions an upsert's update sets (with `?` placeholders, for
    the statement to prepare) and the order their values take. `excluded(c)` is spelt
    per database: `EXCLUDED.c`, MySQL's row alias `new.c`, or MariaDB's `VALUES(c)`."""
    ctx = _Context(dialect, server, "new" if row_alias else "VALUES")
    if dialect.name != "mysql":
        ctx.excluded = "EXCLUDED"
    base = 0
    parts = []
    for shape in sets:
        parts.append(_x(shape, ctx, base))
        base += count(shape)
    return tuple(parts), tuple(ctx.order)


class _Context:
    __slots__ = ("dialect", "excluded", "order", "server", "skips")

    def __init__(
        self, dialect: Dialect, server: features.Server, excluded: str | None = None
    ) -> None:
        self.dialect = dialect
        self.server = server
        self.order: list[int] = []
        self.excluded = excluded  # how the proposed row is named (upserts only)
        self.skips = False  # some values are not sent (a group key named by label/position)

    def param(self, index: int) -> str:
        self.order.append(index)
        return "?"

    def params(self, base: int, n: int) -> None:
        self.order.extend(range(base, base + n))


def _finish(ctx: _Context, sql: str) -> Compiled:
    driver_sql, placeholders = ctx.dialect.prepare(sql)
    if placeholders != len(ctx.order):  # a `?` inside select()/order_by() text, say
        raise StatementInvalid(
            f"the statement has {placeholders} placeholder(s) where {len(ctx.order)} value(s) "
            "go: a `?` in select(), join() or order_by() text takes no value — use "
            "where()/having() or raw(sql, params)",
            sql,
        )
    order = tuple(ctx.order)
    identity = not ctx.skips and order == tuple(range(len(order)))
    return driver_sql, (None if identity else order)


# ---- counting values --------------------------------------------------------------------
@lru_cache(maxsize=8192)
def count(shape: Any) -> int:
    """How many values a shape takes (its part of the values tuple)."""
    kind = type(shape)
    if kind is tuple:
        if not shape:
            return 0
        tag = shape[0]
        if tag == "?":
            return 1
        if tag == "raw":
            return prepare(shape[1], "qmark")[1]
        if tag == "in":
            return count(shape[1]) + int(shape[2])
        if not isinstance(tag, str):
            return sum(int(count(part)) for part in shape)
        return sum(int(count(part)) for part in shape[1:] if isinstance(part, tuple))
    if kind is Raw:
        return prepare(shape.sql, "qmark")[1]
    if kind is ColumnTest:
        return {"eq": 1, "null": 0, "not_null": 0}.get(shape.op, int(shape.size))
    if kind is AllOf:
        return sum(count(test) for test in shape.tests)
    if kind is QueryShape:
        return _query_count(shape)
    if kind is CompoundShape:
        return count(shape.first) + sum(count(member) for _, _, member in shape.rest)
    if kind is SourceShape:
        return count(shape.query) if shape.query is not None else 0
    if kind is JoinShape:
        return count(shape.source) + (count(shape.on) if shape.on is not None else 0)
    if kind is CteShape:
        return count(shape.anchor) + (count(shape.recursive) if shape.recursive else 0)
    return 0


def _query_count(q: QueryShape) -> int:
    total = sum(count(c) for c in q.ctes) + sum(count(c) for c in q.distinct_on)
    total += sum(count(c) for c in q.columns) + count(q.source)
    total += sum(count(j) for j in q.joins)
    total += sum(count(c) for _, c in q.where) + sum(count(c) for c in q.group_by)
    total += sum(count(c) for _, c in q.having) + sum(count(c) for c in q.order_by)
    return total + int(q.has_limit) + int(q.has_offset)


# ---- statements -----------------------------------------------------------------------
def _statement_sql(shape: Any, ctx: _Context, base: int) -> str:
    if type(shape) is CompoundShape:
        return _compound_sql(shape, ctx, base)
    return _query_sql(shape, ctx, base)


def _query_sql(q: QueryShape, ctx: _Context, base: int) -> str:
    d = ctx.dialect
    parts: list[str] = []
    if q.ctes:
        parts.append(_with_sql(q.ctes, ctx, base) + " ")
        base += sum(count(c) for c in q.ctes)
    parts.append("SELECT ")
    if q.distinct_on:
        features.check_distinct_on(ctx.server)
        items = []
        for item in q.distinct_on:
            items.append(_x(item, ctx, base))
            base += count(item)
        parts.append(f"DISTINCT ON ({', '.join(items)}) ")
    elif q.distinct:
        parts.append("DISTINCT ")
    if q.distinct and q.order_by:
        _check_distinct_order(q)
    columns = []
    for column in q.columns:
        columns.append(_select_item(column, ctx, base))
        base += count(column)
    parts.append(", ".join(columns) or "*")
    parts.append(" FROM " + _source_sql(q.source, ctx, base))
    base += count(q.source)
    for join in q.joins:
        parts.append(" " + _join_sql(join, ctx, base))
        base += count(join)
    if q.where:
        parts.append(" WHERE " + _fold(q.where, ctx, base))
        base += sum(count(c) for _, c in q.where)
    if q.group_by:
        # A grouped expression that is also a labelled select item is grouped by its
        # label: with bound values, PostgreSQL would see two different expressions.
        # An unlabelled one (raw() SQL) is grouped by its position in the select list.
        labels = {c[1]: c[2] for c in q.columns if type(c) is tuple and c[0] == "label"}
        items = []
        for item in q.group_by:
            if count(item):
                label = labels.get(item)
                position = None if label else _position(item, q.columns)
                if label or position:
                    items.append(d.quote(label) if label else str(position))
                    ctx.skips = True  # its values are the select item's
                    base += count(item)
                    continue
            items.append(_x(item, ctx, base))
            base += count(item)
        parts.append(" GROUP BY " + ", ".join(items))
    if q.having:
        parts.append(" HAVING " + _fold(q.having, ctx, base))
        base += sum(count(c) for _, c in q.having)
    if q.order_by:
        items = []
        for item in q.order_by:
            items.append(_order_sql(item, ctx, base))
            base += count(item)
        parts.append(" ORDER BY " + ", ".join(items))
    limit = _limit_sql(Select("", (), has_limit=q.has_limit, has_offset=q.has_offset), d)
    if limit:
        parts.append(limit)
        ctx.params(base, int(q.has_limit) + int(q.has_offset))
    if q.for_update and d.name != "sqlite":
        parts.append(" FOR UPDATE")
    return "".join(parts)


def _with_sql(ctes: tuple[CteShape, ...], ctx: _Context, base: int) -> str:
    recursive = any(c.recursive is not None for c in ctes)
    if recursive or ctes:
        features.check_window_or_cte("WITH" + (" RECURSIVE" if recursive else ""), ctx.server)
    d = ctx.dialect
    items = []
    for cte in ctes:
        body = _statement_sql(cte.anchor, ctx, base)
        base += count(cte.anchor)
        if cte.recursive is not None:
            union = "UNION" if cte.distinct else "UNION ALL"
            body += f" {union} " + _statement_sql(cte.recursive, ctx, base)
            base += count(cte.recursive)
        names = ", ".join(d.quote(c) for c in cte.columns)
        items.append(f"{d.quote(cte.name)}({names}) AS ({body})")
    return ("WITH RECURSIVE " if recursive else "WITH ") + ", ".join(items)


def _compound_sql(shape: CompoundShape, ctx: _Context, base: int) -> str:
    parts = [_member_sql(shape.first, ctx, base, 0)]
    base += count(shape.first)
    for number, (operation, all_rows, member) in enumerate(shape.rest, start=1):
        features.check_set_operation(operation, all_rows, ctx.server)
        parts.append(f"{operation}{' ALL' if all_rows else ''}")
        parts.append(_member_sql(member, ctx, base, number))
        base += count(member)
    return " ".join(parts)


def _member_sql(member: Any, ctx: _Context, base: int, number: int) -> str:
    sql = _statement_sql(member, ctx, base)
    wrap = type(member) is CompoundShape or (
        member.order_by or member.has_limit or member.has_offset or member.ctes
    )
    if wrap:  # SQLite refuses parenthesised members; a derived table works everywhere
        return f"SELECT * FROM ({sql}) AS {ctx.dialect.quote(f'_m{number}')}"
    return sql


def _source_sql(source: SourceShape, ctx: _Context, base: int) -> str:
    d = ctx.dialect
    if source.kind == "query":
        return f"({_statement_sql(source.query, ctx, base)}) AS {d.quote(source.name)}"
    sql = d.quote(source.name)
    if source.alias and source.alias != source.name:
        sql += f" AS {d.quote(source.alias)}"
    return sql


def _join_sql(join: JoinShape, ctx: _Context, base: int) -> str:
    if join.kind == "RAW":
        return str(join.source.name)
    features.check_join(join.kind, ctx.server)
    sql = f"{join.kind} JOIN {_source_sql(join.source, ctx, base)}"
    base += count(join.source)
    if join.on is None:
        return sql + " ON 1 = 1"
    return sql + " ON " + _x(join.on, ctx, base)


def _filter_sql(where: tuple[tuple[str, Shape], ...], keys: Any, ctx: _Context, base: int) -> str:
    if keys is not None:
        key, select = keys
        d = ctx.dialect
        # The extra derived table lets MySQL read the table it changes; the WITH, if
        # any, stays inside it (MariaDB rejects WITH ... UPDATE).
        inner = _statement_sql(select, ctx, base)
        return (
            f" WHERE {d.quote(key)} IN (SELECT {d.quote('_k.' + key)} FROM ({inner}) "
            f"AS {d.quote('_k')})"
        )
    return f" WHERE {_fold(where, ctx, base)}" if where else ""


def _fold(items: tuple[tuple[str, Shape], ...], ctx: _Context, base: int) -> str:
    """Left fold, as `statements.conditions_sql`: `where(A).where(B).or_where(C)` is
    `(A AND B) OR C`."""
    sql = ""
    previous = ""
    for connector, condition in items:
        part = _condition(condition, ctx, base)
        base += count(condition)
        if not sql:
            sql = part
            continue
        if previous and connector != previous:
            sql = f"({sql})"
        sql = f"{sql} {connector} {part}"
        previous = connector
    return sql


def _condition(shape: Shape, ctx: _Context, base: int) -> str:
    """A condition as one parenthesised unit of a WHERE/HAVING fold."""
    sql = _x(shape, ctx, base)
    if type(shape) in (ColumnTest, AllOf):
        return sql
    return f"({sql})"


def _check_distinct_order(q: QueryShape) -> None:
    selected = set()
    for column in q.columns:
        selected.add(column)
        if type(column) is tuple and column[0] == "label":
            selected.update({column[1], ("col", None, column[2]), ("raw", column[2])})
        if type(column) is tuple and column[0] == "col":
            selected.add(("raw", column[2]))
            selected.add(("raw", f"{column[1]}.{column[2]}"))
        if type(column) is Ident:
            table, _, name = column.name.rpartition(".")
            selected.update({("raw", column.name), ("raw", name), ("col", table or None, name)})
        if type(column) is Raw:
            if "*" in column.sql:
                return  # `table.*`: which columns it holds is the database's to say
            selected.add(("raw", column.sql))
            words = column.sql.replace('"', " ").replace("`", " ").split()
            if words:  # `... AS label` or `table.column`
                selected.add(("raw", words[-1]))
                selected.add(("raw", words[-1].rsplit(".", 1)[-1]))
    for item in q.order_by:
        if type(item) is SortKey:
            item = ("raw", item.column.parts[-1].strip('"'))
        expr = item[1] if type(item) is tuple and item[0] == "order" else item
        if type(expr) is tuple and expr[0] == "raw":
            words = expr[1].split()
            expr = ("raw", words[0].lstrip("-")) if words else expr
        if expr not in selected:
            raise StatementInvalid(
                "distinct() with an order_by() item that is not selected is refused on every "
                f"database ({_describe(expr)}): select it too, or order by a selected column"
            )


def _describe(shape: Shape) -> str:
    if type(shape) is tuple and shape[0] == "col":
        return f"{shape[1]}.{shape[2]}" if shape[1] else str(shape[2])
    if type(shape) is tuple and shape[0] == "raw":
        return repr(shape[1])
    return repr(shape)


# ---- select items and ordering --------------------------------------------------------------
def _position(item: Shape, columns: tuple[Shape, ...]) -> int | None:
    """1-based position of `item` among the select items, or None."""
    raw = ("raw", item.sql) if type(item) is Raw else None  # raw() as a select item
    for i, column in enumerate(columns):
        if column == item or (raw is not None and column == raw):
            return i + 1
    return None


def _select_item(shape: Shape, ctx: _Context, base: int) -> str:
    if type(shape) is Aggregate:
        return f"{aggregate_call(shape)} AS {ctx.dialect.quote(shape.alias)}"
    if type(shape) is tuple and shape[0] == "label":
        return f"{_x(shape[1], ctx, base)} AS {ctx.dialect.quote(shape[2])}"
    if type(shape) is Raw:
        ctx.params(base, count(shape))
        return shape.sql
    return _x(shape, ctx, base)


def _order_sql(shape: Shape, ctx: _Context, base: int) -> str:
    if type(shape) is SortKey:  # a parsed column reference
        d = ctx.dialect
        return render_sort_key(shape, d.identifier_quote, native_nulls=d.name != "mysql")
    if not (type(shape) is tuple and shape[0] == "order"):
        if type(shape) is tuple and shape[0] == "raw":
            ctx.params(base, count(shape))
            return str(shape[1])
        return _x(shape, ctx, base)
    _, expr, direction, nulls = shape
    sql = _x(expr, ctx, base)
    if nulls is None:
        return f"{sql} {direction}"
    if ctx.dialect.name == "mysql":
        # No NULLS FIRST/LAST: order on `expr IS NULL` first (0 before 1).
        flag = "DESC" if nulls == "first" else "ASC"
        again = _x(expr, ctx, base)  # the same values again
        return f"{sql} IS NULL {flag}, {again} {direction}"
    return f"{sql} {direction} NULLS {nulls.upper()}"


# ---- expressions --------------------------------------------------------------------------
_ATOMIC = frozenset({"col", "?", "func", "count_all", "subq", "exists", "cast", "over", "excluded"})
_CAST_MYSQL = {
    t.INT: "SIGNED",
    t.BOOL: "SIGNED",
    t.STR: "CHAR(16383)",  # wide enough for any VARCHAR (CHAR alone means CHAR(1) in CTEs)
    t.FLOAT: "DOUBLE",
    t.DECIMAL: "DECIMAL(38,10)",
    t.DATETIME: "DATETIME(6)",
    t.DATETIME_TZ: "DATETIME(6)",
    t.DATE: "DATE",
    t.TIME: "TIME(6)",
    t.UUID: "CHAR(36)",
    t.BYTES: "BINARY",
}
_FLOAT_CAST = {"postgresql": "DOUBLE PRECISION", "sqlite": "REAL"}


def _operand(shape: Shape, ctx: _Context, base: int) -> str:
    sql = _x(shape, ctx, base)
    atomic = type(shape) is Ident or (type(shape) is tuple and shape[0] in _ATOMIC)
    return sql if atomic else f"({sql})"


def _x(shape: Shape, ctx: _Context, base: int) -> str:
    """One expression's SQL; its values start at index `base`."""
    kind = type(shape)
    if kind is not tuple:
        return _legacy(shape, ctx, base)
    tag = shape[0]
    d = ctx.dialect
    if tag == "col":
        return d.quote(f"{shape[1]}.{shape[2]}" if shape[1] else shape[2])
    if tag == "?":
        return ctx.param(base)
    if tag == "raw":
        ctx.params(base, count(shape))
        return str(shape[1])
    if tag == "cmp":
        _, op, left, right = shape
        return f"{_operand(left, ctx, base)} {op} {_operand(right, ctx, base + count(left))}"
    if tag == "null":
        return f"{_operand(shape[1], ctx, base)} IS {'NOT ' if shape[2] else ''}NULL"
    if tag == "in":
        _, expr, n, negate = shape
        if n == 0:
            return "1 = 1" if negate else "1 = 0"  # IN () is invalid SQL
        left = _operand(expr, ctx, base)
        ctx.params(base + count(expr), n)
        return f"{left} {'NOT IN' if negate else 'IN'} ({', '.join('?' * n)})"
    if tag == "in_query":
        _, expr, query, negate = shape
        left = _operand(expr, ctx, base)
        inner = _statement_sql(query, ctx, base + count(expr))
        if d.name == "mysql" and _limited(query):
            # MySQL/MariaDB reject LIMIT inside IN (error 1235); a derived table is accepted.
            inner = f"SELECT * FROM ({inner}) AS {d.quote('_in')}"
        return f"{left} {'NOT IN' if negate else 'IN'} ({inner})"
    if tag == "between":
        _, expr, low, high = shape
        b1 = base + count(expr)
        b2 = b1 + count(low)
        return (
            f"{_operand(expr, ctx, base)} BETWEEN {_operand(low, ctx, b1)} "
            f"AND {_operand(high, ctx, b2)}"
        )
    if tag == "like":
        return _like_sql(shape, ctx, base)
    if tag in ("and", "or"):
        _, left, right = shape
        return f"({_x(left, ctx, base)}) {tag.upper()} ({_x(right, ctx, base + count(left))})"
    if tag == "not":
        return f"NOT ({_x(shape[1], ctx, base)})"
    if tag == "nottrue":  # NULL-safe negation: NULL counts as "not true"
        return f"({_x(shape[1], ctx, base)}) IS NOT TRUE"
    if tag == "arith":
        return _arith_sql(shape, ctx, base)
    if tag == "neg":
        return f"-{_operand(shape[1], ctx, base)}"
    if tag == "concat":
        _, left, right = shape
        a, b = _x(left, ctx, base), _x(right, ctx, base + count(left))
        if d.name == "mysql":
            return f"CONCAT({a}, {b})"
        return f"{_wrap(left, a)} || {_wrap(right, b)}"
    if tag == "func":
        return _function_sql(shape, ctx, base)
    if tag == "count_all":
        return "COUNT(*)"
    if tag == "cast":
        return f"CAST({_x(shape[1], ctx, base)} AS {_cast_type(shape[2], d)})"
    if tag == "label":
        return _x(shape[1], ctx, base)
    if tag == "order":
        return _order_sql(shape, ctx, base)
    if tag == "over":
        return _over_sql(shape, ctx, base)
    if tag == "subq":
        return f"({_statement_sql(shape[1], ctx, base)})"
    if tag == "exists":
        return f"EXISTS ({_statement_sql(shape[1], ctx, base)})"
    if tag == "excluded":
        return _excluded_sql(shape[1], ctx)
    raise StatementInvalid(f"unknown expression node {tag!r}")


def _excluded_sql(column: str, ctx: _Context) -> str:
    name = ctx.dialect.quote(column)
    if ctx.excluded is None:
        raise StatementInvalid(
            f"excluded({column!r}) is the value proposed for a row in "
            "upsert_many(update={...}); it means nothing in other statements. Nothing was sent."
        )
    if ctx.excluded == "VALUES":
        return f"VALUES({name})"
    return f"{ctx.excluded}.{name}"


def _wrap(shape: Shape, sql: str) -> str:
    return (
        sql
        if type(shape) is not tuple or shape[0] in _ATOMIC or shape[0] == "concat"
        else f"({sql})"
    )


def _limited(query: Any) -> bool:
    return type(query) is QueryShape and (query.has_limit or query.has_offset)


def _legacy(shape: Any, ctx: _Context, base: int) -> str:
    """The nodes of `statements.py` (dict conditions, SQL strings) inside a query."""
    d = ctx.dialect
    kind = type(shape)
    if kind is Raw:
        ctx.params(base, count(shape))
        return str(shape.sql)
    if kind is Ident:
        return d.quote(shape.name)
    if kind is ColumnName:
        return render_column(shape, d.identifier_quote)
    if kind is ColumnTest:
        column = d.quote(shape.column)
        if shape.op == "null":
            return f"{column} IS NULL"
        if shape.op == "not_null":
            return f"{column} IS NOT NULL"
        if shape.op == "in":
            if shape.size == 0:
                return "1 = 0"
            ctx.params(base, shape.size)
            return f"{column} IN ({', '.join('?' * shape.size)})"
        ctx.params(base, 1)
        return f"{column} = ?"
    if kind is AllOf:
        parts = []
        for test in shape.tests:
            parts.append(_legacy(test, ctx, base))
            base += count(test)
        return "(" + " AND ".join(parts) + ")"
    if kind in (QueryShape, CompoundShape):
        return f"({_statement_sql(shape, ctx, base)})"
    raise StatementInvalid(f"cannot compile {shape!r}")


def _like_sql(shape: Shape, ctx: _Context, base: int) -> str:
    _, op, expr, pattern, escaped = shape
    left = _operand(expr, ctx, base)
    right = _operand(pattern, ctx, base + count(expr))
    escape = " ESCAPE '!'" if escaped else ""
    if op == "ilike":
        if ctx.dialect.name == "postgresql":
            return f"{left} ILIKE {right}{escape}"
        return f"LOWER({left}) LIKE LOWER({right}){escape}"
    return f"{left} LIKE {right}{escape}"


def _arith_sql(shape: Shape, ctx: _Context, base: int) -> str:
    _, op, left, right, cast = shape
    d = ctx.dialect
    a = _operand(left, ctx, base)
    b = _operand(right, ctx, base + count(left))
    if op == "/" and cast and d.name in _FLOAT_CAST:
        # Integer `/` truncates on PostgreSQL and SQLite; API.md §12 makes it true division.
        a = f"CAST({a} AS {_FLOAT_CAST[d.name]})"
    return f"{a} {op} {b}"


def _function_sql(shape: Shape, ctx: _Context, base: int) -> str:
    _, name, args, distinct, decimal = shape
    d = ctx.dialect
    parts = []
    for arg in args:
        parts.append(_x(arg, ctx, base))
        base += count(arg)
    if name == "length" and d.name == "mysql":
        name = "CHAR_LENGTH"  # characters, as everywhere else (LENGTH counts bytes)
    elif decimal and name.upper() in d.decimal_aggregates:
        name = d.decimal_aggregates[name.upper()]  # exact Decimal arithmetic on SQLite
    elif name in ("count", "sum", "avg", "min", "max"):
        name = name.upper()
    return f"{name}({'DISTINCT ' if distinct else ''}{', '.join(parts)})"


def _cast_type(column_type: t.ColumnType, dialect: Dialect) -> str:
    if dialect.name == "mysql":
        return _CAST_MYSQL.get(column_type.kind, "CHAR(16383)")
    if column_type.kind == t.DECIMAL and dialect.name == "postgresql":
        return "NUMERIC"
    return dialect.ddl_types.get(column_type.kind, "TEXT")


def _over_sql(shape: Shape, ctx: _Context, base: int) -> str:
    features.check_window_or_cte("window functions", ctx.server)
    _, function, partitions, orders, frame = shape
    call = _x(function, ctx, base)
    base += count(function)
    clauses = []
    if partitions:
        items = []
        for item in partitions:
            items.append(_x(item, ctx, base))
            base += count(item)
        clauses.append("PARTITION BY " + ", ".join(items))
    if orders:
        items = []
        for item in orders:
            items.append(_order_sql(item, ctx, base))
            base += count(item)
        clauses.append("ORDER BY " + ", ".join(items))
    if frame is not None:
        unit, start, end = frame
        clauses.append(f"{unit} BETWEEN {_bound_sql(start, 'start')} AND {_bound_sql(end, 'end')}")
    return f"{call} OVER ({' '.join(clauses)})"


def _bound_sql(bound: int | None, end: str) -> str:
    if bound is None:
        return "UNBOUNDED PRECEDING" if end == "start" else "UNBOUNDED FOLLOWING"
    if bound == 0:
        return "CURRENT ROW"
    # A validated int (never user text) is written as a literal: frame offsets must
    # be constants on MySQL.
    return f"{abs(int(bound))} {'PRECEDING' if bound < 0 else 'FOLLOWING'}"
