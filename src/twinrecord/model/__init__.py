"""Models: the record core (`_core`), and the sync and async shells.

The type checkers see the public classes as `_typed.pyi` declares them (the
combined model needs it; see there); at run time they are the shells.
"""

from typing import TYPE_CHECKING

from ..relations import _access  # noqa: F401  (registers the relation shells)
from . import aio as _aio
from . import sync as _sync
from ._columns import ColumnsDescriptor
from ._core import RecordCore
from ._facets import KindFacet

if TYPE_CHECKING:
    from ._typed import AsyncBaseActiveRecord, BaseActiveRecord
else:
    AsyncBaseActiveRecord = _aio.AsyncBaseActiveRecord
    BaseActiveRecord = _sync.BaseActiveRecord

type.__setattr__(RecordCore, "aio", KindFacet(_aio.AsyncBaseActiveRecord))
type.__setattr__(RecordCore, "sync", KindFacet(_sync.BaseActiveRecord))
type.__setattr__(RecordCore, "c", ColumnsDescriptor())

__all__ = ["AsyncBaseActiveRecord", "BaseActiveRecord", "RecordCore"]
