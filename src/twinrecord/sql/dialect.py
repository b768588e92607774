"""Dialects: plain data (and pure functions) describing one database's SQL.

A dialect is handed to the compiler at compile time, so one query description
compiles for any database. Value conversion to and from driver values is here too,
keyed by column type, so it is computed once per (model, dialect).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from functools import lru_cache
from typing import Any
from uuid import UUID as PyUUID

from ..errors import ConfigurationError
from . import types as t
from .placeholders import prepare

Converter = Callable[[Any], Any]

SQLITE_DECIMAL_COLLATION = "twinrecord_decimal"
ISOLATION_LEVELS = ("READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE")
SQLITE_LOCKING_MODES = ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")


def _utc(value: datetime) -> datetime:
    """An aware datetime in UTC; a naive one read back for an aware field is taken as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_naive(value: datetime) -> datetime:
    """What a datetime column stores (API.md §8): a naive value as written, an aware one
    converted to UTC, in Python, so no session time zone ever shifts the instant."""
    zone = value.tzinfo
    if zone is None:
        return value
    if zone is not UTC:
        value = value.astimezone(UTC)
    # The constructor, not replace(tzinfo=None): half the cost of its keyword parsing.
    return datetime(
        value.year, value.month, value.day,
        value.hour, value.minute, value.second, value.microsecond,
    )


def _text_naive(value: str) -> datetime:
    """A plain datetime read from SQLite text; one stored with an offset (before 0.2)
    comes back as naive UTC too."""
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is None else moment.astimezone(UTC).replace(tzinfo=None)


def _json_dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _json_loads(value: object) -> object:
    return json.loads(value) if isinstance(value, (str, bytes, bytearray)) else value


# The text of the last whole second written (a timestamped save or a bulk insert
# writes the same second over and over): ((second, minute, hour, day, month, year),
# "YYYY-MM-DD HH:MM:SS."), swapped as one tuple so threads never see half of it.
_last_second: tuple[tuple[int, ...], str] = ((), "")


def _text_datetime(value: datetime) -> str:
    # Naive UTC at a fixed width keeps text order equal to time order, for WHERE,
    # ORDER BY and MIN/MAX, whether the column or the value was aware or not. Written
    # as isoformat(sep=" ", timespec="microseconds") of the naive UTC value would be,
    # from the cached second and the microseconds (a quarter of isoformat's cost).
    global _last_second
    zone = value.tzinfo
    if zone is not None and zone is not UTC:
        value = value.astimezone(UTC)
    second = (value.second, value.minute, value.hour, value.day, value.month, value.year)
    last = _last_second
    if last[0] != second:
        whole = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second)
        last = _last_second = (second, whole.isoformat(sep=" ") + ".")
    return last[1] + str(1000000 + value.microsecond)[1:]


def _text_time(value: time) -> str:
    return value.isoformat(timespec="microseconds")


def _enum_value(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def _time_of_day(value: object) -> object:
    """MySQL drivers return TIME as a timedelta (TIME is also a duration type)."""
    return (datetime.min + value).time() if isinstance(value, timedelta) else value


def _exact_decimal(value: object) -> Decimal:
    """A Decimal of undeclared scale in its shortest form: no zeros after the point, no
    exponent (API.md §8). MySQL's DECIMAL(38,10) pads every value to ten places and
    cannot keep the scale it was written with, so every database reads it this way."""
    number = value if isinstance(value, Decimal) else Decimal(str(value))
    sign, digits, exponent = number.as_tuple()
    if not isinstance(exponent, int):
        return number  # NaN / Infinity
    if not number:
        return Decimal(0)
    if exponent > 0:  # 1E+2 (text on SQLite) -> 100
        return Decimal((sign, digits + (0,) * exponent, 0))
    kept = list(digits)
    while exponent < 0 and len(kept) > 1 and kept[-1] == 0:
        kept.pop()
        exponent += 1
    return Decimal((sign, tuple(kept), exponent))


@dataclass(frozen=True, eq=False)  # hashed by identity: a cache key
class Dialect:
    name: str
    paramstyle: str  # 'qmark' or 'format'
    identifier_quote: str
    supports_returning: bool
    backslash_escapes: bool = False
    max_params: int = 32766
    ddl_types: dict[str, str] = field(default_factory=dict)
    readers: dict[str, Converter] = field(default_factory=dict)
    writers: dict[str, Converter] = field(default_factory=dict)
    param_adapters: dict[type, Converter] = field(default_factory=dict)
    # Aggregate functions replaced for Decimal columns (SQLite stores them as exact text).
    decimal_aggregates: dict[str, str] = field(default_factory=dict)
    # Where statements differ in shape, the compiler reads these, never the name
    # (Peewee's `limit_max` and friends). The defaults are PostgreSQL's, the standard's.
    native_nulls_order: bool = True  # NULLS FIRST / LAST understood (else emulated)
    row_lock: str = " FOR UPDATE"  # what SELECT ... FOR UPDATE appends
    offset_only: str = " OFFSET ?"  # OFFSET without a LIMIT
    empty_insert: str = " DEFAULT VALUES"  # an INSERT of a row with no column given
    # Streams (API.md §14): the transaction a stream of its own opens first (PostgreSQL's
    # named cursors live in one), and whether an unread result blocks its connection.
    stream_begin: str | None = None
    stream_cursor: str = "{sql}"  # the statement that opens a stream's cursor
    stream_blocks_connection: bool = False
    # A plain INSERT asks for its generated keys with RETURNING (else the driver's
    # last-insert id gives them).
    insert_returns_keys: bool = True
    # A large plain INSERT may send one array parameter per column (sql/bulk.py's
    # ArrayInsert: `SELECT * FROM unnest(...)`) instead of one parameter per value.
    array_insert: bool = False

    # ---- identifiers and placeholders -------------------------------------------------
    def quote(self, identifier: str) -> str:
        return _quote(identifier, self.identifier_quote)

    def prepare(self, sql: str) -> tuple[str, int]:
        """Driver SQL and placeholder count for SQL written with `?`."""
        return prepare(sql, self.paramstyle, self.backslash_escapes)

    # ---- values -------------------------------------------------------------------------
    def reader(self, column: t.ColumnType) -> Converter | None:
        """Driver value -> Python value for a column, or None when nothing is needed."""
        if column.kind == t.ENUM:
            enum_type = column.python_type
            return lambda value: enum_type(value)
        if column.kind == t.DECIMAL and column.decimal_places is not None:
            base = self.readers.get(t.DECIMAL)
            return _quantizing_reader(column.decimal_places, base)
        return self.readers.get(column.kind)

    def writer(self, column: t.ColumnType) -> Converter | None:
        """Python value -> driver value for a column, or None when the driver takes it."""
        if column.kind == t.ENUM:
            return _enum_value
        return self.writers.get(column.kind)

    def adapt_param(self, value: object) -> object:
        """Adapt a free parameter (raw SQL, WHERE values) by its Python type."""
        adapter = self.param_adapters.get(type(value))
        if adapter is not None:
            return adapter(value)
        if isinstance(value, Enum):
            return self.adapt_param(value.value)
        return value

    def adapt_params(self, params: Sequence[object]) -> list[object]:
        adapters = self.param_adapters
        return [
            value
            if (type(value) not in adapters and not isinstance(value, Enum))
            else self.adapt_param(value)
            for value in params
        ]

    # ---- transactions -------------------------------------------------------------------
    def begin_statements(self, isolation_level: str | None) -> list[str]:
        level = normalize_isolation(isolation_level, self.name)
        if level is None:
            return ["BEGIN"]
        return [f"BEGIN ISOLATION LEVEL {level}"]

    def savepoint(self, name: str) -> str:
        return f"SAVEPOINT {name}"

    def release_savepoint(self, name: str) -> str:
        return f"RELEASE SAVEPOINT {name}"

    def rollback_to_savepoint(self, name: str) -> str:
        return f"ROLLBACK TO SAVEPOINT {name}"


def normalize_isolation(level: str | None, dialect_name: str) -> str | None:
    """Upper-cased, validated isolation level (SQLite also takes its locking modes)."""
    if level is None:
        return None
    normal = " ".join(str(level).upper().replace("_", " ").split())
    allowed = ISOLATION_LEVELS + (SQLITE_LOCKING_MODES if dialect_name == "sqlite" else ())
    if normal not in allowed:
        raise ConfigurationError(
            f"unknown isolation level {level!r} for {dialect_name}; use one of "
            + ", ".join(repr(name) for name in allowed)
        )
    return normal


@lru_cache(maxsize=8192)
def _quote(identifier: str, quote: str) -> str:
    if identifier == "*":
        return identifier
    return ".".join(
        part if part == "*" else quote + part.replace(quote, quote * 2) + quote
        for part in identifier.split(".")
    )


def _quantizing_reader(places: int, base: Converter | None) -> Converter:
    exponent = Decimal(1).scaleb(-places)

    def read(value: object) -> Decimal:
        number = base(value) if base is not None else value
        if not isinstance(number, Decimal):
            number = Decimal(str(number))
        return number.quantize(exponent)

    return read


class SQLiteDialect(Dialect):
    def begin_statements(self, isolation_level: str | None) -> list[str]:
        level = normalize_isolation(isolation_level, self.name)
        # SQLite transactions are always serializable; the SQL levels are accepted as such.
        if level in SQLITE_LOCKING_MODES:
            return [f"BEGIN {level}"]
        # IMMEDIATE by default (as Rails does): a DEFERRED transaction that reads and then
        # writes fails at once with "database is locked" when another writer got in first;
        # taking the write lock at BEGIN makes writers queue (busy_timeout) instead.
        return ["BEGIN IMMEDIATE"]


class MySQLDialect(Dialect):
    def begin_statements(self, isolation_level: str | None) -> list[str]:
        level = normalize_isolation(isolation_level, self.name)
        if level is None:
            return ["START TRANSACTION"]
        return [f"SET TRANSACTION ISOLATION LEVEL {level}", "START TRANSACTION"]



SQLITE = SQLiteDialect(
    name="sqlite",
    paramstyle="qmark",
    identifier_quote='"',
    supports_returning=True,
    # sqlite3's lastrowid gives the keys (one statement's are consecutive), and an
    # INSERT with RETURNING costs sqlite3 twice as much as one without.
    insert_returns_keys=False,
    max_params=32766,
    row_lock="",  # SQLite locks the whole database anyway
    offset_only=" LIMIT -1 OFFSET ?",
    ddl_types={
        t.INT: "INTEGER",
        t.STR: "TEXT",
        t.BOOL: "BOOLEAN",
        t.FLOAT: "REAL",
        # Exact text, compared by value (ORDER BY, <, =, MIN/MAX, indexes) through a
        # collation every connection registers (backends/sqlite.py).
        t.DECIMAL: f"TEXT COLLATE {SQLITE_DECIMAL_COLLATION}",
        t.DATETIME: "TEXT",
        t.DATETIME_TZ: "TEXT",
        t.DATE: "TEXT",
        t.TIME: "TEXT",
        t.UUID: "TEXT",
        t.BYTES: "BLOB",
        t.JSON: "TEXT",
    },
    readers={
        t.BOOL: bool,
        t.DECIMAL: _exact_decimal,
        t.DATETIME: _text_naive,
        t.DATETIME_TZ: lambda v: _utc(datetime.fromisoformat(v)),
        t.DATE: date.fromisoformat,
        t.TIME: time.fromisoformat,
        t.UUID: PyUUID,
        t.JSON: _json_loads,
    },
    writers={
        t.DECIMAL: str,
        t.DATETIME: _text_datetime,
        t.DATETIME_TZ: _text_datetime,
        t.DATE: date.isoformat,
        t.TIME: _text_time,
        t.UUID: str,
        t.JSON: _json_dumps,
    },
    decimal_aggregates={
        "SUM": "twinrecord_decimal_sum",
        "AVG": "twinrecord_decimal_avg",
        "MIN": "twinrecord_decimal_min",
        "MAX": "twinrecord_decimal_max",
    },
    param_adapters={
        Decimal: str,
        datetime: _text_datetime,
        date: date.isoformat,
        time: _text_time,
        PyUUID: str,
        dict: _json_dumps,
    },
)

POSTGRES = Dialect(
    name="postgresql",
    paramstyle="format",
    identifier_quote='"',
    supports_returning=True,
    max_params=65535,
    array_insert=True,
    stream_begin="BEGIN READ ONLY",
    stream_cursor='DECLARE "{name}" NO SCROLL CURSOR WITHOUT HOLD FOR {sql}',
    ddl_types={
        t.INT: "BIGINT",
        t.STR: "TEXT",
        t.BOOL: "BOOLEAN",
        t.FLOAT: "DOUBLE PRECISION",
        t.DECIMAL: "NUMERIC",
        t.DATETIME: "TIMESTAMP(6)",
        t.DATETIME_TZ: "TIMESTAMPTZ(6)",
        t.DATE: "DATE",
        t.TIME: "TIME(6)",
        t.UUID: "UUID",
        t.BYTES: "BYTEA",
        t.JSON: "JSONB",
    },
    readers={
        t.DATETIME_TZ: _utc,
        t.JSON: _json_loads,
        t.BYTES: bytes,
        t.DECIMAL: _exact_decimal,
    },
    # timestamptz takes aware values as they are; a plain timestamp gets naive UTC.
    writers={t.DATETIME: _utc_naive, t.JSON: _json_dumps},
    param_adapters={dict: _json_dumps},
)

MYSQL = MySQLDialect(
    name="mysql",
    paramstyle="format",
    identifier_quote="`",
    supports_returning=False,
    insert_returns_keys=False,
    backslash_escapes=True,
    max_params=65535,
    native_nulls_order=False,
    offset_only=" LIMIT 18446744073709551615 OFFSET ?",  # MySQL needs a LIMIT: the largest
    empty_insert=" () VALUES ()",
    stream_blocks_connection=True,
    ddl_types={
        t.INT: "BIGINT",
        t.STR: "LONGTEXT",
        t.BOOL: "BOOLEAN",
        t.FLOAT: "DOUBLE",
        t.DECIMAL: "DECIMAL(38,10)",
        t.DATETIME: "DATETIME(6)",
        t.DATETIME_TZ: "DATETIME(6)",
        t.DATE: "DATE",
        t.TIME: "TIME(6)",
        t.UUID: "CHAR(36)",
        t.BYTES: "LONGBLOB",
        t.JSON: "JSON",
    },
    readers={
        t.BOOL: bool,
        t.DATETIME_TZ: _utc,
        t.UUID: PyUUID,
        t.JSON: _json_loads,
        t.BYTES: bytes,
        t.TIME: _time_of_day,
        t.DECIMAL: _exact_decimal,
    },
    writers={
        t.DATETIME: _utc_naive,
        t.DATETIME_TZ: _utc_naive,
        t.UUID: str,
        t.JSON: _json_dumps,
    },
    param_adapters={datetime: _utc_naive, PyUUID: str, dict: _json_dumps},
)

DIALECTS = {d.name: d for d in (SQLITE, POSTGRES, MYSQL)}
