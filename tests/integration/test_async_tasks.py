"""Task ownership of transactions (API.md §5), on every async combination.

A transaction belongs to the task that opened it; tasks it starts inherit it and
their statements are serialised on its connection; a child may not open a nested
transaction, nor use the transaction after it ended.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Optional

import pytest

from twinrecord import TransactionError


def account_model(db):
    class Account(db.Base):
        __table_name__ = "task_accounts"
        id: Optional[int] = None
        owner: str
        balance: Decimal

    return Account


async def test_child_tasks_run_inside_the_transaction_one_statement_at_a_time(async_db):
    Account = account_model(async_db)
    await async_db.create(Account)

    async def child(n: int) -> int:
        await Account(owner=f"child{n}", balance=Decimal(n)).save()
        return await Account.query().where("owner LIKE ?", ("child%",)).count()

    with pytest.raises(RuntimeError):
        async with Account.transaction():
            await Account(owner="owner", balance=Decimal(0)).save()
            counts = await asyncio.gather(*(child(n) for n in range(20)))
            async with asyncio.TaskGroup() as group:
                grouped = [group.create_task(child(n)) for n in range(20, 30)]
            assert sorted(counts)[-1] <= 20 and all(t.result() >= 21 for t in grouped)
            assert await Account.query().count() == 31       # all inside, uncommitted
            raise RuntimeError("roll everything back")
    assert await Account.query().count() == 0              # the children's writes too


async def test_a_neighbour_task_never_joins_the_transaction(async_db):
    Account = account_model(async_db)
    await async_db.create(Account)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def owner() -> None:
        async with Account.transaction():
            await Account(owner="uncommitted", balance=Decimal(1)).save()
            inside.set()
            await release.wait()

    async def neighbour() -> int:
        await inside.wait()
        seen = await Account.query().count()
        release.set()
        return seen

    # Both start outside any transaction: the neighbour is not the owner's child.
    _, seen = await asyncio.gather(owner(), neighbour())
    assert seen == 0
    assert await Account.query().count() == 1


async def test_a_child_may_not_open_a_nested_transaction(async_db):
    Account = account_model(async_db)
    await async_db.create(Account)

    async def child() -> None:
        async with Account.transaction():
            pass

    async with Account.transaction():
        with pytest.raises(TransactionError, match="nested transaction"):
            await asyncio.create_task(child())
        await Account(owner="still usable", balance=Decimal(1)).save()
    assert await Account.query().count() == 1


async def test_a_child_outliving_the_transaction_is_refused(async_db):
    Account = account_model(async_db)
    await async_db.create(Account)
    go = asyncio.Event()

    async def late_child() -> None:
        await go.wait()
        await Account.query().count()

    async with Account.transaction():
        task = asyncio.create_task(late_child())
    go.set()
    with pytest.raises(TransactionError, match="finished"):
        await task
    assert await Account.query().count() == 0              # the backend still serves others
