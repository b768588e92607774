"""The schema of a table, per dialect: column types, literals for server defaults,
deterministic constraint names, and the CREATE / DROP statements built from them.

Rule: every fact about how a table looks in a database lives here (or in the
dialects' `ddl_types`), so `create_table()` and `twinrecord.migrations` read the same
answers and cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from ..errors import ConfigurationError, FeatureNotSupported
from . import types as t
from .dialect import Dialect

# Longest identifier each server takes (SQLite has no limit).
NAME_LIMITS = {"postgresql": 63, "mysql": 64}
# Databases whose DDL runs inside a transaction (MySQL commits before each DDL statement).
TRANSACTIONAL_DDL = frozenset({"sqlite", "postgresql"})
FK_ACTIONS = ("no action", "restrict", "cascade", "set null", "set default")


# ---- the table, as declared ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UniqueDef:
    """A UNIQUE constraint (`Column(unique=True)`)."""

    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class IndexDef:
    """An index (`Column(index=True)`, `__indexes__`); `where` makes it partial."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    where: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKeyDef:
    name: str
    column: str
    target_table: str
    target_column: str
    on_delete: str = "no action"
    on_update: str = "no action"


@dataclass(frozen=True, slots=True)
class TableDef:
    """Everything create_table() makes. Constraint names are the full names; `names()`
    gives them as a given database stores them (cut to its limit)."""

    name: str
    columns: tuple[t.ColumnDef, ...]
    primary_key: tuple[str, ...]
    uniques: tuple[UniqueDef, ...] = ()
    indexes: tuple[IndexDef, ...] = ()
    foreign_keys: tuple[ForeignKeyDef, ...] = ()
    # Names the user chose (kept as written, never cut).
    given_names: frozenset[str] = frozenset()

    def fit(self, name: str, dialect: Dialect | str) -> str:
        return name if name in self.given_names else fit_name(name, dialect)

    def keyed(self) -> tuple[IndexDef | UniqueDef, ...]:
        """The indexes and unique constraints (each indexes its columns)."""
        return (*self.indexes, *self.uniques)

    def primary_key_name(self, dialect: Dialect | str) -> str:
        return fit_name(f"pk_{self.name}", dialect)


# ---- names ------------------------------------------------------------------------------
def _dialect_name(dialect: Dialect | str) -> str:
    return dialect if isinstance(dialect, str) else dialect.name


def fit_name(name: str, dialect: Dialect | str) -> str:
    """`name` cut to the database's identifier limit, ending in an 8-hex-digit hash of
    the full name when it had to be cut (so two long names never collide)."""
    limit = NAME_LIMITS.get(_dialect_name(dialect))
    if limit is None or len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    return f"{name[: limit - 9]}_{digest}"


def index_name(table: str, columns: Sequence[str], unique: bool = False) -> str:
    return f"{'uq' if unique else 'ix'}_{table}_{'_'.join(columns)}"


def foreign_key_name(table: str, column: str, target_table: str) -> str:
    return f"fk_{table}_{column}_{target_table}"


# ---- what errors need: names from what the database reports ---------------------------------
# `known` maps table names to the definitions create_table() used on one backend (the
# backend keeps it), so two applications in one process with a table of the same name
# never answer for each other.
KnownTables = Mapping[str, TableDef]


def unique_name_for(
    table: str,
    columns: Sequence[str],
    primary_key: bool,
    dialect: Dialect | str,
    known_tables: KnownTables,
) -> str:
    """The name of the unique constraint (or key) of `table` over `columns`."""
    known = known_tables.get(table)
    if primary_key:
        return fit_name(f"pk_{table}", dialect)
    wanted = tuple(columns)
    if known is not None:
        if set(wanted) == set(known.primary_key):
            return known.primary_key_name(dialect)
        for unique in known.uniques:
            if set(unique.columns) == set(wanted):
                return known.fit(unique.name, dialect)
        for index in known.indexes:
            if index.unique and set(index.columns) == set(wanted):
                return known.fit(index.name, dialect)
    return fit_name(index_name(table, wanted, unique=True), dialect)


def foreign_key_name_for(
    tables: Iterable[str], dialect: Dialect | str, known_tables: KnownTables
) -> str | None:
    """The one foreign key a statement on `tables` can have violated (its own, or one
    pointing at it), or None when there are several candidates or none."""
    names: set[str] = set()
    for table in tables:
        known = known_tables.get(table)
        if known is not None:
            names.update(known.fit(fk.name, dialect) for fk in known.foreign_keys)
        for other in known_tables.values():
            names.update(
                other.fit(fk.name, dialect) for fk in other.foreign_keys if fk.target_table == table
            )
    return names.pop() if len(names) == 1 else None


_STATEMENT_TABLE = re.compile(
    r"^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+"
    r"(?:[`\"]((?:[^`\"]|``|\"\")+)[`\"]|(\w+))",
    re.IGNORECASE,
)


def statement_table(sql: str) -> str | None:
    """The table an INSERT / UPDATE / DELETE writes to."""
    match = _STATEMENT_TABLE.match(sql)
    if match is None:
        return None
    return match.group(1) or match.group(2)


# ---- types and literals -----------------------------------------------------------------
def column_type_sql(column: t.ColumnType, dialect: Dialect, is_key: bool = False) -> str:
    kind = column.kind
    if kind == t.STR and column.max_length is None and is_key and dialect.name == "mysql":
        return "VARCHAR(255)"  # MySQL cannot index TEXT without a length
    if kind == t.ENUM:
        if column.enum_is_int:
            return dialect.ddl_types[t.INT]
        return f"VARCHAR({max(t.ENUM_MIN_LENGTH, column.enum_max_length)})"
    if kind == t.STR and column.max_length is not None:
        return f"VARCHAR({column.max_length})"
    if kind == t.DECIMAL and column.max_digits is not None and column.decimal_places is not None:
        if dialect.name == "sqlite":
            return dialect.ddl_types[t.DECIMAL]  # text keeps every digit
        return f"DECIMAL({column.max_digits},{column.decimal_places})"
    return dialect.ddl_types[kind]


def definition_type_sql(column: t.ColumnDef, dialect: Dialect, indexed: bool = False) -> str:
    """The column's type as created: `sql_type` verbatim, else the kind's type."""
    if column.sql_type is not None:
        return column.sql_type
    return column_type_sql(column.type, dialect, indexed)


def default_sql(column: t.ColumnDef, dialect: Dialect) -> str | None:
    """The column's server default as SQL text, or None when it has none."""
    value = column.default
    if value is None:
        return None
    if isinstance(value, t.SqlDefault):
        return value.sql
    writer = dialect.writer(column.type)
    stored = writer(value) if writer is not None else value
    return literal_sql(stored, dialect)


def literal_sql(value: Any, dialect: Dialect) -> str:
    """A driver value as a SQL literal (DDL takes no bound parameters)."""
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        if dialect.name == "postgresql":
            return "true" if value else "false"
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigurationError(f"server_default {value!r} has no SQL literal")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ConfigurationError(f"server_default {value!r} has no SQL literal")
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        hexed = bytes(value).hex()
        return f"'\\x{hexed}'" if dialect.name == "postgresql" else f"X'{hexed}'"
    if isinstance(value, datetime):
        text: str = value.isoformat(sep=" ")
    elif isinstance(value, (date, time)):
        text = value.isoformat()
    elif isinstance(value, UUID):
        text = str(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, str):
        text = value
    else:
        raise ConfigurationError(f"server_default {value!r}: no SQL literal for this type")
    return quote_string(text, dialect)


def quote_string(text: str, dialect: Dialect) -> str:
    text = text.replace("'", "''")
    if dialect.backslash_escapes:
        text = text.replace("\\", "\\\\")
    return f"'{text}'"


# ---- statements -------------------------------------------------------------------------
def create_table_statements(
    table: TableDef, dialect: Dialect, if_not_exists: bool = True
) -> list[str]:
    """CREATE TABLE with keys, unique constraints, foreign keys, defaults and comments,
    then the comments and indexes the database takes as separate statements."""
    check_supported(table, dialect)
    q = dialect.quote
    lines = [_column_sql(c, table, dialect) for c in table.columns]
    inline_key = any(c.auto_increment for c in table.columns) and dialect.name == "sqlite"
    if table.primary_key and not inline_key:
        columns = ", ".join(q(c) for c in table.primary_key)
        lines.append(f"CONSTRAINT {q(table.primary_key_name(dialect))} PRIMARY KEY ({columns})")
    for unique in table.uniques:
        columns = ", ".join(q(c) for c in unique.columns)
        lines.append(f"CONSTRAINT {q(table.fit(unique.name, dialect))} UNIQUE ({columns})")
    for fk in table.foreign_keys:
        lines.append(_foreign_key_sql(fk, table, dialect))
    if dialect.name == "mysql":  # MySQL 8 has no CREATE INDEX IF NOT EXISTS: inline them
        for index in indexes_of(table, dialect):
            columns = ", ".join(q(c) for c in index.columns)
            kind = "UNIQUE INDEX" if index.unique else "INDEX"
            lines.append(f"{kind} {q(table.fit(index.name, dialect))} ({columns})")
    exists = "IF NOT EXISTS " if if_not_exists else ""
    body = ",\n  ".join(lines)
    statements = [f"CREATE TABLE {exists}{q(table.name)} (\n  {body}\n)"]
    if dialect.name == "postgresql":
        for column in table.columns:
            if column.comment is not None:
                statements.append(
                    f"COMMENT ON COLUMN {q(table.name)}.{q(column.name)} IS "
                    + quote_string(column.comment, dialect)
                )
    if dialect.name != "mysql":
        statements.extend(create_index_sql(table, index, dialect, if_not_exists)
                          for index in table.indexes)
    return statements


def indexes_of(table: TableDef, dialect: Dialect | str) -> tuple[IndexDef, ...]:
    """The table's indexes on this database. MySQL needs an index under every foreign
    key column and makes one itself, named after the constraint, that outlives the
    constraint when a migration drops it; so twinrecord declares it, named like any
    other index (`ix_<table>_<column>`), unless another index already leads with it."""
    if _dialect_name(dialect) != "mysql":
        return table.indexes
    leading = {table.primary_key[0]} if table.primary_key else set()
    leading.update(i.columns[0] for i in table.keyed())
    extra = tuple(
        IndexDef(index_name(table.name, (fk.column,)), (fk.column,))
        for fk in table.foreign_keys
        if fk.column not in leading
    )
    return table.indexes + extra


def check_supported(table: TableDef, dialect: Dialect) -> None:
    """Refuse what this database cannot make, before anything is sent."""
    if dialect.name == "mysql":
        for index in table.indexes:
            if index.where is not None:
                raise FeatureNotSupported(
                    f"index {index.name!r} on {table.name!r} is partial (where="
                    f"{index.where!r}); MySQL and MariaDB have no partial indexes. Drop "
                    "`where`, or enforce the rule another way (a generated column)"
                )


def create_index_sql(
    table: TableDef, index: IndexDef, dialect: Dialect, if_not_exists: bool = True
) -> str:
    q = dialect.quote
    columns = ", ".join(q(c) for c in index.columns)
    unique = "UNIQUE " if index.unique else ""
    exists = "IF NOT EXISTS " if if_not_exists else ""
    name = q(table.fit(index.name, dialect))
    sql = f"CREATE {unique}INDEX {exists}{name} ON {q(table.name)} ({columns})"
    if index.where is not None:
        sql += f" WHERE {index.where}"
    return sql


def column_sql_type(table: TableDef, column: t.ColumnDef, dialect: Dialect) -> str:
    """A column's type exactly as create_table() writes it (migrations read it too)."""
    if column.auto_increment:
        return "INTEGER" if dialect.name == "sqlite" else "BIGINT"
    indexed = column.name in table.primary_key or any(
        column.name in c.columns for c in table.keyed()
    )
    return definition_type_sql(column, dialect, indexed)


def _column_sql(column: t.ColumnDef, table: TableDef, dialect: Dialect) -> str:
    q = dialect.quote
    name = q(column.name)
    type_sql = column_sql_type(table, column, dialect)
    if column.auto_increment:
        if dialect.name == "sqlite":
            pk = q(table.primary_key_name(dialect))
            return f"{name} {type_sql} NOT NULL CONSTRAINT {pk} PRIMARY KEY AUTOINCREMENT"
        if dialect.name == "mysql":
            sql = f"{name} {type_sql} NOT NULL AUTO_INCREMENT"
        else:
            sql = f"{name} {type_sql} GENERATED BY DEFAULT AS IDENTITY"
    else:
        sql = f"{name} {type_sql}"
        if not column.nullable or column.name in table.primary_key:
            sql += " NOT NULL"
        default = default_sql(column, dialect)
        if default is not None:
            sql += f" DEFAULT {default}"
    if column.comment is not None and dialect.name == "mysql":
        sql += " COMMENT " + quote_string(column.comment, dialect)
    return sql


def _foreign_key_sql(fk: ForeignKeyDef, table: TableDef, dialect: Dialect) -> str:
    q = dialect.quote
    sql = (
        f"CONSTRAINT {q(table.fit(fk.name, dialect))} FOREIGN KEY ({q(fk.column)}) "
        f"REFERENCES {q(fk.target_table)} ({q(fk.target_column)})"
    )
    if fk.on_delete != "no action":
        sql += f" ON DELETE {fk.on_delete.upper()}"
    if fk.on_update != "no action":
        sql += f" ON UPDATE {fk.on_update.upper()}"
    return sql


def create_table_sql(
    table: str,
    columns: Sequence[t.ColumnDef],
    primary_key: Sequence[str],
    dialect: Dialect,
    if_not_exists: bool = True,
) -> str:
    """The CREATE TABLE of a table with columns and a key only."""
    definition = TableDef(table, tuple(columns), tuple(primary_key))
    return create_table_statements(definition, dialect, if_not_exists)[0]


def drop_table_sql(table: str, dialect: Dialect, if_exists: bool = True) -> str:
    exists = "IF EXISTS " if if_exists else ""
    return f"DROP TABLE {exists}{dialect.quote(table)}"
