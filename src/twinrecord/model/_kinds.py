"""The two kinds as the type checkers see them (nothing here runs).

A model's bare names follow its first base (API.md §6). The checkers learn which
kind that is from a private marker, `__kind`, declared by each public base class
(`twinrecord.model`): private names are exempt from the checkers' rule that two
bases must agree on an attribute, so `class Both(BaseActiveRecord,
AsyncBaseActiveRecord)` passes in either order, and the marker the first base
declares wins, as at run time. Methods whose type differs by kind are declared
once, overloaded on these protocols; `_record()` carries the record type, so a
face (`Both.aio`) can stand for `Both` while being of the other kind.
"""

from __future__ import annotations

from typing import ClassVar, Protocol, TypeVar, final

R_co = TypeVar("R_co", covariant=True)


@final
class SyncMark:
    """The marker of the synchronous kind."""


@final
class AsyncMark:
    """The marker of the asynchronous kind."""


class SyncKind(Protocol[R_co]):
    """A sync model of records `R_co`, or a combined one whose first base is sync."""

    __kind: ClassVar[SyncMark]

    def _record(self) -> R_co: ...


class AsyncKind(Protocol[R_co]):
    """An async model of records `R_co`, or a combined one whose first base is async."""

    __kind: ClassVar[AsyncMark]

    def _record(self) -> R_co: ...
