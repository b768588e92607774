"""`AsyncPostgresBackend`: PostgreSQL through psycopg's `AsyncConnection`, one pool
per running event loop."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import psycopg

from ...errors import (
    ConnectionNotEstablished,
)
from ...sql.dialect import POSTGRES
from .._config import BaseConfig
from .._core import AsyncBackend, Row
from ..pools.aio import AsyncPool, PoolClosed, PoolTimeout
from ._core import (
    _IDLE,
    _RECOVERABLE,
    PostgresConfig,
    _arun,
    _columns,
    _rowcount,
    _Session,
    aping,
    close_statement,
    connect_arguments,
    connection_message,
    declare_statement,
    fetch_statement,
    pgbouncer_setup,
    translate_error,
)

# ---- async -----------------------------------------------------------------------------
# Every live async backend, so a forked child can forget the parent's pools.
_BACKENDS: weakref.WeakSet[AsyncPostgresBackend] = weakref.WeakSet()


class AsyncPostgresBackend(AsyncBackend[PostgresConfig]):
    """PostgreSQL through psycopg's `AsyncConnection`, one pool per running event loop."""

    config_type = PostgresConfig
    dialect = POSTGRES
    error_table = staticmethod(translate_error)

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
        self._arguments = connect_arguments(config)
        self._setup = pgbouncer_setup(config)
        # Behind PgBouncer no session default survives: BEGIN names the level.
        self.default_isolation = config.isolation_level if config.pgbouncer else None
        self._pools: dict[asyncio.AbstractEventLoop, LoopPool] = {}
        self._pools_lock = threading.Lock()
        # The pool used last: one attribute read, so threads running loops never mix them up.
        self._last: LoopPool | None = None
        self._closed = False
        _BACKENDS.add(self)

    def _forked(self) -> None:
        """In a forked child: forget the parent's pools (never use nor close their
        connections, which share sockets with the parent); new loops get new pools."""
        self._pools = {}
        self._pools_lock = threading.Lock()  # another thread may have held it at fork
        self._last = None

    async def connection_lost(self, connection: Any) -> None:
        await connection.pool.discard_idle()

    # ---- a pool per loop ----------------------------------------------------------------
    def _current_entry(self) -> LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last.loop is loop:
            return last
        with self._pools_lock:  # loops in several threads may get here at once
            if self._closed:
                raise ConnectionNotEstablished(f"the backend for the {self.config.where} is closed")
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
                autocommit=True,
                prepare_threshold=self.config.prepare_threshold,
                **self._arguments,
            )
        except psycopg.Error as error:
            message = connection_message(error, self.config, connecting=True)
            raise ConnectionNotEstablished(message) from error
        if self._setup is not None:
            try:
                await connection.execute(*self._setup)
            except psycopg.Error as error:
                await connection.close()
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
            return False  # release() rolls back what the statement left open
        released: bool = connection.pool.release_nowait(connection)
        return released

    async def release(self, connection: _Session, discard: bool = False) -> None:
        if not discard and connection.connection.pgconn.transaction_status != _IDLE:
            try:
                discard = not await self._reset(connection)
            except BaseException:  # cancelled while rolling back: never keep it out
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
        await self.close_replicas()
        running = asyncio.get_running_loop()
        for entry in self._forget_pools():
            if entry.loop is running:
                await entry.pool.close()
            else:
                entry.close_elsewhere()

    def _close_unawaited(self) -> None:
        self._close_replicas_unawaited()
        for entry in self._forget_pools():
            entry.close_elsewhere()

    def _forget_pools(self) -> list[LoopPool]:
        with self._pools_lock:
            self._closed = True
            self._last = None
            entries, self._pools = list(self._pools.values()), {}
        return entries

    async def _execute(self, connection: _Session, sql: str, params: Sequence[object]) -> int:
        return _rowcount(await _arun(connection, sql, params))

    async def _fetch(self, connection: _Session, sql: str, params: Sequence[object]) -> list[Row]:
        cursor = await _arun(connection, sql, params)
        rows: list[Row] = await cursor.fetchall()
        return rows

    async def _fetch_table(
        self, connection: _Session, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        cursor = await _arun(connection, sql, params)
        names = _columns(cursor)
        return names, (await cursor.fetchall() if names else [])

    async def _insert(
        self, connection: _Session, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        cursor = await _arun(connection, sql, params)
        return [row[0] for row in await cursor.fetchall()]

    # ---- stream primitives: a named cursor, FETCHed a batch at a time ------------------------
    async def _open_cursor(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        await connection.cursor.execute(declare_statement(lease, sql), params, prepare=False)
        lease.cursor = lease.name

    async def _fetch_batch(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        cursor = await connection.cursor.execute(fetch_statement(lease), prepare=False)
        rows: list[Row] = await cursor.fetchall()
        if lease.names is None:
            lease.names = _columns(cursor)
        if len(rows) < lease.batch_size:
            lease.exhausted = True
        return rows

    async def _close_cursor(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        await connection.cursor.execute(close_statement(lease), prepare=False)

    def forget(self, connection: _Session) -> None:
        """Close the session's socket now and free its pool slot (no await, any thread)."""
        try:
            connection.connection.pgconn.finish()
        except Exception:  # already gone
            pass
        for entry in list(self._pools.values()):
            if entry.pool is connection.pool:
                entry.sessions.discard(connection)
        connection.pool.forget(connection)


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
            self._connect,
            max_size=config.pool_size,
            min_size=0,
            acquire_timeout=config.pool_timeout,
            close_connection=self._close,
            check=aping if config.pool_pre_ping else None,
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


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._forked()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
