"""Transaction scenarios (API.md §5), run in every backend x kind combination."""

from __future__ import annotations

import asyncio
import logging
import threading
from decimal import Decimal
from typing import Optional

import pytest

from twinrecord import ConfigurationError
from twinrecord.errors import RecordNotUnique, StatementInvalid, TransactionError


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


# ---- doomed transactions (§5): one behaviour on every database -------------------------
async def users_with_unique_email(db):
    class User(db.Base):
        __table_name__ = "tx_users"
        id: Optional[int] = None
        email: str

    await db.create(User)
    await db(User.backend().execute("CREATE UNIQUE INDEX tx_users_email ON tx_users (email)"))
    await db(User(email="taken").save())
    return User


async def emails(db, User):
    rows = await db(User.backend().fetch_all("SELECT email FROM tx_users ORDER BY email"))
    return [row["email"] for row in rows]


async def test_a_caught_failure_dooms_the_transaction_and_nothing_is_committed(db):
    """The issue's example: PostgreSQL used to report success and commit nothing."""
    User = await users_with_unique_email(db)
    with pytest.raises(TransactionError, match="RecordNotUnique") as caught:
        async with db.transaction(User):
            await db(User(email="keep").save())
            try:
                await db(User(email="taken").save())
            except RecordNotUnique:
                pass
    assert isinstance(caught.value.__cause__, RecordNotUnique)
    assert await emails(db, User) == ["taken"]          # `keep` rolled back, as reported
    assert await db(User.query().count()) == 1           # the connection is usable after


async def test_statements_after_a_failure_in_the_block_are_refused(db):
    User = await users_with_unique_email(db)
    refused = []
    with pytest.raises(TransactionError):
        async with db.transaction(User):
            try:
                await db(User(email="taken").save())
            except RecordNotUnique:
                pass
            for attempt in (
                lambda: User(email="after").save(),
                lambda: User.query().count(),
                lambda: User.backend().fetch_all("SELECT 1 AS one"),
            ):
                with pytest.raises(TransactionError, match="doomed") as error:
                    await db(attempt())
                refused.append(type(error.value.__cause__).__name__)
            with pytest.raises(TransactionError, match="doomed"):
                async with db.transaction(User):
                    pass
    assert refused == ["RecordNotUnique"] * 3
    assert await emails(db, User) == ["taken"]


async def test_a_savepoint_around_the_expected_error_lets_the_transaction_continue(db):
    User = await users_with_unique_email(db)
    async with db.transaction(User):
        await db(User(email="keep").save())
        with pytest.raises(RecordNotUnique):
            async with db.transaction(User):
                await db(User(email="taken").save())
        await db(User(email="after").save())
    assert await emails(db, User) == ["after", "keep", "taken"]


async def test_a_nested_block_that_swallows_its_failure_raises_and_undoes_only_itself(db):
    User = await users_with_unique_email(db)
    async with db.transaction(User):
        await db(User(email="keep").save())
        with pytest.raises(TransactionError, match="savepoint"):
            async with db.transaction(User):
                await db(User(email="inner").save())
                try:
                    await db(User(email="taken").save())
                except RecordNotUnique:
                    pass
        await db(User(email="after").save())
    assert await emails(db, User) == ["after", "keep", "taken"]


async def test_the_block_error_propagates_as_itself_and_rolls_back(db):
    User = await users_with_unique_email(db)
    with pytest.raises(RecordNotUnique):
        async with db.transaction(User):
            await db(User(email="keep").save())
            await db(User(email="taken").save())
    assert await emails(db, User) == ["taken"]


async def test_a_refusal_before_sending_does_not_doom(db):
    User = await users_with_unique_email(db)
    async with db.transaction(User):
        await db(User(email="keep").save())
        with pytest.raises(StatementInvalid, match="placeholder"):
            await db(User.backend().execute("UPDATE tx_users SET email = ? WHERE id = ?", (1,)))
        await db(User(email="after").save())
    assert await emails(db, User) == ["after", "keep", "taken"]


async def test_a_bad_statement_dooms_it_on_every_database(db):
    """A statement the server refused (not a constraint): SQLite and MySQL would go on
    and commit; PostgreSQL would turn COMMIT into ROLLBACK. Both are refused alike."""
    User = await users_with_unique_email(db)
    with pytest.raises(TransactionError, match="StatementInvalid"):
        async with db.transaction(User):
            await db(User(email="keep").save())
            with pytest.raises(StatementInvalid):
                await db(User.backend().fetch_all("SELECT no_such_column FROM tx_users"))
    assert await emails(db, User) == ["taken"]


async def test_failed_statements_and_rows_affected_are_logged(db, caplog):
    User = await users_with_unique_email(db)
    backend = User.backend()
    with caplog.at_level(logging.DEBUG, logger="twinrecord.sql"):
        with pytest.raises(RecordNotUnique):
            await db(User(email="taken").save())
        changed = await db(backend.execute(
            "UPDATE tx_users SET email = ? WHERE email = ?", ("moved", "taken")
        ))
        await db(backend.fetch_all("SELECT email FROM tx_users"))
    lines = [r.getMessage() for r in caplog.records if r.name == "twinrecord.sql"]
    assert len(lines) == 3
    assert "INSERT INTO" in lines[0] and "FAILED RecordNotUnique" in lines[0]
    assert changed == 1 and lines[1].endswith("| 1 row affected")
    assert "FAILED" not in lines[2] and "affected" not in lines[2]
