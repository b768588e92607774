"""Mistakes the type checkers must report: each marked line names the mypy error code
and the pyright rule it must produce (tests/unit/test_type_checkers.py)."""

from __future__ import annotations

from models import AsyncFirst, AsyncUser, Post, SyncFirst, User


async def forgotten_awaits() -> None:
    AsyncUser.query().count()  # expect: unused-coroutine reportUnusedCoroutine
    AsyncUser.query().all()  # expect: unused-coroutine reportUnusedCoroutine
    AsyncUser(name="a").save()  # expect: unused-coroutine reportUnusedCoroutine
    AsyncFirst(name="a").delete()  # expect: unused-coroutine reportUnusedCoroutine
    SyncFirst.aio.find_one(1)  # expect: unused-coroutine reportUnusedCoroutine
    SyncFirst(name="a").aio.save()  # expect: unused-coroutine reportUnusedCoroutine


def wrong_types() -> None:
    posts: list[Post] = User.query().all()  # expect: assignment reportAssignmentType
    user = User.query().one_or_fail()
    print(user.nmae)  # expect: attr-defined reportAttributeAccessIssue
    count: str = User.query().count()  # expect: assignment reportAssignmentType
    users: list[User] = SyncFirst.query().all()  # expect: assignment reportAssignmentType
    print(posts, count, users)


async def stream_misuse() -> None:
    await AsyncUser.query().iterate()  # expect: misc reportGeneralTypeIssues
    users: list[AsyncUser] = list(AsyncUser.query().iterate())  # expect: call-overload reportArgumentType
    print(users)


async def sync_result_awaited() -> None:
    await User.query().count()  # expect: misc reportGeneralTypeIssues


async def query_awaited() -> None:
    # A query is a builder: await a method that runs it (all(), one(), count()...).
    await AsyncUser.query()  # expect: misc reportGeneralTypeIssues
    await AsyncUser.query().where("name = ?", ("a",))  # expect: misc reportGeneralTypeIssues
    await AsyncUser.query().group_by("name").count()  # expect: misc reportGeneralTypeIssues
    await AsyncFirst.query().order_by("id")  # expect: misc reportGeneralTypeIssues
    await SyncFirst.aio.query()  # expect: misc reportGeneralTypeIssues
    await User.query()  # expect: misc reportGeneralTypeIssues
    await SyncFirst.query().limit(1)  # expect: misc reportGeneralTypeIssues


async def grouped_aggregates_chain() -> None:
    # On a grouped query an aggregate without an alias chains: it is no number.
    n: int = User.query().group_by("name").count()  # expect: assignment reportAssignmentType
    total: int = AsyncUser.query().group_by("name").count()  # expect: assignment reportAssignmentType
    print(n, total)
