"""The schema declared on a model (API.md §19): `Column`, `ForeignKey`, `Index`, and the
table definition they give (`sql.ddl.TableDef`), which create_table() and
`twinrecord.migrations` both read.

Rule: declarations are checked here when the class is defined; what the table looks
like in a given database is `sql/ddl.py`'s business.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import annotated_types
from pydantic import TypeAdapter, ValidationError

from ..errors import ConfigurationError
from ..sql import ddl
from ..sql import types as t
from ._fields import default_table_name, field_metadata
from ._registry import all_models

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from ._core import RecordCore
    from ._meta import ModelMeta

D = TypeVar("D")

_COLUMN_OPTIONS = ("unique", "index", "name", "server_default", "max_length", "sql_type", "comment")


class Column(annotated_types.GroupedMetadata):
    """Column options, as `Annotated` metadata: `Annotated[str, Column(unique=True)]`."""

    __slots__ = _COLUMN_OPTIONS

    def __init__(
        self,
        unique: bool = False,
        index: bool = False,
        name: str | None = None,
        server_default: Any = None,
        max_length: int | None = None,
        sql_type: str | None = None,
        comment: str | None = None,
    ) -> None:
        if max_length is not None and (not isinstance(max_length, int) or max_length < 1):
            raise ConfigurationError(f"Column(max_length={max_length!r}): give a positive int")
        for option, value in (("name", name), ("sql_type", sql_type), ("comment", comment)):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"Column({option}={value!r}): give a non-empty str")
        self.unique = unique
        self.index = index
        self.name = name
        self.server_default = server_default
        self.max_length = max_length
        self.sql_type = sql_type
        self.comment = comment

    def __iter__(self) -> Iterator[Any]:
        # Pydantic validates the length too, as it would for Field(max_length=...).
        if self.max_length is not None:
            yield annotated_types.MaxLen(self.max_length)

    def __repr__(self) -> str:
        given = [f"{o}={getattr(self, o)!r}" for o in _COLUMN_OPTIONS if getattr(self, o)]
        return f"Column({', '.join(given)})"


class ForeignKey:
    """A foreign key on the column, as `Annotated` metadata:
    `Annotated[int, ForeignKey('users', on_delete='cascade')]`."""

    __slots__ = ("column", "on_delete", "on_update", "target")

    def __init__(
        self,
        target: Any,
        column: str | None = None,
        on_delete: str = "no action",
        on_update: str = "no action",
    ) -> None:
        if not isinstance(target, (str, type)) or not target:
            raise ConfigurationError(
                f"ForeignKey({target!r}): the target is a model class or a table name"
            )
        self.target: Any = target
        self.column = column
        self.on_delete = _action(on_delete, "on_delete")
        self.on_update = _action(on_update, "on_update")

    @property
    def target_table(self) -> str:
        if isinstance(self.target, str):
            return self.target
        return str(self.target._meta().table)

    def target_column(self) -> str:
        if self.column is not None:
            return self.column
        target: Any = self.target
        if isinstance(target, str):
            target = _model_of_table(target)
        if target is None:
            return "id"
        meta = target._meta()
        if len(meta.primary_key) != 1:
            raise ConfigurationError(
                f"ForeignKey({target.__name__}): its primary key {meta.primary_key} has "
                "several columns; a foreign key column points at one: give column="
            )
        return str(meta.sql_column(meta.primary_key[0]))

    def __repr__(self) -> str:
        target = self.target if isinstance(self.target, str) else self.target.__name__
        return f"ForeignKey({target!r}, on_delete={self.on_delete!r})"


class Index:
    """An index of `__indexes__`: `Index('user_id', 'created_at')`,
    `Index('slug', unique=True, where='deleted_at IS NULL')` (partial)."""

    __slots__ = ("columns", "name", "unique", "where")

    def __init__(
        self, *columns: str, unique: bool = False, name: str | None = None, where: str | None = None
    ) -> None:
        if not columns or not all(isinstance(c, str) and c for c in columns):
            raise ConfigurationError(f"Index{columns!r}: name one or more fields")
        if where is not None and (not isinstance(where, str) or "?" in where):
            raise ConfigurationError(
                f"Index(where={where!r}): a SQL condition without parameters (no `?`)"
            )
        self.columns = columns
        self.unique = unique
        self.name = name
        self.where = where

    def __repr__(self) -> str:
        return f"Index{self.columns!r}"


def _action(value: str, option: str) -> str:
    normal = " ".join(str(value).lower().replace("_", " ").split())
    if normal not in ddl.FK_ACTIONS:
        raise ConfigurationError(
            f"ForeignKey({option}={value!r}): use one of "
            + ", ".join(repr(a) for a in ddl.FK_ACTIONS)
        )
    return normal


def _model_of_table(table: str) -> type[RecordCore] | None:
    """A model whose table is `table` (the most recently defined one), or None."""
    found = None
    for model in all_models():
        name = model.__dict__.get("__table_name__") or default_table_name(model.__name__)
        if name == table and model.model_fields:
            found = model
    return found


def declared(metadata: list[object], kind: type[D]) -> D | None:
    for item in metadata:
        if isinstance(item, kind):
            return item
    return None


def check_declarations(model: type[RecordCore]) -> None:
    """Refuse, when the class is defined, indexes over columns the model lacks."""
    fields = model.model_fields
    names = {_column_name(n, f) for n, f in fields.items()} | set(fields)
    for index in getattr(model, "__indexes__", ()) or ():
        if not isinstance(index, Index):
            raise ConfigurationError(
                f"{model.__name__}.__indexes__ holds {index!r}; give Index(...) objects"
            )
        missing = [c for c in index.columns if c not in names]
        if missing:
            raise ConfigurationError(
                f"{model.__name__}.__indexes__: {index!r} names {', '.join(missing)}, "
                f"which {'is not a field' if len(missing) == 1 else 'are not fields'}; "
                f"its fields are: {', '.join(fields)}"
            )
    for name, field in fields.items():
        column = declared(field_metadata(field), Column)
        if column is not None and column.server_default is not None:
            server_default(model.__name__, name, field, column.server_default)


def _column_name(name: str, field: FieldInfo) -> str:
    column = declared(field_metadata(field), Column)
    return column.name if column is not None and column.name else name


def column_names(model: type[RecordCore]) -> dict[str, str]:
    """Field name -> database column name."""
    return {name: _column_name(name, f) for name, f in model.model_fields.items()}


def server_default(model: str, name: str, field: Any, value: object) -> object:
    """A server default checked against the field's type (or SQL, kept as written)."""
    sql = getattr(value, "sql", None)
    if isinstance(sql, str) and not isinstance(value, (str, bytes)):
        if getattr(value, "params", ()):
            raise ConfigurationError(
                f"{model}.{name}: a server_default SQL takes no parameters; got {value!r}"
            )
        return t.SqlDefault(sql)
    try:
        return TypeAdapter(field.annotation).validate_python(value)
    except ValidationError as error:
        raise ConfigurationError(
            f"{model}.{name}: server_default {value!r} is not a valid value of the field's "
            f"type ({error.errors()[0]['msg']}); give a literal of that type, or raw('SQL')"
        ) from None


def table_definition(meta: ModelMeta) -> ddl.TableDef:
    """The table create_table() makes for a model (registered for error messages)."""
    model = meta.model
    table = meta.table
    columns = []
    uniques: list[ddl.UniqueDef] = []
    indexes: list[ddl.IndexDef] = []
    foreign_keys: list[ddl.ForeignKeyDef] = []
    given: set[str] = set()
    for name, field in model.model_fields.items():
        metadata = field_metadata(field)
        column = declared(metadata, Column) or Column()
        sql_name = meta.sql_column(name)
        default = None
        if column.server_default is not None:
            default = server_default(meta.name, name, field, column.server_default)
        columns.append(
            t.ColumnDef(
                sql_name,
                meta.types[name],
                meta.nullable[name],
                auto_increment=(name == meta.auto_key),
                default=default,
                comment=column.comment,
                sql_type=column.sql_type,
            )
        )
        if column.unique:
            uniques.append(ddl.UniqueDef(ddl.index_name(table, (sql_name,), True), (sql_name,)))
        if column.index:
            indexes.append(ddl.IndexDef(ddl.index_name(table, (sql_name,)), (sql_name,)))
        foreign = declared(metadata, ForeignKey)
        if foreign is not None:
            target = foreign.target_table
            foreign_keys.append(
                ddl.ForeignKeyDef(
                    ddl.foreign_key_name(table, sql_name, target),
                    sql_name,
                    target,
                    foreign.target_column(),
                    foreign.on_delete,
                    foreign.on_update,
                )
            )
    for index in getattr(model, "__indexes__", ()) or ():
        sql_columns = tuple(meta.sql_column(c) for c in index.columns)
        index_name = index.name or ddl.index_name(table, sql_columns, index.unique)
        if index.name:
            given.add(index.name)
        indexes.append(ddl.IndexDef(index_name, sql_columns, index.unique, index.where))
    definition = ddl.TableDef(
        table,
        tuple(columns),
        tuple(meta.sql_column(k) for k in meta.primary_key),
        tuple(uniques),
        tuple(indexes),
        tuple(foreign_keys),
        frozenset(given),
    )
    return definition


__all__ = ["Column", "ForeignKey", "Index", "table_definition"]
