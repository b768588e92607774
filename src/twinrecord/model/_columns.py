"""`Model.c` and `aliased()`: a model's columns as expressions (API.md §12).

Rule: the only place a model's fields become `sql.expressions.ColumnExpr`s; the SQL layer
stays ignorant of models.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from ..errors import ConfigurationError
from ..sql.expressions import ColumnExpr


class ColumnSet:
    """The columns of one model under one table name: `User.c.age`, `list(User.c)`."""

    def __init__(self, meta: Any, table: str) -> None:
        self._model_name = meta.name
        self._table = table
        self._columns = tuple(
            ColumnExpr(table, meta.sql_column(name), meta.types[name], name)
            for name in meta.columns
        )
        self.__dict__.update({column.field: column for column in self._columns})

    def __getattr__(self, name: str) -> ColumnExpr:
        if name.startswith("__"):
            raise AttributeError(name)
        raise AttributeError(
            f"{self._model_name} has no column {name!r} (table {self._table!r}); its columns "
            f"are: {', '.join(c.field for c in self._columns)}"
        )

    def __iter__(self) -> Iterator[ColumnExpr]:
        return iter(self._columns)

    def __len__(self) -> int:
        return len(self._columns)

    def __dir__(self) -> list[str]:
        return [c.field for c in self._columns]

    def __repr__(self) -> str:
        return f"<columns of {self._model_name} as {self._table!r}>"


def column_set(model: Any) -> ColumnSet:
    meta = model._meta()
    found: ColumnSet | None = meta._specs.get("column-set")
    if found is None:
        found = meta._specs["column-set"] = ColumnSet(meta, meta.table)
    return found


class ColumnsDescriptor:
    """`Model.c` on every model class (one object for both faces of a combined model)."""

    def __get__(self, instance: Any, owner: type[Any]) -> ColumnSet:
        found: ColumnSet | None = owner.__dict__.get("__twinrecord_columns__")
        if found is not None:  # the hot path: one dict lookup
            return found
        if "c" in inspect.get_annotations(owner):
            # Pydantic reads the attribute while collecting a field named `c`.
            raise ConfigurationError(
                f"{owner.__name__}: c is reserved on every model (Model.c gives the column "
                "expressions; Model.aio / Model.sync the other kind); rename the field"
            )
        try:
            found = column_set(owner)
        except ConfigurationError as error:  # a base class without a table of its own
            raise AttributeError(f"{owner.__name__}.c: {error}") from error
        type.__setattr__(owner, "__twinrecord_columns__", found)
        return found


class Aliased:
    """`aliased(User, 'managers')`: the model under another name, with its own `.c`."""

    def __init__(self, model: type[Any], name: str) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"aliased() takes a model and a name; got {name!r}")
        self.model = model
        self.name = name
        self.table = model._meta().table
        self.c = ColumnSet(model._meta(), name)

    def __repr__(self) -> str:
        return f"aliased({self.model.__name__}, {self.name!r})"


def aliased(model: type[Any], name: str) -> Aliased:
    """The model under another table name, for self-joins and joining a table twice."""
    return Aliased(model, name)
