"""The sync and async shells of a relation read from a record: `post.author()`,
`await post.author()`, `user.posts(refresh=True)`, `user.posts_query()`.

Rule: no logic beyond "answer from the cache, else drive the core plan with
`run` / `arun`"; what is loaded and how lives in `_core.py`. The two shells are a
few lines each, so they are written here side by side rather than generated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ..model._configure import backend_of
from ..plan import arun, run
from ..query._core import QueryCore
from ..query.aio import AsyncActiveQuery
from ..query.sync import ActiveQuery
from ._core import MISSING, cached, record_plan
from ._declare import CALL_CLASSES, Link, Relation

if TYPE_CHECKING:
    from ..model._core import RecordCore

T = TypeVar("T")
R = TypeVar("R")
Q = TypeVar("Q", bound=QueryCore[Any])


class _Bound(Generic[T, R]):
    """A relation (its target `T`, its call's result `R`) read from one record."""

    __slots__ = ("record", "relation")

    def __init__(self, relation: Relation[T, R], record: RecordCore) -> None:
        self.relation = relation
        self.record = record

    def __repr__(self) -> str:
        return f"<{self.relation!r} of {self.record!r}>"

    def is_loaded(self) -> bool:
        """Whether a call would be answered from the cache (no query)."""
        return cached(self.relation.link(), self.record) is not MISSING

    # The relation of the other kind, for combined models (API.md §6): the typed
    # spelling of `record.aio.posts` / `record.sync.posts`, which the checkers cannot
    # type (a face does not know its model's relations by name).
    @property
    def aio(self) -> AsyncRelationCall[T, R]:
        """This relation of the same record, async: `await record.posts.aio()`."""
        return AsyncRelationCall(self.relation, self.record)

    @property
    def sync(self) -> RelationCall[T, R]:
        """This relation of the same record, sync: `record.posts.sync()`."""
        return RelationCall(self.relation, self.record)


class RelationCall(_Bound[T, R]):
    """A relation of a sync record: call it to get the related record(s)."""

    __slots__ = ()

    def __call__(self, refresh: bool = False) -> R:
        link = self.relation.link()
        if not refresh:
            hit = cached(link, self.record)
            if hit is not MISSING:
                return hit  # type: ignore[no-any-return]
        backend = backend_of(link.target, "sync").reads()
        return run(record_plan(link, self.record, backend.dialect), backend)  # type: ignore[no-any-return]

    def query(self) -> ActiveQuery[T]:
        """The related rows as a query, for further where/order_by/count()."""
        link = self.relation.link()
        return relation_query(ActiveQuery(self.relation.target_model()), link, self.record)


class AsyncRelationCall(_Bound[T, R]):
    """A relation of an async record: await the call to get the related record(s)."""

    __slots__ = ()

    async def __call__(self, refresh: bool = False) -> R:
        link = self.relation.link()
        if not refresh:
            hit = cached(link, self.record)
            if hit is not MISSING:
                return hit  # type: ignore[no-any-return]
        backend = backend_of(link.target, "async").reads()
        return await arun(record_plan(link, self.record, backend.dialect), backend)

    def query(self) -> AsyncActiveQuery[T]:
        """The related rows as a query, for further where/order_by/count()."""
        link = self.relation.link()
        return relation_query(AsyncActiveQuery(self.relation.target_model()), link, self.record)


def relation_query(query: Q, link: Link, record: RecordCore) -> Q:
    """`query` narrowed to the rows `link` gives `record` (for `<relation>_query()`)."""
    key = record.__dict__[link.owner_column]
    if key is None:
        return query.where("1 = 0")          # a new owner has no related rows yet
    if link.through is None:
        return query.where({link.match_column: key})
    join_table = link.through._meta().table
    target_table = link.target._meta().table
    on = f"{join_table}.{link.join_column} = {target_table}.{link.target_key}"
    return query.inner_join(join_table, on).where(f"{join_table}.{link.match_column} = ?", (key,))


# The relation declarations hand out these shells when read from a record.
CALL_CLASSES.update({"sync": RelationCall, "async": AsyncRelationCall})
