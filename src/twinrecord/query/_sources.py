"""What a query can read besides its model's table: CTEs (`cte()`), derived tables
(`query.subquery('n')`), and the subquery expressions `exists()` and `query.alias()`
build (API.md §13.3 and §13.4).

Rule: a source captures the query it was built from as a shape and its values once,
at construction; the query that uses it hoists its CTEs into one WITH.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..errors import StatementInvalid
from ..sql import types as t
from ..sql.compiler import CteShape, QueryShape, SourceShape
from ..sql.expressions import Computed, Condition, Expr, SourceColumn


class SourceColumns:
    """`.c` of a CTE or derived table: its columns by label."""

    def __init__(self, source: object, columns: dict[str, t.ColumnType | None], open_ended: bool):
        self._source = source
        self._open_ended = open_ended  # select items named only by the driver: any name goes
        self._columns = {name: SourceColumn(source, name, ct) for name, ct in columns.items()}
        self.__dict__.update(self._columns)

    def __getattr__(self, name: str) -> SourceColumn:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._open_ended:
            column = self._columns[name] = SourceColumn(self._source, name, None)
            return column
        raise AttributeError(
            f"{self._source!r} has no column {name!r}; its columns are: {', '.join(self._columns)}"
        )

    def __iter__(self) -> Iterator[SourceColumn]:
        return iter(self._columns.values())


def _select_columns(query: Any) -> tuple[dict[str, t.ColumnType | None], bool]:
    """The columns a query's rows have, by name, with their types when known."""
    if not query._columns:
        if query._source_items is not None:
            return _keyed(query._source_items)
        meta = query._meta
        return {meta.sql_column(name): meta.types[name] for name in meta.columns}, False
    return _keyed(query._items)


def _keyed(items: Any) -> tuple[dict[str, t.ColumnType | None], bool]:
    columns: dict[str, t.ColumnType | None] = {}
    open_ended = False
    for item in items:
        if item.key is None:
            open_ended = True
            continue
        columns[item.key] = item.reads[0] if item.reads else None
    return columns, open_ended


class DerivedTable:
    """`query.subquery('recent')`: a query read as a table, with `.c.<label>` columns."""

    def __init__(self, query: Any, name: str) -> None:
        self.name = name
        self.query = query
        self.shape = query._shape(hoist=False)
        self.pairs = query._pairs(hoist=False)
        self.referenced_ctes = query._ctes
        columns, open_ended = _select_columns(query)
        self.column_types = columns
        self.c = SourceColumns(self, columns, open_ended)

    def __repr__(self) -> str:
        return f"<subquery {self.name!r}>"

    def source(self, alias: str | None = None) -> SourceShape:
        return SourceShape("query", alias or self.name, None, self.shape)

    def column_subquery(self, column: str) -> Expr:
        shape = QueryShape(source=self.source(), columns=(("col", self.name, column),))
        return Computed(("subq", shape), self.pairs, ctes=self.referenced_ctes)


class Cte:
    """`cte('tree', anchor, recursive=lambda t: member)`: a named query that stands
    wherever a table can; referenced anywhere, it is declared once in the top WITH."""

    def __init__(
        self,
        name: str,
        query: Any,
        recursive: Callable[[Cte], Any] | None = None,
        distinct: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise StatementInvalid(f"cte() takes a name and a query; got name {name!r}")
        self.name = name
        columns, open_ended = _select_columns(query)
        if open_ended:
            raise StatementInvalid(
                f"cte({name!r}): label every select item of the anchor query "
                "(.alias('name')), since its labels name the CTE's columns"
            )
        self.columns = tuple(columns)
        self.column_types = columns
        self.referenced_ctes: tuple[Any, ...] = (*query._ctes, self)  # completed below
        self.c = SourceColumns(self, columns, False)
        self._anchor_shape = query._shape(hoist=False)
        pairs = list(query._pairs(hoist=False))
        depends = [c for c in query._ctes]
        member_shape = None
        if recursive is not None:
            member = recursive(self)
            if not hasattr(member, "_shape"):
                raise StatementInvalid(
                    f"cte({name!r}, recursive=...): the function must return a query "
                    f"(the recursive member); it returned {member!r}"
                )
            member_shape = member._shape(hoist=False)
            pairs += member._pairs(hoist=False)
            depends += [c for c in member._ctes if c is not self and c not in depends]
        self.shape = CteShape(name, self.columns, self._anchor_shape, member_shape, distinct)
        self.pairs = tuple(pairs)
        self.recursive = recursive is not None
        unique: list[Cte] = []
        for item in depends:
            if not any(item is known for known in unique):
                unique.append(item)
        self.referenced_ctes = (*unique, self)

    def __repr__(self) -> str:
        return f"<cte {self.name!r}>"

    def source(self, alias: str | None = None) -> SourceShape:
        return SourceShape("cte", self.name, alias)

    def column_subquery(self, column: str) -> Expr:
        shape = QueryShape(source=self.source(), columns=(("col", self.name, column),))
        return Computed(("subq", shape), (), ctes=self.referenced_ctes)


def cte(
    name: str, query: Any, recursive: Callable[[Cte], Any] | None = None, distinct: bool = False
) -> Cte:
    """A common table expression; `recursive=` takes a function of the CTE returning the
    recursive member (joined with UNION ALL, or UNION with `distinct=True`)."""
    return Cte(name, query, recursive, distinct)


def exists(query: Any) -> Condition:
    """`EXISTS (subquery)`: true when the query matches a row."""
    make = getattr(query, "_exists_expression", None)
    if make is None:
        raise StatementInvalid(f"exists() takes a query; got {query!r}")
    return make()  # type: ignore[no-any-return]
