"""Generated from aio.py by tools/async_to_sync.py: do not edit by hand.

The sync query shell: builders come from the core,
terminal methods drive its plans with `run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model._configure import backend_of
from ..plan import run
from ._core import QueryCore


class ActiveQuery(QueryCore):
    """A query on a synchronous model: call the methods that touch the database."""

    def _backend(self) -> Any:
        return backend_of(self._model, "sync")

    def to_sql(self, dialect: Any = None) -> tuple[str, list[Any]]:
        """(SQL, params) for the configured database (or the given dialect); runs nothing."""
        return self._to_sql(dialect or self._backend().dialect)

    def all(self) -> list[Any]:
        backend = self._backend()
        return run(self._all_plan(backend.dialect), backend)

    def one(self) -> Any:
        backend = self._backend()
        return run(self._one_plan(backend.dialect), backend)

    def one_or_fail(self) -> Any:
        backend = self._backend()
        return run(self._one_or_fail_plan(backend.dialect), backend)

    def exists(self) -> bool:
        backend = self._backend()
        return run(self._exists_plan(backend.dialect), backend)

    def to_dicts(self) -> list[dict[str, Any]]:
        backend = self._backend()
        return run(self._to_dicts_plan(backend.dialect), backend)

    def update(self, changes: Mapping[str, Any]) -> int:
        backend = self._backend()
        return run(self._update_plan(changes, backend.dialect), backend)

    def delete(self) -> int:
        backend = self._backend()
        return run(self._delete_plan(backend.dialect), backend)

    def aggregate(self) -> list[dict[str, Any]]:
        backend = self._backend()
        return run(self._aggregate_plan(backend.dialect), backend)

    def _scalar(self, func: str, column: str, distinct: bool) -> Any:
        backend = self._backend()
        return run(self._scalar_plan(func, column, distinct, backend.dialect), backend)
