"""SQLite on the standard library's sqlite3 (sync only, by design).

Connections are pooled: each statement borrows one, a transaction pins one to its
thread or task. Any thread may use the backend; a connection is only ever used by
one thread at a time. File databases run in WAL mode with synchronous=NORMAL.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from ..errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    IntegrityError,
    RecordNotUnique,
    statement_invalid,
)
from ..sql.ddl import KnownTables, foreign_key_name_for, statement_table, unique_name_for
from ..sql.dialect import SQLITE, SQLITE_DECIMAL_COLLATION
from ._config import BaseConfig
from ._core import Row, SyncBackend, log
from .pools.sync import SyncPool

ASYNC_REFUSAL = (
    "SQLite has no asynchronous backend, by design: Python's sqlite3 has no native "
    "async API, and faking one with a thread pool adds overhead without non-blocking "
    "I/O. Use the synchronous model with SQLite (plain `def` code, or from async code "
    "where blocking briefly is acceptable), or configure PostgreSQL "
    "('postgresql://...') or MySQL ('mysql://...') for the async kind."
)


@dataclasses.dataclass(kw_only=True, repr=False)
class SQLiteConfig(BaseConfig):
    database: str = ":memory:"
    pragmas: dict[str, Any] = dataclasses.field(default_factory=dict)
    busy_timeout: float = 5.0  # seconds a writer waits for the database lock
    pool_size: int = 8

    @property
    def is_memory(self) -> bool:
        return self.database in ("", ":memory:") or "mode=memory" in self.database

    @classmethod
    def from_url(cls, url: str) -> SQLiteConfig:
        """sqlite:///relative.db, sqlite:////absolute.db, sqlite:///:memory:."""
        if not url.startswith("sqlite://"):
            raise ConfigurationError(f"not a sqlite URL: {url!r}")
        rest = url[len("sqlite://") :]
        path, _, query = rest.partition("?")
        path = path[1:] if path.startswith("/") else path
        from urllib.parse import parse_qsl

        options = dict(parse_qsl(query, keep_blank_values=True))
        config = cls.from_options(options, url)
        config.database = path or ":memory:"
        return config


class _DecimalSum:
    """SUM over Decimal text, exactly (SQLite's own SUM goes through floats)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None
        self.count = 0

    def step(self, value: object) -> None:
        if value is not None:
            self.total = (self.total or Decimal(0)) + Decimal(str(value))
            self.count += 1

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)


class _DecimalAvg(_DecimalSum):
    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total / self.count)


class _DecimalMin:
    """MIN over Decimal text by numeric value (text order would put '10' before '9')."""

    def __init__(self) -> None:
        self.best: Decimal | None = None

    def better(self, candidate: Decimal, best: Decimal) -> bool:
        return candidate < best

    def step(self, value: object) -> None:
        if value is not None:
            number = Decimal(str(value))
            if self.best is None or self.better(number, self.best):
                self.best = number

    def finalize(self) -> str | None:
        return None if self.best is None else str(self.best)


class _DecimalMax(_DecimalMin):
    def better(self, candidate: Decimal, best: Decimal) -> bool:
        return candidate > best


@lru_cache(maxsize=4096)
def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError, TypeError):
        return None


def compare_decimal_text(left: str, right: str) -> int:
    """The collation of Decimal columns: exact text compared by numeric value, so ORDER
    BY, comparisons with bound values and indexes follow numbers ('9.5' < '10.25').
    Equal values in other spellings ('1.0', '1.00') are equal, as NUMERIC is elsewhere;
    text that is not a number sorts after every number, as text."""
    a, b = _decimal(left), _decimal(right)
    if a is None or b is None:
        if a is None and b is None:
            return (left > right) - (left < right)
        return 1 if a is None else -1
    if a.is_nan() or b.is_nan():
        return int(a.compare_total(b))
    return (a > b) - (a < b)


DECIMAL_AGGREGATES: dict[str, type] = {
    "twinrecord_decimal_sum": _DecimalSum,
    "twinrecord_decimal_avg": _DecimalAvg,
    "twinrecord_decimal_min": _DecimalMin,
    "twinrecord_decimal_max": _DecimalMax,
}


def _default_pragmas(config: SQLiteConfig) -> dict[str, Any]:
    pragmas: dict[str, Any] = {"foreign_keys": "ON"}
    if not config.is_memory:
        pragmas.update(journal_mode="WAL", synchronous="NORMAL")
    pragmas.update(config.pragmas)
    return pragmas


def translate_error(
    error: Exception,
    sql: str,
    params: Sequence[object],
    config: object = None,
    known_tables: KnownTables | None = None,
) -> DatabaseError:
    """sqlite3's exceptions -> twinrecord's (the driver's error table). `known_tables`:
    the tables the backend created, whose declared names constraint errors report."""
    message = str(error)
    if isinstance(error, sqlite3.IntegrityError):
        name = getattr(error, "sqlite_errorname", "")
        constraint = _constraint_name(message, name, sql, known_tables or {})
        if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"):
            return RecordNotUnique(message, constraint)
        return IntegrityError(message, constraint)
    if isinstance(error, sqlite3.OperationalError) and "unable to open" in message:
        return ConnectionNotEstablished(message)
    return statement_invalid(message, sql, params)


class SQLiteBackend(SyncBackend[SQLiteConfig]):
    config_type = SQLiteConfig
    dialect = SQLITE
    async_refusal = ASYNC_REFUSAL
    error_table = staticmethod(translate_error)

    def translate(self, error: Exception, sql: str, params: Sequence[object]) -> DatabaseError:
        return translate_error(error, sql, params, self.config, self.known_tables)

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
        self._pragmas = _default_pragmas(config)
        # One in-memory database exists per connection, so memory databases get one.
        size = 1 if config.is_memory else max(1, config.pool_size)
        self._pool: SyncPool[sqlite3.Connection] = SyncPool(
            self._connect,
            sqlite3.Connection.close,
            size,
            config.busy_timeout + 5,
            f"SQLite pool for {config.database!r}",
        )
        first = self.acquire()  # fail at configure() on a bad path, learn the limits
        limit = first.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        if limit != self.dialect.max_params:
            self.dialect = dataclasses.replace(SQLITE, max_params=limit)
        self.server = self._server_of(first)  # the library's version: known at once
        self.release(first)

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(
                self.config.database,
                isolation_level=None,
                check_same_thread=False,
                timeout=self.config.busy_timeout,
                cached_statements=512,
                uri=self.config.database.startswith("file:"),
            )
            for name, value in self._pragmas.items():
                connection.execute(f"PRAGMA {name} = {value}")
            for name, aggregate in DECIMAL_AGGREGATES.items():
                connection.create_aggregate(name, 1, aggregate)
            connection.create_collation(SQLITE_DECIMAL_COLLATION, compare_decimal_text)
        except sqlite3.Error as error:
            raise ConnectionNotEstablished(
                f"cannot open SQLite database {self.config.database!r}: {error}"
            ) from error
        return connection

    def acquire(self) -> sqlite3.Connection:
        return self._pool.acquire()

    def release(self, connection: sqlite3.Connection, discard: bool = False) -> None:
        if not discard and connection.in_transaction:
            connection.rollback()  # never hand out a connection mid-transaction
        self._pool.release(connection, discard)

    def close(self) -> None:
        self._pool.close()

    # ---- what plans call: the common case in one frame ------------------------------------
    # `_route` and `_perform` (backends/_core.py) in short for SQLite, which has no
    # replicas and never guards an event loop: a statement outside any transaction on a
    # pooled connection, or on its transaction's connection, with no statement log. What
    # differs from that (the log at DEBUG, replicas) takes the general path.
    def run_execute(self, sql: str, params: Sequence[object]) -> Any:
        return self._direct(sql, params, _EXECUTE, 0)

    def run_fetch(self, sql: str, params: Sequence[object]) -> Any:
        return self._direct(sql, params, _FETCH, 0)

    def run_insert(self, sql: str, params: Sequence[object], row_count: int) -> Any:
        return self._direct(sql, params, _INSERT, row_count)

    def _direct(self, sql: str, params: Sequence[object], kind: int, row_count: int) -> Any:
        if self.replica_set is not None or log.isEnabledFor(_DEBUG):
            if kind == _FETCH:
                return super().run_fetch(sql, params)
            if kind == _EXECUTE:
                return super().run_execute(sql, params)
            return super().run_insert(sql, params, row_count)
        state = self._tx.get()
        if state is None:
            connection = self._pool.acquire()
            try:
                cursor = connection.execute(sql, params)
                if kind == _FETCH:
                    return cursor.fetchall()
                if kind == _EXECUTE:
                    return _affected(cursor)
                return _keys(cursor, row_count)
            except Exception as error:  # translated, as _perform does
                raise self.note_failure(self.translate(error, sql, params), connection) from error
            finally:
                if connection.in_transaction:
                    connection.rollback()  # never hand out a connection mid-transaction
                self._pool.release(connection)
        with state.lock:
            if state.blocking_stream is not None or state.closed or state.failure is not None:
                state.check_open()
            held: sqlite3.Connection = state.connection  # type: ignore[assignment]
            try:
                cursor = held.execute(sql, params)
                if kind == _FETCH:
                    return cursor.fetchall()
                if kind == _EXECUTE:
                    return _affected(cursor)
                return _keys(cursor, row_count)
            except Exception as error:
                failure = self.note_failure(self.translate(error, sql, params), held)
                state.doom(failure)
                raise failure from error
            except BaseException as error:
                state.doom(error)
                raise

    # ---- driver primitives -------------------------------------------------------------
    def _execute(self, connection: sqlite3.Connection, sql: str, params: Sequence[object]) -> int:
        return _affected(connection.execute(sql, params))

    def _fetch(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object]
    ) -> list[Row]:
        return connection.execute(sql, params).fetchall()

    def _fetch_table(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        cursor = connection.execute(sql, params)
        if cursor.description is None:
            return [], []
        return [d[0] for d in cursor.description], cursor.fetchall()

    def _insert(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        return _keys(connection.execute(sql, params), row_count)

    # ---- stream primitives: the statement stepped a batch at a time --------------------------
    def _open_cursor(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        lease.cursor = cursor
        lease.names = [d[0] for d in cursor.description or ()]
        lease.fetch_sql = f"/* next {lease.batch_size} rows */ {sql}"

    def _fetch_batch(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        rows: list[Row] = lease.cursor.fetchmany(lease.batch_size)
        if len(rows) < lease.batch_size:
            lease.exhausted = True
        return rows

    def _close_cursor(
        self, connection: sqlite3.Connection, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        lease.cursor.close()  # resets the statement


_EXECUTE, _FETCH, _INSERT = 0, 1, 2
_DEBUG = logging.DEBUG


def _affected(cursor: sqlite3.Cursor) -> int:
    count = cursor.rowcount
    return count if count > 0 else 0


def _keys(cursor: sqlite3.Cursor, row_count: int) -> list[Any]:
    last = cursor.lastrowid
    if last is None:
        return []
    # One statement holds SQLite's write lock, so its auto keys are consecutive.
    return list(range(last - row_count + 1, last + 1))


def _constraint_name(
    message: str, error_name: str, sql: str, known_tables: KnownTables
) -> str | None:
    """The constraint's name (API.md §19). SQLite reports a unique violation by its
    columns ("UNIQUE constraint failed: users.email") and a foreign key violation not at
    all: both are mapped back to the names create_table() gave. NOT NULL has no name."""
    detail = message.split(":", 1)[1].strip() if ":" in message else ""
    if error_name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY") and detail:
        qualified = [item.strip().rpartition(".") for item in detail.split(",")]
        table = qualified[0][0]
        columns = [column for _, _, column in qualified]
        primary = error_name == "SQLITE_CONSTRAINT_PRIMARYKEY"
        return unique_name_for(table, columns, primary, SQLITE, known_tables)
    if error_name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        written = statement_table(sql)
        return None if written is None else foreign_key_name_for([written], SQLITE, known_tables)
    if error_name == "SQLITE_CONSTRAINT_CHECK":
        return detail or None  # a named CHECK constraint
    return None
