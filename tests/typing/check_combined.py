"""API.md §6 and §21: the combined model in both base orders, and its faces."""

from __future__ import annotations

from typing import assert_type

from models import AsyncFirst, AsyncPost, Post, SyncFirst

from twinrecord import ActiveQuery, AsyncActiveQuery, AsyncRecordStream, RecordStream
from twinrecord.relations._access import AsyncRelationCall


async def sync_first() -> None:
    # Bare names follow the first base: sync here.
    assert_type(SyncFirst.query(), ActiveQuery[SyncFirst])
    assert_type(SyncFirst.find_one(1), SyncFirst | None)
    record = SyncFirst(name="a")
    assert_type(record.save(), int)
    assert_type(record.posts(), list[Post])
    with SyncFirst.transaction():
        pass
    # The other kind, through the faces.
    assert_type(SyncFirst.aio.query(), AsyncActiveQuery[SyncFirst])
    assert_type(await SyncFirst.aio.find_one(1), SyncFirst | None)
    assert_type(await record.aio.save(), int)
    assert_type(await record.aio.delete(), int)
    async with SyncFirst.aio.transaction():
        pass
    assert_type(SyncFirst.sync.query(), ActiveQuery[SyncFirst])
    assert_type(SyncFirst.query().iterate(), RecordStream[SyncFirst])
    async with SyncFirst.aio.query().iterate() as rows:
        assert_type(rows, AsyncRecordStream[SyncFirst])


async def async_first() -> None:
    # Bare names are async; `.sync` gives the sync kind.
    assert_type(AsyncFirst.query(), AsyncActiveQuery[AsyncFirst])
    assert_type(await AsyncFirst.find_one(1), AsyncFirst | None)
    record = AsyncFirst(name="a")
    assert_type(await record.save(), int)
    assert_type(await record.posts(), list[AsyncPost])
    async with AsyncFirst.transaction():
        pass
    assert_type(AsyncFirst.sync.query(), ActiveQuery[AsyncFirst])
    assert_type(AsyncFirst.sync.find_all(), list[AsyncFirst])
    assert_type(record.sync.save(), int)
    with AsyncFirst.sync.transaction():
        pass
    assert_type(AsyncFirst.query().iterate(10), AsyncRecordStream[AsyncFirst])
    for each in AsyncFirst.sync.query().iterate():
        assert_type(each, AsyncFirst)


async def relations_of_the_other_kind() -> None:
    # `record.aio.posts` is not known by name to the checkers; the relation's own faces are.
    sync_first = SyncFirst(name="a")
    assert_type(sync_first.posts.aio, AsyncRelationCall[Post, list[Post]])
    assert_type(await sync_first.posts.aio(), list[Post])
    assert_type(await sync_first.posts.aio(refresh=True), list[Post])
    assert_type(sync_first.posts.aio.query(), AsyncActiveQuery[Post])
    assert_type(await sync_first.posts.aio.query().count(), int)
    assert_type(sync_first.posts.sync(), list[Post])
    async_first = AsyncFirst(name="a")
    assert_type(async_first.posts.sync(), list[AsyncPost])
    assert_type(async_first.posts.sync.query(), ActiveQuery[AsyncPost])
    assert_type(async_first.posts.sync.query().all(), list[AsyncPost])
    assert_type(await async_first.posts.aio(), list[AsyncPost])
