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

from ..errors import TransactionError
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
    """The connection a transaction holds, and who may use it."""

    __slots__ = ("closed", "connection", "depth", "lock", "owner")

    def __init__(self, connection: Any, lock: Any) -> None:
        self.connection = connection
        self.owner = current_owner()
        self.depth = 0
        self.closed = False
        self.lock = lock  # serialises statements of child tasks/threads on this connection

    def check_open(self) -> None:
        if self.closed:
            raise TransactionError(
                "this task or thread was started inside a transaction that has since "
                "finished; its statements cannot run on that transaction's connection. "
                "Await child tasks before leaving the `transaction()` block."
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
        state.depth += 1
        name = f"twinrecord_sp_{state.depth}"
        try:
            yield ExecuteOn(state.connection, dialect.savepoint(name))
        except BaseException:
            state.depth -= 1
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
    """Commit (or roll back, when the block failed) and give the connection back."""
    state = frame.state
    if frame.savepoint is not None:
        state.depth -= 1
        if failed:
            yield ExecuteOn(state.connection, frame.dialect.rollback_to_savepoint(frame.savepoint))
        yield ExecuteOn(state.connection, frame.dialect.release_savepoint(frame.savepoint))
        return
    state.closed = True
    try:
        yield ExecuteOn(state.connection, "ROLLBACK" if failed else "COMMIT")
    except BaseException:
        # The session's state is unknown (a failed COMMIT, a cancellation): drop it.
        yield Release(state.connection, discard=True)
        raise
    yield Release(state.connection)
