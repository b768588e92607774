"""The query core: an immutable builder and the plans of every terminal method.

Rule: what a query means (conditions, aggregates, result types) is decided here,
once; `sync.py` and `aio.py` only drive these plans.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Self, TypeVar

from ..backends._replicas import check_role
from ..backends._stream import stream_plan
from ..errors import ConfigurationError, RecordNotFound, StatementInvalid
from ..model._meta import ModelMeta
from ..model._mixins import mixin_changes, now
from ..plan import Execute, FetchRows, FetchTable, Plan
from ..relations._core import eager_load_plan, eager_tree
from ..sql import types as t
from ..sql.column_refs import ColumnRef as KeyRef
from ..sql.column_refs import SortKey, parse_group_keys, parse_sort_keys
from ..sql.compiler import (
    DeleteShape,
    SourceShape,
    UpdateShape,
    compile_delete_shape,
    compile_update_shape,
)
from ..sql.compiler import bind as bind_order
from ..sql.dialect import SQLITE, Dialect
from ..sql.expressions import (
    Column,
    ColumnRef,
    Computed,
    Expr,
    Labeled,
    from_raw,
    make_function,
)
from ..sql.fragments import RawSQL
from ..sql.placeholders import check_single_statement, prepare
from ..sql.statements import (
    Aggregate,
    AllOf,
    ColumnTest,
    Condition,
    Expression,
    Ident,
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
from ._items import item_of, reader_of, write_values
from ._language import LanguageMixin, _hydrate_named_with_extras

AGGREGATES = ("COUNT", "SUM", "AVG", "MIN", "MAX")
# The model a query loads (its records are `M`).
M = TypeVar("M")


def _as_params(params: object) -> tuple[Any, ...]:
    if params is None:
        return ()
    if isinstance(params, (list, tuple)):
        return tuple(params)
    return (params,)


def _checked_fragment(sql: str, params: object, method: str) -> tuple[Raw, tuple[Any, ...]]:
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


class QueryCore(LanguageMixin, Generic[M]):
    """Immutable: every builder method returns a changed copy."""

    # Defaults live on the class, so a new query sets one attribute and a copy
    # duplicates only what its builders changed.
    _columns: tuple[Expression, ...] = ()
    _where: tuple[tuple[str, Any], ...] = ()
    # Condition values, each with the column whose writer adapts it (None: free value).
    _params: tuple[tuple[Any, Any], ...] = ()
    _joins: tuple[str, ...] = ()
    _group_by: tuple[Any, ...] = ()
    _having: tuple[tuple[str, Any], ...] = ()
    _having_params: tuple[Any, ...] = ()
    _order_by: tuple[OrderItem, ...] = ()
    _order_params: tuple[Any, ...] = ()  # values of raw() sort keys
    _limit: int | None = None
    _offset: int | None = None
    _distinct = False
    _for_update = False
    _on_primary = False  # using('primary')
    _aggregates: tuple[Any, ...] = ()
    # SoftDeleteMixin: "live" rows only (the default), "all" or "deleted".
    _deleted_scope = "live"
    _eager: tuple[Any, ...] = ()

    def __init__(self, model: type[M]) -> None:
        self._model = model
        self._meta: ModelMeta = model._meta()  # type: ignore[attr-defined]

    def _copy(self) -> Self:
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        return twin

    def __repr__(self) -> str:
        try:  # SQLite's spelling: known without a configured backend
            sql, _ = self._to_sql(SQLITE)
        except Exception as error:  # e.g. a feature SQLite lacks (§13.7)
            sql = f"(not shown: {type(error).__name__})"
        return f"<{type(self).__name__} {self._model.__name__}: {sql}>"

    def _conditions_text(self) -> str:
        """The WHERE clause for messages: SQL with `?`, the values' types, never values."""
        if not self._where:
            return "(no conditions)"
        text = "WHERE " + conditions_sql(self._where, SQLITE)
        types = ", ".join(type(value).__name__ for value, _ in self._params)
        return f"{text} (parameter types: {types})" if types else text

    # ---- builder ----------------------------------------------------------------------
    def where(self, condition: object = None, params: object = None, /, **columns: object) -> Self:
        """AND a condition: an expression (User.c.age >= 18), SQL with `?` placeholders,
        or column equalities as a dict or keywords (`where(name='ann')`)."""
        return self._add_condition("AND", condition, params, "where", columns)

    def or_where(
        self, condition: object = None, params: object = None, /, **columns: object
    ) -> Self:
        """OR a condition with everything before it: `where(A).or_where(B)` is `A OR B`."""
        return self._add_condition("OR", condition, params, "or_where", columns)

    def where_not(self, condition: object = None, /, **columns: object) -> Self:
        """AND the NULL-safe negation of column equalities (or an expression):
        `where_not(a=1)` keeps the rows where `a` is NULL too."""
        if isinstance(condition, Expr):
            self._refuse_window(condition, "where_not")
            query = self._with_ctes(condition.ctes)
            query._where = self._where + (("AND", ("nottrue", condition.shape)),)
            query._params = self._params + condition.values
            query._modern = True
            return query
        mapping = _equalities(condition, columns, "where_not")
        part, values = self._dict_condition(mapping)
        query = self._copy()
        query._where = self._where + (("AND", ("nottrue", part)),)
        query._params = self._params + values
        query._modern = True
        return query

    def _add_condition(
        self, connector: str, condition: Any, params: Any, method: str, columns: Any = None
    ) -> Self:
        if isinstance(condition, RawSQL):
            condition = from_raw(condition)
        if isinstance(condition, Expr):
            if params is not None:
                raise StatementInvalid(
                    f"{method}() was given an expression and params: an expression binds "
                    "its own values (use raw(sql, params) for SQL with placeholders)"
                )
            self._refuse_window(condition, method)
            query = self._with_ctes(condition.ctes)
            query._where = self._where + ((connector, condition.shape),)
            query._params = self._params + condition.values
            query._modern = True
            return query
        if columns:
            condition = _equalities(condition, columns, method)
        query = self._copy()
        if type(condition) is dict or isinstance(condition, Mapping):
            part, values = self._dict_condition(condition)
            query._where = self._where + ((connector, part),)
        elif isinstance(condition, str):
            raw, free = _checked_fragment(condition, params, method)
            values = tuple((v, None) for v in free)
            query._where = self._where + ((connector, raw),)
        else:
            raise StatementInvalid(
                f"{method}() takes an expression, SQL with params, a dict or keywords; "
                f"got {condition!r}"
            )
        query._params = self._params + values
        return query

    def _refuse_window(self, expr: Expr, method: str) -> None:
        if expr.window:
            raise StatementInvalid(
                f"a window function in {method}() is refused: SQL evaluates windows after "
                "WHERE and HAVING. Select it with a label in a subquery and filter outside: "
                "Model.query().from_(query.select(..., rank.alias('rn')).subquery('t'))"
                ".where('rn <= ?', (3,))"
            )

    def _dict_condition(self, condition: Mapping[str, object]) -> tuple[Condition, tuple[Any, ...]]:
        meta = self._meta
        tests = []
        values: list[tuple[Any, str | None]] = []
        equality = meta.equality_tests
        for column, value in condition.items():
            known = equality.get(column)
            if known is not None and value is not None and type(value) not in _COLLECTIONS:
                tests.append(known[0])  # the common case, built once per column
                values.append((value, known[1]))
                continue
            joined = self._joined_column(column)
            if joined is not None:
                qualified, column_type = joined
                tests.append(_test_for(qualified, value))
                values.extend(_values_for(value, column_type))
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

    def select(self, *columns: object) -> Self:
        """Select items: SQL strings, expressions (`User.c.name`, `func.count().alias('n')`)
        or labelled scalar subqueries; `select(*User.c, extra)` keeps models loadable."""
        for column in columns:
            if isinstance(column, str):
                check_single_statement(column)
        query = self._copy()
        shapes = list(self._columns)
        items = list(self._items)
        values = list(self._column_values)
        for column in columns:
            if isinstance(column, str) and (field := _renamed_field(self._meta, column)):
                column = getattr(self._model.c, field)  # `title` -> its column, keyed `title`
            item, pairs, expr = item_of(column)
            shapes.append(item.shape)
            items.append(item)
            values.extend(pairs)
            if expr is not None:
                if expr.ctes:
                    query = query._with_ctes(expr.ctes)
                query._modern = True
        query._columns = tuple(shapes)
        query._items = tuple(items)
        query._column_values = tuple(values)
        return query

    def order_by(self, *clauses: object) -> Self:
        """Sort keys: column references (`'-created_at'`, `'name DESC NULLS LAST'`),
        checked here, expressions (`User.c.name.desc(nulls='last')`) or raw() SQL."""
        query = self._copy()
        items, values = _sort_or_group_items(query, clauses, "order_by")
        query._order_by = self._order_by + items
        query._order_values = self._order_values + values
        query._order_items = self._order_items + clauses
        if query._distinct:
            query._modern = True  # the compiler checks the order of distinct rows
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
        if enabled and query._order_by:
            query._modern = True  # the compiler checks the order of distinct rows
        return query

    def group_by(self, *columns: object) -> Self:
        """Group keys: column references (`'department'`), checked here, expressions,
        or raw() SQL."""
        query = self._copy()
        shapes, values = _sort_or_group_items(query, columns, "group_by")
        query._group_by = self._group_by + shapes
        query._group_values = self._group_values + values
        return query

    def having(self, condition: Any, params: Any = None) -> Self:
        """AND a condition on groups: an expression or SQL with `?` placeholders."""
        query = self._copy()
        if isinstance(condition, RawSQL):
            condition = from_raw(condition)
        if isinstance(condition, Expr):
            if params is not None:
                raise StatementInvalid(
                    "having() was given an expression and params: an expression binds its "
                    "own values"
                )
            self._refuse_window(condition, "having")
            query = query._with_ctes(condition.ctes)
            query._having = self._having + (("AND", condition.shape),)
            query._having_params = self._having_params + condition.values
            query._modern = True
            return query
        raw, values = _checked_fragment(condition, params, "having")
        query._having = self._having + (("AND", raw),)
        query._having_params = self._having_params + tuple((v, None) for v in values)
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

    def using(self, role: str) -> Self:
        """`using('primary')`: this query reads from the primary, not a replica (§18)."""
        check_role(role)
        query = self._copy()
        query._on_primary = True
        return query

    def _reads_through(self, backend: Any) -> object:
        """What this query's read plans run against: a replica route unless pinned to the
        primary (`using('primary')`, `for_update()`)."""
        return backend.reads(pinned=self._on_primary or self._for_update)

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

    def _scalar(self, func: str, column: str, distinct: bool) -> object:
        raise NotImplementedError  # the shells run the scalar plan with their driver

    def _add_aggregate(self, func: str, column: Any, alias: str | None, distinct: bool) -> Self:
        query = self._copy()
        if isinstance(column, RawSQL):  # usable where an expression is (API.md §12)
            column = from_raw(column)
        if isinstance(column, str) and (field := _renamed_field(self._meta, column)):
            column = getattr(self._model.c, field)
        if isinstance(column, Expr):
            named = getattr(column, "field", None) or getattr(column, "name", "value")
            name = alias or _default_alias(func, str(named))
            labeled = make_function(func.lower(), (column,), distinct).alias(name)
            query = query._with_ctes(labeled.ctes)
            query._aggregates = self._aggregates + (labeled,)
            query._modern = True
            return query
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

    def with_deleted(self) -> Self:
        """Include soft-deleted rows (SoftDeleteMixin): the model's and joined tables'."""
        return self._scoped("all")

    def only_deleted(self) -> Self:
        """Only the model's soft-deleted rows (joined tables stay filtered to live rows)."""
        return self._scoped("deleted")

    def _scoped(self, scope: str) -> Self:
        lifts_joins = scope == "all" and self._soft_joins
        if self._meta.soft_delete is None and not lifts_joins:
            raise ConfigurationError(
                f"{self._model.__name__} has no SoftDeleteMixin: with_deleted() and "
                "only_deleted() apply to soft-deleting models only"
            )
        query = self._copy()
        query._deleted_scope = scope
        return query

    def _scoped_where(self) -> tuple[tuple[str, Condition], ...]:
        """The user's condition, with SoftDeleteMixin's filter ANDed around all of it."""
        column = self._meta.soft_delete
        if column is None or self._deleted_scope == "all":
            return self._where
        test = "null" if self._deleted_scope == "live" else "not_null"
        qualified = f"{self._meta.table}.{self._meta.sql_column(column)}"
        return (*self._where, ("AND", ColumnTest(qualified, test)))  # type: ignore[arg-type]

    # ---- compilation -----------------------------------------------------------------
    def _select(self, columns: tuple[Expression, ...] | None = None) -> Select:
        if columns is None:
            columns = self._columns or self._meta.select_columns
        return Select(
            table=self._meta.table,
            columns=columns,
            where=self._scoped_where(),
            joins=self._scoped_joins(),
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
                # A column name of this model, or the column type of another table's.
                writer = writers[column] if type(column) is str else dialect.writer(column)
                values.append(value if writer is None or value is None else writer(value))
        return values

    def _values(self, dialect: Dialect) -> list[Any]:
        """Every value, in the order of the SELECT's clauses."""
        values = self._where_values(dialect)
        # Each list only when it has values: an empty comprehension still costs a frame.
        if self._group_values:
            values += [dialect.adapt_param(v) for v, _ in self._group_values]
        if self._having_params:
            values += [dialect.adapt_param(v) for v, _ in self._having_params]
        if self._order_values:
            values += [dialect.adapt_param(v) for v, _ in self._order_values]
        if self._limit is not None:
            values.append(self._limit)
        if self._offset is not None:
            values.append(self._offset)
        return values

    def _to_sql(self, dialect: Dialect, server: Any = None) -> tuple[str, list[Any]]:
        if self._modern:
            return self._modern_to_sql(dialect, server)
        return _bound(compile_select(self._select(), dialect), self._values(dialect))

    # ---- plans ------------------------------------------------------------------------
    def _all_plan(self, dialect: Dialect) -> Plan[list[M]]:
        meta = self._meta
        records: list[Any]
        if self._modern:
            records = yield from self._modern_all_plan(dialect)
        elif self._columns:
            names, rows = yield FetchTable(*self._to_sql(dialect))
            records = _hydrate_named_with_extras(meta, names, rows, dialect)
        else:
            rows = yield FetchRows(*self._to_sql(dialect))
            records = meta.hydrate(rows, dialect, stateful=bool(self._eager))
        if self._eager and records:
            yield from self._load_eager_plan(records, dialect)
        return records

    def _stream_plan(self, dialect: Dialect, batch_size: int) -> Plan[None]:
        """iterate(): what all() returns, `batch_size` rows at a time (API.md §14)."""
        meta = self._meta
        named = False
        check = None
        if self._modern:
            server = yield from self._server_plan(dialect)
            if self._columns:
                named = True
                sql, params = self._modern_sql(dialect, server, self._shape(), self._pairs())
            else:
                shape = self._shape(columns=tuple(meta.select_columns))
                sql, params = self._modern_sql(dialect, server, shape, self._pairs())
            check = self._recursion_check(server, sql, streamed=True)
        else:
            named = bool(self._columns)
            sql, params = self._to_sql(dialect)
        eager = bool(self._eager)

        def batch_plan(names: list[str], rows: list[Any]) -> Plan[list[Any]]:
            records: list[Any]
            if not named:
                records = meta.hydrate(rows, dialect, stateful=eager)
            elif self._modern:
                records = self._hydrate_with_extras(names, rows, dialect)
            else:
                records = _hydrate_named_with_extras(meta, names, rows, dialect)
            if eager and records:
                yield from self._load_eager_plan(records, dialect)
            return records

        yield from stream_plan(
            dialect, sql, params, batch_size, batch_plan, eager,
            locks_rows=self._for_update, check_warnings=check,
        )

    def _load_eager_plan(self, records: list[M], dialect: Dialect) -> Plan[None]:
        yield from eager_load_plan(self._model, records, self._eager, dialect)

    def _one_plan(self, dialect: Dialect) -> Plan[M | None]:
        records = yield from self.limit(1)._all_plan(dialect)
        return records[0] if records else None

    def _first_plan(self, last: bool, dialect: Dialect) -> Plan[M | None]:
        """first()/last(): one() in order_by's order (reversed for last()), or by
        primary key when the query has no order."""
        found: M | None = yield from self._ordered_for(last)._one_plan(dialect)
        return found

    def _one_or_fail_plan(self, dialect: Dialect) -> Plan[M]:
        found = yield from self._one_plan(dialect)
        if found is None:
            raise RecordNotFound(f"no {self._model.__name__} matches {self._conditions_text()}")
        return found

    def _exists_plan(self, dialect: Dialect) -> Plan[bool]:
        query = self._copy()
        query._columns, query._items, query._column_values = (Raw("1"),), (), ()
        query._limit = 1
        query._eager = ()
        if self._modern:
            server = yield from self._server_plan(dialect)
            sql = query._modern_sql(dialect, server, query._shape(), query._pairs())
            rows = yield from query._fetch(server, sql, table=False)
        else:
            rows = yield FetchRows(*query._to_sql(dialect))
        return bool(rows)

    def _to_dicts_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        if self._modern:
            return (yield from self._modern_to_dicts_plan(dialect))
        query = self
        if not self._columns:
            query = self._copy()
            query._columns = self._meta.select_columns
        names, rows = yield FetchTable(*query._to_sql(dialect))
        return self._meta.convert_named(names, rows, dialect)

    def _scalar_plan(self, func: str, column: Any, distinct: bool, dialect: Dialect) -> Plan[Any]:
        if isinstance(column, RawSQL):  # usable where an expression is (API.md §12)
            column = from_raw(column)
        if isinstance(column, str) and (field := _renamed_field(self._meta, column)):
            column = getattr(self._model.c, field)
        if self._modern or isinstance(column, Expr):
            return (yield from self._modern_scalar_plan(func, column, distinct, dialect))
        aggregate = Aggregate(func, column, "value", distinct)
        compiled = self._native(aggregate, dialect)
        select = self._select()
        # Over the WHERE alone, the query's other clauses (and their values) are left out.
        values = self._values(dialect) if scalar_is_wrapped(select) else self._where_values(dialect)
        rows = yield FetchRows(*_bound(compile_scalar(select, compiled, dialect), values))
        value = rows[0][0] if rows else None
        return _aggregate_result(self._meta, aggregate, value, dialect)

    def _modern_scalar_plan(
        self, func: str, column: Any, distinct: bool, dialect: Dialect
    ) -> Plan[Any]:
        """One aggregate over exactly the rows the query returns (wrapped when limit,
        offset, distinct or grouping pick those rows)."""
        server = yield from self._server_plan(dialect)
        wrap = bool(
            self._limit is not None or self._offset is not None or self._distinct
            or self._group_by or self._having or self._distinct_on
        )
        inner_columns: tuple[Any, ...] | None = None
        if isinstance(column, Expr):
            argument: Any = column
            if wrap and isinstance(column, ColumnRef):
                argument = Computed(("col", None, column.name), (), column.type, column.reads)
            elif wrap:
                if self._distinct:
                    raise StatementInvalid(
                        f"{func.lower()}() of an expression over a distinct() query is "
                        "ambiguous: select the expression and aggregate in an outer query"
                    )
                label = "_twinrecord_value"
                own = self._columns or self._default_columns()
                inner_columns = (*own, ("label", column.shape, label))
                argument = Computed(("col", None, label), (), column.type, column.reads)
            call = make_function(func.lower(), (argument,), distinct)
            reads = call.reads
            item_shape, item_pairs = call.shape, call.values
        else:
            bare = column.rsplit(".", 1)[-1] if wrap and _QUALIFIED.match(column) else column
            aggregate = self._native(Aggregate(func, bare, "value", distinct), dialect)
            item_shape, item_pairs, reads = aggregate, (), None
        if wrap:
            inner = self._shape(columns=inner_columns, hoist=False)
            inner_pairs = self._pairs(hoist=False, columns=column.values if inner_columns else None)
            shape = SourceShape("query", "_rows", None, inner)
            outer = self._shape(columns=(item_shape,))._replace(
                source=shape, joins=(), where=(), group_by=(), having=(), order_by=(),
                has_limit=False, has_offset=False, distinct=False, distinct_on=(), for_update=False,
            )
            ctes: tuple[Any, ...] = ()
            for item in self._ctes:
                ctes += item.pairs
            pairs = (*ctes, *item_pairs, *inner_pairs)
        else:
            outer = self._shape(columns=(item_shape,), order_by=(), limit=False)
            pairs = self._pairs(columns=item_pairs, order=False, limit=False)
        sql = self._modern_sql(dialect, server, outer, pairs)
        rows = yield from self._fetch(server, sql, table=False)
        value = rows[0][0] if rows else None
        if reads is None:
            if not isinstance(column, str):  # untyped (raw()): as the driver returns it
                return int(value or 0) if func == "COUNT" else value
            aggregate = Aggregate(func, column, "value", distinct)
            return _aggregate_result(self._meta, aggregate, value, dialect)
        if func == "COUNT":
            return int(value or 0)
        reader = reader_of(reads, dialect)
        return value if reader is None or value is None else reader(value)

    def _aggregate_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        if not self._aggregates and not self._group_by:
            raise ConfigurationError(
                "aggregate() needs group_by() or an aggregate such as count('id', 'n') first"
            )
        if self._modern or self._group_values:
            # raw() group keys with values: the modern compiler groups by their select
            # position (PostgreSQL binds each `?` apart: two different expressions).
            return (yield from self._modern_aggregate_plan(dialect))
        columns: tuple[Expression, ...] = self._columns or self._group_by
        # Group keys selected as columns bring their raw() values to the select list too.
        leading = [] if self._columns else [dialect.adapt_param(v) for v, _ in self._group_values]
        native = tuple(self._native(a, dialect) for a in self._aggregates)
        compiled = compile_select(self._select(columns + native), dialect)
        names, rows = yield FetchTable(*_bound(compiled, leading + self._values(dialect)))
        return self._aggregate_rows(names, rows, {}, dialect)

    def _modern_aggregate_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        server = yield from self._server_plan(dialect)
        columns: tuple[Any, ...] = self._columns
        pairs: tuple[Any, ...] = self._column_values
        readers: dict[str, Any] = {}
        if not columns:
            columns = tuple(Raw(g) if isinstance(g, str) else g for g in self._group_by)
            pairs = self._group_values
        for aggregate in self._aggregates:
            if isinstance(aggregate, Labeled):
                columns += (aggregate.shape,)
                pairs += aggregate.values
                readers[aggregate.label] = reader_of(aggregate.reads, dialect)
            else:
                columns += (self._native(aggregate, dialect),)
        shape = self._shape(columns=columns)
        sql = self._modern_sql(dialect, server, shape, self._pairs(columns=pairs))
        names, rows = yield from self._fetch(server, sql)
        if len(names) == len(columns):  # a raw() item is keyed by its SQL on every database
            grouped = not self._columns  # then a Raw is a raw() group key, not select text
            names = [_raw_sql(c, grouped) or n for c, n in zip(columns, names)]
        return self._aggregate_rows(names, rows, readers, dialect)

    def _aggregate_rows(
        self, names: list[str], rows: Any, readers: dict[str, Any], dialect: Dialect
    ) -> list[dict[str, Any]]:
        meta = self._meta
        by_alias = {a.alias: a for a in self._aggregates if isinstance(a, Aggregate)}
        result = []
        for row in rows:
            item = {}
            for name, value in zip(names, row):
                if name in by_alias:
                    item[name] = _aggregate_result(meta, by_alias[name], value, dialect)
                elif name in readers:
                    reader = readers[name]
                    item[name] = value if reader is None or value is None else reader(value)
                else:
                    reader = meta.reader_for(name, dialect)
                    # A renamed column (`Column(name=...)`) is keyed by its field.
                    key = meta.field_of.get(name, name)
                    item[key] = value if reader is None or value is None else reader(value)
            result.append(item)
        return result

    def _update_plan(
        self, changes: Mapping[str, object], dialect: Dialect, touch: bool = True
    ) -> Plan[int]:
        meta = self._meta
        if not changes:
            return 0
        computed = False
        for key, value in changes.items():  # a loop, not any(): no generator per update
            if isinstance(value, _COMPUTED) or isinstance(key, Column):
                computed = True
                break
        changes = self._checked_changes(changes)
        if self._modern or computed:
            features = self._model._features_of_model()
            if features is not None:
                named = {k.field if isinstance(k, Column) else k for k in changes}
                if features.timestamps and touch and "updated_at" not in named:
                    changes = {**changes, "updated_at": now()}
                if features.lock and features.lock not in named:
                    # OptimisticLockMixin: bumped without a check (§17), as on the plain path.
                    changes = {**changes, features.lock: getattr(self._model.c, features.lock) + 1}
            return (yield from self._modern_update_plan(changes, dialect))
        # _checked_changes keyed the plain values by field.
        changes, bump = mixin_changes(self._model, changes, touch)
        columns = tuple(changes)
        writers = meta.writer_map(dialect)
        values = [
            v if v is None or writers[c] is None else writers[c](v)  # type: ignore[misc]
            for c, v in changes.items()
        ]
        if self._is_simple():
            where = self._scoped_where()
            shape = ("query-update", columns, where, bump, dialect)
            compiled = meta.sql_cache.get(shape)
            if compiled is None:
                statement = Update(meta.table, meta.sql_names(columns), where, bump)
                compiled = meta.sql_cache[shape] = compile_update(statement, dialect)
            values += self._where_values(dialect)
        else:
            key = self._single_key("update")
            compiled = compile_update_matching(
                Update(meta.table, meta.sql_names(columns), (), bump), self._select(), key, dialect
            )
            values += self._values(dialect)
        affected: int = yield Execute(*_bound(compiled, values))
        return affected

    def _checked_changes(self, changes: Mapping[Any, Any]) -> dict[Any, Any]:
        """update() values by field: plain values validated as assigning them would be
        (RecordInvalid, nothing sent) to be written as save() writes them; raw() SQL as
        an expression; an unknown field is a ConfigurationError."""
        meta = self._meta
        checked: dict[Any, Any] = {}
        for key, value in changes.items():
            if isinstance(key, Column):
                field = key.field if key.table == meta.table else None
            else:
                field = meta.update_field(key)
            if isinstance(value, RawSQL):
                value = from_raw(value)
            elif field is not None and not isinstance(value, Expr):
                value = meta.validated(field, value)
            checked[key if field is None else field] = value
        return checked

    def _modern_update_plan(self, changes: Mapping[str, object], dialect: Dialect) -> Plan[int]:
        """UPDATE whose values may be expressions evaluated by the database
        (`{'views': Post.c.views + 1}`), keyed by field names or columns."""
        meta = self._meta
        sets = []
        pairs: list[Any] = []
        for key, value in changes.items():
            if isinstance(key, Column):
                if key.table != meta.table:
                    raise ConfigurationError(
                        f"update() of {meta.name} sets its own columns; {key.table}.{key.name} "
                        "belongs to another table"
                    )
                key = key.field
            column = meta.check_column(key)
            if isinstance(value, Expr):
                sets.append((meta.sql_column(column), value.shape))
                pairs += value.values
            else:
                sets.append((meta.sql_column(column), ("?",)))
                pairs.append((value, meta.types[column]))
        server = yield from self._server_plan(dialect)
        if self._is_simple() and not self._ctes:
            shape = UpdateShape(meta.table, tuple(sets), self._scoped_where())
            pairs += self._pairs(hoist=False)
        else:
            key = self._single_key("update")
            keys = self._shape(columns=(Ident(f"{meta.table}.{key}"),))
            shape = UpdateShape(meta.table, tuple(sets), (), (key, keys))
            pairs += self._pairs(columns=())
        compiled = compile_update_shape(shape, dialect, server)
        values = bind_order(compiled, write_values(pairs, dialect))
        affected: int = yield Execute(compiled[0], values)
        return affected

    def _delete_plan(self, dialect: Dialect) -> Plan[int]:
        """DELETE; with SoftDeleteMixin, marks the (live) rows as deleted instead."""
        column = self._meta.soft_delete
        if column is not None:
            instant = now()
            changes = {column: instant}
            if "updated_at" in self._meta.column_index:
                changes["updated_at"] = instant
            marked: int = yield from self._update_plan(changes, dialect)
            return marked
        return (yield from self._hard_delete_plan(dialect))

    def _hard_delete_plan(self, dialect: Dialect) -> Plan[int]:
        """DELETE the rows, soft-deleted ones included when the scope says so."""
        meta = self._meta
        if self._modern:
            server = yield from self._server_plan(dialect)
            if self._is_simple() and not self._ctes:
                shape = DeleteShape(meta.table, self._scoped_where())
                pairs = self._pairs(hoist=False)
            else:
                key = self._single_key("delete")
                keys = self._shape(columns=(Ident(f"{meta.table}.{key}"),))
                shape = DeleteShape(meta.table, (), (key, keys))
                pairs = self._pairs(columns=())
            modern = compile_delete_shape(shape, dialect, server)
            done: int = yield Execute(modern[0], bind_order(modern, write_values(pairs, dialect)))
            return done
        if self._is_simple():
            statement = DeleteStatement(meta.table, self._scoped_where())
            compiled = compile_delete(statement, dialect)
            values = self._where_values(dialect)
        else:
            compiled = compile_delete_matching(self._select(), self._single_key("delete"), dialect)
            values = self._values(dialect)
        affected: int = yield Execute(*_bound(compiled, values))
        return affected

    def _is_simple(self) -> bool:
        return not (
            self._joins
            or self._source is not None
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


def _not_awaitable(query: QueryCore[Any]) -> Generator[None, None, NoReturn]:
    """`await query` at run time: a TypeError saying what to await instead."""
    aggregates = ", ".join(f"{a.func.lower()}() as {a.alias!r}" for a in query._aggregates)
    hint = (
        f" This query adds aggregates ({aggregates}) rather than running them: "
        "on a query with group_by() or another aggregate, count()/sum()/avg()/min()/"
        "max() chain (an alias is given when none is), so run it with "
        "`await query.aggregate()`."
        if query._aggregates
        else ""
    )
    raise TypeError(
        f"{type(query).__name__} is a query builder, not something to await.{hint} "
        "Await a method that runs it: all(), one(), first(), exists(), to_dicts(), "
        "aggregate(), count() (without alias, on a plain query), update(), delete()."
    )
    yield  # pragma: no cover  # makes this a generator, as __await__ must be


class AsyncQueryCore(QueryCore[M]):
    """The async query's core: a builder is not awaitable, and says what to await."""

    # Hidden from the type checkers, so that `await query` is reported as a type error
    # (an `__await__` typed NoReturn would only make the code after it unreachable).
    if not TYPE_CHECKING:
        __await__ = _not_awaitable


_COLLECTIONS = (list, tuple, set, frozenset)
_COMPUTED = (Expr, RawSQL)  # update() values the database computes


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


def checked_batch_size(batch_size: object) -> int:
    if type(batch_size) is not int or batch_size < 1:
        raise ConfigurationError(f"iterate() takes a batch_size of 1 or more; got {batch_size!r}")
    return batch_size


def _non_negative(count: int | None, method: str) -> int | None:
    if count is not None and (not isinstance(count, int) or count < 0):
        raise ConfigurationError(f"{method}() takes a non-negative int or None; got {count!r}")
    return count


def _default_alias(func: str, column: str) -> str:
    if func == "COUNT" and column.strip() == "*":
        return "count"
    bare = column.rsplit(".", 1)[-1].strip('"`').replace("*", "all")
    return f"{func.lower()}_{bare}"


def _aggregate_result(meta: Any, aggregate: Aggregate, value: Any, dialect: Dialect) -> object:
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


_QUALIFIED = re.compile(r'^[\w"`]+\.[\w"`]+$')


def _equalities(condition: Any, columns: Mapping[str, object], method: str) -> Mapping[str, object]:
    """`where(name='ann')`: keywords as a dict condition (merged with a dict given too)."""
    if condition is None:
        return columns
    if isinstance(condition, Mapping):
        return {**condition, **columns}
    raise StatementInvalid(
        f"{method}() takes a dict or keywords for column equalities, not both {condition!r} "
        "and keywords"
    )


def _raw_sql(shape: Any, grouped: bool) -> str | None:
    """The SQL of a raw() item: a select item, or (`grouped`) a group key; else None
    (a select() string keeps the name the database gives it, its `AS` label say)."""
    if type(shape) is Raw:
        return shape.sql if grouped else None
    if type(shape) is tuple and len(shape) == 2 and shape[0] == "raw":
        return str(shape[1])
    return None


def _sort_or_group_items(
    query: Any, items: tuple[Any, ...], method: str
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """order_by/group_by/distinct_on arguments: column references (parsed), raw() SQL,
    or expressions (which make the query modern and bring their values and CTEs)."""
    parse = parse_sort_keys if method == "order_by" else parse_group_keys
    shapes: list[Any] = []
    values: list[Any] = []
    for item in items:
        if isinstance(item, RawSQL):
            shapes.append(Raw(item.sql))
            values.extend((v, None) for v in item.params)
        elif isinstance(item, Expr):
            if item.window and method != "order_by":
                raise StatementInvalid(f"a window function in {method}() is refused")
            shapes.append(item.shape)
            values.extend(item.values)
            if item.ctes:
                query.__dict__.update(query._with_ctes(item.ctes).__dict__)
            query._modern = True
        else:
            meta = query._meta
            for shape in parse(item):
                if isinstance(shape, SortKey):
                    renamed = _renamed_ref(meta, shape.column)
                    shapes.append(shape if renamed is None else shape._replace(column=renamed))
                else:
                    shapes.append(_renamed_ref(meta, shape) or shape)
    return tuple(shapes), tuple(values)


def _renamed_field(meta: Any, text: str) -> str | None:
    """The field `text` names (`title` or `table.title`, unquoted) when that field's column
    has another name (`Column(name=...)`, API.md §19), else None."""
    table, _, name = text.rpartition(".")
    if table and table != meta.table:
        return None
    column = meta.sql_columns.get(name)
    return name if column is not None and column != name else None


def _renamed_ref(meta: Any, ref: KeyRef) -> KeyRef | None:
    """A parsed string key naming a renamed field, pointed at its column; else None (a
    field's name reaches the database as its column, wherever the API takes names)."""
    parts = ref.parts
    if len(parts) > 2 or any(p.startswith('"') for p in parts):
        return None
    field = _renamed_field(meta, ".".join(parts))
    if field is None:
        return None
    return KeyRef((*parts[:-1], meta.sql_columns[field]))


def _test_for(qualified: str, value: Any) -> ColumnTest:
    if value is None:
        return ColumnTest(qualified, "null")
    if isinstance(value, _COLLECTIONS):
        return ColumnTest(qualified, "in", len(list(value)))
    return ColumnTest(qualified, "eq")


def _values_for(value: Any, column_type: object) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, _COLLECTIONS):
        return tuple((v, column_type) for v in value)
    return ((value, column_type),)
