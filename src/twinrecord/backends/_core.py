"""What every backend shares: statement routing (the transaction's connection or a
pooled one), error translation, statement logging, and the raw-SQL API.

A driver module subclasses `SyncBackend` / `AsyncBackend` and supplies the
primitives marked "driver primitive"; it knows nothing of models.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from time import perf_counter
from typing import Any, ClassVar, Generic, TypeVar

from ..errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    statement_invalid,
)
from ..plan import arun, run
from ..sql.ddl import TableDef
from ..sql.dialect import Dialect
from ..sql.features import Server, parse_mysql_version, parse_postgres_version
from ._blocking import (
    blocking_call,
    database_key,
    enter_async_transaction,
    leave_async_transaction,
    running_loop,
)
from ._config import BaseConfig
from ._replicas import ReplicaSet
from ._stream import ended_error
from ._transaction import TransactionState, enter_plan, exit_plan

log = logging.getLogger("twinrecord.sql")
_DEBUG = logging.DEBUG
Row = tuple[Any, ...]
ConfigT = TypeVar("ConfigT", bound=BaseConfig, covariant=True)


class BackendBase(Generic[ConfigT]):
    """State and pure helpers common to both kinds."""

    dialect: Dialect
    is_async: ClassVar[bool]
    config_type: ClassVar[type[BaseConfig]] = BaseConfig

    def __init__(self, config: BaseConfig) -> None:
        if not isinstance(config, self.config_type):
            raise ConfigurationError(
                f"{type(self).__name__} takes a {self.config_type.__name__}, got {config!r}"
            )
        self.config: ConfigT = config  # type: ignore[assignment]  # checked just above
        self._tx: ContextVar[TransactionState | None] = ContextVar(
            f"twinrecord_tx_{id(self)}", default=None
        )
        # Server databases only (§2: SQLite never warns): see _blocking.py.
        self._database_key = database_key(self.dialect.name, config)
        # The tables create_table() made through this backend, by name: where a database
        # reports a violation by columns or not at all (SQLite), their declared
        # constraint names are found here, never in another backend's tables.
        self.known_tables: dict[str, TableDef] = {}
        self._guards_loop = self._database_key is not None and not self.is_async

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"

    def remember_table(self, name: str, table: TableDef | None) -> None:
        """Record the definition create_table() used for `name` (None: it was dropped)."""
        if table is None:
            self.known_tables.pop(name, None)
        else:
            self.known_tables[name] = table

    def prepare_raw(self, sql: str, params: Sequence[object] | None) -> tuple[str, list[Any]]:
        """`?` SQL and values -> driver SQL and adapted values; counts checked first."""
        driver_sql, count = self.dialect.prepare(sql)
        values = list(params or ())
        check_param_count(sql, count, values)
        return driver_sql, self.dialect.adapt_params(values)

    # The server's flavor and version, read once (API.md §13.7).
    server: Server | None = None
    # The level BEGIN names when a transaction asks for none (None: the session's
    # default, set at connect; PostgreSQL behind PgBouncer has no session to set it on).
    default_isolation: str | None = None

    def _server_of(self, connection: Any) -> Server:
        """Flavor and version from an open connection (no round trip on any driver)."""
        name = self.dialect.name
        if name == "sqlite":
            import sqlite3

            return Server("sqlite", sqlite3.sqlite_version_info)
        raw = getattr(connection, "connection", connection)
        if name == "postgresql":
            return parse_postgres_version(int(raw.info.server_version))
        return parse_mysql_version(str(raw.server_info))

    # A driver module's error table: (error, sql, params, config) -> DatabaseError.
    error_table: ClassVar[Callable[..., DatabaseError] | None] = None
    # The same database's backend of the other kind, set by `pair()` in the driver's
    # package (which imports both); a database with none says why in `async_refusal`.
    twin: ClassVar[type[BackendBase[Any]] | None] = None
    async_refusal: ClassVar[str | None] = None

    def translate(self, error: Exception, sql: str, params: Sequence[object]) -> DatabaseError:
        """Driver exception -> twinrecord exception, by the driver's error table."""
        table = type(self).error_table
        if table is None:
            return statement_invalid(str(error), sql, params)
        return table(error, sql, params, self.config)

    # ---- read replicas (API.md §18, _replicas.py) ----------------------------------------
    replica_set: ReplicaSet | None = None

    def use_replicas(self, replicas: Sequence[BackendBase[Any]]) -> None:
        """Send reads outside transactions to these backends (of this class)."""
        self.replica_set = ReplicaSet(self, replicas) if replicas else None

    def reads(self, pinned: bool = False) -> Any:
        """What a read plan runs against: this backend, or with replicas its `ReadRoute`
        (`pinned`: to the primary, e.g. `for_update()` or `using('primary')`)."""
        replica_set = self.replica_set
        if replica_set is None:
            return self
        return replica_set.primary_route if pinned else replica_set.route

    # ---- what plans call: the routed statement's result (a coroutine on async backends).
    # Statements that reach these are writes as far as routing goes (reads of read plans
    # go through a ReadRoute): with replicas, reads stay on the primary a while after.
    def run_execute(self, sql: str, params: Sequence[object]) -> Any:
        if self.replica_set is not None:
            self.replica_set.note_write()
        return self._route(self._execute, sql, params)

    def run_fetch(self, sql: str, params: Sequence[object]) -> Any:
        if self.replica_set is not None:
            self.replica_set.note_write()
        return self._route(self._fetch, sql, params)

    def run_fetch_table(self, sql: str, params: Sequence[object]) -> Any:
        if self.replica_set is not None:
            self.replica_set.note_write()
        return self._route(self._fetch_table, sql, params)

    def run_fetch_warned(self, sql: str, params: Sequence[object]) -> Any:
        """(names, rows) and then the server's warnings about that statement, read on the
        same connection (MariaDB reports a truncated recursive CTE only there)."""
        if self.replica_set is not None:
            self.replica_set.note_write()
        return self._route(self._fetch_warned, sql, params)

    def run_insert(self, sql: str, params: Sequence[object], row_count: int) -> Any:
        if self.replica_set is not None:
            self.replica_set.note_write()
        return self._route(self._insert, sql, params, row_count)

    def _route(
        self, op: Callable[..., Any], sql: str, params: Sequence[object], *extra: Any
    ) -> Any:
        raise NotImplementedError

    def _execute(self, connection: Any, sql: str, params: Sequence[object]) -> object:
        raise NotImplementedError

    def _fetch(self, connection: Any, sql: str, params: Sequence[object]) -> object:
        raise NotImplementedError

    def _fetch_table(self, connection: Any, sql: str, params: Sequence[object]) -> object:
        raise NotImplementedError

    def _insert(
        self, connection: Any, sql: str, params: Sequence[object], row_count: int
    ) -> object:
        raise NotImplementedError

    def _fetch_warned(self, connection: Any, sql: str, params: Sequence[object]) -> object:
        raise NotImplementedError

    def _writes_seen(self) -> float:
        replica_set = self.replica_set
        return 0.0 if replica_set is None else replica_set.sticky_until.get()

    def _after_transaction(self, frame: Any, wrote_before: float) -> None:
        """A transaction that wrote keeps reads on the primary `sticky_seconds` from its
        end (its writes are visible from then on), not from its last write."""
        if frame.token is not None and self._writes_seen() != wrote_before:
            assert self.replica_set is not None
            self.replica_set.note_write()

    def log_statement(
        self,
        sql: str,
        params: Sequence[object],
        started: float,
        affected: int | None = None,
        failed: BaseException | None = None,
    ) -> None:
        """One DEBUG line on `twinrecord.sql`: SQL, parameter count (values only with
        `log_values`), duration, then rows affected or FAILED with the error class."""
        elapsed_ms = (perf_counter() - started) * 1000
        if failed is not None:
            outcome = f" | FAILED {type(failed).__name__}"
        elif affected is not None:
            outcome = f" | {affected} row{'' if affected == 1 else 's'} affected"
        else:
            outcome = ""
        if self.config.log_values:
            log.debug(
                "%s | %d params %r | %.3f ms%s", sql, len(params), list(params), elapsed_ms, outcome
            )
        else:
            log.debug("%s | %d params | %.3f ms%s", sql, len(params), elapsed_ms, outcome)


def affected_rows(op: Callable[..., Any], result: object, extra: tuple[Any, ...]) -> int | None:
    """Rows a statement changed, for the log: execute's count, an insert's row count."""
    name = getattr(op, "__name__", "")
    if name == "_execute" and isinstance(result, int):
        return result
    if name == "_insert" and extra:
        return int(extra[0])
    return None


def pair(sync_class: type[SyncBackend[Any]], async_class: type[AsyncBackend[Any]]) -> None:
    """Declare two backend classes the sync and async kinds of one database."""
    sync_class.twin = async_class
    async_class.twin = sync_class


def check_param_count(sql: str, expected: int, params: Sequence[object]) -> None:
    if expected != len(params):
        raise statement_invalid(
            f"the SQL has {expected} `?` placeholder(s) but {len(params)} parameter(s) "
            "were given; nothing was sent",
            sql,
            params,
        )


def rows_to_dicts(table: tuple[list[str], list[Row]]) -> list[dict[str, Any]]:
    names, rows = table
    return [dict(zip(names, row)) for row in rows]


class SyncBackend(BackendBase[ConfigT]):
    is_async: ClassVar[bool] = False

    # ---- driver primitives -----------------------------------------------------------
    def acquire(self) -> Any:
        raise NotImplementedError

    def release(self, connection: Any, discard: bool = False) -> None:
        raise NotImplementedError

    def _execute(self, connection: Any, sql: str, params: Sequence[object]) -> int:
        raise NotImplementedError

    def _fetch(self, connection: Any, sql: str, params: Sequence[object]) -> list[Row]:
        raise NotImplementedError

    def _fetch_table(
        self, connection: Any, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        raise NotImplementedError

    def _insert(
        self, connection: Any, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def close_replicas(self) -> None:
        """Close the replicas' pools (a driver's `close()` calls it)."""
        if self.replica_set is not None:
            for replica in self.replica_set.replicas:
                replica.close()

    def _fetch_warned(self, connection: object, sql: str, params: Sequence[object]) -> object:
        table = self._fetch_table(connection, sql, params)
        return table, self._fetch(connection, "SHOW WARNINGS", ())

    # ---- what plans call (run_* come from BackendBase) ---------------------------------
    def control(self, connection: object, sql: str) -> None:
        self._perform(self._control, connection, sql, ())

    def _control(self, connection: object, sql: str, params: Sequence[object]) -> None:
        self._execute(connection, sql, params)  # a transaction-control statement: no rows

    def note_failure(self, error: DatabaseError, connection: object) -> DatabaseError:
        """A statement failed on `connection`; a lost one makes the pool heal (§2)."""
        if isinstance(error, ConnectionNotEstablished):
            self.connection_lost(connection)
        return error

    def connection_lost(self, connection: object) -> None:
        """Driver hook: `connection` was found dead; drop the pool's idle ones too."""

    def new_lock(self) -> Any:
        return threading.Lock()

    def run_read_server(self) -> Server:
        if self.server is None:
            state = self._tx.get()
            if state is not None:
                self.server = self._server_of(state.connection)
            else:
                connection = self.acquire()
                try:
                    self.server = self._server_of(connection)
                finally:
                    self.release(connection)
        return self.server

    @contextmanager
    def transaction(self, isolation_level: str | None = None) -> Iterator[None]:
        """Commit on normal exit, roll back on any exception; nested blocks are savepoints."""
        if self._guards_loop and running_loop() is not None:
            self._blocking_call()
        level = self.default_isolation if isolation_level is None else isolation_level
        frame = run(enter_plan(self._tx, self.dialect, level, self.new_lock), self)
        wrote_before = self._writes_seen()
        try:
            yield
        except BaseException:
            run(exit_plan(frame, failed=True), self)
            raise
        else:
            run(exit_plan(frame, failed=False), self)
        finally:
            frame.restore()
            self._after_transaction(frame, wrote_before)

    def _blocking_call(self) -> None:
        mode = str(getattr(self.config, "sync_in_event_loop", "warn"))
        blocking_call(self._database_key, mode, f"{type(self).__name__}")

    def _route(
        self, op: Callable[..., Any], sql: str, params: Sequence[object], *extra: Any
    ) -> Any:
        if self._guards_loop and running_loop() is not None:
            self._blocking_call()
        state = self._tx.get()
        if state is not None:
            with state.lock:
                if state.blocking_stream is not None or state.closed or state.failure is not None:
                    state.check_open()
                try:
                    return self._perform(op, state.connection, sql, params, *extra)
                except BaseException as error:
                    state.doom(error)
                    raise
        connection = self.acquire()
        if self.server is None:  # read once, from the first connection (API.md §13.7)
            self.server = self._server_of(connection)
        try:
            return self._perform(op, connection, sql, params, *extra)
        finally:
            self.release(connection)

    def _perform(
        self,
        op: Callable[..., Any],
        connection: object,
        sql: str,
        params: Sequence[object],
        *extra: object,
    ) -> Any:
        if not log.isEnabledFor(_DEBUG):
            try:
                return op(connection, sql, params, *extra)
            except DatabaseError as error:
                self.note_failure(error, connection)
                raise
            except Exception as error:
                raise self.note_failure(self.translate(error, sql, params), connection) from error
        started = perf_counter()
        try:
            result = op(connection, sql, params, *extra)
        except BaseException as error:
            failure = error
            if isinstance(error, Exception) and not isinstance(error, DatabaseError):
                failure = self.translate(error, sql, params)
            self.log_statement(sql, params, started, failed=failure)
            if failure is error:
                if isinstance(error, DatabaseError):
                    self.note_failure(error, connection)
                raise
            raise self.note_failure(failure, connection) from error  # type: ignore[arg-type]
        self.log_statement(sql, params, started, affected=affected_rows(op, result, extra))
        return result

    # ---- streams (API.md §14; the plan is backends/_stream.py) ----------------------------
    def run_stream(
        self, op: Callable[..., Any], lease: Any, sql: str, params: Sequence[object]
    ) -> Any:
        """A stream's cursor step on its connection: its own, or its transaction's (then
        checked and serialised like any statement of that transaction)."""
        if self._guards_loop and running_loop() is not None:
            self._blocking_call()
        state = lease.state
        if state is None:
            return self._perform(op, lease.connection, sql, params, lease)
        with state.lock:
            if lease.ended:
                raise ended_error()
            if state.closed or state.failure is not None:
                state.check_open(stream_ok=True)
            try:
                return self._perform(op, state.connection, sql, params, lease)
            except BaseException as error:
                state.doom(error)
                raise

    def _open_cursor(
        self, connection: Any, sql: str, params: Sequence[object], lease: object
    ) -> None:
        raise NotImplementedError

    def _fetch_batch(
        self, connection: Any, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        raise NotImplementedError

    def _close_cursor(
        self, connection: Any, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        raise NotImplementedError

    def forget(self, connection: object) -> None:
        """Drop a checked-out connection (the async kind's twin does it without I/O)."""
        self.release(connection, discard=True)

    # ---- raw SQL API (`?` placeholders) ----------------------------------------------
    def execute(self, sql: str, params: Sequence[object] | None = None) -> int:
        affected: int = self.run_execute(*self.prepare_raw(sql, params))
        return affected

    def fetch_one(self, sql: str, params: Sequence[object] | None = None) -> dict[str, Any] | None:
        rows = rows_to_dicts(self.reads().run_fetch_table(*self.prepare_raw(sql, params)))
        return rows[0] if rows else None

    def fetch_all(self, sql: str, params: Sequence[object] | None = None) -> list[dict[str, Any]]:
        return rows_to_dicts(self.reads().run_fetch_table(*self.prepare_raw(sql, params)))


class AsyncBackend(BackendBase[ConfigT]):
    is_async: ClassVar[bool] = True

    # ---- driver primitives -----------------------------------------------------------
    async def acquire(self) -> Any:
        raise NotImplementedError

    async def release(self, connection: Any, discard: bool = False) -> None:
        raise NotImplementedError

    async def _execute(self, connection: Any, sql: str, params: Sequence[object]) -> int:
        raise NotImplementedError

    async def _fetch(self, connection: Any, sql: str, params: Sequence[object]) -> list[Row]:
        raise NotImplementedError

    async def _fetch_table(
        self, connection: Any, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        raise NotImplementedError

    async def _insert(
        self, connection: Any, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def close_replicas(self) -> None:
        """Close the replicas' pools (a driver's `close()` calls it)."""
        if self.replica_set is not None:
            for replica in self.replica_set.replicas:
                await replica.close()

    def _close_replicas_unawaited(self) -> None:
        if self.replica_set is not None:
            for replica in self.replica_set.replicas:
                replica._close_unawaited()

    async def _fetch_warned(self, connection: Any, sql: str, params: Sequence[object]) -> Any:
        table = await self._fetch_table(connection, sql, params)
        return table, await self._fetch(connection, "SHOW WARNINGS", ())

    def _close_unawaited(self) -> None:
        """Release what can be released without a running loop (a replaced backend)."""

    # ---- what plans call (run_* come from BackendBase) ---------------------------------
    async def control(self, connection: object, sql: str) -> None:
        await self._perform(self._control, connection, sql, ())

    async def _control(self, connection: object, sql: str, params: Sequence[object]) -> None:
        await self._execute(connection, sql, params)  # transaction control: no rows

    async def note_failure(self, error: DatabaseError, connection: object) -> DatabaseError:
        """A statement failed on `connection`; a lost one makes the pool heal (§2)."""
        if isinstance(error, ConnectionNotEstablished):
            await self.connection_lost(connection)
        return error

    async def connection_lost(self, connection: object) -> None:
        """Driver hook: `connection` was found dead; drop the pool's idle ones too."""

    def new_lock(self) -> Any:
        import asyncio

        return asyncio.Lock()

    async def run_read_server(self) -> Server:
        if self.server is None:
            state = self._tx.get()
            if state is not None:
                self.server = self._server_of(state.connection)
            else:
                connection = await self.acquire()
                try:
                    self.server = self._server_of(connection)
                finally:
                    await self.release(connection)
        return self.server

    @asynccontextmanager
    async def transaction(self, isolation_level: str | None = None) -> AsyncIterator[None]:
        """Commit on normal exit, roll back on any exception; nested blocks are savepoints.

        The rollback is shielded: a cancelled task still rolls back and returns its
        connection instead of leaving a session idle in transaction.
        """
        import asyncio

        level = self.default_isolation if isolation_level is None else isolation_level
        frame = await arun(enter_plan(self._tx, self.dialect, level, self.new_lock), self)
        wrote_before = self._writes_seen()
        # This task now holds a transaction on the database: sync calls on it must refuse.
        held = None
        if frame.token is not None and self._database_key is not None:
            held = enter_async_transaction(self._database_key)
        try:
            yield
        except BaseException:
            await asyncio.shield(arun(exit_plan(frame, failed=True), self))
            raise
        else:
            await arun(exit_plan(frame, failed=False), self)
        finally:
            if held is not None:
                leave_async_transaction(held)
            frame.restore()
            self._after_transaction(frame, wrote_before)

    async def _route(
        self, op: Callable[..., Any], sql: str, params: Sequence[object], *extra: Any
    ) -> Any:
        state = self._tx.get()
        if state is not None:
            async with state.lock:
                if state.blocking_stream is not None or state.closed or state.failure is not None:
                    state.check_open()
                try:
                    return await self._perform(op, state.connection, sql, params, *extra)
                except BaseException as error:
                    state.doom(error)
                    raise
        connection = self._acquire_nowait()
        if connection is None:
            connection = await self.acquire()
        if self.server is None:  # read once, from the first connection (API.md §13.7)
            self.server = self._server_of(connection)
        try:
            result = await self._perform(op, connection, sql, params, *extra)
        except BaseException as error:
            # Cancelled mid-statement: the session's state is unknown, so drop it.
            await self.release(connection, discard=not isinstance(error, Exception))
            raise
        if not self._release_nowait(connection):
            await self.release(connection)
        return result

    def _acquire_nowait(self) -> object:
        """A connection at once when the pool has one idle, else None (driver hook)."""
        return None

    def _release_nowait(self, connection: Any) -> bool:
        """Return a connection without awaiting if nothing needs doing (driver hook)."""
        return False

    async def _perform(
        self,
        op: Callable[..., Any],
        connection: object,
        sql: str,
        params: Sequence[object],
        *extra: object,
    ) -> Any:
        if not log.isEnabledFor(_DEBUG):
            try:
                return await op(connection, sql, params, *extra)
            except DatabaseError as error:
                await self.note_failure(error, connection)
                raise
            except Exception as error:
                translated = self.translate(error, sql, params)
                raise await self.note_failure(translated, connection) from error
        started = perf_counter()
        try:
            result = await op(connection, sql, params, *extra)
        except BaseException as error:
            failure = error
            if isinstance(error, Exception) and not isinstance(error, DatabaseError):
                failure = self.translate(error, sql, params)
            self.log_statement(sql, params, started, failed=failure)
            if failure is error:
                if isinstance(error, DatabaseError):
                    await self.note_failure(error, connection)
                raise
            raise await self.note_failure(failure, connection) from error  # type: ignore[arg-type]
        self.log_statement(sql, params, started, affected=affected_rows(op, result, extra))
        return result

    # ---- streams (API.md §14; the plan is backends/_stream.py) ----------------------------
    async def run_stream(
        self, op: Callable[..., Any], lease: Any, sql: str, params: Sequence[object]
    ) -> Any:
        """A stream's cursor step on its connection: its own, or its transaction's (then
        checked and serialised like any statement of that transaction)."""
        state = lease.state
        if state is None:
            return await self._perform(op, lease.connection, sql, params, lease)
        async with state.lock:
            if lease.ended:
                raise ended_error()
            if state.closed or state.failure is not None:
                state.check_open(stream_ok=True)
            try:
                return await self._perform(op, state.connection, sql, params, lease)
            except BaseException as error:
                state.doom(error)
                raise

    async def _open_cursor(
        self, connection: Any, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        raise NotImplementedError

    async def _fetch_batch(
        self, connection: Any, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        raise NotImplementedError

    async def _close_cursor(
        self, connection: Any, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        raise NotImplementedError

    def forget(self, connection: Any) -> None:
        """Drop a checked-out connection without awaiting anything (an async stream
        collected unclosed): its socket is closed and its pool slot freed (driver hook)."""
        raise NotImplementedError

    # ---- raw SQL API (`?` placeholders) ----------------------------------------------
    async def execute(self, sql: str, params: Sequence[object] | None = None) -> int:
        affected: int = await self.run_execute(*self.prepare_raw(sql, params))
        return affected

    async def fetch_one(
        self, sql: str, params: Sequence[object] | None = None
    ) -> dict[str, Any] | None:
        rows = rows_to_dicts(await self.reads().run_fetch_table(*self.prepare_raw(sql, params)))
        return rows[0] if rows else None

    async def fetch_all(
        self, sql: str, params: Sequence[object] | None = None
    ) -> list[dict[str, Any]]:
        return rows_to_dicts(await self.reads().run_fetch_table(*self.prepare_raw(sql, params)))
