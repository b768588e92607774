"""`AsyncMySQLBackend`: MySQL/MariaDB through `mysql.connector.aio`, on `AsyncPool`.

Values are quoted by the driver's converters and interpolated with `%` (as `cmd_query`
expects), honouring the session's NO_BACKSLASH_ESCAPES mode.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from time import monotonic
from typing import Any

import mysql.connector as _connector  # _core has checked it is installed
from mysql.connector import aio as _aio
from mysql.connector.constants import ClientFlag

from ...errors import ConfigurationError, ConnectionNotEstablished
from ...plan import arun
from ...sql.dialect import MYSQL
from .._config import BaseConfig
from .._core import AsyncBackend, Row
from ..pools.aio import AsyncPool, PoolClosed, PoolTimeout
from ._core import (
    _NO_BACKSLASH,
    _NO_TLS,
    _SERVER_FACTS_SQL,
    _SKIPPED_REPLY,
    MySQLConfig,
    Session,
    TLSPolicy,
    _first_row,
    _needs_ping,
    _refuse_broken,
    consecutive_keys,
    driver_kwargs,
    log,
    row_by_row_plan,
    server_facts,
)
from ._errors import connect_error, is_lost_connection, translate_error

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


class AsyncMySQLBackend(AsyncBackend[MySQLConfig]):
    """Async backend on `mysql.connector.aio`, pooled by `AsyncPool`.

    The pool is bound to the running event loop on first use; when the loop changes
    (one `asyncio.run` per test or script) a fresh pool is made and the old loop's
    connections are dropped.
    """

    config_type = MySQLConfig
    dialect = MYSQL
    error_table = staticmethod(translate_error)

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
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
            acquire_timeout=config.pool_timeout,
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
        self._drop_pool()  # a pool left on another (finished) loop
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
            return await arun(row_by_row_plan(session, sql, params, row_count), self)
        first = await self._statement_id(session, sql, params)
        return consecutive_keys(first, row_count, step)

    async def _statement_id(self, session: Session, sql: str, params: Sequence[Any]) -> int:
        result = await self._run(session, sql, params)
        await self._rows(session, result)
        return int(result["insert_id"])


# What mysql_real_escape_string escapes, applied to text before it is encoded; with
# NO_BACKSLASH_ESCAPES a backslash is an ordinary character and only ' is doubled.
_ESCAPES = str.maketrans(
    {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "\n": "\\n",
        "\r": "\\r",
        "\x00": "\\0",
        "\x1a": "\\Z",
    }
)
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
