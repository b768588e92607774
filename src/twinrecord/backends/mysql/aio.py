"""`AsyncMySQLBackend`: MySQL/MariaDB through `mysql.connector.aio`, on `AsyncPool`.

Values are quoted by the driver's converters and interpolated with `%` (as `cmd_query`
expects), honouring the session's NO_BACKSLASH_ESCAPES mode.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from time import monotonic
from typing import Any

import mysql.connector as _connector  # _core has checked it is installed
from mysql.connector import aio as _aio
from mysql.connector.constants import ClientFlag

from ...errors import ConnectionNotEstablished
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
    at_fork_in_child,
    consecutive_keys,
    driver_kwargs,
    keep_forever,
    log,
    parts_plan,
    server_facts,
    session_settings,
    too_large,
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
    """Async backend on `mysql.connector.aio`, one `AsyncPool` per running event loop.

    Connections belong to the loop that opened them, so each loop (one `asyncio.run`
    per test or script, or threads running loops of their own) gets a pool of its
    own; the pool of a loop that has ended is dropped, its sockets aborted.
    """

    config_type = MySQLConfig
    dialect = MYSQL
    error_table = staticmethod(translate_error)

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        self._kwargs = driver_kwargs(self.config, is_async=True)
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._pools_lock = threading.Lock()
        # The pool used last: one attribute read, so threads running loops never mix them up.
        self._last: _LoopPool | None = None
        self._kills: set[asyncio.Task[None]] = set()
        self._closed = False
        _BACKENDS.add(self)

    def _forked(self) -> None:
        """In a forked child: forget the parent's pools without touching their
        connections (their sockets are the parent's too); new loops get new pools."""
        keep_forever(self._pools)
        self._pools = {}
        self._pools_lock = threading.Lock()  # another thread may have held it at fork
        self._last = None
        self._kills = set()

    # ---- a pool per loop ----------------------------------------------------------------
    def _entry(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last.loop is loop:
            return last
        with self._pools_lock:  # loops in several threads may get here at once
            if self._closed:
                raise ConnectionNotEstablished(
                    f"this backend for {self.config.location} was closed (or replaced by "
                    "a later configure()); configure the model again"
                )
            for old in [old for old in self._pools if old.is_closed()]:
                self._pools.pop(old).abandon()
            entry = self._pools.get(loop)
            if entry is None:
                entry = self._pools[loop] = _LoopPool(
                    loop, self._open_session, self._close_session, self.config
                )
            self._last = entry
        return entry

    @property
    def pool(self) -> AsyncPool[Session]:
        """The pool of the running loop (made on first use)."""
        return self._entry().pool

    async def _open_session(self, pool: AsyncPool[Session]) -> Session:
        """A new connection for `pool`, ready for statements, within connect_timeout
        (the whole of it: TCP, handshake, authentication and the session's settings)."""
        connection = _AioConnection(**self._kwargs)
        connection.tls_policy = self.config.tls_policy
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await connection.connect()
                session = Session(connection, pool)
                session.facts = server_facts(
                    _first_row(await self._fetch(session, _SERVER_FACTS_SQL, ()))
                )
                for statement in session_settings(self.config, session.facts):
                    await self._execute(session, statement, ())
        except Exception as error:
            await _close_quietly(connection)
            raise connect_error(self.config, error) from error
        except BaseException:
            await _close_quietly(connection)
            raise
        return session

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the running loop's pool."""
        pool = self.pool
        return {"size": pool.size, "idle": pool.idle, "in_use": pool.in_use}

    async def acquire(self) -> Session:
        entry = self._entry()
        pool = entry.pool
        # Every idle connection may have been dropped, but a fresh one never is.
        for _ in range(self.config.pool_size + 1):
            session = await self._checkout(pool)
            if not _needs_ping(session, self.config) or await self._alive(session):
                break
            await pool.release(session, discard=True)
        else:
            session = await self._checkout(pool)
        if pool.size < self.config.pool_min_size and not entry.topping_up:
            await entry.open_spares(session)
        return session

    async def connection_lost(self, connection: Any) -> None:
        """A statement found its connection dead: drop every idle one of its loop's
        pool, so a server restart costs one failed statement, not one per connection."""
        entry = self._last
        if entry is None or entry.pool is not connection.pool:
            entry = self._entry()
        if entry.pool is connection.pool:
            await entry.discard_idle()

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
        if session.inherited:
            keep_forever(session)  # the parent's (a fork inside a transaction)
            return
        pool: AsyncPool[Session] = session.pool
        if discard or not session.reusable or pool.closed:
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
        """Close every pool: the running loop's now, the others on their own loops."""
        await self.close_replicas()
        running = asyncio.get_running_loop()
        for entry in self._forget_pools():
            if entry.loop is running:
                await entry.pool.close()
            else:
                entry.close_elsewhere()
        kills = [task for task in self._kills if task.get_loop() is running]
        if kills:
            await asyncio.gather(*kills, return_exceptions=True)

    def _close_unawaited(self) -> None:
        """Close without awaiting (a replaced backend): each pool on its own loop."""
        self._close_replicas_unawaited()
        for entry in self._forget_pools():
            entry.close_elsewhere()

    def _forget_pools(self) -> list[_LoopPool]:
        with self._pools_lock:
            self._closed = True
            self._last = None
            entries, self._pools = list(self._pools.values()), {}
        return entries

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
    def _statement(self, session: Session, sql: str, params: Sequence[object]) -> bytes:
        if not params:
            return sql.replace("%%", "%").encode()
        return sql.encode() % tuple(self._literals(session, params))

    def _literals(self, session: Session, params: Sequence[object]) -> list[bytes]:
        converter = session.connection.converter
        no_backslash = session.no_backslash
        return [_aio_literal(converter, value, no_backslash) for value in params]

    def _sizes(self, session: Session, params: Sequence[object]) -> Any:
        """How long each value is as SQL text (computed only when an INSERT is split)."""
        return lambda: [len(literal) for literal in self._literals(session, params)]

    async def _run(
        self, session: Session, sql: str, params: Sequence[object], statement: bytes | None = None
    ) -> Any:
        if not session.reusable:
            await self._retire(session)
            if _refuse_broken(sql, self.config):
                return _SKIPPED_REPLY
        if statement is None:
            statement = self._statement(session, sql, params)
        if len(statement) > session.facts.statement_budget:
            raise too_large(len(statement), session.facts, sql, params)
        session.busy = True
        try:
            result = await session.connection.cmd_query(statement)
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            raise
        return result

    async def _rows(self, session: Session, result: Any) -> list[Row]:
        connection = session.connection
        rows: Any = ()
        status = result
        try:
            if "columns" in result:
                rows, status = await connection.get_rows()
            if connection.have_next_result:
                await self._skip_more_results(session)
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            raise
        session.busy = False
        if status:
            session.no_backslash = bool(status.get("status_flag", 0) & _NO_BACKSLASH)
        return list(rows)

    async def _skip_more_results(self, session: Session) -> None:
        """Read and drop the results after the first (a CALL returns its procedure's
        result sets and then a status of its own), so the connection stays in step."""
        connection = session.connection
        while connection.have_next_result:
            result = await connection._handle_result(await connection._socket.read())
            if "columns" in result:
                await connection.get_rows()

    async def _execute(self, session: Session, sql: str, params: Sequence[object]) -> int:
        statement = self._statement(session, sql, params) if session.reusable else None
        if statement is not None and len(statement) > session.facts.statement_budget:
            plan = parts_plan(session, sql, params, self._sizes(session, params), False)
            if plan is not None:
                affected: int = await arun(plan, self)
                return affected
        result = await self._run(session, sql, params, statement)
        await self._rows(session, result)
        return int(result.get("affected_rows") or 0)

    async def _fetch(self, session: Session, sql: str, params: Sequence[object]) -> list[Row]:
        return await self._rows(session, await self._run(session, sql, params))

    async def _fetch_table(
        self, session: Session, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        result = await self._run(session, sql, params)
        names = [column[0] for column in result.get("columns", ())]
        return names, await self._rows(session, result)

    async def _insert(
        self, session: Session, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        step = session.facts.id_step
        statement = self._statement(session, sql, params) if session.reusable else None
        if row_count > 1 and (
            step is None
            or (statement is not None and len(statement) > session.facts.statement_budget)
        ):
            plan = parts_plan(session, sql, params, self._sizes(session, params), True)
            if plan is not None:
                return list(await arun(plan, self))
        result = await self._run(session, sql, params, statement)
        await self._rows(session, result)
        return consecutive_keys(int(result["insert_id"]), row_count, step)

    async def _statement_id(self, session: Session, sql: str, params: Sequence[object]) -> int:
        result = await self._run(session, sql, params)
        await self._rows(session, result)
        return int(result["insert_id"])

    # ---- stream primitives: an unbuffered result read from the socket a batch at a time --
    async def _open_cursor(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        result = await self._run(session, sql, params)
        lease.cursor = "columns" in result
        lease.names = [column[0] for column in result.get("columns", ())]
        lease.fetch_sql = f"/* next {lease.batch_size} rows */ {sql}"
        if not lease.cursor:
            await self._rows(session, result)

    async def _fetch_batch(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        if not lease.cursor:
            lease.exhausted = True
            return []
        return await self._read(session, lease, lease.batch_size)

    async def _read(self, session: Session, lease: Any, count: int) -> list[Row]:
        """Up to `count` rows of the stream's result (the rest stays on the socket)."""
        connection = session.connection
        try:
            rows, eof = await connection.get_rows(count=count)
            if eof is not None:
                if connection.have_next_result:
                    await self._skip_more_results(session)
                session.busy = False
                session.no_backslash = bool(eof.get("status_flag", 0) & _NO_BACKSLASH)
                lease.exhausted = True
        except Exception as error:
            session.busy = False
            session.dead = True  # rows left unread: the protocol is out of step
            raise error
        except BaseException:
            session.dead = True
            raise
        return list(rows)

    async def _close_cursor(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        """Read and drop the rows left (inside a transaction, which holds the connection)."""
        while lease.cursor and not lease.exhausted:
            await self._read(session, lease, 10_000)

    def forget(self, connection: Session) -> None:
        """Abort the session's socket now and free its pool slot (no await, any thread);
        the server ends the session when its next write fails."""
        connection.busy = False
        connection.dead = True
        _abort(connection.connection)
        for entry in list(self._pools.values()):
            if entry.pool is connection.pool:
                entry.sessions.discard(connection)
        connection.pool.forget(connection)


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


class _LoopPool:
    """One event loop's pool, and every session it opened (to end them without it)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        open_session: Callable[[AsyncPool[Session]], Awaitable[Session]],
        close_session: Callable[[Session], Awaitable[None]],
        config: MySQLConfig,
    ) -> None:
        self.loop = loop
        self.sessions: set[Session] = set()
        self.min_size = config.pool_min_size
        self.topping_up = False
        # min_size=0: the pool's own warm-up swallows a failed connect and then retries
        # it, so an unreachable server would take twice connect_timeout to report. The
        # acquire that opens the first connection reports it; `open_spares` follows.
        self.pool: AsyncPool[Session] = AsyncPool(
            self._connect,
            max_size=config.pool_size,
            min_size=0,
            acquire_timeout=config.pool_timeout,
            is_usable=lambda session: session.reusable and session.connection.is_socket_connected(),
            close_connection=self._close,
            name=f"MySQL pool for {config.location}",
        )
        self._open_session = open_session
        self._close_session = close_session

    async def open_spares(self, held: Session) -> None:
        """With `held` checked out, open connections side by side until pool_min_size
        are open, and leave them idle. A failure is left to the acquire that meets it;
        if the caller is cancelled meanwhile, `held` goes back to the pool."""
        self.topping_up = True
        spares: list[Session] = []

        async def one() -> None:
            spares.append(await self.pool.acquire())

        try:
            missing = self.min_size - self.pool.size
            await asyncio.gather(*(one() for _ in range(missing)), return_exceptions=True)
        except BaseException:
            await self.pool.release(held)
            raise
        finally:
            self.topping_up = False
            for spare in spares:
                spare.released_at = monotonic()  # idle from now: pre-ping checks it
                await self.pool.release(spare)

    async def discard_idle(self) -> None:
        """Close every idle connection: one was found dead, so the server may have
        restarted and the others are suspect too (checked-out ones fail on their own)."""
        for session in self.pool.drain_idle():
            await self._close(session)

    async def _connect(self) -> Session:
        session = await self._open_session(self.pool)
        self.sessions.add(session)
        return session

    async def _close(self, session: Session) -> None:
        self.sessions.discard(session)
        await self._close_session(session)

    def close_elsewhere(self) -> None:
        """Close this pool from outside its loop: on that loop if it still runs, else now."""
        if self.loop.is_running():
            asyncio.run_coroutine_threadsafe(self.pool.close(), self.loop)
            return
        self.abandon()

    def abandon(self) -> None:
        """The loop is gone, and with it every task that held a session: end them all."""
        for session in list(self.sessions):
            _abort(session.connection)
        self.sessions.clear()
        self.pool.drain_idle()


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


# Every live async backend, so a forked child can forget the parent's pools.
_BACKENDS: weakref.WeakSet[AsyncMySQLBackend] = weakref.WeakSet()


def _forget_the_parents_pools() -> None:
    for backend in list(_BACKENDS):
        backend._forked()


at_fork_in_child(_forget_the_parents_pools)
