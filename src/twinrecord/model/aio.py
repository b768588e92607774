"""The async record shell: each method drives a core plan with `arun`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar, Self, cast

from ..backends import AsyncBackend
from ..plan import arun
from ..query.aio import AsyncActiveQuery
from ._blocks import AsyncTransactionBlock
from ._bulk import insert_many_plan, update_many_plan, upsert_plan
from ._configure import backend_of
from ._core import RecordCore, ddl_transaction
from ._find_or_create import find_or_create_plan, own_save, update_or_create_plan


class AsyncBaseActiveRecord(RecordCore):
    """The asynchronous model: every database method is awaited."""

    __twinrecord_kind__: ClassVar[str] = "async"

    @classmethod
    def backend(cls) -> AsyncBackend[Any]:
        return backend_of(cls, "async")

    @classmethod
    def transaction(cls, isolation_level: str | None = None) -> AbstractAsyncContextManager[None]:
        backend = backend_of(cls, "async")
        manager: AbstractAsyncContextManager[None] = backend.transaction(isolation_level)
        return AsyncTransactionBlock(manager, cls)

    @classmethod
    def query(cls) -> AsyncActiveQuery[Self]:
        return AsyncActiveQuery(cls)

    @classmethod
    async def find_one(cls, condition: Any) -> Self | None:
        backend = backend_of(cls, "async").reads()
        found = await arun(cls._find_one_plan(condition, backend.dialect), backend)
        return cast("Self | None", found)  # quoted: `Self | None` costs ~0.2 us per call

    @classmethod
    async def find_one_or_fail(cls, condition: Any) -> Self:
        backend = backend_of(cls, "async").reads()
        found = await arun(cls._find_one_or_fail_plan(condition, backend.dialect), backend)
        return cast(Self, found)

    @classmethod
    async def find_all(cls, condition: Mapping[str, object] | None = None) -> list[Self]:
        # This kind's query, not `cls.query()`: through `Model.aio` / `Model.sync`, `cls`
        # is a combined model whose bare names follow its first base.
        query = AsyncActiveQuery(cls)
        if condition is not None:
            query = query.where(condition)
        return await query.all()

    @classmethod
    async def find_by_sql(cls, sql: str, params: Sequence[object] | None = None) -> list[Self]:
        backend = backend_of(cls, "async").reads()
        plan = cls._find_by_sql_plan(sql, params, backend.prepare_raw, backend.dialect)
        return await arun(plan, backend)

    @classmethod
    async def insert_many(
        cls, records: Iterable[Self], on_conflict: str | None = None, unique_by: Any = None
    ) -> int:
        """Insert the records (validated first) in multi-row statements; returns rows
        inserted. `on_conflict='ignore'` skips records whose row would collide (on
        `unique_by`'s columns if given, else on any unique key)."""
        backend = backend_of(cls, "async")
        plan = insert_many_plan(cls, records, on_conflict, unique_by, backend.dialect)
        count: int = await arun(plan, backend)
        return count

    @classmethod
    async def upsert_many(
        cls, records: Iterable[Self], unique_by: Any = None, update: Any = None
    ) -> int:
        """Insert each record, or overwrite `update`'s columns of the row it collides with
        on `unique_by` (default: the primary key); every record then holds its row."""
        backend = backend_of(cls, "async")
        plan = upsert_plan(cls, records, unique_by, update, backend.dialect)
        count: int = await arun(plan, backend)
        return count

    @classmethod
    async def update_many(cls, records: Iterable[Self], fields: Any = None) -> int:
        """Write each loaded record's dirty columns (or `fields`) in one statement per
        batch; returns rows matched."""
        backend = backend_of(cls, "async")
        plan = update_many_plan(cls, records, fields, backend.dialect)
        count: int = await arun(plan, backend)
        return count

    @classmethod
    async def create(cls, **values: Any) -> Self:
        """Construct a record from `values`, save it and return it."""
        record = cls(**values)
        if own_save(cls, "async") is not None:
            await record.save()  # the model's own save() (API.md §3: construct + save())
        else:
            await AsyncBaseActiveRecord.save(record)  # this kind's save, on a combined model too
        return record

    @classmethod
    async def find_or_create_by(
        cls, conditions: Mapping[str, object], defaults: Mapping[str, object] | None = None
    ) -> Self:
        """The record matching `conditions`, else a new one saved from them and
        `defaults` (race-safe with a unique constraint over the condition columns)."""
        backend = backend_of(cls, "async")
        plan = find_or_create_plan(cls, conditions, defaults, backend.dialect)
        return cast(Self, await arun(plan, backend))

    @classmethod
    async def update_or_create_by(
        cls, conditions: Mapping[str, object], values: Mapping[str, object]
    ) -> Self:
        """In a transaction: lock the record matching `conditions`, assign `values` and
        save it; else create one as find_or_create_by does, with `values` as defaults."""
        backend = backend_of(cls, "async")
        plan = update_or_create_plan(cls, conditions, values, backend.dialect)
        return cast(Self, await arun(plan, backend))

    @classmethod
    async def create_table(cls, if_not_exists: bool = True) -> None:
        backend = backend_of(cls, "async")
        async with ddl_transaction(backend):
            await arun(cls._create_table_plan(if_not_exists, backend.dialect), backend)

    @classmethod
    async def drop_table(cls, if_exists: bool = True) -> None:
        backend = backend_of(cls, "async")
        await arun(cls._drop_table_plan(if_exists, backend.dialect), backend)

    async def save(self) -> int:
        backend = backend_of(type(self), "async")
        return await arun(self._save_plan(backend.dialect), backend)

    async def delete(self) -> int:
        backend = backend_of(type(self), "async")
        return await arun(self._delete_plan(backend.dialect), backend)

    async def hard_delete(self) -> int:
        """Delete the row even with SoftDeleteMixin (same events); the record is new again."""
        backend = backend_of(type(self), "async")
        return await arun(self._hard_delete_plan(backend.dialect), backend)

    async def restore(self) -> int:
        """Clear `deleted_at` (SoftDeleteMixin); returns rows affected."""
        backend = backend_of(type(self), "async")
        return await arun(self._restore_plan(backend.dialect), backend)

    async def touch(self) -> int:
        """Write only `updated_at` (TimestampMixin): no events, no lock check."""
        backend = backend_of(type(self), "async")
        return await arun(self._touch_plan(backend.dialect), backend)

    async def refresh(self) -> None:
        # From the primary (a record is refreshed to see its latest row), not a write.
        backend = backend_of(type(self), "async").reads(pinned=True)
        await arun(self._refresh_plan(backend.dialect), backend)
