"""The async query shell: builders come from the core,
terminal methods drive its plans with `arun`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, overload

from ..backends import AsyncBackend
from ..model._configure import backend_of
from ..plan import Awaited, arun
from ..sql.dialect import Dialect
from ._core import AsyncQueryCore, M


class AsyncActiveQuery(AsyncQueryCore[M]):
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

    async def update(self, changes: Mapping[str, Any], touch: bool = True) -> int:
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

    async def _scalar(self, func: str, column: str, distinct: bool) -> Any:
        backend = self._reader()
        return await arun(self._scalar_plan(func, column, distinct, backend.dialect), backend)

    # Aggregates: with an alias (or on a grouped/aggregating query) they chain and
    # return the query; otherwise they run at once for the value.
    @overload
    def count(
        self, column: str = "*", alias: None = None, distinct: bool = False
    ) -> Awaited[int]: ...
    @overload
    def count(self, column: str, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def count(self, column: str = "*", *, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def count(
        self, column: str = "*", alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[int]: ...
    def count(
        self, column: str = "*", alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[int]:
        if self._chains_aggregate(alias):
            return self._add_aggregate("COUNT", column, alias, distinct)
        value: Awaited[int] = self._scalar("COUNT", column, distinct)
        return value

    @overload
    def sum(self, column: str, alias: None = None, distinct: bool = False) -> Awaited[Any]: ...
    @overload
    def sum(self, column: str, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def sum(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]: ...
    def sum(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]:
        if self._chains_aggregate(alias):
            return self._add_aggregate("SUM", column, alias, distinct)
        return self._scalar("SUM", column, distinct)

    @overload
    def avg(self, column: str, alias: None = None, distinct: bool = False) -> Awaited[Any]: ...
    @overload
    def avg(self, column: str, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def avg(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]: ...
    def avg(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]:
        if self._chains_aggregate(alias):
            return self._add_aggregate("AVG", column, alias, distinct)
        return self._scalar("AVG", column, distinct)

    @overload
    def min(self, column: str, alias: None = None, distinct: bool = False) -> Awaited[Any]: ...
    @overload
    def min(self, column: str, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def min(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]: ...
    def min(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]:
        if self._chains_aggregate(alias):
            return self._add_aggregate("MIN", column, alias, distinct)
        return self._scalar("MIN", column, distinct)

    @overload
    def max(self, column: str, alias: None = None, distinct: bool = False) -> Awaited[Any]: ...
    @overload
    def max(self, column: str, alias: str, distinct: bool = False) -> Self: ...
    @overload
    def max(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]: ...
    def max(
        self, column: str, alias: str | None = None, distinct: bool = False
    ) -> Self | Awaited[Any]:
        if self._chains_aggregate(alias):
            return self._add_aggregate("MAX", column, alias, distinct)
        return self._scalar("MAX", column, distinct)
