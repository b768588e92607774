"""The model classes as the type checkers see them (a stub: nothing here runs).

At run time `BaseActiveRecord` and `AsyncBaseActiveRecord` are the shells in
`sync.py` and `aio.py`, each defining the database methods of its kind. Two
classes defining `save()` with different types cannot both be bases of one class
under mypy or pyright, yet `class Both(BaseActiveRecord, AsyncBaseActiveRecord)`
is the documented combined model (API.md §6). So the checkers see this instead:
every method whose type differs by kind is declared once, in `RecordSurface`,
overloaded on the kind of the class it is called on (`_kinds.py`); the two public
classes only carry their kind's marker, and the first base's marker wins.

`Model.aio` / `record.aio` (and `.sync`) are typed faces: a face stands for the
model (`_record()`) while carrying the other kind's marker, so the same overloads
type it.

Rule: each overload mirrors a shell method (parameters, defaults, result);
tests/unit/test_typed_surface.py compares them with `sync.py` and `aio.py`.
"""

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, ClassVar, Generic, Self, TypeVar, overload

from ..backends import AsyncBackend, SyncBackend
from ..query.aio import AsyncActiveQuery
from ..query.sync import ActiveQuery
from ._columns import ColumnsDescriptor
from ._core import RecordCore
from ._kinds import AsyncKind, AsyncMark, SyncKind, SyncMark

M = TypeVar("M")

class RecordSurface:
    """The database methods of both kinds (typing only)."""

    @overload
    @classmethod
    def backend(cls: type[SyncKind[object]]) -> SyncBackend[Any]: ...
    @overload
    @classmethod
    def backend(cls: type[AsyncKind[object]]) -> AsyncBackend[Any]: ...
    @overload
    @classmethod
    def transaction(
        cls: type[SyncKind[object]], isolation_level: str | None = None
    ) -> AbstractContextManager[None]: ...
    @overload
    @classmethod
    def transaction(
        cls: type[AsyncKind[object]], isolation_level: str | None = None
    ) -> AbstractAsyncContextManager[None]: ...
    @overload
    @classmethod
    def query(cls: type[SyncKind[M]]) -> ActiveQuery[M]: ...
    @overload
    @classmethod
    def query(cls: type[AsyncKind[M]]) -> AsyncActiveQuery[M]: ...
    @overload
    @classmethod
    def find_one(cls: type[SyncKind[M]], condition: object) -> M | None: ...
    @overload
    @classmethod
    async def find_one(cls: type[AsyncKind[M]], condition: object) -> M | None: ...
    @overload
    @classmethod
    def find_one_or_fail(cls: type[SyncKind[M]], condition: object) -> M: ...
    @overload
    @classmethod
    async def find_one_or_fail(cls: type[AsyncKind[M]], condition: object) -> M: ...
    @overload
    @classmethod
    def find_all(
        cls: type[SyncKind[M]], condition: Mapping[str, object] | None = None
    ) -> list[M]: ...
    @overload
    @classmethod
    async def find_all(
        cls: type[AsyncKind[M]], condition: Mapping[str, object] | None = None
    ) -> list[M]: ...
    @overload
    @classmethod
    def find_by_sql(
        cls: type[SyncKind[M]], sql: str, params: Sequence[object] | None = None
    ) -> list[M]: ...
    @overload
    @classmethod
    async def find_by_sql(
        cls: type[AsyncKind[M]], sql: str, params: Sequence[object] | None = None
    ) -> list[M]: ...
    @overload
    @classmethod
    def insert_many(
        cls: type[SyncKind[M]],
        records: Iterable[M],
        on_conflict: str | None = None,
        unique_by: object = None,
    ) -> int: ...
    @overload
    @classmethod
    async def insert_many(
        cls: type[AsyncKind[M]],
        records: Iterable[M],
        on_conflict: str | None = None,
        unique_by: object = None,
    ) -> int: ...
    @overload
    @classmethod
    def upsert_many(
        cls: type[SyncKind[M]],
        records: Iterable[M],
        unique_by: object = None,
        update: object = None,
    ) -> int: ...
    @overload
    @classmethod
    async def upsert_many(
        cls: type[AsyncKind[M]],
        records: Iterable[M],
        unique_by: object = None,
        update: object = None,
    ) -> int: ...
    @overload
    @classmethod
    def update_many(cls: type[SyncKind[M]], records: Iterable[M], fields: object = None) -> int: ...
    @overload
    @classmethod
    async def update_many(
        cls: type[AsyncKind[M]], records: Iterable[M], fields: object = None
    ) -> int: ...
    @overload
    @classmethod
    def create(cls: type[SyncKind[M]], **values: object) -> M: ...
    @overload
    @classmethod
    async def create(cls: type[AsyncKind[M]], **values: object) -> M: ...
    @overload
    @classmethod
    def find_or_create_by(
        cls: type[SyncKind[M]],
        conditions: Mapping[str, object],
        defaults: Mapping[str, object] | None = None,
    ) -> M: ...
    @overload
    @classmethod
    async def find_or_create_by(
        cls: type[AsyncKind[M]],
        conditions: Mapping[str, object],
        defaults: Mapping[str, object] | None = None,
    ) -> M: ...
    @overload
    @classmethod
    def update_or_create_by(
        cls: type[SyncKind[M]], conditions: Mapping[str, object], values: Mapping[str, object]
    ) -> M: ...
    @overload
    @classmethod
    async def update_or_create_by(
        cls: type[AsyncKind[M]], conditions: Mapping[str, object], values: Mapping[str, object]
    ) -> M: ...
    @overload
    @classmethod
    def create_table(cls: type[SyncKind[object]], if_not_exists: bool = True) -> None: ...
    @overload
    @classmethod
    async def create_table(cls: type[AsyncKind[object]], if_not_exists: bool = True) -> None: ...
    @overload
    @classmethod
    def drop_table(cls: type[SyncKind[object]], if_exists: bool = True) -> None: ...
    @overload
    @classmethod
    async def drop_table(cls: type[AsyncKind[object]], if_exists: bool = True) -> None: ...
    @overload
    def save(self: SyncKind[object]) -> int: ...
    @overload
    async def save(self: AsyncKind[object]) -> int: ...
    @overload
    def delete(self: SyncKind[object]) -> int: ...
    @overload
    async def delete(self: AsyncKind[object]) -> int: ...
    @overload
    def hard_delete(self: SyncKind[object]) -> int: ...
    @overload
    async def hard_delete(self: AsyncKind[object]) -> int: ...
    @overload
    def restore(self: SyncKind[object]) -> int: ...
    @overload
    async def restore(self: AsyncKind[object]) -> int: ...
    @overload
    def touch(self: SyncKind[object]) -> int: ...
    @overload
    async def touch(self: AsyncKind[object]) -> int: ...
    @overload
    def refresh(self: SyncKind[object]) -> None: ...
    @overload
    async def refresh(self: AsyncKind[object]) -> None: ...

class SyncFace(RecordSurface, Generic[M]):
    """`Model.sync` (as `type[SyncFace[Model]]`) and `record.sync`: the sync kind's methods."""

    __kind: ClassVar[SyncMark]
    def _record(self) -> M: ...
    # A relation read through a record's face (`record.sync.posts()`).
    def __getattr__(self, name: str) -> Any: ...

class AsyncFace(RecordSurface, Generic[M]):
    """`Model.aio` (as `type[AsyncFace[Model]]`) and `record.aio`: the async kind's methods."""

    __kind: ClassVar[AsyncMark]
    def _record(self) -> M: ...
    # A relation read through a record's face (`await record.aio.posts()`).
    def __getattr__(self, name: str) -> Any: ...

class SyncFacet:
    @overload
    def __get__(self, instance: None, owner: type[M]) -> type[SyncFace[M]]: ...
    @overload
    def __get__(self, instance: M, owner: type[M]) -> SyncFace[M]: ...

class AsyncFacet:
    @overload
    def __get__(self, instance: None, owner: type[M]) -> type[AsyncFace[M]]: ...
    @overload
    def __get__(self, instance: M, owner: type[M]) -> AsyncFace[M]: ...

class TypedRecord(RecordSurface, RecordCore):
    """What both public bases share: the surface, the record type, the faces."""

    aio: ClassVar[AsyncFacet]
    sync: ClassVar[SyncFacet]
    c: ClassVar[ColumnsDescriptor]
    def _record(self) -> Self: ...

class BaseActiveRecord(TypedRecord):
    """The synchronous model: every database method runs when called."""

    __kind: ClassVar[SyncMark]

class AsyncBaseActiveRecord(TypedRecord):
    """The asynchronous model: every database method is awaited."""

    __kind: ClassVar[AsyncMark]
