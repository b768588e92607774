"""`MySQLBackend`: MySQL/MariaDB through mysql-connector-python's C extension.

Statements bypass the driver's cursors and run on the C extension's MySQL object:
cursors re-scan every statement for `;` and never undouble `%%`.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from time import monotonic
from typing import Any

from ...errors import ConfigurationError, DatabaseError
from ...plan import run
from ...sql.dialect import MYSQL
from .._config import BaseConfig
from .._core import Row, SyncBackend
from ..pools.sync import SyncPool
from ._core import (
    _DONE,
    _ROWS,
    _SERVER_FACTS_SQL,
    _SKIPPED,
    _TLS_STATUS_SQL,
    MySQLConfig,
    Session,
    _first_row,
    _needs_ping,
    _no_tls_error,
    _raise_as_driver_error,
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


class MySQLBackend(SyncBackend[MySQLConfig]):
    """Sync backend on the C extension (`CMySQLConnection`), pooled by `SyncPool`.

    SyncPool over the driver's own pooling: the driver's pool raises at once when
    exhausted instead of waiting, and resets every session on return (a round trip).
    """

    config_type = MySQLConfig
    dialect = MYSQL
    error_table = staticmethod(translate_error)

    def __init__(self, config: BaseConfig) -> None:
        super().__init__(config)
        config = self.config
        self._connection_class = _cext_connection_class()
        self._kwargs = driver_kwargs(config, is_async=False)
        self._pool = self._new_pool()
        _BACKENDS.add(self)
        # configure() opens nothing (§2): the first statement connects, and reports an
        # unreachable server; then the pool is topped up to pool_min_size.
        self._min_size = config.pool_min_size
        self._topping_up = threading.Lock()  # one thread opens the spares at a time
        # When a statement last found its connection dead: connections idle since before
        # then are suspect (a server restart ends them all) and are closed, not used.
        self._lost_at = -1.0

    def _new_pool(self) -> SyncPool[Session]:
        config = self.config
        return SyncPool(
            self._connect,
            self._close_session,
            config.pool_size,
            config.pool_timeout,
            f"MySQL pool for {config.location}",
        )

    def _forked(self) -> None:
        """In a forked child: a pool of its own. The parent's connections share their
        sockets with the parent, so the child never uses, closes nor frees them."""
        keep_forever(self._pool)
        self._pool = self._new_pool()
        self._topping_up = threading.Lock()  # another thread may have held it at fork

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
        session = Session(connection, self._pool)
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
            for statement in session_settings(self.config, session.facts):
                self._execute(session, statement, ())
        except DatabaseError:
            raise
        except Exception as error:
            raise connect_error(self.config, error) from error

    def acquire(self) -> Session:
        # Every idle connection may have been dropped, but a fresh one never is.
        for _ in range(self.config.pool_size + 1):
            session = self._pool.acquire()
            released = session.released_at
            if released is not None and released <= self._lost_at:
                self._pool.release(session, discard=True)  # idle when a death was seen
                continue
            if not _needs_ping(session, self.config) or self._alive(session):
                break
            self._pool.release(session, discard=True)
        else:
            session = self._pool.acquire()
        if self._pool.size < self._min_size and self._topping_up.acquire(blocking=False):
            try:
                self._open_spares()
            finally:
                self._topping_up.release()
        return session

    def _open_spares(self) -> None:
        """Open connections until pool_min_size are open, and leave them idle. A
        failure is left to the statement that next needs a new connection."""
        spares: list[Session] = []
        try:
            while self._pool.size < self._min_size and len(spares) < self._min_size:
                spares.append(self._pool.acquire())
        except Exception:
            log.debug("could not open a spare MySQL connection", exc_info=True)
        finally:
            for spare in spares:
                self.release(spare)

    def connection_lost(self, connection: object) -> None:
        """A statement found its connection dead: every connection idle now is given up
        (closed when next taken from the pool), so a server restart costs one failed
        statement, not one per pooled connection."""
        self._lost_at = monotonic()

    def _alive(self, session: Session) -> bool:
        try:
            alive = bool(session.driver.ping())
        except Exception:
            alive = False
        session.dead = not alive
        return alive

    def release(self, session: Session, discard: bool = False) -> None:
        if session.inherited:
            keep_forever(session)  # the parent's (a fork inside a transaction)
            return
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
        self.close_replicas()
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
    def _render(self, session: Session, sql: str, params: Sequence[object]) -> bytes:
        """The statement as sent: values quoted by the driver's own converters."""
        if params:
            return bytes(sql.encode() % session.driver.convert_to_mysql(*params))
        return sql.replace("%%", "%").encode()

    def _send(
        self, session: Session, sql: str, params: Sequence[object], statement: bytes | None = None
    ) -> int:
        """Run one statement: _ROWS (a result set left to read), _DONE or _SKIPPED."""
        if not session.reusable:
            self._retire(session)
            if _refuse_broken(sql, self.config):
                return _SKIPPED
        driver = session.driver
        if statement is None:
            statement = self._render(session, sql, params)
        if len(statement) > session.facts.statement_budget:
            raise too_large(len(statement), session.facts, sql, params)
        session.busy = True
        try:
            driver.query(statement)
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            _raise_as_driver_error(error)
        if driver.have_result_set:
            return _ROWS
        if driver.more_results():
            self._skip_more_results(session)
        session.busy = False
        return _DONE

    def _skip_more_results(self, session: Session) -> None:
        """Read and drop the results after the first (a CALL returns its procedure's
        result sets and then a status of its own), so the connection stays in step."""
        driver = session.driver
        try:
            while driver.more_results():
                driver.next_result()
                if driver.have_result_set:
                    driver.consume_result()
                    driver.free_result()
        except Exception as error:
            session.busy = False
            session.dead = is_lost_connection(error)
            _raise_as_driver_error(error)

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
        if driver.more_results():
            self._skip_more_results(session)
        session.busy = False
        return rows

    def _execute(self, session: Session, sql: str, params: Sequence[object]) -> int:
        statement = self._render(session, sql, params) if session.reusable else None
        if statement is not None and len(statement) > session.facts.statement_budget:
            plan = parts_plan(session, sql, params, self._sizes(session, params), False)
            if plan is not None:
                affected: int = run(plan, self)
                return affected
        return self._affected(session, sql, params, statement)

    def _affected(
        self, session: Session, sql: str, params: Sequence[object], statement: bytes | None
    ) -> int:
        state = self._send(session, sql, params, statement)
        if state == _ROWS:
            self._drain(session)  # a SELECT through execute(): read and drop its rows
        if state != _DONE:
            return 0
        count = int(session.driver.affected_rows())
        return count if 0 < count < 2**63 else 0

    def _sizes(self, session: Session, params: Sequence[object]) -> Any:
        """How long each value is as SQL text (computed only when an INSERT is split)."""
        return lambda: [len(literal) for literal in session.driver.convert_to_mysql(*params)]

    def _fetch(self, session: Session, sql: str, params: Sequence[object]) -> list[Row]:
        if self._send(session, sql, params) != _ROWS:
            return []
        return self._drain(session)

    def _fetch_table(
        self, session: Session, sql: str, params: Sequence[object]
    ) -> tuple[list[str], list[Row]]:
        if self._send(session, sql, params) != _ROWS:
            return [], []
        names = [field[4] for field in session.driver.fetch_fields()]
        return names, self._drain(session)

    def _insert(
        self, session: Session, sql: str, params: Sequence[object], row_count: int
    ) -> list[Any]:
        step = session.facts.id_step
        statement = self._render(session, sql, params) if session.reusable else None
        if row_count > 1 and (
            step is None
            or (statement is not None and len(statement) > session.facts.statement_budget)
        ):
            plan = parts_plan(session, sql, params, self._sizes(session, params), True)
            if plan is not None:
                return list(run(plan, self))
        self._affected(session, sql, params, statement)
        return consecutive_keys(int(session.driver.insert_id()), row_count, step)

    def _statement_id(self, session: Session, sql: str, params: Sequence[object]) -> int:
        self._execute(session, sql, params)
        return int(session.driver.insert_id())

    # ---- stream primitives: an unbuffered result read from the socket a batch at a time --
    def _open_cursor(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        lease.cursor = self._send(session, sql, params) == _ROWS
        lease.names = [field[4] for field in session.driver.fetch_fields()] if lease.cursor else []
        lease.fetch_sql = f"/* next {lease.batch_size} rows */ {sql}"

    def _fetch_batch(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> list[Row]:
        if not lease.cursor:
            lease.exhausted = True
            return []
        driver = session.driver
        rows: list[Row] = []
        append, fetch = rows.append, driver.fetch_row
        try:
            for _ in range(lease.batch_size):
                row = fetch()
                if row is None:
                    self._end_result(session, lease)
                    break
                append(row)
        except Exception as error:
            session.dead = True  # rows left unread: the protocol is out of step
            _raise_as_driver_error(error)
        except BaseException:
            session.dead = True
            raise
        return rows

    def _end_result(self, session: Session, lease: Any) -> None:
        session.driver.free_result()
        if session.driver.more_results():
            self._skip_more_results(session)
        session.busy = False
        lease.exhausted = True

    def _close_cursor(
        self, session: Session, sql: str, params: Sequence[object], lease: Any
    ) -> None:
        """Read and drop the rows left (inside a transaction, which holds the connection)."""
        if not lease.cursor or lease.exhausted:
            return
        fetch = session.driver.fetch_row
        try:
            while fetch() is not None:
                pass
        except Exception as error:
            session.dead = True
            _raise_as_driver_error(error)
        except BaseException:
            session.dead = True
            raise
        self._end_result(session, lease)


# Every live sync backend, so a forked child can give each a pool of its own.
_BACKENDS: weakref.WeakSet[MySQLBackend] = weakref.WeakSet()


def _forget_the_parents_pools() -> None:
    for backend in list(_BACKENDS):
        backend._forked()


at_fork_in_child(_forget_the_parents_pools)
