"""`PostgresBackend`: PostgreSQL through psycopg's blocking `Connection`."""

from __future__ import annotations

import os
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg

from ...errors import (
    ConnectionNotEstablished,
)
from ...sql.dialect import POSTGRES
from .._config import BaseConfig
from .._core import Row, SyncBackend
from ..pools.sync import SyncPool
from ._core import (
    _IDLE,
    _RECOVERABLE,
    PostgresConfig,
    _columns,
    _rowcount,
    _run,
    _Session,
    close_statement,
    connect_arguments,
    connection_message,
    declare_statement,
    fetch_statement,
    pgbouncer_setup,
    ping,
    translate_error,
)

# Every live sync backend, so a forked child can give each a pool of its own.
_BACKENDS: weakref.WeakSet[PostgresBackend] = weakref.WeakSet()


# ---- sync ------------------------------------------------------------------------------
class PostgresBackend(SyncBackend[PostgresConfig]):
    """PostgreSQL through psycopg's blocking `Connection`, pooled per backend."""

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
        self._pool = self._new_pool()
        self._warm = config.pool_min_size == 0
        _BACKENDS.add(self)

    def _new_pool(self) -> SyncPool[_Session]:
        config = self.config
        return SyncPool(
            self._connect,
            _close_session,
            config.pool_size,
            config.pool_timeout,
            f"PostgreSQL pool for {config.where}",
            check=ping if config.pool_pre_ping else None,
        )

    def _forked(self) -> None:
        """In a forked child: a pool of its own. The parent's connections share their
        sockets with the parent, so the child never uses nor closes them (psycopg leaves
        connections of another process alone when they are collected)."""
        self._pool = self._new_pool()
        self._warm = self.config.pool_min_size == 0

    def connection_lost(self, connection: object) -> None:
        self._pool.discard_idle()

    def _connect(self) -> _Session:
        try:
            connection = psycopg.Connection.connect(
                autocommit=True,
                prepare_threshold=self.config.prepare_threshold,
                **self._arguments,
            )
        except psycopg.Error as error:
            message = connection_message(error, self.config, connecting=True)
            raise ConnectionNotEstablished(message) from error
        if self._setup is not None:
            try:
                connection.execute(*self._setup)
            except psycopg.Error as error:
                connection.close()
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
        self.close_replicas()
        self._pool.close()

    def pool_stats(self) -> dict[str, int]:
        """Open, idle and checked-out connections of the pool."""
        size, idle = self._pool.size, self._pool.idle
        return {"size": size, "idle": idle, "in_use": size - idle}

    # ---- driver primitives -------------------------------------------------------------
    def _execute(self, connection: _Session, sql: str, params: Sequence[object]) -> int:
        return _rowcount(_run(connection, sql, params))

    def _fetch(self, connection: _Session, sql: str, params: Sequence[object]) -> list[Row]:
        rows: list[Row] = _run(connection, sql, params).fetchall()
        return rows

    def _fetch_table(
        self, connection: _Session, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        cursor = _run(connection, sql, params)
        names = _columns(cursor)
        return names, (cursor.fetchall() if names else [])

    def _insert(
        self, connection: _Session, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        return [row[0] for row in _run(connection, sql, params).fetchall()]

    # ---- stream primitives: a named cursor, FETCHed a batch at a time ------------------------
    def _open_cursor(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        connection.cursor.execute(declare_statement(lease, sql), params, prepare=False)
        lease.cursor = lease.name

    def _fetch_batch(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        cursor = connection.cursor.execute(fetch_statement(lease), prepare=False)
        rows: list[Row] = cursor.fetchall()
        if lease.names is None:
            lease.names = _columns(cursor)
        if len(rows) < lease.batch_size:
            lease.exhausted = True
        return rows

    def _close_cursor(
        self, connection: _Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        connection.cursor.execute(close_statement(lease), prepare=False)


def _close_session(session: _Session) -> None:
    session.connection.close()


def _after_fork_in_child() -> None:
    for backend in list(_BACKENDS):
        backend._forked()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)
