"""The async query shell: builders come from the core,
terminal methods drive its plans with `arun`.
"""

from __future__ import annotations

import asyncio  # ASYNC
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Generic, Self, cast, overload

from ..backends import AsyncBackend
from ..model._configure import backend_of
from ..plan import AsyncPlanStream, Awaited, arun, astream
from ..sql.dialect import Dialect
from ..sql.expressions import Expr
from ._core import AsyncQueryCore, M, checked_batch_size
from ._state import G, Grouped, Ungrouped

# What an aggregate takes as its column: a name or an expression (API.md §12).
Aggregated = str | Expr


class AsyncActiveQuery(AsyncQueryCore[M], Generic[M, G]):
    """A query on an asynchronous model: await the methods that touch the database."""

    def _backend(self) -> AsyncBackend[Any]:
        return backend_of(self._model, "async")

    def _reader(self) -> Any:
        """The backend reads run against: a replica's route when it has replicas (§18)."""
        return self._reads_through(backend_of(self._model, "async"))

    def to_sql(self, dialect: Dialect | None = None) -> tuple[str, list[Any]]:
        """(SQL, params) for the configured database (or the given dialect); runs nothing.
        Compiled for the server version read at the first connection, or the newest."""
        if dialect is not None:
            return self._to_sql(dialect)
        backend = self._backend()
        return self._to_sql(backend.dialect, backend.server)

    async def all(self) -> list[M]:
        backend = self._reader()
        return await arun(self._all_plan(backend.dialect), backend)

    def iterate(self, batch_size: int = 1000) -> AsyncRecordStream[M]:
        """What all() returns, read `batch_size` rows at a time through a cursor (API.md
        §14). A plain call on both kinds: loop over the stream, and enter it as a context
        manager when the loop may stop early (it closes at once on leaving). Outside a
        transaction it reads on a replica unless pinned (§18)."""
        backend = self._reader()
        plan = self._stream_plan(backend.dialect, checked_batch_size(batch_size))
        return AsyncRecordStream(astream(plan, backend), self)

    def __aiter__(self) -> AsyncRecordStream[M]:  # ASYNC
        return self.iterate()  # ASYNC

    async def one(self) -> M | None:
        backend = self._reader()
        return await arun(self._one_plan(backend.dialect), backend)

    async def first(self) -> M | None:
        """The first record in order_by's order (by primary key without one), or None."""
        backend = self._reader()
        return await arun(self._first_plan(False, backend.dialect), backend)

    async def last(self) -> M | None:
        """The last record in order_by's order (by primary key without one), or None."""
        backend = self._reader()
        return await arun(self._first_plan(True, backend.dialect), backend)

    async def pluck(self, *exprs: Any) -> list[Any]:
        """Values of the given expressions (default: the select list): a flat list for
        one, tuples for several."""
        backend = self._reader()
        return await arun(self._pluck_plan(exprs, backend.dialect), backend)

    async def one_or_fail(self) -> M:
        backend = self._reader()
        return await arun(self._one_or_fail_plan(backend.dialect), backend)

    async def exists(self) -> bool:
        backend = self._reader()
        return await arun(self._exists_plan(backend.dialect), backend)

    async def to_dicts(self) -> list[dict[str, Any]]:
        backend = self._reader()
        return await arun(self._to_dicts_plan(backend.dialect), backend)

    async def update(self, changes: Mapping[str, object], touch: bool = True) -> int:
        """UPDATE the matching rows; `touch=False` skips TimestampMixin's `updated_at`."""
        backend = self._backend()
        return await arun(self._update_plan(changes, backend.dialect, touch), backend)

    async def delete(self) -> int:
        """DELETE the matching rows (SoftDeleteMixin: mark them deleted)."""
        backend = self._backend()
        return await arun(self._delete_plan(backend.dialect), backend)

    async def hard_delete(self) -> int:
        """DELETE the matching rows, also on a soft-deleting model (respects
        with_deleted()/only_deleted())."""
        backend = self._backend()
        return await arun(self._hard_delete_plan(backend.dialect), backend)

    async def aggregate(self) -> list[dict[str, Any]]:
        backend = self._reader()
        return await arun(self._aggregate_plan(backend.dialect), backend)

    async def _scalar(self, func: str, column: Aggregated, distinct: bool) -> Any:
        backend = self._reader()
        return await arun(self._scalar_plan(func, column, distinct, backend.dialect), backend)

    def group_by(self, *columns: Any) -> AsyncActiveQuery[M, Grouped]:  # type: ignore[override]
        """Group keys: column references (`'department'`), checked here, expressions,
        or raw() SQL. Aggregates on the grouped query chain (API.md §4)."""
        return cast(AsyncActiveQuery[M, Grouped], super().group_by(*columns))

    # Aggregates: with an alias, or on a grouped/aggregating query, they chain and
    # return the query (`Grouped`); otherwise they run at once for the value.

    @overload
    def count(
        self: AsyncActiveQuery[M, Grouped],
        column: Aggregated = "*",
        alias: str | None = None,
        distinct: bool = False,
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def count(
        self: AsyncActiveQuery[M, Ungrouped],
        column: Aggregated = "*",
        alias: None = None,
        distinct: bool = False,
    ) -> Awaited[int]: ...
    @overload
    def count(
        self, column: Aggregated, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def count(
        self, column: Aggregated = "*", *, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def count(
        self, column: Aggregated = "*", alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[int]: ...
    def count(
        self, column: Aggregated = "*", alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[int]:
        if self._chains_aggregate(alias):
            query = self._add_aggregate("COUNT", column, alias, distinct)
            return cast(AsyncActiveQuery[M, Grouped], query)
        value: Awaited[int] = self._scalar("COUNT", column, distinct)
        return value

    @overload
    def sum(
        self: AsyncActiveQuery[M, Grouped],
        column: Aggregated,
        alias: str | None = None,
        distinct: bool = False,
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def sum(
        self: AsyncActiveQuery[M, Ungrouped],
        column: Aggregated,
        alias: None = None,
        distinct: bool = False,
    ) -> Awaited[Any]: ...
    @overload
    def sum(
        self, column: Aggregated, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def sum(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]: ...
    def sum(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]:
        if self._chains_aggregate(alias):
            query = self._add_aggregate("SUM", column, alias, distinct)
            return cast(AsyncActiveQuery[M, Grouped], query)
        value: Awaited[Any] = self._scalar("SUM", column, distinct)
        return value

    @overload
    def avg(
        self: AsyncActiveQuery[M, Grouped],
        column: Aggregated,
        alias: str | None = None,
        distinct: bool = False,
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def avg(
        self: AsyncActiveQuery[M, Ungrouped],
        column: Aggregated,
        alias: None = None,
        distinct: bool = False,
    ) -> Awaited[Any]: ...
    @overload
    def avg(
        self, column: Aggregated, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def avg(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]: ...
    def avg(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]:
        if self._chains_aggregate(alias):
            query = self._add_aggregate("AVG", column, alias, distinct)
            return cast(AsyncActiveQuery[M, Grouped], query)
        value: Awaited[Any] = self._scalar("AVG", column, distinct)
        return value

    @overload
    def min(
        self: AsyncActiveQuery[M, Grouped],
        column: Aggregated,
        alias: str | None = None,
        distinct: bool = False,
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def min(
        self: AsyncActiveQuery[M, Ungrouped],
        column: Aggregated,
        alias: None = None,
        distinct: bool = False,
    ) -> Awaited[Any]: ...
    @overload
    def min(
        self, column: Aggregated, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def min(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]: ...
    def min(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]:
        if self._chains_aggregate(alias):
            query = self._add_aggregate("MIN", column, alias, distinct)
            return cast(AsyncActiveQuery[M, Grouped], query)
        value: Awaited[Any] = self._scalar("MIN", column, distinct)
        return value

    @overload
    def max(
        self: AsyncActiveQuery[M, Grouped],
        column: Aggregated,
        alias: str | None = None,
        distinct: bool = False,
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def max(
        self: AsyncActiveQuery[M, Ungrouped],
        column: Aggregated,
        alias: None = None,
        distinct: bool = False,
    ) -> Awaited[Any]: ...
    @overload
    def max(
        self, column: Aggregated, alias: str, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped]: ...
    @overload
    def max(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]: ...
    def max(
        self, column: Aggregated, alias: str | None = None, distinct: bool = False
    ) -> AsyncActiveQuery[M, Grouped] | Awaited[Any]:
        if self._chains_aggregate(alias):
            query = self._add_aggregate("MAX", column, alias, distinct)
            return cast(AsyncActiveQuery[M, Grouped], query)
        value: Awaited[Any] = self._scalar("MAX", column, distinct)
        return value


class AsyncRecordStream(Generic[M]):
    """A single-pass stream of records (API.md §14): an iterator that is also a context
    manager, closing it (cursor closed, connection given back) on leaving."""

    __slots__ = ("__weakref__", "_batch", "_driver", "_position", "_query")

    def __init__(self, driver: AsyncPlanStream, query: Any) -> None:
        self._driver = driver
        self._query = query
        self._batch: list[M] = []
        self._position = 0

    def __repr__(self) -> str:
        state = "closed" if self._driver.done else "open"
        return f"<{type(self).__name__} ({state}) of {self._query!r}>"

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> M:
        position, batch = self._position, self._batch
        if position < len(batch):
            self._position = position + 1
            return batch[position]
        self._batch = []
        fetched: list[M] | None = await self._driver.next_batch()
        if not fetched:
            raise StopAsyncIteration
        self._batch, self._position = fetched, 1
        return fetched[0]

    async def aclose(self) -> None:
        """Close the cursor and give the connection back (nothing if already closed)."""
        self._batch = []
        if True:  # ASYNC
            if not self._driver.done:
                # Cleanup finishes even if this task is cancelled while waiting for it.
                await asyncio.shield(self._driver.aclose())
        else:
            self._driver.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __del__(self) -> None:
        driver = self._driver
        if driver.done or not driver.started:
            return
        if True:  # ASYNC
            # Python does not close an async iterator left early: its connection is
            # discarded now (nothing can be awaited here) and the user told.
            try:
                driver.abandon()
            finally:
                warnings.warn(
                    f"an async stream of {self._query!r} was garbage-collected unclosed; "
                    "its connection was discarded. Use `async with query.iterate() as "
                    "rows:` for loops that may stop early",
                    ResourceWarning,
                    source=self,
                    stacklevel=2,
                )
        else:
            try:
                driver.close()  # CPython: at once when a loop left early drops the stream
            except Exception as error:
                warnings.warn(
                    f"closing a stream of {self._query!r} at garbage collection failed: "
                    f"{error!r}",
                    ResourceWarning,
                    stacklevel=2,
                )
