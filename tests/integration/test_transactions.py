"""Transaction scenarios (API.md §5), run in every backend x kind combination."""

from __future__ import annotations

import asyncio
import threading
from decimal import Decimal
from typing import Optional

import pytest

from twinrecord import ConfigurationError


def account_model(db):
    class Account(db.Base):
        __table_name__ = "accounts"
        id: Optional[int] = None
        owner: str
        balance: Decimal

    return Account


async def two_accounts(db):
    Account = account_model(db)
    await db.create(Account)
    a, b = Account(owner="a", balance=Decimal("100.00")), Account(owner="b", balance=Decimal("0.00"))
    await db(a.save())
    await db(b.save())
    return Account, a, b


async def balances(db, Account):
    return {x.owner: x.balance for x in await db(Account.find_all())}


async def test_commit_on_normal_exit(db):
    Account, a, b = await two_accounts(db)
    async with db.transaction(Account):
        a.balance -= 30
        b.balance += 30
        await db(a.save())
        await db(b.save())
    assert await balances(db, Account) == {"a": Decimal("70.00"), "b": Decimal("30.00")}


async def test_rollback_on_exception_propagates(db):
    Account, a, b = await two_accounts(db)
    with pytest.raises(RuntimeError, match="boom"):
        async with db.transaction(Account):
            a.balance -= 30
            await db(a.save())
            raise RuntimeError("boom")
    assert await balances(db, Account) == {"a": Decimal("100.00"), "b": Decimal("0.00")}


async def test_nested_block_rolls_back_to_savepoint_only(db):
    Account, a, b = await two_accounts(db)
    async with db.transaction(Account):
        a.balance = Decimal("1.00")
        await db(a.save())
        with pytest.raises(ValueError):
            async with db.transaction(Account):
                b.balance = Decimal("2.00")
                await db(b.save())
                raise ValueError
        async with db.transaction(Account):
            await db(Account(owner="c", balance=Decimal("3.00")).save())
    assert await balances(db, Account) == {
        "a": Decimal("1.00"), "b": Decimal("0.00"), "c": Decimal("3.00"),
    }


@pytest.mark.parametrize("level", ["READ UNCOMMITTED", "read committed", "REPEATABLE READ", "SERIALIZABLE"])
async def test_isolation_levels_accepted(db, level):
    Account, a, _ = await two_accounts(db)
    async with db.transaction(Account, isolation_level=level):
        assert (await db(Account.find_one(a.id))).owner == "a"


async def test_unknown_isolation_level_is_configuration_error(db):
    Account, _, _ = await two_accounts(db)
    with pytest.raises(ConfigurationError):
        async with db.transaction(Account, isolation_level="SOMETIMES"):
            pass


async def test_every_model_on_the_backend_joins_the_transaction(db):
    Account = account_model(db)

    class Ledger(db.Base):
        __table_name__ = "ledger"
        id: Optional[int] = None
        note: str

    await db.create(Account, Ledger)
    with pytest.raises(RuntimeError):
        async with db.transaction(Account):
            await db(Ledger(note="x").save())
            await db(Account(owner="z", balance=Decimal(1)).save())
            raise RuntimeError
    assert await db(Ledger.query().count()) == 0
    assert await db(Account.query().count()) == 0


async def test_raw_sql_joins_the_transaction(db):
    Account, a, _ = await two_accounts(db)
    backend = Account.backend()
    with pytest.raises(RuntimeError):
        async with db.transaction(Account):
            await db(backend.execute("UPDATE accounts SET owner = ? WHERE id = ?", ("raw", a.id)))
            row = await db(backend.fetch_one("SELECT owner FROM accounts WHERE id = ?", (a.id,)))
            assert row == {"owner": "raw"}
            raise RuntimeError
    assert (await db(Account.find_one(a.id))).owner == "a"


async def test_transaction_is_invisible_to_other_threads_or_tasks(db):
    """Outside the owner, statements autocommit on another connection."""
    Account, a, _ = await two_accounts(db)
    seen = []

    async def outsider():
        seen.append((await db(Account.find_one(a.id))).owner)

    async with db.transaction(Account):
        a.owner = "inside"
        await db(a.save())
        if db.is_async:
            await asyncio.create_task(outsider(), context=__import__("contextvars").Context())
        else:
            thread = threading.Thread(target=lambda: seen.append(Account.find_one(a.id).owner))
            thread.start()
            thread.join()
    assert seen == ["a"]
    assert (await db(Account.find_one(a.id))).owner == "inside"
