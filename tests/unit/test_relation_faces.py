"""A relation read from a record has faces of both kinds (`record.posts.aio`,
`record.posts.sync`): the typed spelling of `record.aio.posts` (API.md §6, §21)."""

from __future__ import annotations

from typing import ClassVar, Optional

from twinrecord import (
    ActiveQuery,
    AsyncActiveQuery,
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    HasMany,
)
from twinrecord.relations._access import AsyncRelationCall, RelationCall
from twinrecord.sql.dialect import POSTGRES


class Owner(BaseActiveRecord, AsyncBaseActiveRecord):
    __table_name__ = "owners"
    id: Optional[int] = None
    items: ClassVar[HasMany[Item]] = HasMany(foreign_key="owner_id")


class Item(BaseActiveRecord, AsyncBaseActiveRecord):
    __table_name__ = "items"
    id: Optional[int] = None
    owner_id: int


def test_the_faces_bind_the_same_relation_and_record_in_each_kind() -> None:
    owner = Owner(id=7)
    bare = owner.items
    assert isinstance(bare, RelationCall)
    assert isinstance(bare.aio, AsyncRelationCall) and isinstance(bare.aio.sync, RelationCall)
    assert isinstance(bare.sync, RelationCall) and isinstance(bare.aio.aio, AsyncRelationCall)
    for face in (bare.aio, bare.sync, owner.aio.items):
        assert face.relation is bare.relation and face.record is owner
    assert type(owner.aio.items) is type(bare.aio)


def test_the_faces_queries_are_the_relations_query_of_their_kind() -> None:
    owner = Owner(id=7)
    assert isinstance(owner.items.aio.query(), AsyncActiveQuery)
    assert isinstance(owner.items.sync.query(), ActiveQuery)
    expected = owner.items.query().to_sql(POSTGRES)
    assert expected[1] == [7]
    assert owner.items.aio.query().to_sql(POSTGRES) == expected
    assert owner.aio.items_query().to_sql(POSTGRES) == expected
