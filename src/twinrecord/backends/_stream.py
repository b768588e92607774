"""Streams (API.md §14), written once: the plan that reads a query's rows in batches
through a cursor, the requests it yields, and its cleanup on every way out.

The database differences are data (`Dialect.stream_begin`: PostgreSQL's named cursors
live in a transaction; `Dialect.stream_blocks_connection`: MySQL's unbuffered result
blocks its connection) and three cursor primitives each backend supplies:
`_open_cursor`, `_fetch_batch`, `_close_cursor`. The sync and async backends only
perform the requests; `plan.stream()` / `plan.astream()` hand the batches out.

Read replicas (API.md §18, `_replicas.py`): outside a transaction a stream reads on a
replica unless pinned, so every request on its connection goes to the backend it was
opened on (`StreamLease.backend`). A replica that cannot be reached while the stream
opens is marked down and the next one (then the primary) is tried; once rows may have
been handed out, losing the server is an error, never a silent switch.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from itertools import count
from typing import Any

from ..errors import ConnectionNotEstablished, TransactionError
from ..plan import Emit, Plan, Request, StreamAbandoned, StreamClosed, _ready
from ..sql.dialect import Dialect
from ._replicas import ReplicaSet, unreachable
from ._transaction import Acquire, ExecuteOn, Release, TransactionState

_names = count(1)


class StreamLease:
    """The connection a stream reads through and its cursor (the driver's object)."""

    __slots__ = (
        "backend",
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
        "replica_set",
        "sql",
        "state",
    )

    def __init__(
        self,
        connection: Any,
        state: TransactionState | None,
        sql: str,
        batch_size: int,
        backend: Any = None,
        replica_set: ReplicaSet | None = None,
    ) -> None:
        self.backend = backend  # the backend of the connection (a replica, or the primary)
        self.replica_set = replica_set  # set when `backend` is one of its replicas
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


def for_update_error() -> TransactionError:
    return TransactionError(
        "iterate() on a for_update() query outside a transaction: its row locks would "
        "last only as long as the stream's own connection reads (on PostgreSQL that "
        "connection is in a read-only transaction, which cannot lock rows), and the loop "
        "body's statements on other connections would wait for them. Open a "
        "`transaction()` around the loop, or drop for_update()"
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


class ReadTargets(Request):
    """Where a stream outside a transaction reads: (the primary, its replica set or None,
    the replicas to try first, in turn). Performed on a backend or on a `ReadRoute`
    (which knows the replicas); no I/O."""

    __slots__ = ()

    def perform(self, backend: Any) -> Any:
        targets = getattr(backend, "read_targets", None)
        found = (backend, None, []) if targets is None else targets()
        return _ready(found) if backend.is_async else found


class OnBackend(Request):
    """Another request performed on a given backend (a stream's replica)."""

    __slots__ = ("request", "target")

    def __init__(self, target: Any, request: Request) -> None:
        self.target = target
        self.request = request

    @property
    def abandons(self) -> bool:
        return bool(getattr(self.request, "abandons", False))

    def perform(self, backend: Any) -> Any:
        return self.request.perform(self.target)


class OpenCursor(Request):
    """Run the query on the lease's connection, leaving its rows to be fetched."""

    __slots__ = ("lease", "params")

    def __init__(self, lease: StreamLease, params: Any) -> None:
        self.lease = lease
        self.params = params

    def perform(self, backend: Any) -> Any:
        lease = self.lease
        backend = lease.backend or backend
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
        backend = lease.backend or backend
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
        backend = lease.backend or backend
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
        (self.lease.backend or backend).forget(self.lease.connection)


class StreamWarnings(Request):
    """The server's warnings about the stream's statement, read on its connection once
    every row has been (MariaDB reports a truncated recursive CTE only there)."""

    __slots__ = ("lease",)

    def __init__(self, lease: StreamLease) -> None:
        self.lease = lease

    def perform(self, backend: Any) -> Any:
        lease = self.lease
        backend = lease.backend or backend
        fetch = backend._fetch

        def warnings(connection: Any, sql: str, params: Any, lease: object) -> Any:
            return fetch(connection, sql, params)

        return backend.run_stream(warnings, lease, "SHOW WARNINGS", ())


# ---- the plan ----------------------------------------------------------------------------
Convert = Callable[[list[str], list[Any]], Plan[list[Any]]]
CheckWarnings = Callable[[list[Any]], None]


def stream_plan(
    dialect: Dialect,
    sql: str,
    params: object,
    batch_size: int,
    convert: Convert,
    needs_statements: bool = False,
    locks_rows: bool = False,
    check_warnings: CheckWarnings | None = None,
) -> Plan[None]:
    """Yield `Emit(batch)` per `batch_size` rows, each batch made by `convert(column
    names, rows)` (which may run statements of its own: eager loading). Every way out
    closes the cursor and gives the connection back; the last batch is handed out after
    that.

    `needs_statements`: `convert` runs statements, which a MySQL transaction's connection
    cannot while the stream reads on it (refused before anything is sent).
    `locks_rows`: a `for_update()` query, refused outside a transaction.
    `check_warnings`: given the server's warnings once every row is read (it raises to
    fail the stream instead of handing out the last batch)."""
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
        primary, _, _ = yield ReadTargets()
        lease = StreamLease(state.connection, state, sql, batch_size, primary)
        try:
            yield OpenCursor(lease, params)
        except GeneratorExit:
            raise
        except BaseException as error:
            yield from _close(lease, dialect, error)
            raise
        state.streams.append(lease)
        if blocks:
            state.blocking_stream = lease
    else:
        if locks_rows and dialect.row_lock:
            raise for_update_error()
        lease = yield from _open_outside(dialect, sql, params, batch_size)
    rows: list[Any] = []
    try:
        while True:
            rows = yield FetchBatch(lease)
            if lease.exhausted:
                break
            batch = yield from convert(lease.names or [], rows)
            yield Emit(batch)
        if check_warnings is not None:
            check_warnings((yield StreamWarnings(lease)))
    except StreamAbandoned:
        yield from _abandon(lease, dialect)
        raise
    except GeneratorExit:
        raise  # the plan itself collected unfinished: no requests can run any more
    except BaseException as error:
        _lost(lease, error)
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


def _open_outside(
    dialect: Dialect, sql: str, params: object, batch_size: int
) -> Generator[Request, Any, StreamLease]:
    """A connection of the stream's own with its cursor open: on the first replica that
    answers (an unreachable one is marked down, as for any read), else on the primary.
    Nothing has been handed out yet, so moving on is safe here and only here."""
    primary, replica_set, replicas = yield ReadTargets()
    for replica in replicas:
        try:
            return (yield from _open_on(replica, replica_set, dialect, sql, params, batch_size))
        except ConnectionNotEstablished as error:
            if not unreachable(error):
                raise  # e.g. its pool had no free connection in time: load, not failure
            replica_set.mark_down(replica, error)
    return (yield from _open_on(primary, None, dialect, sql, params, batch_size))


def _open_on(
    target: Any,
    replica_set: ReplicaSet | None,
    dialect: Dialect,
    sql: str,
    params: object,
    batch_size: int,
) -> Generator[Request, Any, StreamLease]:
    connection = yield OnBackend(target, Acquire())
    lease = StreamLease(connection, None, sql, batch_size, target, replica_set)
    if dialect.stream_begin is not None:
        try:
            yield OnBackend(target, ExecuteOn(connection, dialect.stream_begin))
        except GeneratorExit:
            raise
        except BaseException:
            yield OnBackend(target, Release(connection, discard=True))
            raise
    try:
        yield OpenCursor(lease, params)
    except GeneratorExit:
        raise
    except BaseException as error:
        yield from _close(lease, dialect, error)
        raise
    return lease


def _lost(lease: StreamLease, error: BaseException) -> None:
    """A replica lost mid-stream: the stream fails (rows may have been handed out, so
    it does not start again elsewhere) and later reads skip the replica a while."""
    replica_set = lease.replica_set
    if (
        replica_set is not None
        and isinstance(error, ConnectionNotEstablished)
        and unreachable(error)
    ):
        replica_set.mark_down(lease.backend, error)


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
    connection, target = lease.connection, lease.backend
    if interrupted or (dialect.stream_blocks_connection and not lease.exhausted):
        # MySQL: discarding (the server ends the session) beats draining millions of rows.
        yield OnBackend(target, Release(connection, discard=True))
        return
    try:
        if dialect.stream_begin is not None:
            if failed:
                # The transaction may be aborted.
                yield OnBackend(target, ExecuteOn(connection, "ROLLBACK"))
            else:
                yield CloseCursor(lease)
                yield OnBackend(target, ExecuteOn(connection, "COMMIT"))
        else:
            yield CloseCursor(lease)
    except BaseException as cleanup_error:
        yield OnBackend(target, Release(connection, discard=True))
        if not failed or not isinstance(cleanup_error, Exception):
            raise
        return
    yield OnBackend(target, Release(connection))


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
