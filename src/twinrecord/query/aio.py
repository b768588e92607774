"""The async query shell: builders come from the core,
terminal methods drive its plans with `arun`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model._configure import backend_of
from ..plan import arun
from ._core import QueryCore


class AsyncActiveQuery(QueryCore):
    """A query on an asynchronous model: await the methods that touch the database."""

    def _backend(self) -> Any:
        return backend_of(self._model, "async")

    def to_sql(self, dialect: Any = None) -> tuple[str, list[Any]]:
        """(SQL, params) for the configured database (or the given dialect); runs nothing."""
        return self._to_sql(dialect or self._backend().dialect)

    async def all(self) -> list[Any]:
        backend = self._backend()
        return await arun(self._all_plan(backend.dialect), backend)

    async def one(self) -> Any:
        backend = self._backend()
        return await arun(self._one_plan(backend.dialect), backend)

    async def one_or_fail(self) -> Any:
        backend = self._backend()
        return await arun(self._one_or_fail_plan(backend.dialect), backend)

    async def exists(self) -> bool:
        backend = self._backend()
        return await arun(self._exists_plan(backend.dialect), backend)

    async def to_dicts(self) -> list[dict[str, Any]]:
        backend = self._backend()
        return await arun(self._to_dicts_plan(backend.dialect), backend)

    async def update(self, changes: Mapping[str, Any]) -> int:
        backend = self._backend()
        return await arun(self._update_plan(changes, backend.dialect), backend)

    async def delete(self) -> int:
        backend = self._backend()
        return await arun(self._delete_plan(backend.dialect), backend)

    async def aggregate(self) -> list[dict[str, Any]]:
        backend = self._backend()
        return await arun(self._aggregate_plan(backend.dialect), backend)

    async def _scalar(self, func: str, column: str, distinct: bool) -> Any:
        backend = self._backend()
        return await arun(self._scalar_plan(func, column, distinct, backend.dialect), backend)
