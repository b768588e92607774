"""Models: the record core (`_core`), and the sync and async shells."""

from ._core import RecordCore
from ._facets import KindFacet
from .aio import AsyncBaseActiveRecord
from .sync import BaseActiveRecord

type.__setattr__(RecordCore, "aio", KindFacet(AsyncBaseActiveRecord))
type.__setattr__(RecordCore, "sync", KindFacet(BaseActiveRecord))

__all__ = ["AsyncBaseActiveRecord", "BaseActiveRecord", "RecordCore"]
