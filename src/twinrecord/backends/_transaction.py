"""Transactions, written once: the plans that open and close one, and the state a
transaction pins to the task or thread that opened it (through a ContextVar).

Rule: every decision about BEGIN / COMMIT / ROLLBACK / SAVEPOINT lives here; the
sync and async backends only drive these plans.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Generator
from contextvars import ContextVar, Token
from typing import Any

from ..errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    TransactionError,
    TransactionRollbackError,
)
from ..plan import Request
from ..sql.dialect import Dialect, normalize_isolation


def current_owner() -> object:
    """The running asyncio task, or the current thread's id outside a loop."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    return task if task is not None else threading.get_ident()


class TransactionState:
    """The connection a transaction holds, who may use it, and whether it is doomed."""

    __slots__ = (
        "blocking_stream",
        "closed",
        "connection",
        "depth",
        "failure",
        "fatal",
        "lock",
        "owner",
        "streams",
    )

    def __init__(self, connection: object, lock: Any) -> None:
        self.connection = connection
        self.owner = current_owner()
        self.depth = 0
        self.closed = False
        self.lock = lock  # serialises statements of child tasks/threads on this connection
        # The first statement the database refused in it (§5): it dooms the transaction
        # until a savepoint around it is rolled back.
        self.failure: BaseException | None = None
        # The server ended the whole transaction (deadlock, serialization failure), the
        # connection is lost, or a statement was interrupted: no savepoint can undo that.
        self.fatal = False
        # Streams reading on this connection (closed when the transaction ends), and the
        # one whose unread result blocks it (MySQL/MariaDB): statements are refused.
        self.streams: list[Any] = []
        self.blocking_stream: Any = None

    def check_open(self, stream_ok: bool = False) -> None:
        """Refuse a statement in a finished or doomed transaction, or on a connection a
        stream blocks (before sending it)."""
        if self.closed:
            raise TransactionError(
                "this task or thread was started inside a transaction that has since "
                "finished; its statements cannot run on that transaction's connection. "
                "Await child tasks before leaving the `transaction()` block."
            )
        failure = self.failure
        if failure is not None:
            raise TransactionError(
                f"this transaction is doomed: an earlier statement in it failed "
                f"({describe(failure)}), so nothing more runs in it. Leave the "
                "`transaction()` block (it rolls back); to continue after an expected "
                "error, catch it around a nested `transaction()` (a savepoint)."
            ) from failure
        if self.blocking_stream is not None and not stream_ok:
            from ._stream import stream_open_error

            raise stream_open_error()

    def doom(self, error: BaseException) -> None:
        """Record a statement that failed on this transaction's connection."""
        if isinstance(error, ConfigurationError):
            return  # refused by the library before sending: the transaction is intact
        if self.failure is None:
            self.failure = error
        if is_fatal(error):
            self.fatal = True


def is_fatal(error: BaseException) -> bool:
    """Whether a failure ended the whole transaction, beyond what a savepoint undoes."""
    return isinstance(error, (TransactionRollbackError, ConnectionNotEstablished)) or not (
        isinstance(error, Exception)
    )


def describe(error: BaseException) -> str:
    """`ClassName: first line of the message`, for naming a failure in another error."""
    text = str(error).strip().split("\n", 1)[0]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def doomed_exit_error(failure: BaseException, savepoint: bool) -> TransactionError:
    where = "nested transaction() block (savepoint)" if savepoint else "transaction() block"
    return TransactionError(
        f"the {where} ended normally after a statement in it failed ({describe(failure)}); "
        "it was rolled back, nothing in it was committed. Let the error propagate, or catch "
        "it around a nested `transaction()` (a savepoint) to continue without that part."
    )


class Acquire(Request):
    __slots__ = ()

    def perform(self, backend: Any) -> Any:
        return backend.acquire()


class Release(Request):
    __slots__ = ("connection", "discard")

    def __init__(self, connection: Any, discard: bool = False) -> None:
        self.connection = connection
        self.discard = discard

    def perform(self, backend: Any) -> Any:
        return backend.release(self.connection, discard=self.discard)


class ExecuteOn(Request):
    """A transaction-control statement on a given connection."""

    __slots__ = ("connection", "sql")

    def __init__(self, connection: Any, sql: str) -> None:
        self.connection = connection
        self.sql = sql

    def perform(self, backend: Any) -> Any:
        return backend.control(self.connection, self.sql)


class Frame:
    """One `transaction()` block: the outermost one or a savepoint inside it."""

    __slots__ = ("dialect", "savepoint", "state", "token", "variable")

    def __init__(
        self,
        variable: ContextVar[TransactionState | None],
        state: TransactionState,
        savepoint: str | None,
        token: Token[TransactionState | None] | None,
        dialect: Dialect,
    ) -> None:
        self.dialect = dialect
        self.variable = variable
        self.state = state
        self.savepoint = savepoint
        self.token = token

    def restore(self) -> None:
        """Unpin the transaction from this task (called in the task that opened it)."""
        if self.token is not None:
            self.variable.reset(self.token)


def enter_plan(
    variable: ContextVar[TransactionState | None],
    dialect: Dialect,
    isolation_level: str | None,
    new_lock: Any,
) -> Generator[Request, Any, Frame]:
    """Open a transaction, or a savepoint when one is already open in this context."""
    begin = dialect.begin_statements(isolation_level)  # validates before any I/O
    state = variable.get()
    if state is not None and not state.closed:
        if state.owner != current_owner():
            raise TransactionError(
                "a task started inside a transaction cannot open a nested transaction "
                "on it; open the nested transaction in the task that owns it"
            )
        if isolation_level is not None:
            normalize_isolation(isolation_level, dialect.name)
        state.check_open()
        state.depth += 1
        name = f"twinrecord_sp_{state.depth}"
        try:
            yield ExecuteOn(state.connection, dialect.savepoint(name))
        except BaseException as error:
            state.depth -= 1
            state.doom(error)
            raise
        return Frame(variable, state, name, None, dialect)
    connection = yield Acquire()
    try:
        for sql in begin:
            yield ExecuteOn(connection, sql)
    except BaseException:
        yield Release(connection, discard=True)
        raise
    state = TransactionState(connection, new_lock())
    return Frame(variable, state, None, variable.set(state), dialect)


def exit_plan(frame: Frame, failed: bool) -> Generator[Request, Any, None]:
    """Commit (or roll back, when the block failed or its transaction is doomed) and give
    the connection back.

    When the block failed, its own exception propagates: a failing ROLLBACK (TO
    SAVEPOINT) after the server already ended the transaction never replaces it.
    """
    state = frame.state
    if state.streams:
        from ._stream import close_streams_plan

        yield from close_streams_plan(state, state.depth if frame.savepoint else 0)
    if frame.savepoint is not None:
        yield from _leave_savepoint(frame, failed)
    else:
        yield from _leave_transaction(frame, failed)


def _leave_savepoint(frame: Frame, failed: bool) -> Generator[Request, Any, None]:
    state, name, dialect = frame.state, frame.savepoint, frame.dialect
    assert name is not None
    state.depth -= 1
    failure = state.failure
    if not failed and failure is None:
        yield ExecuteOn(state.connection, dialect.release_savepoint(name))
        return
    if not state.fatal:
        try:
            yield ExecuteOn(state.connection, dialect.rollback_to_savepoint(name))
            yield ExecuteOn(state.connection, dialect.release_savepoint(name))
        except Exception as error:
            # The server ended the whole transaction (MariaDB after a deadlock: "SAVEPOINT
            # does not exist"): the outer transaction is doomed, the block's error stands.
            state.doom(error)
            state.fatal = True
        else:
            state.failure = None  # undone: the outer transaction goes on
    if not failed:
        assert failure is not None
        raise doomed_exit_error(failure, savepoint=True) from failure


def _leave_transaction(frame: Frame, failed: bool) -> Generator[Request, Any, None]:
    state = frame.state
    state.closed = True
    failure = state.failure
    if not failed and failure is None:
        try:
            yield ExecuteOn(state.connection, "COMMIT")
        except BaseException:
            # The session's state is unknown (a failed COMMIT, a cancellation): drop it.
            yield Release(state.connection, discard=True)
            raise
        yield Release(state.connection)
        return
    if failure is not None and is_fatal(failure) and not isinstance(
        failure, TransactionRollbackError
    ):
        # Lost or interrupted mid-statement: the server rolls back when the session ends.
        yield Release(state.connection, discard=True)
    else:
        try:
            yield ExecuteOn(state.connection, "ROLLBACK")
        except BaseException as error:
            yield Release(state.connection, discard=True)
            if not isinstance(error, Exception):
                raise
            if not failed:
                raise doomed_exit_error(failure or error, savepoint=False) from failure
            return  # the block's own error propagates, not the rollback's
        yield Release(state.connection)
    if not failed:
        assert failure is not None
        raise doomed_exit_error(failure, savepoint=False) from failure
