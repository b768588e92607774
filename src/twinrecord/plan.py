"""Plans and their two drivers.

A plan is a generator that yields requests and receives their results; it never
does I/O. `run()` drives one against a sync backend, `arun()` against an async one.
Every database operation is written once as a plan; the sync and async classes
are shells that pick the driver.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Coroutine, Generator, Sequence
from inspect import GEN_CREATED, getgeneratorstate, isawaitable
from typing import Any, ClassVar, Protocol, TypeVar

T = TypeVar("T")
Plan = Generator["Request", Any, T]
# What an async shell's database method returns when it is not an `async def`
# (an aggregate that runs or chains): tools/async_to_sync.py turns `Awaited[X]` into `X`.
Awaited = Coroutine[Any, Any, T]


class PlanBackend(Protocol):
    """A backend as the plans' requests see it (`backends.SyncBackend` and
    `AsyncBackend` are two): each method returns its result on a sync backend and an
    awaitable of it on an async one, so results are `object` here; the plan that
    asked knows what it gets back."""

    is_async: ClassVar[bool]

    def run_execute(self, sql: str, params: Sequence[object]) -> object: ...

    def run_fetch(self, sql: str, params: Sequence[object]) -> object: ...

    def run_fetch_table(self, sql: str, params: Sequence[object]) -> object: ...

    def run_insert(self, sql: str, params: Sequence[object], row_count: int) -> object: ...

    def transaction(self, isolation_level: str | None = None) -> Any: ...


class Request:
    """One step a backend performs. `perform` returns the result (a coroutine on async).

    Requests that need more of a backend than `PlanBackend` (a transaction's
    connection, a driver's session) are defined beside that backend and declare it.
    """

    __slots__ = ()

    def perform(self, backend: PlanBackend) -> object:
        raise NotImplementedError


class Execute(Request):
    """A statement whose rows-affected count is the result."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: Sequence[object] = ()) -> None:
        self.sql = sql
        self.params = params

    def perform(self, backend: PlanBackend) -> object:
        return backend.run_execute(self.sql, self.params)


class FetchRows(Request):
    """A query whose rows (tuples, in select order) are the result."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: Sequence[object] = ()) -> None:
        self.sql = sql
        self.params = params

    def perform(self, backend: PlanBackend) -> object:
        return backend.run_fetch(self.sql, self.params)


class FetchTable(Request):
    """A query whose result is (column names, rows)."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: Sequence[object] = ()) -> None:
        self.sql = sql
        self.params = params

    def perform(self, backend: PlanBackend) -> object:
        return backend.run_fetch_table(self.sql, self.params)


class FetchTableWarned(Request):
    """A query whose result is ((column names, rows), warnings): the server's warnings
    about it, read on the same connection before it is given back."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: Sequence[object] = ()) -> None:
        self.sql = sql
        self.params = params

    def perform(self, backend: Any) -> Any:
        return backend.run_fetch_warned(self.sql, self.params)


class Insert(Request):
    """An INSERT of `row_count` rows whose result is the generated keys, one per row
    (from RETURNING where the SQL has it, from the driver's last-insert id otherwise)."""

    __slots__ = ("params", "row_count", "sql")

    def __init__(self, sql: str, params: Sequence[object], row_count: int) -> None:
        self.sql = sql
        self.params = params
        self.row_count = row_count

    def perform(self, backend: PlanBackend) -> object:
        return backend.run_insert(self.sql, self.params, self.row_count)


class ReadServer(Request):
    """The server (flavor and version) the backend read at its first connection; a
    connection is opened to read it if none was yet."""

    __slots__ = ("dialect",)

    def __init__(self, dialect: object) -> None:
        self.dialect = dialect

    def perform(self, backend: Any) -> Any:
        return backend.run_read_server()


class CallHook(Request):
    """Call user code (an event handler); awaited on async models if it returns an awaitable."""

    __slots__ = ("args", "func")

    def __init__(self, func: Callable[..., Any], *args: object) -> None:
        self.func = func
        self.args = args

    def perform(self, backend: PlanBackend) -> object:
        return self.func(*self.args)

    def __repr__(self) -> str:
        return f"handler {getattr(self.func, '__qualname__', self.func)!r}"


class InTransaction(Request):
    """Run a plan inside the backend's `transaction()` (a savepoint inside an open one):
    committed when it returns, rolled back when it raises (the error propagates).

    `retries`: when the plan opened the outermost transaction and the server rolled it
    back (a deadlock, a serialization failure: `TransactionRollbackError`), run it again
    from the start, up to that many times; `plan` is then a function making the plan.
    Inside an open transaction nothing is retried (the caller's work was lost too).
    """

    __slots__ = ("plan", "retries")

    def __init__(self, plan: Plan[Any] | Callable[[], Plan[Any]], retries: int = 0) -> None:
        self.plan = plan
        self.retries = retries

    def _plans(self, backend: Any) -> Any:
        plan = self.plan
        make: Callable[[], Plan[Any]] = plan if callable(plan) else (lambda: plan)
        state = backend._tx.get()
        outermost = state is None or state.closed
        return make, (self.retries if outermost else 0)

    def perform(self, backend: PlanBackend) -> object:
        if backend.is_async:
            return _run_in_async_transaction(self, backend)
        from .errors import TransactionRollbackError

        make, retries = self._plans(backend)
        while True:
            try:
                with backend.transaction():
                    return run(make(), backend)
            except TransactionRollbackError:
                if retries <= 0:
                    raise
                retries -= 1
                time.sleep(_backoff(self.retries, retries))


def _backoff(allowed: int, left: int) -> float:
    """Seconds to wait before a retry: a random share of a step growing with each
    attempt, so victims of one deadlock do not meet again at once."""
    return random.uniform(0, 0.005 * (allowed - left))


class RememberTable(Request):
    """Tell the backend which table definition create_table() used (None: dropped), so
    it can name constraints in errors its database reports by columns (SQLite)."""

    __slots__ = ("name", "table")

    def __init__(self, name: str, table: object) -> None:
        self.name = name
        self.table = table

    def perform(self, backend: Any) -> object:
        backend.remember_table(self.name, self.table)
        return _ready(None) if backend.is_async else None


class IsAsync(Request):
    """Which kind of backend drives the plan (a plan decides before writing anything)."""

    __slots__ = ()

    def perform(self, backend: PlanBackend) -> object:
        return _ready(True) if backend.is_async else False


async def _ready(value: T) -> T:
    return value


async def _run_in_async_transaction(request: InTransaction, backend: PlanBackend) -> Any:
    from .errors import TransactionRollbackError

    make, retries = request._plans(backend)
    while True:
        try:
            async with backend.transaction():
                return await arun(make(), backend)
        except TransactionRollbackError:
            if retries <= 0:
                raise
            retries -= 1
            await asyncio.sleep(_backoff(request.retries, retries))


def run(plan: Plan[T], backend: PlanBackend) -> T:
    """Drive a plan synchronously."""
    try:
        request = next(plan)
        while True:
            try:
                result = request.perform(backend)
            except BaseException as error:
                request = plan.throw(error)
                continue
            if type(request) is CallHook and isawaitable(result):
                _refuse_awaitable(result, request)
            request = plan.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def arun(plan: Plan[T], backend: PlanBackend) -> T:
    """Drive a plan on the event loop: the same loop as `run`, awaiting each result."""
    try:
        request = next(plan)
        while True:
            try:
                result = request.perform(backend)
                # I/O requests always return a coroutine here; hooks may or may not.
                if type(request) is not CallHook or isawaitable(result):
                    result = await result  # type: ignore[misc]  # an I/O request's awaitable
            except BaseException as error:
                request = plan.throw(error)
                continue
            request = plan.send(result)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


# ---- streams: plans that hand out batches --------------------------------------------------
class Emit(Request):
    """A batch a stream plan hands out; the plan resumes when the next one is asked for."""

    __slots__ = ("batch",)

    def __init__(self, batch: list[Any]) -> None:
        self.batch = batch


class StreamClosed(BaseException):  # a signal, like GeneratorExit
    """Thrown into a stream plan at its `yield Emit(...)` when the stream is closed early:
    the plan cleans up (its requests still run) and returns. A BaseException, so no
    `except Exception` in between swallows it."""


class StreamAbandoned(StreamClosed):
    """An async stream found unclosed at garbage collection: no I/O can be awaited, so
    the plan may yield only requests whose `perform` is synchronous on both kinds
    (`abandons = True`), e.g. discarding its connection."""


class PlanStream:
    """Drives a stream plan synchronously: `next_batch()` until None, then it is done;
    `close()` throws StreamClosed into an unfinished plan and runs its cleanup."""

    __slots__ = ("_backend", "_plan", "done")

    def __init__(self, plan: Plan[None], backend: PlanBackend) -> None:
        self._plan = plan
        self._backend = backend
        self.done = False

    @property
    def started(self) -> bool:
        return getgeneratorstate(self._plan) != GEN_CREATED

    def next_batch(self) -> list[Any] | None:
        if self.done:
            return None
        return self._drive(lambda: next(self._plan))

    def close(self) -> None:
        if self.done:
            return
        if getgeneratorstate(self._plan) == GEN_CREATED:  # never started: nothing held
            self.done = True
            self._plan.close()
            return
        self._drive(lambda: self._plan.throw(StreamClosed()))

    def _drive(self, first: Callable[[], Request]) -> list[Any] | None:
        plan, backend = self._plan, self._backend
        try:
            request = first()
            while type(request) is not Emit:
                try:
                    result = request.perform(backend)
                except BaseException as error:
                    request = plan.throw(error)
                    continue
                request = plan.send(result)
        except StopIteration:
            self.done = True
            return None
        except BaseException:
            self.done = True
            raise
        return request.batch


class AsyncPlanStream:
    """`PlanStream` on the event loop, plus `abandon()` for garbage collection."""

    __slots__ = ("_backend", "_plan", "done")

    def __init__(self, plan: Plan[None], backend: PlanBackend) -> None:
        self._plan = plan
        self._backend = backend
        self.done = False

    @property
    def started(self) -> bool:
        return getgeneratorstate(self._plan) != GEN_CREATED

    async def next_batch(self) -> list[Any] | None:
        if self.done:
            return None
        return await self._drive(None)

    async def aclose(self) -> None:
        if self.done:
            return
        if not self.started:
            self.done = True
            self._plan.close()
            return
        await self._drive(StreamClosed())

    async def _drive(self, signal: BaseException | None) -> list[Any] | None:
        plan, backend = self._plan, self._backend
        try:
            request = next(plan) if signal is None else plan.throw(signal)
            while type(request) is not Emit:
                try:
                    result = request.perform(backend)
                    if type(request) is not CallHook or isawaitable(result):
                        result = await result  # type: ignore[misc]  # an I/O request's
                except BaseException as error:
                    request = plan.throw(error)
                    continue
                request = plan.send(result)
        except StopIteration:
            self.done = True
            return None
        except BaseException:
            self.done = True
            raise
        return request.batch

    def abandon(self) -> None:
        """Finish the plan without awaiting (garbage collection, perhaps with no loop):
        throw StreamAbandoned and perform what it yields, synchronously."""
        if self.done:
            return
        self.done = True
        plan, backend = self._plan, self._backend
        if not self.started:
            plan.close()
            return
        try:
            request = plan.throw(StreamAbandoned())
            while True:
                if not getattr(request, "abandons", False):
                    plan.close()
                    return
                try:
                    result = request.perform(backend)
                except BaseException as error:
                    request = plan.throw(error)
                    continue
                request = plan.send(result)
        except (StopIteration, StreamClosed):
            return


def stream(plan: Plan[None], backend: PlanBackend) -> PlanStream:
    """A stream plan's batches, driven synchronously."""
    return PlanStream(plan, backend)


def astream(plan: Plan[None], backend: PlanBackend) -> AsyncPlanStream:
    """A stream plan's batches, driven on the event loop."""
    return AsyncPlanStream(plan, backend)


def _refuse_awaitable(result: object, request: Request) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()  # no "coroutine was never awaited" warning on top of our error
    from .errors import ConfigurationError

    raise ConfigurationError(
        f"{request!r} returned an awaitable on a synchronous model: use the async kind "
        "(await it) or make the handler a plain function"
    )
