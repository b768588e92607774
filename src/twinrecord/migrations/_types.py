"""SQLAlchemy types for the DDL type strings create_table() writes.

The strings come from the same per-dialect tables create_table() uses
(`sql.ddl.column_sql_type`); this module only reads them, so a column's type in a
migration is the type create_table() made, by construction.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.types import UserDefinedType

Builder = Callable[[list[int]], Any]

_SHAPE = re.compile(r"^\s*([A-Za-z][A-Za-z ]*?)\s*(?:\(\s*([\d\s,]*)\))?\s*$")


def _one(args: list[int]) -> int | None:
    return args[0] if args else None


def _numeric(make: Callable[..., Any]) -> Builder:
    return lambda args: make(*args[:2]) if args else make()


_COMMON: dict[str, Builder] = {
    "integer": lambda a: sa.Integer(),
    "bigint": lambda a: sa.BigInteger(),
    "text": lambda a: sa.Text(),
    "boolean": lambda a: sa.Boolean(),
    "date": lambda a: sa.Date(),
    "varchar": lambda a: sa.String(_one(a)),
    "char": lambda a: sa.CHAR(_one(a)),
    "numeric": _numeric(sa.Numeric),
    "decimal": _numeric(sa.Numeric),
}

_BY_DIALECT: dict[str, dict[str, Builder]] = {
    "sqlite": {
        "real": lambda a: sa.REAL(),
        "blob": lambda a: sa.LargeBinary(),
        "float": lambda a: sa.Float(),
    },
    "postgresql": {
        "double precision": lambda a: postgresql.DOUBLE_PRECISION(),
        "real": lambda a: sa.REAL(),
        "timestamp": lambda a: postgresql.TIMESTAMP(precision=_one(a)),
        "timestamptz": lambda a: postgresql.TIMESTAMP(timezone=True, precision=_one(a)),
        "time": lambda a: postgresql.TIME(precision=_one(a)),
        "uuid": lambda a: postgresql.UUID(),
        "bytea": lambda a: postgresql.BYTEA(),
        "jsonb": lambda a: postgresql.JSONB(),
        "json": lambda a: postgresql.JSON(),
        "smallint": lambda a: sa.SmallInteger(),
    },
    "mysql": {
        "bigint": lambda a: mysql.BIGINT(),
        "integer": lambda a: mysql.INTEGER(),
        "longtext": lambda a: mysql.LONGTEXT(),
        "mediumtext": lambda a: mysql.MEDIUMTEXT(),
        "text": lambda a: mysql.TEXT(),
        "double": lambda a: mysql.DOUBLE(),
        "decimal": _numeric(mysql.DECIMAL),
        "numeric": _numeric(mysql.DECIMAL),
        "datetime": lambda a: mysql.DATETIME(fsp=_one(a)),
        "time": lambda a: mysql.TIME(fsp=_one(a)),
        "char": lambda a: mysql.CHAR(_one(a)),
        "varchar": lambda a: mysql.VARCHAR(_one(a)),
        "longblob": lambda a: mysql.LONGBLOB(),
        "json": lambda a: mysql.JSON(),
    },
}


class Verbatim(UserDefinedType[Any]):
    """A `Column(sql_type=...)` this module has no SQLAlchemy type for: written as given
    (Alembic then cannot compare it, and says so)."""

    cache_ok = True

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def get_col_spec(self, **kw: object) -> str:
        return self.sql

    def __repr__(self) -> str:
        return f"Verbatim({self.sql!r})"


def sa_type(type_sql: str, dialect: str) -> Any:
    """The SQLAlchemy type whose DDL on `dialect` is `type_sql`."""
    match = _SHAPE.match(type_sql)
    if match is not None:
        name = " ".join(match.group(1).lower().split())
        args = [int(a) for a in (match.group(2) or "").replace(" ", "").split(",") if a]
        builder = _BY_DIALECT[dialect].get(name) or _COMMON.get(name)
        if builder is not None:
            return builder(args)
    return Verbatim(type_sql)
