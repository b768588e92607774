"""API.md §21 on an async model: the same expressions, awaited."""

from __future__ import annotations

from typing import Any, assert_type

from models import AsyncPost, AsyncUser

from twinrecord import AsyncActiveQuery, AsyncRecordStream, Grouped


async def queries() -> None:
    query = AsyncUser.query()
    assert_type(query, AsyncActiveQuery[AsyncUser])
    assert_type(query.where("age > ?", (30,)).order_by("-name").limit(2), AsyncActiveQuery[AsyncUser])
    assert_type(query.with_("posts").group_by("name"), AsyncActiveQuery[AsyncUser, Grouped])


async def terminals() -> None:
    query = AsyncUser.query()
    assert_type(await query.all(), list[AsyncUser])
    assert_type(await query.one(), AsyncUser | None)
    assert_type(await query.one_or_fail(), AsyncUser)
    assert_type(await query.first(), AsyncUser | None)
    assert_type(await query.where(AsyncUser.c.age > 1).last(), AsyncUser | None)
    assert_type(await query.exists(), bool)
    assert_type(await query.count(), int)
    assert_type(await query.to_dicts(), list[dict[str, Any]])
    assert_type(await query.update({"age": 1}), int)
    assert_type(await query.delete(), int)
    assert_type(query.to_sql(), tuple[str, list[Any]])


async def streams() -> None:
    stream = AsyncUser.query().where(AsyncUser.c.age >= 18).iterate(batch_size=500)
    assert_type(stream, AsyncRecordStream[AsyncUser])
    async for user in stream:
        assert_type(user, AsyncUser)
    async with AsyncUser.query().with_("posts").iterate() as users:
        assert_type(users, AsyncRecordStream[AsyncUser])
        async for each in users:
            assert_type(each, AsyncUser)
    async for direct in AsyncUser.query():  # an async query iterates as iterate() does
        assert_type(direct, AsyncUser)


async def aggregates() -> None:
    query = AsyncUser.query()
    assert_type(await query.count(), int)
    assert_type(await query.max("age"), Any)
    assert_type(await query.avg(AsyncUser.c.age), Any)
    assert_type(query.count("id", "n"), AsyncActiveQuery[AsyncUser, Grouped])
    assert_type(query.sum(AsyncUser.c.age, "total"), AsyncActiveQuery[AsyncUser, Grouped])
    grouped = query.group_by("name")
    assert_type(grouped.count(), AsyncActiveQuery[AsyncUser, Grouped])
    assert_type(grouped.min("age"), AsyncActiveQuery[AsyncUser, Grouped])
    assert_type(query.count("id", "n").count(), AsyncActiveQuery[AsyncUser, Grouped])
    assert_type(
        await grouped.count("id", "n").avg("age", "mean").aggregate(),
        list[dict[str, Any]],
    )
    assert_type(await grouped.count().aggregate(), list[dict[str, Any]])


async def records() -> None:
    assert_type(await AsyncUser.find_one(1), AsyncUser | None)
    assert_type(await AsyncUser.find_one_or_fail(1), AsyncUser)
    assert_type(await AsyncUser.find_all({"name": "a"}), list[AsyncUser])
    assert_type(await AsyncUser.create(name="a"), AsyncUser)
    user = AsyncUser(name="a")
    assert_type(await user.save(), int)
    assert_type(await user.delete(), int)
    assert_type(await AsyncUser.insert_many([user]), int)
    async with AsyncUser.transaction():
        pass


async def relations() -> None:
    user = AsyncUser(name="a")
    assert_type(await user.posts(), list[AsyncPost])
    assert_type(user.posts.query(), AsyncActiveQuery[AsyncPost])
    assert_type(await user.posts.query().count(), int)
