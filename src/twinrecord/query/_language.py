"""The query language's part of the query core (API.md §12 to §13): joins, sources, set
operations, and the plans of queries the plain compiler cannot express.

Rule: a query that uses any of it is *modern* (`_modern`) and compiles through
`sql/compiler.py`; a query that does not keeps the plain compiler's fast path.
Values travel as (value, column type) pairs in the compiler's canonical order:
CTEs, DISTINCT ON, select items, source, joins, where, group by, having, order by,
limit, offset.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Any, Self, cast

from ..errors import ConfigurationError, StatementInvalid
from ..plan import FetchRows, FetchTable, FetchTableWarned, Plan
from ..sql import features
from ..sql.compiler import (
    CompoundShape,
    JoinShape,
    QueryShape,
    SourceShape,
    bind,
    compile_query,
)
from ..sql.dialect import Dialect
from ..sql.expressions import Computed, Condition, Expr, Labeled, Ordering
from ..sql.placeholders import check_single_statement
from ..sql.statements import Ident, Raw
from ._items import Item, check_keys, read_rows, reader_of, reverse_order, write_values
from ._soft_joins import (
    SoftJoin,
    clause_filter,
    filtered_joins,
    model_filter,
    table_filter,
)
from ._sources import Cte, DerivedTable

_MARIADB_RECURSION_TRUNCATED = 1931


class LanguageMixin:
    """Mixed into QueryCore; every method returns a changed copy or a plan."""

    _modern = False
    _items: tuple[Item, ...] = ()  # what each select item is (modern select() only)
    _column_values: tuple[Any, ...] = ()
    _join_values: tuple[Any, ...] = ()
    _group_values: tuple[Any, ...] = ()
    _order_values: tuple[Any, ...] = ()
    _order_items: tuple[Any, ...] = ()
    _source: SourceShape | None = None
    _source_values: tuple[Any, ...] = ()
    _source_items: tuple[Item, ...] | None = None  # a non-model source's columns
    _ctes: tuple[Cte, ...] = ()
    _distinct_on: tuple[Any, ...] = ()
    _distinct_on_values: tuple[Any, ...] = ()
    _joined: tuple[tuple[tuple[str, ...], Any, str], ...] = ()  # (names, meta, table name)
    _soft_joins: tuple[SoftJoin, ...] = ()  # joins reaching soft-deleting tables

    # provided by QueryCore
    _model: Any
    _meta: Any
    _scoped_where: Callable[[], tuple[tuple[str, Any], ...]]
    _columns: tuple[Any, ...]
    _where: tuple[tuple[str, Any], ...]
    _params: tuple[Any, ...]
    _joins: tuple[Any, ...]
    _group_by: tuple[Any, ...]
    _having: tuple[tuple[str, Any], ...]
    _having_params: tuple[Any, ...]
    _order_by: tuple[Any, ...]
    _limit: int | None
    _offset: int | None
    _distinct: bool
    _for_update: bool
    _eager: tuple[Any, ...]
    _deleted_scope: str

    def _copy(self) -> Self:
        raise NotImplementedError

    # ---- CTEs referenced by expressions --------------------------------------------------
    def _with_ctes(self, ctes: tuple[Any, ...]) -> Self:
        query = self._copy()
        if ctes:
            known = list(self._ctes)
            for cte_item in ctes:
                # A CTE brings the CTEs it reads, declared before it.
                for item in (*getattr(cte_item, "referenced_ctes", ()), cte_item):
                    if not any(item is k for k in known):
                        known.append(item)
            query._ctes = tuple(known)
        return query

    # ---- joins ----------------------------------------------------------------------------
    def join(self, clause: object, on: object = None, alias: str | None = None) -> Self:
        """A relation name or dotted path ('posts.comments') joined on its keys (INNER),
        or a whole SQL join clause ('LEFT JOIN posts ON ...')."""
        if isinstance(clause, str) and not clause.split()[1:]:
            return self._relation_join(clause, "INNER", on, alias)
        if on is not None or alias is not None or not isinstance(clause, str):
            return self.inner_join(clause, on=on, alias=alias)
        check_single_statement(clause)
        query = self._copy()
        query._soft_joins = self._soft_joins + clause_filter(self._model, clause, len(self._joins))
        query._joins = self._joins + (clause,)
        return query

    def inner_join(self, target: object, on: object = None, alias: str | None = None) -> Self:
        return self._join("INNER", target, on, alias)

    def left_join(self, target: object, on: object = None, alias: str | None = None) -> Self:
        return self._join("LEFT", target, on, alias)

    def right_join(self, target: object, on: object = None, alias: str | None = None) -> Self:
        return self._join("RIGHT", target, on, alias)

    def full_join(self, target: object, on: object = None, alias: str | None = None) -> Self:
        return self._join("FULL", target, on, alias)

    def _join(self, kind: str, target: object, on: object, alias: str | None) -> Self:
        from ..relations._declare import relations_of

        if isinstance(target, str):
            check_single_statement(target)
            if isinstance(on, str):
                check_single_statement(on)
            if target.split(".")[0] in relations_of(self._model) and not target.split()[1:]:
                return self._relation_join(target, kind, on, alias)
            if on is None:
                raise StatementInvalid(
                    f"{kind.lower()}_join({target!r}): {self._model.__name__} has no relation "
                    f"named {target!r}, so it is a table and needs on= (SQL or an expression)"
                )
            if isinstance(on, str) and alias is None and kind in ("INNER", "LEFT"):
                query = self._copy()  # the plain §4 form, unchanged
                words = target.split()
                query._soft_joins = self._soft_joins + table_filter(
                    self._model, words[0], len(self._joins), words[-1]
                )
                query._joins = self._joins + (f"{kind} JOIN {target} ON {on}",)
                return query
            query = self._add_join(kind, SourceShape("table", target, alias), on, (), (), None)
            query._soft_joins = self._soft_joins + table_filter(
                self._model, target, len(self._joins), alias or target
            )
            return query
        source, pairs, ctes, meta = _join_source(target, alias)
        if on is None:
            raise StatementInvalid(
                f"{kind.lower()}_join({target!r}) needs on= (an expression or SQL); only "
                "relation names join on their keys by themselves"
            )
        return self._add_join(kind, source, on, pairs, ctes, meta)

    def _add_join(
        self, kind: str, source: SourceShape, on: Any, pairs: Any, ctes: Any, meta: Any
    ) -> Self:
        name = source.alias or source.name
        self._refuse_joined_twice(name)
        on_shape, on_pairs, on_ctes = _on_condition(on)
        query = self._with_ctes((*ctes, *on_ctes))
        query._joins = self._joins + (JoinShape(kind, source, on_shape),)
        query._join_values = self._join_values + tuple(pairs) + on_pairs
        if meta is not None:
            query._joined = self._joined + (((name,), meta, name),)
            query._soft_joins = self._soft_joins + model_filter(meta, len(self._joins), name)
        query._modern = True
        return query

    def _table_names(self) -> set[str]:
        names = {self._meta.table}
        for join in self._joins:
            if isinstance(join, JoinShape):
                names.add(join.source.alias or join.source.name)
        return names

    def _refuse_joined_twice(self, name: str) -> None:
        if name in self._table_names():
            raise StatementInvalid(
                f"table {name!r} is already in the query: join it again under another name "
                f"with alias= (e.g. join('recipient', alias='recipient')), whose columns are "
                f"aliased(Model, 'recipient').c"
            )

    def _relation_join(self, path: str, kind: str, on: object, alias: str | None) -> Self:
        key = ("relation-join", path, kind, alias)
        planned = self._meta._specs.get(key)
        if planned is None:  # a relation's joins never change: worked out once
            planned = self._meta._specs[key] = _relation_joins(self._model, path, kind, alias)
        joins, joined = planned
        for join in joins:
            self._refuse_joined_twice(join.source.alias or join.source.name)
        query = self._copy()
        pairs: tuple[Any, ...] = ()
        if on is not None:
            on_shape, pairs, ctes = _on_condition(on)
            last = joins[-1]
            joins = (*joins[:-1], last._replace(on=("and", last.on, on_shape)))
            if ctes:
                query = query._with_ctes(ctes)
        query._joins = self._joins + joins
        query._join_values = self._join_values + pairs
        query._joined = self._joined + joined
        filters = list(self._soft_joins)
        for offset, (_, meta, table) in enumerate(joined):
            filters += model_filter(meta, len(self._joins) + offset, table)
        query._soft_joins = tuple(filters)
        query._modern = True
        return query

    def _joined_copy(
        self, kind: str, source: SourceShape, on_shape: Any, pairs: Any, ctes: Any
    ) -> Self:
        query = self._with_ctes(tuple(ctes))
        query._joins = self._joins + (JoinShape(kind, source, on_shape),)
        query._join_values = self._join_values + tuple(pairs)
        query._modern = True
        return query

    def _joined_column(self, key: str) -> tuple[str, Any] | None:
        """`'posts.published'` in a dict condition: the joined model's column, checked."""
        table, _, bare = key.rpartition(".")
        if not table or table == self._meta.table:
            return None
        for names, meta, table_name in self._joined:
            if table in names:
                if bare not in meta.column_index:
                    raise StatementInvalid(
                        f"unknown column {bare!r} for joined {meta.name} ({table!r}); its "
                        f"columns are: {', '.join(meta.columns)}"
                    )
                return f"{table_name}.{meta.sql_column(bare)}", meta.types[bare]
        return None

    # ---- sources --------------------------------------------------------------------------
    def from_(self, source: Any) -> Self:
        """Read from a CTE, subquery or compound query, named like the model's table, so
        model columns keep working and all() returns models."""
        table = self._meta.table
        query = self._copy()
        if isinstance(source, Cte):
            query._source = source.source(alias=table)
            query = query._with_ctes(source.referenced_ctes)
            query._source_items = _source_items(source.column_types, self._meta)
        elif isinstance(source, DerivedTable):
            query._source = SourceShape("query", table, None, source.shape)
            query._source_values = source.pairs
            query = query._with_ctes(source.referenced_ctes)
            query._source_items = _source_items(source.column_types, self._meta)
        elif hasattr(source, "_shape"):
            query._source = SourceShape("query", table, None, source._shape(hoist=False))
            query._source_values = source._pairs(hoist=False)
            query = query._with_ctes(source._ctes)
            query._source_items = source._row_items()
        else:
            raise StatementInvalid(f"from_() takes a CTE, a subquery or a query; got {source!r}")
        query._modern = True
        return query

    def subquery(self, name: str) -> DerivedTable:
        """This query as a derived table named `name`, with `.c.<label>` columns."""
        return DerivedTable(self, name)

    def alias(self, name: str) -> Labeled:
        """This one-column query as a labelled scalar subquery (a select item)."""
        return self.__twinrecord_subquery__().alias(name)

    def __twinrecord_subquery__(self) -> Expr:
        """The query used as a value: it selects exactly one expression (its primary
        key when it has no select())."""
        query = self
        if not self._columns:
            keys = self._meta.primary_key
            if len(keys) != 1:
                raise StatementInvalid(
                    f"{self._model.__name__} has a composite primary key {keys}: select() "
                    "the one column the subquery stands for"
                )
            query = cast(Any, self).select(getattr(self._model.c, keys[0]))
        elif len(self._columns) != 1:
            raise StatementInvalid(
                f"a query used as a value selects exactly one expression; this one selects "
                f"{len(self._columns)}"
            )
        items = query._items
        reads = items[0].reads if items else None
        return Computed(
            ("subq", query._shape(hoist=False)),
            query._pairs(hoist=False),
            reads[0] if reads else None,
            reads,
            query._ctes,
        )

    def _exists_expression(self) -> Condition:
        query = self._copy()
        query._columns, query._items, query._column_values = (Raw("1"),), (), ()
        return Condition(
            ("exists", query._shape(hoist=False)), query._pairs(hoist=False), ctes=query._ctes
        )

    def distinct_on(self, *exprs: object) -> Self:
        """`SELECT DISTINCT ON (...)`: PostgreSQL only (refused elsewhere, §13.7)."""
        from ._core import _sort_or_group_items

        query = self._copy()
        shapes, values = _sort_or_group_items(query, exprs, "distinct_on")
        query._distinct_on = self._distinct_on + shapes
        query._distinct_on_values = self._distinct_on_values + values
        query._modern = True
        return query

    # ---- set operations -------------------------------------------------------------------
    def union(self, *others: object, all: bool = False) -> Self:
        return self._compound("UNION", others, all)

    def intersect(self, *others: object, all: bool = False) -> Self:
        return self._compound("INTERSECT", others, all)

    def except_(self, *others: object, all: bool = False) -> Self:
        return self._compound("EXCEPT", others, all)

    def _compound(self, operation: str, others: tuple[Any, ...], all_rows: bool) -> Self:
        members = (self, *others)
        for member in others:
            if not hasattr(member, "_shape"):
                raise StatementInvalid(f"{operation.lower()}() takes queries; got {member!r}")
        widths = {m._width() for m in members} - {None}
        if len(widths) > 1:
            raise StatementInvalid(
                f"{operation} members select different numbers of columns "
                f"({', '.join(str(m._width()) for m in members)}); select the same list in each"
            )
        shape = CompoundShape(
            self._shape(hoist=False),
            tuple((operation, all_rows, m._shape(hoist=False)) for m in others),
        )
        pairs: list[Any] = []
        for member in members:
            pairs += member._pairs(hoist=False)
        query: Self = cast(Any, type(self))(self._model)
        query._source = SourceShape("query", self._meta.table, None, shape)
        query._source_values = tuple(pairs)
        for member in members:
            query = query._with_ctes(member._ctes)
        models = all(m._selects_model_columns() for m in members)
        query._source_items = None if models else self._row_items()
        query._modern = True
        return query

    def _width(self) -> int | None:
        if not self._columns:
            return len(self._meta.columns) if self._source_items is None else None
        if any(isinstance(c, (Raw, Ident)) for c in self._columns):
            return None
        return len(self._columns)

    def _selects_model_columns(self) -> bool:
        if not self._columns:
            return self._source_items is None
        own = tuple((self._meta.table, name) for name in self._meta.columns)
        return tuple(item.column for item in self._items) == own

    def _row_items(self) -> tuple[Item, ...]:
        """What each column of this query's rows is (for reading a source built on it)."""
        if self._columns and len(self._items) == len(self._columns):
            return self._items
        if not self._columns and self._source_items is not None:
            return self._source_items
        meta, table = self._meta, self._meta.table
        return tuple(
            Item(("col", table, meta.sql_column(n)), n, (meta.types[n], False), (table, n))
            for n in meta.columns
        )

    # ---- shapes and values ------------------------------------------------------------------
    def _default_columns(self) -> tuple[Any, ...]:
        if self._source_items is not None and not self._selects_source_model():
            return ()  # SELECT *: the source's own columns
        return tuple(self._meta.select_columns)

    def _selects_source_model(self) -> bool:
        keys = {i.key for i in self._source_items or ()}
        return set(self._meta.columns) <= keys

    def _shape(
        self,
        columns: tuple[Any, ...] | None = None,
        hoist: bool = True,
        order_by: tuple[Any, ...] | None = None,
        limit: bool | None = None,
    ) -> QueryShape:
        if columns is None:
            columns = self._columns or self._default_columns()
        joins = self._scoped_joins()
        if joins:
            joins = tuple(
                j if isinstance(j, JoinShape) else JoinShape("RAW", SourceShape("table", j))
                for j in joins
            )
        order = self._order_by if order_by is None else order_by
        return QueryShape(
            self._source or self._meta_source(),
            columns,
            joins,
            self._scoped_where(),
            tuple(_as_shape(g) for g in self._group_by) if self._group_by else (),
            self._having,
            tuple(_as_shape(o) for o in order) if order else (),
            self._limit is not None if limit is None else limit,
            self._offset is not None if limit is None else False,
            self._distinct,
            self._distinct_on,
            self._for_update,
            tuple(c.shape for c in self._ctes) if hoist and self._ctes else (),
        )

    def _scoped_joins(self) -> tuple[Any, ...]:
        """The joins, those reaching soft-deleting tables filtered to live rows unless
        `with_deleted()` lifted every filter."""
        if not self._soft_joins or self._deleted_scope == "all":
            return self._joins
        return filtered_joins(self._joins, self._soft_joins)

    def _meta_source(self) -> SourceShape:
        found: SourceShape | None = self._meta._specs.get("source")
        if found is None:
            found = self._meta._specs["source"] = SourceShape("table", self._meta.table)
        return found

    def _pairs(
        self,
        hoist: bool = True,
        columns: tuple[Any, ...] | None = None,
        order: bool = True,
        limit: bool = True,
    ) -> tuple[Any, ...]:
        pairs: list[Any] = []
        if hoist and self._ctes:
            for item in self._ctes:
                pairs += item.pairs
        pairs += self._distinct_on_values
        pairs += self._column_values if columns is None else columns
        pairs += self._source_values
        pairs += self._join_values
        types = self._meta.types
        for value, column in self._params:
            pairs.append((value, types[column] if type(column) is str else column))
        pairs += self._group_values
        pairs += self._having_params
        if order:
            pairs += self._order_values
        if limit:
            if self._limit is not None:
                pairs.append((self._limit, None))
            if self._offset is not None:
                pairs.append((self._offset, None))
        return tuple(pairs)

    def _server_plan(self, dialect: Dialect) -> Plan[features.Server]:
        """The server this statement is compiled for: the version the backend read at its
        first connection (a request, answered without I/O once known)."""
        from ..plan import ReadServer

        server: features.Server | None = yield ReadServer(dialect)
        return server or features.newest(dialect)

    def _modern_sql(
        self, dialect: Dialect, server: features.Server, shape: Any, pairs: Any
    ) -> tuple[str, list[Any]]:
        compiled = compile_query(shape, dialect, server)
        return compiled[0], bind(compiled, write_values(pairs, dialect))

    def _modern_to_sql(
        self, dialect: Dialect, server: features.Server | None
    ) -> tuple[str, list[Any]]:
        return self._modern_sql(
            dialect, server or features.newest(dialect), self._shape(), self._pairs()
        )

    def _recursion_check(
        self, server: features.Server, sql: str, streamed: bool = False
    ) -> Callable[[list[Any]], None] | None:
        """On MariaDB, for a query with a recursive CTE: what raises when the server's
        warnings say the recursion stopped at max_recursive_iterations (else None)."""
        if server.flavor != "mariadb" or not any(c.recursive for c in self._ctes):
            return None
        fate = (
            "; the stream raises instead of ending (its earlier batches were handed out)"
            if streamed
            else ", so they were discarded"
        )

        def check(warnings: list[Any]) -> None:
            for warning in warnings:
                if int(warning[1]) == _MARIADB_RECURSION_TRUNCATED:
                    raise StatementInvalid(
                        f"the recursive CTE stopped early: {warning[2]} MariaDB returned "
                        f"partial rows without an error{fate}. Add a stop condition to the "
                        "recursive member, or raise the session's max_recursive_iterations",
                        sql,
                    )

        return check

    # ---- plans --------------------------------------------------------------------------
    def _fetch(
        self, server: features.Server, sql: tuple[str, list[Any]], table: bool = True
    ) -> Plan[Any]:
        """Rows (or names and rows) of a compiled statement. MariaDB silently truncates a
        recursive CTE at max_recursive_iterations, leaving only warning 1931: after a
        recursive statement there the warnings are read, and partial rows refused."""
        check = self._recursion_check(server, sql[0])
        if check is not None:
            (names, rows), warnings = yield FetchTableWarned(*sql)
            check(warnings)
            return (names, rows) if table else rows
        if table:
            return (yield FetchTable(*sql))
        return (yield FetchRows(*sql))

    def _modern_all_plan(self, dialect: Dialect) -> Plan[list[Any]]:
        server = yield from self._server_plan(dialect)
        meta = self._meta
        if not self._columns:
            shape = self._shape(columns=tuple(meta.select_columns))
            sql = self._modern_sql(dialect, server, shape, self._pairs())
            rows = yield from self._fetch(server, sql, table=False)
            records: list[Any] = meta.hydrate(rows, dialect, stateful=bool(self._eager))
            return records
        sql = self._modern_sql(dialect, server, self._shape(), self._pairs())
        names, rows = yield from self._fetch(server, sql)
        return self._hydrate_with_extras(names, rows, dialect)

    def _hydrate_with_extras(self, names: list[str], rows: Any, dialect: Dialect) -> list[Any]:
        meta = self._meta
        items = self._result_items()
        if items is None:  # SQL strings in select(): only the driver knows the names
            return _hydrate_named_with_extras(meta, names, rows, dialect)  # type: ignore[no-any-return]
        own_tables = {meta.table}
        positions: dict[str, int] = {}
        extras: list[tuple[int, str, Any]] = []
        for position, item in enumerate(items):
            column = item.column
            own = column is not None and column[0] in own_tables and item.key == column[1]
            if own and column[1] in meta.column_index:  # type: ignore[index]
                positions.setdefault(column[1], position)  # type: ignore[index]
                continue
            if item.key is None:
                raise StatementInvalid(
                    f"select item {position + 1} of this {meta.name} query is an unlabelled "
                    "expression: label it with .alias('name') (it goes to record.extras)"
                )
            if item.key in meta.column_index:
                raise StatementInvalid(
                    f"select item {position + 1} comes back as {item.key!r}, like the field "
                    f"of {meta.name}: label it with .alias('other_name')"
                )
            extras.append((position, item.key, reader_of(item.reads, dialect)))
        missing = [c for c in meta.columns if c not in positions]
        if missing:
            raise StatementInvalid(
                f"all() builds {meta.name} records, which need every column selected; "
                f"missing: {', '.join(missing)} (select(*{meta.name}.c, ...), or use to_dicts())"
            )
        order = [positions[c] for c in meta.columns]
        records = meta.hydrate([tuple(row[p] for p in order) for row in rows], dialect)
        if extras:
            for record, row in zip(records, rows):
                record._private()["_extras"] = MappingProxyType(
                    {
                        key: (row[p] if f is None or row[p] is None else f(row[p]))
                        for p, key, f in extras
                    }
                )
        return records  # type: ignore[no-any-return]

    def _item_readers(self, items: tuple[Item, ...], dialect: Dialect) -> list[Any]:
        meta = self._meta
        readers = []
        for item in items:
            own = item.column is not None and item.column[0] == meta.table
            if own and item.column[1] in meta.column_index:  # type: ignore[index]
                readers.append(meta.reader_for(item.column[1], dialect))  # type: ignore[index]
            else:
                readers.append(reader_of(item.reads, dialect))
        return readers

    def _result_items(self) -> tuple[Item, ...] | None:
        """What each column of the result is, when known (not with SQL strings)."""
        if self._columns:
            known = len(self._items) == len(self._columns)
            if not known or any(type(item.shape) is Raw for item in self._items):
                return None
            return self._items
        return self._row_items()

    def _modern_to_dicts_plan(self, dialect: Dialect) -> Plan[list[dict[str, Any]]]:
        server = yield from self._server_plan(dialect)
        meta = self._meta
        columns = self._columns or self._default_columns()
        sql = self._modern_sql(dialect, server, self._shape(columns=columns), self._pairs())
        items = self._result_items()
        if items is None:  # SQL strings selected: the driver names the columns
            names, rows = yield from self._fetch(server, sql)
            return meta.convert_named(names, rows, dialect)  # type: ignore[no-any-return]
        keys = []
        for position, item in enumerate(items):
            if item.key is None:
                raise StatementInvalid(
                    f"select item {position + 1} is an unlabelled expression: label it with "
                    ".alias('name') for to_dicts(), or use pluck()"
                )
            keys.append(item.key)
        check_keys(keys)
        rows = yield from self._fetch(server, sql, table=False)
        values = read_rows(rows, self._item_readers(items, dialect))
        return [dict(zip(keys, row)) for row in values]

    def _pluck_plan(self, exprs: tuple[Any, ...], dialect: Dialect) -> Plan[list[Any]]:
        query: Any = self
        if exprs:
            query = self._copy()
            query._columns, query._items, query._column_values = (), (), ()
            query = query.select(*exprs)
        server = yield from self._server_plan(dialect)
        columns = query._columns or query._default_columns()
        sql = query._modern_sql(dialect, server, query._shape(columns=columns), query._pairs())
        items = query._result_items()
        if items is None:
            names, rows = yield from query._fetch(server, sql)
            readers = [self._meta.reader_for(n, dialect) for n in names]
            width = len(names)
        else:
            rows = yield from query._fetch(server, sql, table=False)
            readers = query._item_readers(items, dialect)
            width = len(items)
        if width == 1:
            reader = readers[0]
            if reader is None:
                return [row[0] for row in rows]
            return [None if row[0] is None else reader(row[0]) for row in rows]
        return [tuple(row) for row in read_rows(rows, readers)]

    def _ordered_for(self, last: bool) -> Self:
        """The query in order_by's order (reversed for last()), or by primary key."""
        if not self._order_items:
            keys = [getattr(self._model.c, k) for k in self._meta.primary_key]
            query = self._copy()
            query._order_by, query._order_values, query._order_items = (), (), ()
            keyed = (k.desc() if last else k.asc() for k in keys)
            ordered: Self = cast(Any, query).order_by(*keyed)
            return ordered
        if not last:
            return self
        query = self._copy()
        query._order_by, query._order_values, query._order_items = (), (), ()
        reversed_query: Self = cast(Any, query).order_by(
            *(reverse_order(item) for item in self._order_items)
        )
        return reversed_query


def _hydrate_named_with_extras(meta: Any, names: list[str], rows: Any, dialect: Dialect) -> Any:
    """Records from rows named by the driver; columns that are not the model's go to
    `record.extras`, as the driver returned them."""
    records = meta.hydrate_named(names, rows, dialect)
    extra = [(i, n) for i, n in enumerate(names) if n not in meta.column_index]
    if extra:
        for record, row in zip(records, rows):
            record._private()["_extras"] = MappingProxyType({n: row[i] for i, n in extra})
    return records


def _relation_joins(
    model: Any, path: str, kind: str, alias: str | None
) -> tuple[tuple[JoinShape, ...], tuple[Any, ...]]:
    """The joins a relation path adds (two for a `through=` relation), and what each
    joined table is, for dict keys like 'posts.published'."""
    from ..relations._declare import relation_named

    meta = model._meta()
    owner_table, owner_meta = meta.table, meta
    tables = {meta.table}
    joins: list[JoinShape] = []
    joined: list[Any] = []
    names = path.split(".")
    for position, name in enumerate(names):
        link = relation_named(model, name, f" (in join({path!r}))").link()
        target_meta = link.target._meta()
        target_table = alias if (alias and position == len(names) - 1) else target_meta.table
        match_table, match_meta, match_column = target_table, target_meta, link.match_column
        if link.through is not None:
            through_meta = link.through._meta()
            match_table, match_meta = through_meta.table, through_meta
            joins.append(
                JoinShape(
                    kind,
                    SourceShape("table", match_table),
                    _equal(
                        match_table,
                        through_meta.sql_column(link.match_column),
                        owner_table,
                        owner_meta.sql_column(link.owner_column),
                    ),
                )
            )
            joined.append(((match_table,), through_meta, match_table))
            test = _equal(
                target_table,
                target_meta.sql_column(link.target_key or ""),
                match_table,
                through_meta.sql_column(link.join_column or ""),
            )
        else:
            test = _equal(
                target_table,
                match_meta.sql_column(match_column),
                owner_table,
                owner_meta.sql_column(link.owner_column),
            )
        joins.append(JoinShape(kind, SourceShape("table", target_meta.table, target_table), test))
        joined.append(((name, target_table), target_meta, target_table))
        for join in joins[-2 if link.through is not None else -1 :]:
            table = join.source.alias or join.source.name
            if table in tables:
                raise StatementInvalid(
                    f"join({path!r}) reaches table {table!r} twice: join it under another name "
                    "with alias="
                )
            tables.add(table)
        model, owner_table, owner_meta = link.target, target_table, target_meta
    return tuple(joins), tuple(joined)


def _as_shape(item: Any) -> object:
    return ("raw", item) if isinstance(item, str) else item


def _equal(left_table: str, left: str | None, right_table: str, right: str | None) -> object:
    return ("cmp", "=", ("col", left_table, left), ("col", right_table, right))


def _on_condition(on: object) -> tuple[Any, tuple[Any, ...], tuple[Any, ...]]:
    if isinstance(on, Expr):
        return on.shape, on.values, on.ctes
    if isinstance(on, str):
        check_single_statement(on)
        return Raw(on), (), ()
    raise StatementInvalid(f"on= takes an expression or SQL; got {on!r}")


def _join_source(target: object, alias: str | None) -> tuple[SourceShape, Any, Any, Any]:
    """A join target other than a name: a model, aliased() model, CTE or subquery."""
    from ..model._columns import Aliased

    if isinstance(target, Aliased):
        meta = target.model._meta()
        return SourceShape("table", meta.table, alias or target.name), (), (), meta
    if isinstance(target, Cte):
        return target.source(alias), (), target.referenced_ctes, None
    if isinstance(target, DerivedTable):
        return target.source(alias), target.pairs, target.referenced_ctes, None
    meta_of = getattr(target, "_meta", None)
    if isinstance(target, type) and meta_of is not None:
        meta = meta_of()
        return SourceShape("table", meta.table, alias), (), (), meta
    raise ConfigurationError(
        f"a join takes a relation name, a table name, a model, aliased(), a CTE or a "
        f"subquery; got {target!r}"
    )


def _source_items(columns: dict[str, Any], meta: Any) -> tuple[Item, ...] | None:
    """A CTE's or subquery's columns; None when they are exactly the model's."""
    if tuple(columns) == meta.columns:
        return None
    return tuple(
        Item(("col", None, name), name, (ct, False) if ct is not None else None)
        for name, ct in columns.items()
    )


__all__ = ["LanguageMixin", "Ordering"]
