"""`PostgresBackend`: PostgreSQL through psycopg's blocking `Connection`."""

from __future__ import annotations

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
    connect_arguments,
    connection_message,
    translate_error,
)


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
        self._pool: SyncPool[_Session] = SyncPool(
            self._connect,
            _close_session,
            config.pool_size,
            config.pool_timeout,
            f"PostgreSQL pool for {config.where}",
        )
        self._warm = config.pool_min_size == 0

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


def _close_session(session: _Session) -> None:
    session.connection.close()
