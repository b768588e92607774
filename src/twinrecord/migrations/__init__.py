"""Migrations with Alembic (API.md §20): the models' tables as a `sqlalchemy.MetaData`.

This is the only part of twinrecord that imports SQLAlchemy (installed with the
`migrations` extra); the ORM never does. The metadata is built from the very table
definitions and per-dialect DDL answers create_table() uses (`sql.ddl`), so Alembic
compares a database against exactly what create_table() would make.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from types import ModuleType
from typing import Any, TypeGuard
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

try:
    import sqlalchemy as sa
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "twinrecord.migrations needs Alembic and SQLAlchemy: "
        "pip install 'twinrecord[migrations]'"
    ) from error

from ..errors import ConfigurationError
from ..model._core import RecordCore
from ..sql import ddl
from ..sql.dialect import DIALECTS
from ..sql.types import ColumnDef
from ._order import order_operations
from ._types import Verbatim, sa_type

# What metadata() and models_in() take: model classes, modules, module names.
ModelSource = type[RecordCore] | ModuleType | str

# twinrecord URL scheme -> SQLAlchemy URL scheme (the sync drivers twinrecord uses).
URL_SCHEMES = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+mysqlconnector",
    "mariadb": "mysql+mysqlconnector",
}
# URL options the drivers themselves take; twinrecord's own (pool_size, ...) are dropped.
DRIVER_OPTIONS = {
    "postgresql": {"sslmode", "sslrootcert", "sslcert", "sslkey", "application_name",
                   "connect_timeout", "options", "target_session_attrs"},
    "mysql": {"ssl_disabled", "ssl_ca", "ssl_cert", "ssl_key", "charset", "collation",
              "unix_socket", "connection_timeout"},
    "sqlite": set(),
}


def database_url(url: str) -> str:
    """A twinrecord URL as SQLAlchemy spells it for the same (sync) driver."""
    scheme, _, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not rest or base not in URL_SCHEMES:
        raise ConfigurationError(
            f"not a twinrecord database URL: {url.split('@')[-1]!r}; expected "
            "sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db"
        )
    dialect = dialect_name(url)
    if dialect == "sqlite":  # sqlite:///relative.db, sqlite:////absolute.db, as they are
        return "sqlite://" + rest.partition("?")[0]
    parts = urlsplit(f"{URL_SCHEMES[base]}://{rest}")
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k in DRIVER_OPTIONS[dialect]]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def dialect_name(url: str) -> str:
    """'sqlite', 'postgresql' or 'mysql' for a twinrecord or SQLAlchemy URL."""
    base = url.partition(":")[0].split("+", 1)[0].lower()
    return {"postgres": "postgresql", "mariadb": "mysql"}.get(base, base)


def models_in(*models_or_modules: ModelSource) -> list[type[RecordCore]]:
    """The model classes given, and those found in the modules given (one per table)."""
    found: dict[str, type[RecordCore]] = {}
    for item in models_or_modules:
        for model in _models_of(item):
            found.setdefault(model._meta().table, model)
    return list(found.values())


def _models_of(item: ModelSource) -> Iterable[type[RecordCore]]:
    if isinstance(item, ModuleType):
        for value in vars(item).values():
            if _is_table_model(value):
                yield value
        return
    if isinstance(item, str):
        import importlib

        yield from _models_of(importlib.import_module(item))
        return
    if inspect.isclass(item) and issubclass(item, RecordCore):
        yield item
        return
    raise ConfigurationError(
        f"metadata() takes model classes and modules (or module names); got {item!r}"
    )


def _is_table_model(value: object) -> TypeGuard[type[RecordCore]]:
    """A model class with a table of its own (bases and mixins without a key are not)."""
    if not (inspect.isclass(value) and issubclass(value, RecordCore)) or not value.model_fields:
        return False
    try:
        value._meta()
    except ConfigurationError:
        return False
    return True


def metadata(*models_or_modules: ModelSource, dialect: str | None = None) -> sa.MetaData:
    """A MetaData describing exactly the tables create_table() makes for these models
    (classes, modules, or module names), on `dialect` ('postgresql', 'mysql' or
    'sqlite'; the generated env.py passes the connection's). Without a dialect the
    types are SQLAlchemy variants for all three, and long names are cut for PostgreSQL.
    """
    target = sa.MetaData()
    for model in models_in(*models_or_modules):
        table_metadata(model._meta().table_definition(), target, dialect)
    return target


def table_metadata(table: ddl.TableDef, target: sa.MetaData, dialect: str | None) -> sa.Table:
    """One table create_table() makes, in SQLAlchemy's terms."""
    names = dialect or "postgresql"
    sql_dialect = DIALECTS[names]
    if dialect is not None:
        ddl.check_supported(table, sql_dialect)
    items: list[sa.schema.SchemaItem] = [_column(table, c, dialect) for c in table.columns]
    items.append(sa.PrimaryKeyConstraint(*table.primary_key, name=table.primary_key_name(names)))
    for unique in table.uniques:
        items.append(sa.UniqueConstraint(*unique.columns, name=table.fit(unique.name, names)))
    for fk in table.foreign_keys:
        items.append(
            sa.ForeignKeyConstraint(
                [fk.column],
                [f"{fk.target_table}.{fk.target_column}"],
                name=table.fit(fk.name, names),
                ondelete=None if fk.on_delete == "no action" else fk.on_delete.upper(),
                onupdate=None if fk.on_update == "no action" else fk.on_update.upper(),
            )
        )
    for index in ddl.indexes_of(table, names):
        where: dict[str, Any] = {}
        if index.where is not None:
            where = {"postgresql_where": sa.text(index.where), "sqlite_where": sa.text(index.where)}
        items.append(
            sa.Index(table.fit(index.name, names), *index.columns, unique=index.unique, **where)
        )
    options: dict[str, Any] = {}
    if any(c.auto_increment for c in table.columns):
        options["sqlite_autoincrement"] = True
    return sa.Table(table.name, target, *items, **options)


def _column(
    table: ddl.TableDef, column: ColumnDef, dialect: str | None
) -> sa.Column[Any]:
    in_key = column.name in table.primary_key
    extra: list[sa.schema.SchemaItem] = []
    if column.auto_increment and dialect in (None, "postgresql"):
        extra.append(sa.Identity(always=False))
    default = None
    if not column.auto_increment:
        text = ddl.default_sql(column, DIALECTS[dialect or "postgresql"])
        default = None if text is None else sa.text(text)
    return sa.Column(
        column.name,
        _type(table, column, dialect),
        *extra,
        primary_key=in_key,
        nullable=column.nullable and not in_key,
        autoincrement=True if column.auto_increment else (False if in_key else "auto"),
        server_default=default,
        comment=column.comment,
    )


def _type(
    table: ddl.TableDef, column: ColumnDef, dialect: str | None
) -> Any:
    if dialect is not None:
        return sa_type(ddl.column_sql_type(table, column, DIALECTS[dialect]), dialect)
    base = sa_type(ddl.column_sql_type(table, column, DIALECTS["postgresql"]), "postgresql")
    for other in ("mysql", "sqlite"):
        variant = sa_type(ddl.column_sql_type(table, column, DIALECTS[other]), other)
        base = base.with_variant(variant, other)
    return base


__all__ = [
    "Verbatim",
    "database_url",
    "dialect_name",
    "metadata",
    "models_in",
    "order_operations",
]
