"""Generated from aio.py by tools/async_to_sync.py: do not edit by hand.

The sync record shell: each method drives a core plan with `run`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Self, cast

from ..backends import SyncBackend
from ..plan import run
from ..query.sync import ActiveQuery
from ._blocks import TransactionBlock
from ._bulk import insert_many_plan, update_many_plan, upsert_plan
from ._configure import backend_of
from ._core import RecordCore, ddl_transaction
from ._find_or_create import find_or_create_plan, own_save, update_or_create_plan


class BaseActiveRecord(RecordCore):
    """The synchronous model: every database method is called."""

    __twinrecord_kind__: ClassVar[str] = "sync"

    @classmethod
    def backend(cls) -> SyncBackend[Any]:
        return backend_of(cls, "sync")

    @classmethod
    def transaction(cls, isolation_level: str | None = None) -> AbstractContextManager[None]:
        backend = backend_of(cls, "sync")
        manager: AbstractContextManager[None] = backend.transaction(isolation_level)
        return TransactionBlock(manager, cls)

    @classmethod
    def query(cls) -> ActiveQuery[Self]:
        return ActiveQuery(cls)

    @classmethod
    def find_one(cls, condition: Any) -> Self | None:
        backend = backend_of(cls, "sync").reads()
        found = run(cls._find_one_plan(condition, backend.dialect), backend)
        return cast("Self | None", found)  # quoted: `Self | None` costs ~0.2 us per call

    @classmethod
    def find_one_or_fail(cls, condition: Any) -> Self:
        backend = backend_of(cls, "sync").reads()
        found = run(cls._find_one_or_fail_plan(condition, backend.dialect), backend)
        return cast(Self, found)

    @classmethod
    def find_all(cls, condition: Mapping[str, object] | None = None) -> list[Self]:
        # This kind's query, not `cls.query()`: through `Model.aio` / `Model.sync`, `cls`
        # is a combined model whose bare names follow its first base.
        query = ActiveQuery(cls)
        if condition is not None:
            query = query.where(condition)
        return query.all()

    @classmethod
    def find_by_sql(cls, sql: str, params: Sequence[object] | None = None) -> list[Self]:
        backend = backend_of(cls, "sync").reads()
        plan = cls._find_by_sql_plan(sql, params, backend.prepare_raw, backend.dialect)
        return run(plan, backend)

    @classmethod
    def insert_many(
        cls, records: Iterable[Self], on_conflict: str | None = None, unique_by: Any = None
    ) -> int:
        """Insert the records (validated first) in multi-row statements; returns rows
        inserted. `on_conflict='ignore'` skips records whose row would collide (on
        `unique_by`'s columns if given, else on any unique key)."""
        backend = backend_of(cls, "sync")
        plan = insert_many_plan(cls, records, on_conflict, unique_by, backend.dialect)
        count: int = run(plan, backend)
        return count

    @classmethod
    def upsert_many(cls, records: Iterable[Self], unique_by: Any = None, update: Any = None) -> int:
        """Insert each record, or overwrite `update`'s columns of the row it collides with
        on `unique_by` (default: the primary key); every record then holds its row."""
        backend = backend_of(cls, "sync")
        plan = upsert_plan(cls, records, unique_by, update, backend.dialect)
        count: int = run(plan, backend)
        return count

    @classmethod
    def update_many(cls, records: Iterable[Self], fields: Any = None) -> int:
        """Write each loaded record's dirty columns (or `fields`) in one statement per
        batch; returns rows matched."""
        backend = backend_of(cls, "sync")
        plan = update_many_plan(cls, records, fields, backend.dialect)
        count: int = run(plan, backend)
        return count

    @classmethod
    def create(cls, **values: Any) -> Self:
        """Construct a record from `values`, save it and return it."""
        record = cls(**values)
        if own_save(cls, "sync") is not None:
            record.save()  # the model's own save() (API.md §3: construct + save())
        else:
            BaseActiveRecord.save(record)  # this kind's save, on a combined model too
        return record

    @classmethod
    def find_or_create_by(
        cls, conditions: Mapping[str, object], defaults: Mapping[str, object] | None = None
    ) -> Self:
        """The record matching `conditions`, else a new one saved from them and
        `defaults` (race-safe with a unique constraint over the condition columns)."""
        backend = backend_of(cls, "sync")
        plan = find_or_create_plan(cls, conditions, defaults, backend.dialect)
        return cast(Self, run(plan, backend))

    @classmethod
    def update_or_create_by(
        cls, conditions: Mapping[str, object], values: Mapping[str, object]
    ) -> Self:
        """In a transaction: lock the record matching `conditions`, assign `values` and
        save it; else create one as find_or_create_by does, with `values` as defaults."""
        backend = backend_of(cls, "sync")
        plan = update_or_create_plan(cls, conditions, values, backend.dialect)
        return cast(Self, run(plan, backend))

    @classmethod
    def create_table(cls, if_not_exists: bool = True) -> None:
        backend = backend_of(cls, "sync")
        with ddl_transaction(backend):
            run(cls._create_table_plan(if_not_exists, backend.dialect), backend)

    @classmethod
    def drop_table(cls, if_exists: bool = True) -> None:
        backend = backend_of(cls, "sync")
        run(cls._drop_table_plan(if_exists, backend.dialect), backend)

    def save(self) -> int:
        backend = backend_of(type(self), "sync")
        return run(self._save_plan(backend.dialect), backend)

    def delete(self) -> int:
        backend = backend_of(type(self), "sync")
        return run(self._delete_plan(backend.dialect), backend)

    def hard_delete(self) -> int:
        """Delete the row even with SoftDeleteMixin (same events); the record is new again."""
        backend = backend_of(type(self), "sync")
        return run(self._hard_delete_plan(backend.dialect), backend)

    def restore(self) -> int:
        """Clear `deleted_at` (SoftDeleteMixin); returns rows affected."""
        backend = backend_of(type(self), "sync")
        return run(self._restore_plan(backend.dialect), backend)

    def touch(self) -> int:
        """Write only `updated_at` (TimestampMixin): no events, no lock check."""
        backend = backend_of(type(self), "sync")
        return run(self._touch_plan(backend.dialect), backend)

    def refresh(self) -> None:
        # From the primary (a record is refreshed to see its latest row), not a write.
        backend = backend_of(type(self), "sync").reads(pinned=True)
        run(self._refresh_plan(backend.dialect), backend)
