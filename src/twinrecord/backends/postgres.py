"""PostgreSQL on psycopg 3: `PostgresConfig`, the sync `PostgresBackend` and the async
`AsyncPostgresBackend`, their connection handling and the driver's error table.

What belongs here: everything that knows psycopg. Statement routing, transactions
and logging live in `_core.py` / `_transaction.py`; this module supplies the
driver primitives they call.

Choices, each measured (client and server pinned to one CPU, see
`benchmarks/bench_postgres.py`):
- Pools: the project's own `_pool.SyncPool` and `_aio_pool.AsyncPool`, not psycopg_pool.
  A checkout plus return costs 0.15 us against 2.2 us (`ConnectionPool`) and 1.1 us
  against 3.4 us (`AsyncConnectionPool`), and a failed connection attempt surfaces at
  once as the driver's own error, where psycopg_pool retries in the background and
  reports only a timeout, hiding "role does not exist" or "connection refused".
- One cursor per pooled connection, reused by every statement: psycopg then keeps its
  adaptation state between runs of the same SQL object (the compiler's cache hands out
  the same string), 19.4 us against 24.6 us for a new cursor per primary-key get.
- Raw cursors with `$1` placeholders (`native_sql`): see there; a 2000-row insert
  takes a third of the time.
- Results in text format, psycopg's default. Binary would save about 0.4 us a
  statement, but psycopg returns bytes for binary values of types it has no loader
  for (citext, enums, PostGIS, ...), so a str field on such a column would break.

Connections run in autocommit mode; transactions are the explicit SQL of
`_transaction.py`. The async pool belongs to the event loop that made it: a
backend used from a new loop (one `asyncio.run()` per test or script) gets a
fresh pool for that loop, and pools of loops that have closed are dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg
from psycopg import pq

from ..errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    IntegrityError,
    RecordNotUnique,
    statement_invalid,
)
from ..sql.dialect import POSTGRES
from ._aio_pool import AsyncPool, PoolClosed, PoolTimeout
from ._config import BaseConfig, mask_url, parse_server_url
from ._core import AsyncBackend, Row, SyncBackend
from ._pool import SyncPool

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# psycopg's C implementation reports the status as a plain int: compare by value.
_IDLE = int(pq.TransactionStatus.IDLE)
_RECOVERABLE = frozenset({int(pq.TransactionStatus.INTRANS), int(pq.TransactionStatus.INERROR)})


# ---- configuration ---------------------------------------------------------------------
@dataclasses.dataclass(kw_only=True, repr=False)
class PostgresConfig(BaseConfig):
    """Where the server is and how to talk to it; URL query parameters set the same names.

    `options` passes any other libpq connection parameter (`{'target_session_attrs':
    'read-write'}`); `server_settings` sets server parameters on every connection
    (`{'search_path': 'app', 'synchronous_commit': 'off'}`). Timeouts are seconds.
    """

    host: str = "127.0.0.1"
    port: int = 5432
    database: str
    user: str | None = None
    password: str | None = None
    pool_size: int = 10                 # the most connections open at once
    pool_min_size: int = 1              # opened at first use and kept
    pool_timeout: float = 30.0          # how long a statement waits for a free connection
    connect_timeout: float = 10.0
    statement_timeout: float | None = None
    application_name: str = "twinrecord"
    sslmode: str | None = None
    prepare_threshold: int | None = 5   # psycopg prepares a statement on its 5th run; None: never
    server_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_positive("pool_size", self.pool_size)
        if not 0 <= self.pool_min_size <= self.pool_size:
            raise ConfigurationError(
                f"pool_min_size must be between 0 and pool_size ({self.pool_size}); "
                f"got {self.pool_min_size}"
            )
        for name in ("pool_timeout", "connect_timeout"):
            _check_positive(name, getattr(self, name))
        if self.statement_timeout is not None:
            _check_positive("statement_timeout", self.statement_timeout)
        if self.sslmode is not None and self.sslmode not in SSL_MODES:
            raise ConfigurationError(
                f"sslmode {self.sslmode!r} is not one of {', '.join(SSL_MODES)}"
            )

    def __repr__(self) -> str:
        text = super().__repr__()
        secret = {k: v for k, v in self.options.items() if "password" in k.lower() and v}
        for key, value in secret.items():   # e.g. sslpassword in libpq options
            text = text.replace(f"{key!r}: {value!r}", f"{key!r}: '***'")
        return text

    @property
    def where(self) -> str:
        """Host, port, database and user for messages: never the password."""
        user = f" as user {self.user!r}" if self.user else ""
        return f"PostgreSQL server {self.host}:{self.port}, database {self.database!r}{user}"

    @classmethod
    def from_url(cls, url: str) -> PostgresConfig:
        """postgresql://user:password@host:port/database?pool_size=5&sslmode=disable.

        `?options=...` is libpq's own `options` parameter (server command-line options).
        """
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        source = f"the URL {mask_url(url)!r}"
        if scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"{source} is not a postgresql:// URL")
        values: dict[str, Any] = dict(parse_server_url(url))
        libpq_options = values.pop("options", None)
        if str(values.get("prepare_threshold", "")).lower() == "none":
            values["prepare_threshold"] = None    # never prepare (e.g. behind PgBouncer)
        if "database" not in values:
            raise ConfigurationError(f"{source} names no database (postgresql://host/dbname)")
        config = cls.from_options(values, source)
        if libpq_options is not None:
            config.options["options"] = libpq_options
        return config


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigurationError(f"{name} must be positive; got {value!r}")


def connect_arguments(config: PostgresConfig) -> dict[str, Any]:
    """libpq keyword arguments for one connection (psycopg builds the conninfo)."""
    arguments: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "dbname": config.database,
        # libpq counts whole seconds, and treats anything below 2 as 2.
        "connect_timeout": max(2, math.ceil(config.connect_timeout)),
        "application_name": config.application_name,
    }
    if config.user is not None:
        arguments["user"] = config.user
    if config.password is not None:
        arguments["password"] = config.password
    if config.sslmode is not None:
        arguments["sslmode"] = config.sslmode
    arguments.update(config.options)
    settings = dict(config.server_settings)
    if config.statement_timeout is not None:
        settings["statement_timeout"] = f"{round(config.statement_timeout * 1000)}ms"
    if settings:
        flags = " ".join(f"-c {name}={_escape_option(value)}" for name, value in settings.items())
        given = arguments.get("options")
        arguments["options"] = f"{given} {flags}" if given else flags
    return arguments


def _escape_option(value: Any) -> str:
    # libpq splits `options` on spaces; a backslash keeps one inside a value.
    return str(value).replace("\\", "\\\\").replace(" ", "\\ ")


# ---- error translation -----------------------------------------------------------------
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
# Server states that mean the session is gone or never started: too many connections,
# connection exceptions, authentication, unknown database, server shutting down.
_CONNECTION_STATES = ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03")


def translate_error(
    error: Exception, sql: str, params: Sequence[Any], config: PostgresConfig
) -> DatabaseError:
    """psycopg exception -> twinrecord exception, its message free of parameter values."""
    state = getattr(error, "sqlstate", None) or ""
    diag = getattr(error, "diag", None)
    constraint = diag.constraint_name if diag is not None else None
    if is_connection_error(error):
        return ConnectionNotEstablished(connection_message(error, config))
    reason = scrubbed_reason(error, params)
    if state == "23505":         # unique_violation (primary keys included)
        return RecordNotUnique(reason, constraint)
    if state.startswith("23"):
        return IntegrityError(reason, constraint)
    return statement_invalid(reason, sql, params)


def is_connection_error(error: Exception) -> bool:
    if isinstance(error, psycopg.InterfaceError):
        return True      # e.g. "the connection is closed"
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    # No SQLSTATE: the client lost the connection (server gone, socket closed).
    return state is None or state.startswith(_CONNECTION_STATES)


def connection_message(
    error: BaseException, config: PostgresConfig, connecting: bool = False
) -> str:
    """Names host, port, database and user; libpq's reason, any password in it masked."""
    reason = str(error).strip()
    if config.password:
        reason = reason.replace(config.password, "***")
    if connecting:
        return f"cannot connect to the {config.where}: {reason}"
    return f"the connection to the {config.where} failed: {reason}"


def scrubbed_reason(error: Exception, params: Sequence[Any]) -> str:
    """The server's primary message and SQLSTATE, without DETAIL (it quotes row values).

    In data exceptions (class 22) every quoted part of the message is the offending
    value; elsewhere quoted parts are identifiers, hidden only if they equal a value.
    """
    diag = getattr(error, "diag", None)
    primary = diag.message_primary if diag is not None else None
    state: str = getattr(error, "sqlstate", None) or ""
    if not primary:
        primary = str(error).split("\n", 1)[0]
    is_data_error = state.startswith("22")
    values = {str(v) for v in params if isinstance(v, (str, int, float, bytes))}

    def hide(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1].replace('""', '"')
        return '"?"' if is_data_error or inner in values else match.group(0)

    message = _QUOTED.sub(hide, primary)
    hint = diag.message_hint if diag is not None else None
    if hint and not is_data_error:
        message += f" (hint: {_QUOTED.sub(hide, hint)})"
    return f"{message} [SQLSTATE {state}]" if state else message


# ---- SQL in PostgreSQL's own placeholders ----------------------------------------------
_PLACEHOLDER = re.compile(r"%[s%]")
_NATIVE: dict[str, bytes] = {}
_NATIVE_LIMIT = 4096


def native_sql(sql: str) -> bytes:
    """Driver SQL (`%s` placeholders, `%%` for `%`) in PostgreSQL's `$1, $2` form, encoded.

    Statements run on psycopg's raw cursors, which send SQL as given: psycopg parses
    `%s` SQL on every run once it is longer than 4096 characters or has more than 50
    parameters (25 ms for a 2000-row insert, 70% of its time). The dialect emits only
    `%s` and `%%`, so this translation is exact; it is done once per SQL string.
    """
    found = _NATIVE.get(sql)
    if found is not None:
        return found
    counter = iter(range(1, 1 << 30))

    def replace(match: re.Match[str]) -> str:
        return "%" if match.group(0) == "%%" else f"${next(counter)}"

    found = _PLACEHOLDER.sub(replace, sql).encode()
    if len(_NATIVE) >= _NATIVE_LIMIT:
        _NATIVE.clear()      # a bound, not an LRU: compiled SQL is a small, stable set
    _NATIVE[sql] = found
    return found


# ---- the pooled connection -------------------------------------------------------------
class _Session:
    """A pooled connection and the one raw cursor every statement on it reuses."""

    __slots__ = ("connection", "cursor", "pool")

    def __init__(self, connection: Any, pool: Any = None) -> None:
        self.connection = connection
        raw_cursor = psycopg.AsyncRawCursor if pool is not None else psycopg.RawCursor
        self.cursor: Any = raw_cursor(connection)
        self.pool = pool      # async only: the loop's pool this session belongs to

    def __repr__(self) -> str:
        if self.connection.closed:      # psycopg raises on most reads of a closed one
            return "<postgres session (closed)>"
        pgconn = self.connection.pgconn
        status = pq.TransactionStatus(pgconn.transaction_status).name
        return f"<postgres session pid={pgconn.backend_pid} status={status}>"

    @property
    def status(self) -> int:
        """libpq's transaction status: IDLE, ACTIVE, INTRANS, INERROR or UNKNOWN."""
        return self.connection.pgconn.transaction_status  # type: ignore[no-any-return]


def _rowcount(cursor: Any) -> int:
    count: int = cursor.rowcount
    return count if count > 0 else 0


def _columns(cursor: Any) -> list[str]:
    description = cursor.description
    return [] if description is None else [column.name for column in description]


# A prepared statement whose table changed shape (ALTER COLUMN ... TYPE, or dropped and
# recreated) fails with "cached plan must not change result type" on every later run in
# that session; psycopg forgets its prepared statements only on the session that ran
# the DDL. The failure happens before anything executes, so outside a transaction the
# statement is safe to run again after DEALLOCATE ALL (which psycopg also notices).
def _stale_plan(error: psycopg.Error, session: _Session) -> bool:
    return (
        error.sqlstate == "0A000"
        and "cached plan" in str(error)
        and session.connection.pgconn.transaction_status == _IDLE
    )


def _run(session: _Session, sql: str, params: Sequence[Any]) -> Any:
    """Execute on the session's cursor (replanning once if DDL made its plan stale)."""
    query = _NATIVE.get(sql) or native_sql(sql)   # the cache hit inline, a call on a miss
    try:
        return session.cursor.execute(query, params)
    except psycopg.errors.FeatureNotSupported as error:
        if not _stale_plan(error, session):
            raise
    session.cursor.execute("DEALLOCATE ALL")
    return session.cursor.execute(query, params)


async def _arun(session: _Session, sql: str, params: Sequence[Any]) -> Any:
    """`_run` for an async session."""
    query = _NATIVE.get(sql) or native_sql(sql)
    try:
        return await session.cursor.execute(query, params)
    except psycopg.errors.FeatureNotSupported as error:
        if not _stale_plan(error, session):
            raise
    await session.cursor.execute("DEALLOCATE ALL")
    return await session.cursor.execute(query, params)


# ---- sync ------------------------------------------------------------------------------
class PostgresBackend(SyncBackend[PostgresConfig]):
    """PostgreSQL through psycopg's blocking `Connection`, pooled per backend."""

    config_type = PostgresConfig
    dialect = POSTGRES

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
        self._arguments = connect_arguments(config)
        self._pool: SyncPool[_Session] = SyncPool(
            self._connect, _close_session, config.pool_size, config.pool_timeout,
            f"PostgreSQL pool for {config.where}",
        )
        self._warm = config.pool_min_size == 0

    def _connect(self) -> _Session:
        try:
            connection = psycopg.Connection.connect(
                autocommit=True, prepare_threshold=self.config.prepare_threshold,
                **self._arguments,
            )
        except psycopg.Error as error:
            message = connection_message(error, self.config, connecting=True)
            raise ConnectionNotEstablished(message) from error
        return _Session(connection)

    def acquire(self) -> _Session:
        if not self._warm:
            self._warm_up()
        return self._pool.acquire()

    def _warm_up(self) -> None:
        """Open pool_min_size connections at first use (any failure is reported here)."""
        self._warm = True
        sessions: list[_Session] = []
        try:
            for _ in range(self.config.pool_min_size):
                sessions.append(self._pool.acquire())
        finally:
            for session in sessions:
                self._pool.release(session)

    def release(self, connection: _Session, discard: bool = False) -> None:
        if not discard and connection.connection.pgconn.transaction_status != _IDLE:
            discard = not self._reset(connection)
        self._pool.release(connection, discard)

    def _reset(self, session: _Session) -> bool:
        """Roll back what a statement left open; False when the session is unusable."""
        if session.status not in _RECOVERABLE:
            return False
        try:
            session.cursor.execute("ROLLBACK")
        except psycopg.Error:
            return False
        return True

    def close(self) -> None:
        self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the pool."""
        size, idle = self._pool.size, self._pool.idle
        return {"size": size, "idle": idle, "in_use": size - idle}

    # ---- driver primitives -------------------------------------------------------------
    def _execute(self, connection: _Session, sql: str, params: Sequence[Any]) -> int:
        return _rowcount(_run(connection, sql, params))

    def _fetch(self, connection: _Session, sql: str, params: Sequence[Any]) -> list[Row]:
        rows: list[Row] = _run(connection, sql, params).fetchall()
        return rows

    def _fetch_table(
        self, connection: _Session, sql: str, params: Sequence[Any]
    ) -> tuple[list[str], list[Row]]:
        cursor = _run(connection, sql, params)
        names = _columns(cursor)
        return names, (cursor.fetchall() if names else [])

    def _insert(
        self, connection: _Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        return [row[0] for row in _run(connection, sql, params).fetchall()]

    def translate(self, error: Exception, sql: str, params: Sequence[Any]) -> DatabaseError:
        return translate_error(error, sql, params, self.config)


def _close_session(session: _Session) -> None:
    session.connection.close()


# ---- async -----------------------------------------------------------------------------
class AsyncPostgresBackend(AsyncBackend[PostgresConfig]):
    """PostgreSQL through psycopg's `AsyncConnection`, one pool per running event loop."""

    config_type = PostgresConfig
    dialect = POSTGRES

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
        self._arguments = connect_arguments(config)
        self._pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        self._pools_lock = threading.Lock()
        # The pool used last: one attribute read, so threads running loops never mix them up.
        self._last: LoopPool | None = None
        self._closed = False

    # ---- a pool per loop ----------------------------------------------------------------
    def _current_entry(self) -> LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last.loop is loop:
            return last
        with self._pools_lock:      # loops in several threads may get here at once
            if self._closed:
                raise ConnectionNotEstablished(
                    f"the backend for the {self.config.where} is closed"
                )
            for old in [old for old in self._pools if old.is_closed()]:
                self._pools.pop(old).abandon()
            entry = self._pools.get(loop)
            if entry is None:
                entry = self._pools[loop] = LoopPool(loop, self._open_session, self.config)
            self._last = entry
        return entry

    async def _open_session(self, pool: AsyncPool[_Session]) -> _Session:
        """A new connection for `pool`; failures name the server, never the password."""
        try:
            connection = await psycopg.AsyncConnection.connect(
                autocommit=True, prepare_threshold=self.config.prepare_threshold,
                **self._arguments,
            )
        except psycopg.Error as error:
            message = connection_message(error, self.config, connecting=True)
            raise ConnectionNotEstablished(message) from error
        return _Session(connection, pool)

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the running loop's pool."""
        pool = self._current_entry().pool
        return {"size": pool.size, "idle": pool.idle, "in_use": pool.in_use}

    # ---- driver primitives ------------------------------------------------------------
    async def acquire(self) -> _Session:
        entry = self._current_entry()
        try:
            session = await entry.pool.acquire()
        except (PoolTimeout, PoolClosed) as error:
            # The error the sync kind raises when its pool is exhausted or closed.
            raise ConnectionNotEstablished(f"{self.config.where}: {error}") from error
        if entry.spares:
            await entry.open_spares(session)
        return session

    def _acquire_nowait(self) -> _Session | None:
        entry = self._current_entry()
        return None if entry.spares else entry.pool.acquire_nowait()

    def _release_nowait(self, connection: _Session) -> bool:
        if connection.connection.pgconn.transaction_status != _IDLE:
            return False   # release() rolls back what the statement left open
        released: bool = connection.pool.release_nowait(connection)
        return released

    async def release(self, connection: _Session, discard: bool = False) -> None:
        if not discard and connection.connection.pgconn.transaction_status != _IDLE:
            try:
                discard = not await self._reset(connection)
            except BaseException:   # cancelled while rolling back: never keep it out
                await connection.pool.release(connection, discard=True)
                raise
        await connection.pool.release(connection, discard=discard)

    async def _reset(self, session: _Session) -> bool:
        """Roll back what a statement left open; False when the session is unusable."""
        if session.status not in _RECOVERABLE:
            return False
        try:
            await session.cursor.execute("ROLLBACK")
        except psycopg.Error:
            return False
        return True

    async def close(self) -> None:
        """Close every pool: the running loop's now, the others on their own loops."""
        running = asyncio.get_running_loop()
        for entry in self._forget_pools():
            if entry.loop is running:
                await entry.pool.close()
            else:
                entry.close_elsewhere()

    def _close_unawaited(self) -> None:
        for entry in self._forget_pools():
            entry.close_elsewhere()

    def _forget_pools(self) -> list[LoopPool]:
        with self._pools_lock:
            self._closed = True
            self._last = None
            entries, self._pools = list(self._pools.values()), {}
        return entries

    async def _execute(self, connection: _Session, sql: str, params: Sequence[Any]) -> int:
        return _rowcount(await _arun(connection, sql, params))

    async def _fetch(self, connection: _Session, sql: str, params: Sequence[Any]) -> list[Row]:
        cursor = await _arun(connection, sql, params)
        rows: list[Row] = await cursor.fetchall()
        return rows

    async def _fetch_table(
        self, connection: _Session, sql: str, params: Sequence[Any]
    ) -> tuple[list[str], list[Row]]:
        cursor = await _arun(connection, sql, params)
        names = _columns(cursor)
        return names, (await cursor.fetchall() if names else [])

    async def _insert(
        self, connection: _Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        cursor = await _arun(connection, sql, params)
        return [row[0] for row in await cursor.fetchall()]

    def translate(self, error: Exception, sql: str, params: Sequence[Any]) -> DatabaseError:
        return translate_error(error, sql, params, self.config)


class LoopPool:
    """One event loop's pool, and every session it opened (to close them without it)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        open_session: Callable[[AsyncPool[_Session]], Awaitable[_Session]],
        config: PostgresConfig,
    ) -> None:
        self.loop = loop
        self.sessions: set[_Session] = set()
        # min_size=0: the pool's own warm-up swallows a failed connect and then retries
        # it, so an unreachable server would take twice connect_timeout to report.
        # The first acquire reports it, then `open_spares` tops up to pool_min_size.
        self.pool: AsyncPool[_Session] = AsyncPool(
            self._connect, max_size=config.pool_size, min_size=0,
            acquire_timeout=config.pool_timeout, close_connection=self._close,
            name=f"PostgreSQL pool for {config.where}",
        )
        self.spares = max(0, config.pool_min_size - 1)
        self._open_session = open_session

    async def open_spares(self, held: _Session) -> None:
        """After the first connection (`held`) opened, open the rest of pool_min_size.

        They open side by side and go idle; a failure is left to the acquire that
        meets it. If the caller is cancelled meanwhile, `held` goes back to the pool.
        """
        count, self.spares = self.spares, 0

        async def one() -> None:
            session = await self.pool.acquire()
            await self.pool.release(session)

        try:
            await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        except BaseException:
            await self.pool.release(held)
            raise

    async def _connect(self) -> _Session:
        session = await self._open_session(self.pool)
        self.sessions.add(session)
        return session

    async def _close(self, session: _Session) -> None:
        self.sessions.discard(session)
        await session.connection.close()

    def close_elsewhere(self) -> None:
        """Close this pool from outside its loop: on that loop if it still runs, else now."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.pool.close(), self.loop)
            return
        self.abandon()

    def abandon(self) -> None:
        """The loop is gone, and with it every task that held a session: close them all."""
        for session in list(self.sessions):
            session.connection.pgconn.finish()
        self.sessions.clear()
