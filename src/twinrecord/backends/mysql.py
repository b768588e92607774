"""MySQL and MariaDB on mysql-connector-python: `MySQLConfig`, `MySQLBackend` (sync, the
driver's C extension) and `AsyncMySQLBackend` (`mysql.connector.aio` on `AsyncPool`).

Everything that knows this driver or this server lives here: connection options and
TLS policy, the session wrapper each pool holds, statement execution, generated keys
without RETURNING, and the error table. Errors are translated in `_mysql_errors.py`.

Statements bypass the driver's cursors: the SQL arrives in driver form (`%s`, `%%`),
values are quoted by the driver's own converters and interpolated with `%`, and the
connection runs it (the sync kind through the C extension's MySQL object, the async
kind through `cmd_query`). Cursors re-scan every statement for `;` and never undouble
`%%`; skipping them is both faster and correct.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import socket
from collections.abc import Sequence
from time import monotonic
from typing import Any, Literal, NoReturn

from ..errors import ConfigurationError, ConnectionNotEstablished, DatabaseError
from ..sql.dialect import MYSQL
from ._aio_pool import AsyncPool, PoolClosed, PoolTimeout
from ._config import BaseConfig, mask_url, parse_server_url
from ._core import AsyncBackend, Row, SyncBackend
from ._mysql_errors import connect_error, is_lost_connection, translate_error
from ._pool import SyncPool

try:
    import mysql.connector as _connector
    from mysql.connector import aio as _aio
    from mysql.connector.constants import ClientFlag, ServerFlag
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ConfigurationError(
        "MySQL support needs mysql-connector-python: pip install 'twinrecord[mysql]'"
    ) from _missing

log = logging.getLogger("twinrecord.mysql")

TLSPolicy = Literal["disabled", "preferred", "required"]

# Connection options twinrecord owns: a user overriding them would break transactions
# (autocommit), rows-affected semantics (client_flags) or the C extension (use_pure).
_MANAGED_OPTIONS = frozenset(
    {"autocommit", "client_flags", "use_pure", "host", "port", "user", "password",
     "database", "charset", "collation", "connection_timeout", "connect_timeout",
     "pool_name", "pool_size", "buffered", "raw", "consume_results"}
)
_CLIENT_FLAGS = ClientFlag.get_default() | ClientFlag.FOUND_ROWS   # rows matched, not changed
_NO_BACKSLASH = ServerFlag.STATUS_NO_BACKSLASH_ESCAPES
_SERVER_FACTS_SQL = (
    "SELECT @@session.auto_increment_increment, @@innodb_autoinc_lock_mode, VERSION()"
)
_TLS_STATUS_SQL = "SHOW SESSION STATUS LIKE 'Ssl_cipher'"
# What sending a statement led to (the sync backend's `_send`); _SKIPPED is a rollback
# on a dropped connection, which the async backend answers with _SKIPPED_REPLY.
_DONE, _ROWS, _SKIPPED = 0, 1, 2
_SKIPPED_REPLY: dict[str, Any] = {"affected_rows": 0, "insert_id": 0}


# ---- configuration ----------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, repr=False)
class MySQLConfig(BaseConfig):
    """Where and how to connect. `repr()` masks the password.

    TLS: `ssl_disabled=None` (the default) uses TLS when the server offers it and plain
    TCP otherwise; `ssl_disabled=True` never uses TLS; `ssl_disabled=False` or any
    `ssl_*` option requires TLS and refuses a server without it.
    """

    host: str = "127.0.0.1"
    port: int = 3306
    database: str | None = None
    user: str = "root"
    password: str = ""
    unix_socket: str | None = None
    charset: str = "utf8mb4"
    collation: str | None = None
    pool_size: int = 10
    pool_min_size: int = 1
    connect_timeout: float = 10.0
    acquire_timeout: float = 30.0
    # A connection idle longer than this is pinged before reuse, so one the server
    # dropped meanwhile (wait_timeout, a restart) is replaced instead of failing.
    ping_after: float = 60.0
    ssl_disabled: bool | None = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool = False
    ssl_verify_identity: bool = False
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if self.pool_size < 1:
            problems.append(f"pool_size must be at least 1, got {self.pool_size}")
        if not 0 <= self.pool_min_size <= max(self.pool_size, 0):
            problems.append(
                f"pool_min_size must be between 0 and pool_size ({self.pool_size}), "
                f"got {self.pool_min_size}"
            )
        if self.connect_timeout <= 0 or self.acquire_timeout <= 0:
            problems.append("connect_timeout and acquire_timeout must be positive")
        if not 0 < self.port < 65536:
            problems.append(f"port must be 1..65535, got {self.port}")
        managed = sorted(_MANAGED_OPTIONS & set(self.options))
        if managed:
            problems.append(
                f"options may not set {', '.join(managed)}: twinrecord manages them "
                "(use the config's own fields where there is one)"
            )
        if self.ssl_disabled is True and self._tls_requested():
            problems.append("ssl_disabled=True contradicts the ssl_* options given")
        if problems:
            raise ConfigurationError(f"{self!r}: " + "; ".join(problems))

    @classmethod
    def from_url(cls, url: str) -> MySQLConfig:
        """mysql://user:password@host:port/database?pool_size=5 (also mariadb://)."""
        scheme = url.split(":", 1)[0].lower().split("+", 1)[0]
        if scheme not in ("mysql", "mariadb"):
            raise ConfigurationError(f"not a mysql:// or mariadb:// URL: {mask_url(url)!r}")
        options = parse_server_url(url)
        if "options" in options:
            raise ConfigurationError(
                f"'options' cannot be set in a URL ({mask_url(url)!r}); pass "
                "MySQLConfig(options={...})"
            )
        return cls.from_options(options, repr(mask_url(url)))

    def _tls_requested(self) -> bool:
        return bool(
            self.ssl_ca or self.ssl_cert or self.ssl_key
            or self.ssl_verify_cert or self.ssl_verify_identity
        )

    @property
    def tls_policy(self) -> TLSPolicy:
        if self.ssl_disabled is True:
            return "disabled"
        if self.ssl_disabled is False or self._tls_requested():
            return "required"
        return "preferred"

    @property
    def location(self) -> str:
        """host:port and database, for messages (never the password)."""
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"MySQL server {where}, database {self.database!r}, user {self.user!r}"


def driver_kwargs(config: MySQLConfig, *, is_async: bool) -> dict[str, Any]:
    """The keyword arguments the driver's connection class is built with."""
    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "user": config.user,
        "password": config.password,
        "charset": config.charset,
        "autocommit": True,            # transactions are explicit SQL (_transaction.py)
        "client_flags": _CLIENT_FLAGS,
        # The C client takes whole seconds; never round a small timeout down to "none".
        "connection_timeout": max(1, math.ceil(config.connect_timeout)),
    }
    optional = {
        "database": config.database,
        "unix_socket": config.unix_socket,
        "collation": config.collation,
    }
    kwargs.update({key: value for key, value in optional.items() if value})
    kwargs.update(_tls_kwargs(config))
    if not is_async:
        kwargs["use_pure"] = False
    kwargs.update(config.options)
    return kwargs


def _tls_kwargs(config: MySQLConfig) -> dict[str, Any]:
    policy = config.tls_policy
    if policy == "disabled":
        return {"ssl_disabled": True}
    given = {
        "ssl_ca": config.ssl_ca,
        "ssl_cert": config.ssl_cert,
        "ssl_key": config.ssl_key,
        "ssl_verify_cert": config.ssl_verify_cert,
        "ssl_verify_identity": config.ssl_verify_identity,
    }
    kwargs: dict[str, Any] = {key: value for key, value in given.items() if value}
    kwargs["ssl_disabled"] = False
    return kwargs


_NO_TLS = (
    "TLS is required (ssl_disabled=False or an ssl_* option) but the server does not "
    "offer it; enable TLS on the server or set ssl_disabled=True"
)


def _no_tls_error(config: MySQLConfig) -> ConnectionNotEstablished:
    return ConnectionNotEstablished(f"cannot connect to {config.location}: {_NO_TLS}")


# ---- server facts -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServerFacts:
    """What a new connection learns once, in one query."""

    version: str
    id_step: int | None    # auto-increment step when a multi-row INSERT gets consecutive ids

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()


def server_facts(row: Sequence[Any]) -> ServerFacts:
    """From (auto_increment_increment, innodb_autoinc_lock_mode, VERSION())."""
    increment, lock_mode, version = row
    # Lock modes 0 ('traditional') and 1 ('consecutive', MariaDB's default) give every
    # simple multi-row INSERT consecutive ids; mode 2 ('interleaved', MySQL 8's default)
    # documents no such guarantee, so those INSERTs fall back to one row per statement.
    consecutive = lock_mode is not None and int(lock_mode) in (0, 1)
    return ServerFacts(str(version), int(increment) if consecutive else None)


def _first_row(rows: Sequence[Any]) -> Sequence[Any]:
    return tuple(rows[0]) if rows else ()


def single_row_sql(sql: str, width: int, row_count: int) -> str:
    """The one-row form of a multi-row `INSERT ... VALUES (...), (...)` from the compiler."""
    marker = " VALUES "
    head = sql[: sql.find(marker) + len(marker)]
    row = "(" + ", ".join(["%s"] * width) + ")"
    if not head.strip() or sql != head + ", ".join([row] * row_count):
        raise ConfigurationError(
            "cannot split this multi-row INSERT into single rows (unexpected shape); "
            f"SQL: {sql[:200]}"
        )
    return head + row


# ---- sessions ---------------------------------------------------------------------------


class Session:
    """A pooled connection plus what twinrecord tracks about it.

    `busy` is set while a statement runs; a session released while still busy was
    interrupted mid-statement (cancellation, KeyboardInterrupt) and is never reused.
    `dead` marks a connection the server or network dropped.
    """

    __slots__ = (
        "busy", "connection", "dead", "driver", "facts", "no_backslash", "pool", "released_at",
        "thread_id",
    )

    def __init__(self, connection: Any, pool: Any = None) -> None:
        self.connection = connection
        # The C extension's MySQL object, which the sync backend drives directly.
        self.driver: Any = getattr(connection, "_cmysql", None)
        self.pool = pool
        self.busy = False
        self.dead = False
        self.no_backslash = False
        self.facts = ServerFacts("", None)
        self.thread_id: int | None = connection.connection_id
        self.released_at: float | None = None      # None: never used, so surely alive

    @property
    def reusable(self) -> bool:
        return not (self.busy or self.dead)


def _needs_ping(session: Session, config: MySQLConfig) -> bool:
    """Whether an idle session sat long enough that the server may have dropped it."""
    released = session.released_at
    return released is not None and monotonic() - released >= config.ping_after


def _is_rollback(sql: str) -> bool:
    head = sql.lstrip()[:18].upper()
    return head.startswith("ROLLBACK") or head.startswith("RELEASE SAVEPOINT")


def _refuse_broken(sql: str, config: MySQLConfig) -> bool:
    """For a session whose connection is unusable: True to skip a rollback, else raise.

    A connection dropped mid-transaction has rolled back on the server already, so
    the ROLLBACK a failing `transaction()` block sends is a no-op; anything else
    (COMMIT included) must fail loudly.
    """
    if _is_rollback(sql):
        return True
    raise ConnectionNotEstablished(
        f"the connection to {config.location} was lost, or a statement on it was "
        "interrupted; the server has rolled back its transaction"
    )


# ---- the synchronous backend -------------------------------------------------------------


def _cext_connection_class() -> Any:
    try:
        from mysql.connector.connection_cext import CMySQLConnection
    except ImportError as error:  # pragma: no cover - depends on the platform's wheel
        raise ConfigurationError(
            "MySQLBackend needs mysql-connector-python's C extension, which did not load "
            f"({error}); install the pinned wheel (pip install 'twinrecord[mysql]') or "
            "use the async backend"
        ) from error
    return CMySQLConnection


class MySQLBackend(SyncBackend):
    """Sync backend on the C extension (`CMySQLConnection`), pooled by `SyncPool`.

    SyncPool over the driver's own pooling: the driver's pool raises at once when
    exhausted instead of waiting, and resets every session on return (a round trip).
    """

    config_type = MySQLConfig
    dialect = MYSQL

    def __init__(self, config: BaseConfig) -> None:
        if not isinstance(config, MySQLConfig):
            raise ConfigurationError(f"MySQLBackend needs a MySQLConfig, got {config!r}")
        super().__init__(config)
        self.config: MySQLConfig = config
        self._connection_class = _cext_connection_class()
        self._kwargs = driver_kwargs(config, is_async=False)
        self._pool: SyncPool[Session] = SyncPool(
            self._connect, self._close_session, config.pool_size, config.acquire_timeout,
            f"MySQL pool for {config.location}",
        )
        first = self._pool.acquire()    # fail at configure() on a bad server or password
        self.release(first)

    @property
    def pool(self) -> SyncPool[Session]:
        return self._pool

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the pool."""
        size, idle = self._pool.size, self._pool.idle
        return {"size": size, "idle": idle, "in_use": size - idle}

    def _connect(self) -> Session:
        try:
            connection = self._connection_class(**self._kwargs)
        except Exception as error:
            raise connect_error(self.config, error) from error
        session = Session(connection)
        try:
            self._learn(session)
        except BaseException:
            self._close_session(session)
            raise
        return session

    def _learn(self, session: Session) -> None:
        try:
            session.facts = server_facts(_first_row(self._fetch(session, _SERVER_FACTS_SQL, ())))
            if self.config.tls_policy == "required":
                status = _first_row(self._fetch(session, _TLS_STATUS_SQL, ()))
                if len(status) < 2 or not status[1]:
                    raise _no_tls_error(self.config)
        except DatabaseError:
            raise
        except Exception as error:
            raise connect_error(self.config, error) from error

    def acquire(self) -> Session:
        # Every idle connection may have been dropped, but a fresh one never is.
        for _ in range(self.config.pool_size + 1):
            session = self._pool.acquire()
            if not _needs_ping(session, self.config) or self._alive(session):
                return session
            self._pool.release(session, discard=True)
        return self._pool.acquire()

    def _alive(self, session: Session) -> bool:
        try:
            alive = bool(session.driver.ping())
        except Exception:
            alive = False
        session.dead = not alive
        return alive

    def release(self, session: Session, discard: bool = False) -> None:
        if discard or not session.reusable:
            self._pool.release(session, discard=True)
            return
        if session.connection.in_transaction:
            # Raw SQL opened a transaction outside `transaction()`: never lend it on.
            try:
                session.connection.cmd_query(b"ROLLBACK")
            except Exception:
                self._pool.release(session, discard=True)
                return
        session.released_at = monotonic()
        self._pool.release(session)

    def close(self) -> None:
        self._pool.close()

    def _retire(self, session: Session) -> None:
        """Mark a session unusable for good; an interrupted one is killed on the server,
        which ends its statement and rolls its transaction back."""
        if session.busy and not session.dead:
            self._kill(session.thread_id)
        session.busy = False
        session.dead = True

    def _close_session(self, session: Session) -> None:
        self._retire(session)
        try:
            session.connection.close()
        except Exception:
            log.debug("error closing a MySQL connection", exc_info=True)

    def _kill(self, thread_id: int | None) -> None:
        """End an interrupted session's statement and transaction on the server at once."""
        if thread_id is None:
            return
        try:
            side = self._connection_class(**self._kwargs)
            try:
                side.cmd_query(f"KILL CONNECTION {int(thread_id)}".encode())
            finally:
                side.close()
        except Exception:
            log.debug("could not kill MySQL session %s", thread_id, exc_info=True)

    # ---- driver primitives -------------------------------------------------------------
    # These drive the C extension's own MySQL object (`CMySQLConnection._cmysql`): its
    # `fetch_row` loop costs half of `get_rows()`, which rebuilds the column list and
    # copies each row twice. All session state stays in C, so the connection object
    # (in_transaction, close) remains consistent.
    def _send(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        """Run one statement: _ROWS (a result set left to read), _DONE or _SKIPPED."""
        if not session.reusable:
            self._retire(session)
            if _refuse_broken(sql, self.config):
                return _SKIPPED
        driver = session.driver
        if params:
            statement = sql.encode() % driver.convert_to_mysql(*params)
        else:
            statement = sql.replace("%%", "%").encode()
        session.busy = True
        try:
            driver.query(statement)
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            _raise_as_driver_error(error)
        if driver.have_result_set:
            return _ROWS
        session.busy = False
        return _DONE

    def _drain(self, session: Session) -> list[Row]:
        driver = session.driver
        rows: list[Row] = []
        append, fetch = rows.append, driver.fetch_row
        try:
            row = fetch()
            while row is not None:
                append(row)
                row = fetch()
            driver.free_result()
        except Exception as error:
            session.dead = True  # rows left unread: the protocol is out of step
            _raise_as_driver_error(error)
        except BaseException:
            session.dead = True
            raise
        session.busy = False
        return rows

    def _execute(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        state = self._send(session, sql, params)
        if state == _ROWS:
            self._drain(session)    # a SELECT through execute(): read and drop its rows
        if state != _DONE:
            return 0
        count = int(session.driver.affected_rows())
        return count if 0 < count < 2**63 else 0

    def _fetch(self, session: Session, sql: str, params: Sequence[Any]) -> list[Row]:
        if self._send(session, sql, params) != _ROWS:
            return []
        return self._drain(session)

    def _fetch_table(
        self, session: Session, sql: str, params: Sequence[Any]
    ) -> tuple[list[str], list[Row]]:
        if self._send(session, sql, params) != _ROWS:
            return [], []
        names = [field[4] for field in session.driver.fetch_fields()]
        return names, self._drain(session)

    def _insert(
        self, session: Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        step = session.facts.id_step
        if row_count > 1 and step is None:
            return self._insert_rows(session, sql, params, row_count)
        self._execute(session, sql, params)
        first = int(session.driver.insert_id())
        return list(range(first, first + row_count * (step or 1), step or 1))

    def _insert_rows(
        self, session: Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        """One INSERT per row, for servers that do not promise consecutive ids; atomic
        like the multi-row statement it replaces."""
        width = len(params) // row_count
        one = single_row_sql(sql, width, row_count)
        own_transaction = not session.connection.in_transaction
        if own_transaction:
            self._execute(session, "START TRANSACTION", ())
        try:
            keys = []
            for start in range(0, len(params), width):
                self._execute(session, one, params[start : start + width])
                keys.append(int(session.driver.insert_id()))
        except BaseException:
            if own_transaction and session.reusable:
                self._execute(session, "ROLLBACK", ())
            raise
        if own_transaction:
            self._execute(session, "COMMIT", ())
        return keys

    def translate(self, error: Exception, sql: str, params: Sequence[Any]) -> DatabaseError:
        return translate_error(error, sql, params, self.config)


# ---- the asynchronous backend ------------------------------------------------------------


class _AioConnection(_aio.MySQLConnection):
    """`mysql.connector.aio`'s connection, taught the TLS policy the sync client follows.

    Left alone, it connects in plain text to a server without TLS and then fails
    reading the (absent) cipher; here 'preferred' falls back to plain text cleanly and
    'required' refuses before any credentials are sent.
    """

    tls_policy: TLSPolicy = "preferred"

    async def _do_handshake(self) -> None:
        await super()._do_handshake()
        capabilities = int((self._handshake or {}).get("capabilities") or 0)
        if capabilities & ClientFlag.SSL:
            return
        if self.tls_policy == "required":
            raise _connector.errors.InterfaceError(_NO_TLS, errno=2026)
        self._ssl_disabled = True


class AsyncMySQLBackend(AsyncBackend):
    """Async backend on `mysql.connector.aio`, pooled by `AsyncPool`.

    The pool is bound to the running event loop on first use; when the loop changes
    (one `asyncio.run` per test or script) a fresh pool is made and the old loop's
    connections are dropped.
    """

    config_type = MySQLConfig
    dialect = MYSQL

    def __init__(self, config: BaseConfig) -> None:
        if not isinstance(config, MySQLConfig):
            raise ConfigurationError(f"AsyncMySQLBackend needs a MySQLConfig, got {config!r}")
        super().__init__(config)
        self.config: MySQLConfig = config
        self._kwargs = driver_kwargs(config, is_async=True)
        self._pool: AsyncPool[Session] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._kills: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pool(self) -> AsyncPool[Session]:
        """The pool of the running loop (made on first use)."""
        loop = asyncio.get_running_loop()
        pool = self._pool
        if pool is None or self._loop is not loop:
            pool = self._new_pool(loop)
        return pool

    def _new_pool(self, loop: asyncio.AbstractEventLoop) -> AsyncPool[Session]:
        if self._closed:
            raise ConnectionNotEstablished(
                f"this backend for {self.config.location} was closed (or replaced by a "
                "later configure()); configure the model again"
            )
        old = self._loop
        if self._pool is not None and old is not None and old.is_running():
            raise ConfigurationError(
                "this async MySQL backend is in use by another running event loop; "
                "a backend serves one loop at a time (configure a model per loop)"
            )
        self._drop_pool()
        config = self.config
        self._pool = AsyncPool(
            self._connect,
            max_size=config.pool_size,
            min_size=config.pool_min_size,
            acquire_timeout=config.acquire_timeout,
            is_usable=lambda session: session.reusable and session.connection.is_socket_connected(),
            close_connection=self._close_session,
            name=f"MySQL pool for {config.location}",
        )
        self._loop = loop
        return self._pool

    async def _connect(self) -> Session:
        connection = _AioConnection(**self._kwargs)
        connection.tls_policy = self.config.tls_policy
        try:
            # The driver's own timeout covers only the TCP connect; ours covers the
            # handshake and authentication too.
            async with asyncio.timeout(self.config.connect_timeout):
                await connection.connect()
            session = Session(connection, self._pool)
            rows = await self._fetch(session, _SERVER_FACTS_SQL, ())
        except Exception as error:
            await _close_quietly(connection)
            raise connect_error(self.config, error) from error
        except BaseException:
            await _close_quietly(connection)
            raise
        session.facts = server_facts(_first_row(rows))
        return session

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the running loop's pool."""
        pool = self.pool
        return {"size": pool.size, "idle": pool.idle, "in_use": pool.in_use}

    async def acquire(self) -> Session:
        pool = self.pool
        # Every idle connection may have been dropped, but a fresh one never is.
        for _ in range(self.config.pool_size + 1):
            session = await self._checkout(pool)
            if not _needs_ping(session, self.config) or await self._alive(session):
                return session
            await pool.release(session, discard=True)
        return await self._checkout(pool)

    async def _checkout(self, pool: AsyncPool[Session]) -> Session:
        try:
            return await pool.acquire()
        except (PoolTimeout, PoolClosed) as error:
            # What the sync kind raises when its pool is exhausted or closed.
            raise ConnectionNotEstablished(f"{self.config.location}: {error}") from error

    async def _alive(self, session: Session) -> bool:
        try:
            await session.connection.cmd_ping()
        except Exception:
            session.dead = True
            return False
        return True

    async def release(self, session: Session, discard: bool = False) -> None:
        pool = self._pool
        if pool is None or session.pool is not pool:
            await self._close_session(session)  # from a replaced pool or loop
            return
        if discard or not session.reusable:
            await pool.release(session, discard=True)
            return
        if session.connection.in_transaction:
            # Raw SQL opened a transaction outside `transaction()`: never lend it on.
            try:
                await session.connection.cmd_query(b"ROLLBACK")
            except Exception:
                await pool.release(session, discard=True)
                return
        session.released_at = monotonic()
        await pool.release(session)

    async def close(self) -> None:
        self._closed = True
        if self._pool is not None and self._loop is asyncio.get_running_loop():
            pool, self._pool = self._pool, None
            await pool.close()
        self._drop_pool()      # a pool left on another (finished) loop
        if self._kills:
            await asyncio.gather(*self._kills, return_exceptions=True)

    def _close_unawaited(self) -> None:
        """Close without a running loop (a replaced backend): abort idle sockets."""
        self._closed = True
        self._drop_pool()

    def _drop_pool(self) -> None:
        """Forget the pool, aborting its idle connections' sockets (no I/O, no loop)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for session in pool.drain_idle():
            _abort(session.connection)

    async def _retire(self, session: Session) -> None:
        """Mark a session unusable for good (see MySQLBackend._retire)."""
        interrupted = session.busy and not session.dead
        session.busy = False
        session.dead = True
        if not interrupted or session.thread_id is None:
            return
        # Cancelled mid-statement: the server would run it (holding its locks and its
        # transaction) to the end. Its socket is mid-reply, so it is aborted, and the
        # session is killed from a side connection, shielded so that a second
        # cancellation cannot leave the kill half done.
        _abort(session.connection)
        task = asyncio.ensure_future(self._kill(session.thread_id))
        self._kills.add(task)
        task.add_done_callback(self._kills.discard)
        await asyncio.shield(task)

    async def _close_session(self, session: Session) -> None:
        await self._retire(session)
        await _close_quietly(session.connection)

    async def _kill(self, thread_id: int) -> None:
        side = _AioConnection(**self._kwargs)
        side.tls_policy = self.config.tls_policy
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await side.connect()
                await side.cmd_query(f"KILL CONNECTION {int(thread_id)}".encode())
        except Exception:
            log.debug("could not kill MySQL session %s", thread_id, exc_info=True)
        finally:
            await _close_quietly(side)

    # ---- driver primitives -------------------------------------------------------------
    def _statement(self, session: Session, sql: str, params: Sequence[Any]) -> bytes:
        if not params:
            return sql.replace("%%", "%").encode()
        converter = session.connection.converter
        no_backslash = session.no_backslash
        return sql.encode() % tuple(_aio_literal(converter, v, no_backslash) for v in params)

    async def _run(self, session: Session, sql: str, params: Sequence[Any]) -> Any:
        if not session.reusable:
            await self._retire(session)
            if _refuse_broken(sql, self.config):
                return _SKIPPED_REPLY
        statement = self._statement(session, sql, params)
        session.busy = True
        try:
            result = await session.connection.cmd_query(statement)
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            raise
        return result

    async def _rows(self, session: Session, result: Any) -> list[Row]:
        if "columns" not in result:
            session.no_backslash = bool(result.get("status_flag", 0) & _NO_BACKSLASH)
            session.busy = False
            return []
        try:
            rows, eof = await session.connection.get_rows()
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            raise
        session.busy = False
        if eof:
            session.no_backslash = bool(eof.get("status_flag", 0) & _NO_BACKSLASH)
        return list(rows)

    async def _execute(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        result = await self._run(session, sql, params)
        await self._rows(session, result)
        return int(result.get("affected_rows") or 0)

    async def _fetch(self, session: Session, sql: str, params: Sequence[Any]) -> list[Row]:
        return await self._rows(session, await self._run(session, sql, params))

    async def _fetch_table(
        self, session: Session, sql: str, params: Sequence[Any]
    ) -> tuple[list[str], list[Row]]:
        result = await self._run(session, sql, params)
        names = [column[0] for column in result.get("columns", ())]
        return names, await self._rows(session, result)

    async def _insert(
        self, session: Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        step = session.facts.id_step
        if row_count > 1 and step is None:
            return await self._insert_rows(session, sql, params, row_count)
        result = await self._run(session, sql, params)
        await self._rows(session, result)
        first = int(result["insert_id"])
        return list(range(first, first + row_count * (step or 1), step or 1))

    async def _insert_rows(
        self, session: Session, sql: str, params: Sequence[Any], row_count: int
    ) -> list[Any]:
        """One INSERT per row (see MySQLBackend._insert_rows)."""
        width = len(params) // row_count
        one = single_row_sql(sql, width, row_count)
        own_transaction = not session.connection.in_transaction
        if own_transaction:
            await self._execute(session, "START TRANSACTION", ())
        try:
            keys = []
            for start in range(0, len(params), width):
                result = await self._run(session, one, params[start : start + width])
                await self._rows(session, result)
                keys.append(int(result["insert_id"]))
        except Exception:
            if own_transaction and session.reusable:
                await self._execute(session, "ROLLBACK", ())
            raise
        if own_transaction:
            await self._execute(session, "COMMIT", ())
        return keys

    def translate(self, error: Exception, sql: str, params: Sequence[Any]) -> DatabaseError:
        return translate_error(error, sql, params, self.config)


def _raise_as_driver_error(error: Exception) -> NoReturn:
    """Re-raise the C extension's bare error as the driver's documented exception class
    (what `cmd_query` would raise), so users find a `mysql.connector.Error` as cause."""
    errno = getattr(error, "errno", None)
    if isinstance(error, _connector.Error) or not isinstance(errno, int):
        raise error
    raise _connector.errors.get_mysql_exception(
        errno, msg=getattr(error, "msg", None), sqlstate=getattr(error, "sqlstate", None)
    ) from error


# What mysql_real_escape_string escapes, applied to text before it is encoded; with
# NO_BACKSLASH_ESCAPES a backslash is an ordinary character and only ' is doubled.
_ESCAPES = str.maketrans({
    "\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\x00": "\\0",
    "\x1a": "\\Z",
})
_QUOTES_ONLY = str.maketrans({"'": "''"})


def _aio_literal(converter: Any, value: Any, no_backslash: bool) -> bytes:
    """One value as SQL text, quoted and escaped as the driver's cursor would.

    Text, numbers and NULL (nearly every value) take a direct path; the rest go
    through the driver's converter. Only for UTF-8 connections: the driver sends
    text in charsets such as SJIS or GBK, whose bytes may contain 0x5c, as hex.
    """
    kind = type(value)
    if kind is str and converter.charset == "utf8":
        text: str = value.translate(_QUOTES_ONLY if no_backslash else _ESCAPES)
        return b"'" + text.encode() + b"'"
    if value is None:
        return b"NULL"
    if kind is int or kind is float:
        return repr(value).encode()
    mode = "NO_BACKSLASH_ESCAPES" if no_backslash else None
    return bytes(converter.quote(converter.escape(converter.to_mysql(value), mode)))


async def _close_quietly(connection: Any) -> None:
    try:
        await connection.close()
    except Exception:
        _abort(connection)


def _abort(connection: Any) -> None:
    """Drop a connection's socket without awaiting anything (its loop may be gone)."""
    try:
        writer = connection._socket._writer if connection._socket else None
        if writer is None:
            return
        try:
            writer.transport.abort()
        except RuntimeError:
            # Its loop is closed, so abort() cannot finish; shutting the socket down
            # still ends the server's session now rather than at garbage collection.
            sock = writer.transport.get_extra_info("socket")
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)
    except Exception:
        log.debug("could not abort a MySQL connection", exc_info=True)


__all__ = [
    "AsyncMySQLBackend",
    "MySQLBackend",
    "MySQLConfig",
    "ServerFacts",
    "Session",
    "driver_kwargs",
]
