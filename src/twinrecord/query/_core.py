"""The query core: an immutable builder and the plans of every terminal method.

Rule: what a query means (conditions, aggregates, result types) is decided here,
once; `sync.py` and `aio.py` only drive these plans.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from decimal import Decimal
from typing import Any, Generic, NoReturn, Self, TypeVar

from ..errors import ConfigurationError, RecordNotFound, StatementInvalid
from ..model._meta import ModelMeta
from ..plan import Execute, FetchRows, FetchTable, Plan
from ..relations._core import eager_load_plan, eager_tree
from ..sql import types as t
from ..sql.column_refs import parse_group_keys, parse_sort_keys
from ..sql.dialect import SQLITE, Dialect
from ..sql.fragments import RawSQL
from ..sql.placeholders import check_single_statement, prepare
from ..sql.statements import (
    Aggregate,
    AllOf,
    ColumnTest,
    Condition,
    Expression,
    GroupItem,
    OrderItem,
    Raw,
    Select,
    Update,
    compile_delete,
    compile_delete_matching,
    compile_scalar,
    compile_select,
    compile_update,
    compile_update_matching,
    conditions_sql,
    scalar_is_wrapped,
)
from ..sql.statements import Delete as DeleteStatement

AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX")
# The model a query loads (its records are `M`).
M = TypeVar("M")


def _as_params(params: Any) -> tuple[Any, ...]:
    if params is None:
        return ()
    if isinstance(params, (list, tuple)):
        return tuple(params)
    return (params,)


def _checked_fragment(sql: str, params: Any, method: str) -> tuple[Raw, tuple[Any, ...]]:
    values = _as_params(params)
    expected = prepare(sql, "qmark")[1]
    if expected != len(values):
        raise StatementInvalid(
            f"{method}({sql!r}, ...): {expected} `?` placeholder(s) but {len(values)} "
            "parameter(s); nothing was sent",
            sql,
            [type(v).__name__ for v in values],
        )
    return Raw(sql), values


class QueryCore(Generic[M]):
    """Immutable: every builder method returns a changed copy."""

    # Defaults live on the class, so a new query sets one attribute and a copy
    # duplicates only what its builders changed.
    _columns: tuple[Expression, ...] = ()
    _where: tuple[tuple[str, Condition], ...] = ()
    # Condition values, each with the column whose writer adapts it (None: free value).
    _params: tuple[tuple[Any, str | None], ...] = ()
    _joins: tuple[str, ...] = ()
    _group_by: tuple[GroupItem, ...] = ()
    _group_params: tuple[Any, ...] = ()  # values of raw() group keys
    _having: tuple[tuple[str, Condition], ...] = ()
    _having_params: tuple[Any, ...] = ()
    _order_by: tuple[OrderItem, ...] = ()
    _order_params: tuple[Any, ...] = ()  # values of raw() sort keys
    _limit: int | None = None
    _offset: int | None = None
    _distinct = False
    _for_update = False
    _aggregates: tuple[Aggregate, ...] = ()
    _eager: tuple[Any, ...] = ()

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._meta: ModelMeta = model._meta()  # type: ignore[attr-defined]

    def _copy(self) -> Self:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __repr__(self) -> str:
        sql, _ = compile_select(self._select(), SQLITE)
        return f"<{type(self).__name__} {self._model.__name__}: {sql}>"

    def _conditions_text(self) -> str:
        """The WHERE clause for messages: SQL with `?`, the values' types, never values."""
        if not self._where:
            return "(no conditions)"
        text = "WHERE " + conditions_sql(self._where, SQLITE)
        types = ", ".join(type(value).__name__ for value, _ in self._params)
        return f"{text} (parameter types: {types})" if types else text

    # ---- builder ----------------------------------------------------------------------
    def where(self, condition: str | Mapping[str, Any], params: Any = None) -> Self:
        """AND a condition: SQL with `?` placeholders, or a dict of column equalities."""
        return self._add_condition("AND", condition, params, "where")

    def or_where(self, condition: str | Mapping[str, Any], params: Any = None) -> Self:
        """OR a condition with everything before it: `where(A).or_where(B)` is `A OR B`."""
        return self._add_condition("OR", condition, params, "or_where")

    def _add_condition(self, connector: str, condition: Any, params: Any, method: str) -> Self:
        query = self._copy()
        if type(condition) is dict or isinstance(condition, Mapping):
            part, values = self._dict_condition(condition)
            query._where = self._where + ((connector, part),)
        else:
            raw, free = _checked_fragment(condition, params, method)
            values = tuple((v, None) for v in free)
            query._where = self._where + ((connector, raw),)
        query._params = self._params + values
        return query

    def _dict_condition(self, condition: Mapping[str, Any]) -> tuple[Condition, tuple[Any, ...]]:
        meta = self._meta
        tests = []
        values: list[tuple[Any, str | None]] = []
        equality = meta.equality_tests
        for column, value in condition.items():
            known = equality.get(column)
            if known is not None and value is not None and type(value) not in _COLLECTIONS:
                tests.append(known[0])         # the common case, built once per column
                values.append((value, known[1]))
                continue
            bare = meta.check_column(column)
            qualified = f"{meta.table}.{meta.sql_column(bare)}"
            if value is None:
                tests.append(ColumnTest(qualified, "null"))
            elif isinstance(value, _COLLECTIONS):
                items = list(value)
                tests.append(ColumnTest(qualified, "in", len(items)))
                values.extend((v, bare) for v in items)
            else:
                tests.append(ColumnTest(qualified, "eq"))
                values.append((value, bare))
        if len(tests) == 1:
            return tests[0], tuple(values)
        # Several equalities form one ANDed group, whatever connector joins the group.
        return AllOf(tuple(tests)), tuple(values)

    def select(self, *columns: str) -> Self:
        for column in columns:
            check_single_statement(column)
        query = self._copy()
        query._columns = self._columns + tuple(Raw(c) for c in columns)
        return query

    def order_by(self, *clauses: str | RawSQL) -> Self:
        """Sort keys: column references (`'-created_at'`, `'name DESC NULLS LAST'`),
        checked here, or raw() SQL."""
        items: list[OrderItem] = []
        params: list[Any] = []
        for clause in clauses:
            if isinstance(clause, RawSQL):
                items.append(Raw(clause.sql))
                params.extend(clause.params)
            else:
                items.extend(parse_sort_keys(clause))
        query = self._copy()
        query._order_by = self._order_by + tuple(items)
        query._order_params = self._order_params + tuple(params)
        return query

    def limit(self, count: int | None) -> Self:
        query = self._copy()
        query._limit = _non_negative(count, "limit")
        return query

    def offset(self, count: int | None) -> Self:
        query = self._copy()
        query._offset = _non_negative(count, "offset")
        return query

    def distinct(self, enabled: bool = True) -> Self:
        query = self._copy()
        query._distinct = enabled
        return query

    def join(self, clause: str) -> Self:
        check_single_statement(clause)
        query = self._copy()
        query._joins = self._joins + (clause,)
        return query

    def inner_join(self, table: str, on: str) -> Self:
        return self.join(f"INNER JOIN {table} ON {on}")

    def left_join(self, table: str, on: str) -> Self:
        return self.join(f"LEFT JOIN {table} ON {on}")

    def group_by(self, *columns: str | RawSQL) -> Self:
        """Group keys: column references (`'department'`), checked here, or raw() SQL."""
        items: list[GroupItem] = []
        params: list[Any] = []
        for column in columns:
            if isinstance(column, RawSQL):
                items.append(Raw(column.sql))
                params.extend(column.params)
            else:
                items.extend(parse_group_keys(column))
        query = self._copy()
        query._group_by = self._group_by + tuple(items)
        query._group_params = self._group_params + tuple(params)
        return query

    def having(self, condition: str, params: Any = None) -> Self:
        raw, values = _checked_fragment(condition, params, "having")
        query = self._copy()
        query._having = self._having + (("AND", raw),)
        query._having_params = self._having_params + values
        return query

    def with_(self, *relations: str | tuple[str, Callable[[Any], Any]]) -> Self:
        """Eager-load relations: names, dotted paths ('posts.comments'), or
        (name, modifier) pairs whose modifier takes and returns the relation's query."""
        specs: list[tuple[str, Callable[[Any], Any] | None]] = []
        for item in relations:
            path, modifier = (item, None) if isinstance(item, str) else item
            specs.append((path, modifier))
        eager_tree(self._model, specs)  # unknown names fail here, not at run time
        query = self._copy()
        query._eager = self._eager + tuple(specs)
        return query

    def for_update(self, enabled: bool = True) -> Self:
        query = self._copy()
        query._for_update = enabled
        return query

    # ---- aggregates ------------------------------------------------------------------
    def _chains_aggregate(self, alias: str | None) -> bool:
        return alias is not None or bool(self._group_by) or bool(self._aggregates)

    # Aggregates: with an alias (or on a grouped/aggregating query) they chain and
    # return the query; otherwise they run at once and return the value. The shells
    # redeclare them with their types (the scalar is awaited on the async kind).
    def count(self, column: str = "*", alias: str | None = None, distinct: bool = False) -> Any:
        return self._aggregate_or_scalar("COUNT", column, alias, distinct)

    def sum(self, column: str, alias: str | None = None, distinct: bool = False) -> Any:
        return self._aggregate_or_scalar("SUM", column, alias, distinct)

    def avg(self, column: str, alias: str | None = None, distinct: bool = False) -> Any:
        return self._aggregate_or_scalar("AVG", column, alias, distinct)

    def min(self, column: str, alias: str | None = None, distinct: bool = False) -> Any:
        return self._aggregate_or_scalar("MIN", column, alias, distinct)

    def max(self, column: str, alias: str | None = None, distinct: bool = False) -> Any:
        return self._aggregate_or_scalar("MAX", column, alias, distinct)

    def _aggregate_or_scalar(
        self, func: str, column: str, alias: str | None, distinct: bool
    ) -> Any:
        if self._chains_aggregate(alias):
            return self._add_aggregate(func, column, alias, distinct)
        return self._scalar(func, column, distinct)

    def _scalar(self, func: str, column: str, distinct: bool) -> Any:
        raise NotImplementedError  # the shells run the scalar plan with their driver

    def _add_aggregate(self, func: str, column: str, alias: str | None, distinct: bool) -> Self:
        query = self._copy()
        name = alias or _default_alias(func, column)
        query._aggregates = self._aggregates + (Aggregate(func, column, name, distinct),)
        return query

    def _native(self, aggregate: Aggregate, dialect: Dialect) -> Aggregate:
        """The aggregate as this database computes it exactly (SQLite: Decimal helpers)."""
        column_type = self._meta.types.get(aggregate.column.rsplit(".", 1)[-1].strip('"`'))
        if column_type is None or column_type.kind != t.DECIMAL:
            return aggregate
        name = dialect.decimal_aggregates.get(aggregate.func)
        if name is None:
            return aggregate
        return Aggregate(name, aggregate.column, aggregate.alias, aggregate.distinct)

    # ---- compilation -----------------------------------------------------------------
    def _select(self, columns: tuple[Expression, ...] | None = None) -> Select:
        if columns is None:
            columns = self._columns or self._meta.select_columns
        return Select(
            table=self._meta.table,
            columns=columns,
            where=self._where,
            joins=self._joins,
            group_by=self._group_by,
            having=self._having,
            order_by=self._order_by,
            has_limit=self._limit is not None,
            has_offset=self._offset is not None,
            distinct=self._distinct,
            for_update=self._for_update,
        )

    def _where_values(self, dialect: Dialect) -> list[Any]:
        writers = self._meta.writer_map(dialect)
        values = []
        for value, column in self._params:
            if column is None:
                values.append(dialect.adapt_param(value))
            else:
                writer = writers[column]
                values.append(value if writer is None or value is None else writer(value))
        return values

    def _values(self, dialect: Dialect) -> list[Any]:
        """Every value, in the order of the SELECT's clauses."""
        values = self._where_values(dialect)
        values += [dialect.adapt_param(v) for v in self._group_params]
        values += [dialect.adapt_param(v) for v in self._having_params]
        values += [dialect.adapt_param(v) for v in self._order_params]
        if self._limit is not None:
            values.append(self._limit)
        if self._offset is not None:
            values.append(self._offset)
        return values

    def _to_sql(self, dialect: Dialect) -> tuple[str, list[Any]]:
        return _bound(compile_select(self._select(), dialect), self._values(dialect))

    # ---- plans ------------------------------------------------------------------------
    def _all_plan(self, dialect: Dialect) -> Plan[list[M]]:
        meta = self._meta
        records: list[M]
        if self._columns:
            names, rows = yield FetchTable(*self._to_sql(dialect))
            records = meta.hydrate_named(names, rows, dialect)
        else:
            rows = yield FetchRows(*self._to_sql(dialect))
            records = meta.hydrate(rows, dialect, stateful=bool(self._eager))
        if self._eager and records:
            yield from self._load_eager_plan(records, dialect)
        return records

    def _load_eager_plan(self, records: list[M], dialect: Dialect) -> Plan[None]:
        yield from eager_load_plan(self._model, records, self._eager, dialect)

    def _one_plan(self, dialect: Dialect) -> Plan[M | None]:
        records = yield from self.limit(1)._all_plan(dialect)
        return records[0] if records else None

    def _one_or_fail_plan(self, dialect: Dialect) -> Plan[M]:
        found = yield from self._one_plan(dialect)
        if found is None:
            raise RecordNotFound(f"no {self._model.__name__} matches {self._conditions_text()}")
        return found

    def _exists_plan(self, dialect: Dialect) -> Plan[bool]:
        query = self._copy()
        query._columns = (Raw("1"),)
        query._limit = 1
        query._eager = ()
        rows = yield FetchRows(*query._to_sql(dialect))
        return bool(rows)

    def _to_dicts_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        query = self
        if not self._columns:
            query = self._copy()
            query._columns = self._meta.select_columns
        names, rows = yield FetchTable(*query._to_sql(dialect))
        return self._meta.convert_named(names, rows, dialect)

    def _scalar_plan(self, func: str, column: str, distinct: bool, dialect: Dialect) -> Plan[Any]:
        aggregate = Aggregate(func, column, "value", distinct)
        compiled = self._native(aggregate, dialect)
        select = self._select()
        # Over the WHERE alone, the query's other clauses (and their values) are left out.
        values = self._values(dialect) if scalar_is_wrapped(select) else self._where_values(dialect)
        rows = yield FetchRows(*_bound(compile_scalar(select, compiled, dialect), values))
        value = rows[0][0] if rows else None
        return _aggregate_result(self._meta, aggregate, value, dialect)

    def _aggregate_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        if not self._aggregates and not self._group_by:
            raise ConfigurationError(
                "aggregate() needs group_by() or an aggregate such as count('id', 'n') first"
            )
        columns: tuple[Expression, ...] = self._columns or self._group_by
        # Group keys selected as columns bring their raw() values to the select list too.
        leading = [] if self._columns else [dialect.adapt_param(v) for v in self._group_params]
        native = tuple(self._native(a, dialect) for a in self._aggregates)
        compiled = compile_select(self._select(columns + native), dialect)
        names, rows = yield FetchTable(*_bound(compiled, leading + self._values(dialect)))
        meta = self._meta
        by_alias = {a.alias: a for a in self._aggregates}
        result = []
        for row in rows:
            item = {}
            for name, value in zip(names, row):
                if name in by_alias:
                    item[name] = _aggregate_result(meta, by_alias[name], value, dialect)
                else:
                    reader = meta.reader_for(name, dialect)
                    item[name] = value if reader is None or value is None else reader(value)
            result.append(item)
        return result

    def _update_plan(self, changes: Mapping[str, Any], dialect: Dialect) -> Plan[int]:
        meta = self._meta
        if not changes:
            return 0
        columns = tuple(meta.check_column(c) for c in changes)
        values = [meta.write(c, v, dialect) for c, v in zip(columns, changes.values())]
        sql_columns = meta.sql_names(columns)
        if self._is_simple():
            compiled = compile_update(Update(meta.table, sql_columns, self._where), dialect)
            values += self._where_values(dialect)
        else:
            key = self._single_key("update")
            compiled = compile_update_matching(
                Update(meta.table, sql_columns, ()), self._select(), key, dialect
            )
            values += self._values(dialect)
        affected: int = yield Execute(*_bound(compiled, values))
        return affected

    def _delete_plan(self, dialect: Dialect) -> Plan[int]:
        meta = self._meta
        if self._is_simple():
            compiled = compile_delete(DeleteStatement(meta.table, self._where), dialect)
            values = self._where_values(dialect)
        else:
            compiled = compile_delete_matching(self._select(), self._single_key("delete"), dialect)
            values = self._values(dialect)
        affected: int = yield Execute(*_bound(compiled, values))
        return affected

    def _is_simple(self) -> bool:
        return not (
            self._joins
            or self._group_by
            or self._having
            or self._distinct
            or self._limit is not None
            or self._offset is not None
        )

    def _single_key(self, operation: str) -> str:
        keys = self._meta.primary_key
        if len(keys) != 1:
            raise ConfigurationError(
                f"{operation}() with joins, limit, offset, distinct or group_by needs a "
                f"single-column primary key; {self._model.__name__} has {keys}"
            )
        return str(self._meta.sql_column(keys[0]))


class AsyncQueryCore(QueryCore[M]):
    """The async query's core: a builder is not awaitable, and says what to await."""

    def __await__(self) -> Generator[Any, None, NoReturn]:
        aggregates = ", ".join(f"{a.func.lower()}() as {a.alias!r}" for a in self._aggregates)
        hint = (
            f" This query adds aggregates ({aggregates}) rather than running them: "
            "on a query with group_by() or another aggregate, count()/sum()/avg()/min()/"
            "max() chain (an alias is given when none is), so run it with "
            "`await query.aggregate()`."
            if self._aggregates
            else ""
        )
        raise TypeError(
            f"{type(self).__name__} is a query builder, not something to await.{hint} "
            "Await a method that runs it: all(), one(), first(), exists(), to_dicts(), "
            "aggregate(), count() (without alias, on a plain query), update(), delete()."
        )
        yield  # pragma: no cover  # makes this a generator, as __await__ must be


_COLLECTIONS = (list, tuple, set, frozenset)


def _bound(compiled: tuple[str, int], values: list[Any]) -> tuple[str, list[Any]]:
    """SQL and values, once their counts agree (a `?` in select/join/order_by text
    would otherwise reach the database)."""
    sql, expected = compiled
    if expected != len(values):
        raise StatementInvalid(
            f"the query has {expected} placeholder(s) but {len(values)} value(s); a `?` in "
            "select(), join() or order_by() text takes no value — use where()/having()",
            sql,
            [type(v).__name__ for v in values],
        )
    return sql, values


def _non_negative(count: int | None, method: str) -> int | None:
    if count is not None and (not isinstance(count, int) or count < 0):
        raise ConfigurationError(f"{method}() takes a non-negative int or None; got {count!r}")
    return count


def _default_alias(func: str, column: str) -> str:
    if func == "COUNT" and column.strip() == "*":
        return "count"
    bare = column.rsplit(".", 1)[-1].strip('"`').replace("*", "all")
    return f"{func.lower()}_{bare}"


def _aggregate_result(meta: Any, aggregate: Aggregate, value: Any, dialect: Dialect) -> Any:
    """Result types the same on every database (API.md §4)."""
    if aggregate.func == "COUNT":
        return int(value or 0)
    if value is None:
        return None
    bare = aggregate.column.rsplit(".", 1)[-1].strip('"`')
    column_type = meta.types.get(bare)
    kind = column_type.kind if column_type is not None else None
    if aggregate.func in ("MIN", "MAX"):
        reader = meta.reader_for(bare, dialect)
        return value if reader is None else reader(value)
    if kind == t.DECIMAL:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    if aggregate.func == "SUM" and kind == t.INT:
        return int(value)
    return float(value)
