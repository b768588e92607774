"""Streams (API.md §14), written once: the plan that reads a query's rows in batches
through a cursor, the requests it yields, and its cleanup on every way out.

The database differences are data (`Dialect.stream_begin`: PostgreSQL's named cursors
live in a transaction; `Dialect.stream_blocks_connection`: MySQL's unbuffered result
blocks its connection) and three cursor primitives each backend supplies:
`_open_cursor`, `_fetch_batch`, `_close_cursor`. The sync and async backends only
perform the requests; `plan.stream()` / `plan.astream()` hand the batches out.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from itertools import count
from typing import Any

from ..errors import TransactionError
from ..plan import Emit, Plan, Request, StreamAbandoned, StreamClosed, _ready
from ..sql.dialect import Dialect
from ._transaction import Acquire, ExecuteOn, Release, TransactionState

_names = count(1)


class StreamLease:
    """The connection a stream reads through and its cursor (the driver's object)."""

    __slots__ = (
        "batch_size",
        "close_sql",
        "closed",
        "connection",
        "cursor",
        "depth",
        "ended",
        "exhausted",
        "fetch_sql",
        "name",
        "names",
        "own",
        "sql",
        "state",
    )

    def __init__(
        self, connection: Any, state: TransactionState | None, sql: str, batch_size: int
    ) -> None:
        self.connection = connection
        self.state = state  # the caller's transaction, or None: the connection is ours
        self.own = state is None
        self.depth = 0 if state is None else state.depth
        self.sql = sql
        self.batch_size = batch_size
        self.name = f"twinrecord_stream_{next(_names)}"  # PostgreSQL's cursor name
        self.cursor: Any = None
        self.names: list[str] | None = None  # column names, when the driver has told them
        # What the log shows for a fetch and the close (the driver sets them).
        self.fetch_sql = sql
        self.close_sql = f"/* close {self.name} */"
        self.exhausted = False  # the last row was read
        self.closed = False  # the cursor was closed (by the stream or its transaction)
        self.ended = False  # closed because the transaction it read in ended


def ended_error() -> TransactionError:
    return TransactionError(
        "the transaction this stream read in has ended, and closed the stream with it; "
        "iterate inside the `transaction()` block, or outside any transaction"
    )


def stream_open_error() -> TransactionError:
    return TransactionError(
        "a stream is still reading on this transaction's connection, and MySQL/MariaDB "
        "cannot run another statement on a connection with an unread result: read the "
        "stream to the end, or use all()"
    )


# ---- requests ----------------------------------------------------------------------------
class CurrentTransaction(Request):
    """The transaction open in this task or thread (its state), or None."""

    __slots__ = ()

    def perform(self, backend: Any) -> Any:
        state = backend._tx.get()
        return _ready(state) if backend.is_async else state


class OpenCursor(Request):
    """Run the query on the lease's connection, leaving its rows to be fetched."""

    __slots__ = ("lease", "params")

    def __init__(self, lease: StreamLease, params: Any) -> None:
        self.lease = lease
        self.params = params

    def perform(self, backend: Any) -> Any:
        lease = self.lease
        # The log shows the statement sent (PostgreSQL: the DECLARE around the query).
        opening = backend.dialect.stream_cursor.format(name=lease.name, sql=lease.sql)
        return backend.run_stream(backend._open_cursor, lease, opening, self.params)


class FetchBatch(Request):
    """The next `batch_size` rows (fewer at the end; the driver marks `exhausted`)."""

    __slots__ = ("lease",)

    def __init__(self, lease: StreamLease) -> None:
        self.lease = lease

    def perform(self, backend: Any) -> Any:
        lease = self.lease
        return backend.run_stream(backend._fetch_batch, lease, lease.fetch_sql, ())


class CloseCursor(Request):
    """Close the cursor: PostgreSQL CLOSEs it, MySQL reads and drops what is left,
    SQLite resets the statement. `ending`: the transaction it reads in is ending (its
    own statements go on unchecked)."""

    __slots__ = ("ending", "lease")

    def __init__(self, lease: StreamLease, ending: bool = False) -> None:
        self.lease = lease
        self.ending = ending

    def perform(self, backend: Any) -> Any:
        lease = self.lease
        sql = lease.close_sql
        if self.ending or lease.state is None:
            return backend._perform(backend._close_cursor, lease.connection, sql, (), lease)
        return backend.run_stream(backend._close_cursor, lease, sql, ())


class ForgetConnection(Request):
    """Garbage collection of an unclosed async stream: nothing can be awaited, so its
    own connection is dropped without I/O (the pool opens another). Synchronous on
    both kinds."""

    __slots__ = ("lease",)
    abandons = True

    def __init__(self, lease: StreamLease) -> None:
        self.lease = lease

    def perform(self, backend: Any) -> Any:
        backend.forget(self.lease.connection)


# ---- the plan ----------------------------------------------------------------------------
Convert = Callable[[list[str], list[Any]], Plan[list[Any]]]


def stream_plan(
    dialect: Dialect,
    sql: str,
    params: object,
    batch_size: int,
    convert: Convert,
    needs_statements: bool = False,
) -> Plan[None]:
    """Yield `Emit(batch)` per `batch_size` rows, each batch made by `convert(column
    names, rows)` (which may run statements of its own: eager loading). Every way out
    closes the cursor and gives the connection back; the last batch is handed out after
    that.

    `needs_statements`: `convert` runs statements, which a MySQL transaction's connection
    cannot while the stream reads on it (refused before anything is sent)."""
    state: TransactionState | None = yield CurrentTransaction()
    blocks = dialect.stream_blocks_connection
    if state is not None:
        state.check_open(stream_ok=not blocks)
        if blocks and needs_statements:
            raise TransactionError(
                "with_() loads each batch's relations with statements of their own, which "
                "MySQL/MariaDB cannot run on this transaction's connection while the stream "
                "reads on it: use all() inside the transaction, or iterate outside it"
            )
        lease = StreamLease(state.connection, state, sql, batch_size)
    else:
        connection = yield Acquire()
        lease = StreamLease(connection, None, sql, batch_size)
        if dialect.stream_begin is not None:
            try:
                yield ExecuteOn(connection, dialect.stream_begin)
            except BaseException:
                yield Release(connection, discard=True)
                raise
    rows: list[Any] = []
    try:
        yield OpenCursor(lease, params)
        if state is not None:
            state.streams.append(lease)
            if blocks:
                state.blocking_stream = lease
        while True:
            rows = yield FetchBatch(lease)
            if lease.exhausted:
                break
            batch = yield from convert(lease.names or [], rows)
            yield Emit(batch)
    except StreamAbandoned:
        yield from _abandon(lease, dialect)
        raise
    except GeneratorExit:
        raise  # the plan itself collected unfinished: no requests can run any more
    except BaseException as error:
        yield from _close(lease, dialect, error)
        if isinstance(error, StreamClosed):
            return
        raise
    # Exhausted: the connection goes back before the last batch is handed out.
    yield from _close(lease, dialect, None)
    if rows:
        batch = yield from convert(lease.names or [], rows)
        try:
            yield Emit(batch)
        except StreamClosed:
            return


def _forget_lease(lease: StreamLease) -> None:
    lease.closed = True
    state = lease.state
    if state is not None:
        if lease in state.streams:
            state.streams.remove(lease)
        if state.blocking_stream is lease:
            state.blocking_stream = None


def _close(
    lease: StreamLease, dialect: Dialect, error: BaseException | None
) -> Generator[Request, Any, None]:
    """Close the cursor and give the connection back; a cleanup failure is raised only
    when nothing else is (the stream's own error propagates otherwise)."""
    already = lease.closed
    _forget_lease(lease)
    # Cancelled or interrupted mid-request: the session's state is unknown (§5).
    interrupted = (
        error is not None
        and not isinstance(error, Exception)
        and not isinstance(error, StreamClosed)
    )
    failed = error is not None and not isinstance(error, StreamClosed)
    state = lease.state
    if state is not None:  # the caller's transaction holds the connection
        if interrupted:
            state.doom(error)  # type: ignore[arg-type]  # not None when interrupted
            state.fatal = True
        if already or interrupted or state.closed or state.failure is not None:
            return
        try:
            yield CloseCursor(lease)
        except Exception:
            if not failed:
                raise
        return
    connection = lease.connection
    if interrupted or (dialect.stream_blocks_connection and not lease.exhausted):
        # MySQL: discarding (the server ends the session) beats draining millions of rows.
        yield Release(connection, discard=True)
        return
    try:
        if dialect.stream_begin is not None:
            if failed:
                yield ExecuteOn(connection, "ROLLBACK")  # the transaction may be aborted
            else:
                yield CloseCursor(lease)
                yield ExecuteOn(connection, "COMMIT")
        else:
            yield CloseCursor(lease)
    except BaseException as cleanup_error:
        yield Release(connection, discard=True)
        if not failed or not isinstance(cleanup_error, Exception):
            raise
        return
    yield Release(connection)


def _abandon(lease: StreamLease, dialect: Dialect) -> Generator[Request, Any, None]:
    """An async stream collected unclosed: only synchronous requests may be yielded."""
    already = lease.closed
    _forget_lease(lease)
    state = lease.state
    if state is None:
        yield ForgetConnection(lease)
        return
    if dialect.stream_blocks_connection and not already and not lease.exhausted:
        # Its unread rows block the transaction's connection for good: the transaction
        # is doomed and its connection discarded when the block ends.
        state.doom(
            TransactionError(
                "a stream left unread inside this transaction was garbage-collected; its "
                "rows block the connection (use `async with query.iterate() as rows:`)"
            )
        )
        state.fatal = True
    # PostgreSQL: the cursor is closed when the transaction ends.


def close_streams_plan(state: TransactionState, depth: int) -> Generator[Request, Any, None]:
    """A transaction (or savepoint at `depth`) is ending: close the streams opened in it,
    so MySQL's connection is free for COMMIT; further iteration raises TransactionError."""
    for lease in [lease for lease in state.streams if lease.depth >= depth]:
        _forget_lease(lease)
        lease.ended = True
        if state.failure is not None:
            continue
        try:
            yield CloseCursor(lease, ending=True)
        except Exception as error:
            state.doom(error)
            state.fatal = True
