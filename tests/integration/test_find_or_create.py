"""find_or_create_by / update_or_create_by (API.md §15) in every backend x kind, and the
races of issue 11 on PostgreSQL and MariaDB: concurrent tasks (async) and threads (sync).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Optional

import pytest
from pydantic import Field

from twinrecord import (
    Column,
    OptimisticLockMixin,
    RecordInvalid,
    RecordNotUnique,
    StaleObjectError,
)


def account_model(db, table: str = "fc_accounts"):
    class Account(db.Base):
        __table_name__ = table
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        name: str = Field(default="", max_length=20)
        plan: str = "free"

    return Account


async def test_find_or_create_by_finds_an_existing_record(db):
    Account = account_model(db)
    await db.create(Account)
    existing = await db(Account.create(email="a@x", name="ann"))
    found = await db(Account.find_or_create_by({"email": "a@x"}, defaults={"name": "other"}))
    assert found.id == existing.id and found.name == "ann"
    assert found.previously_new_record is False
    assert await db(Account.query().count()) == 1


async def test_find_or_create_by_creates_with_defaults(db):
    Account = account_model(db)
    await db.create(Account)
    created = await db(Account.find_or_create_by({"email": "b@x"}, defaults={"name": "bob"}))
    assert created.previously_new_record is True and isinstance(created.id, int)
    row = await db(Account.backend().fetch_one("SELECT email, name FROM fc_accounts"))
    assert row == {"email": "b@x", "name": "bob"}
    again = await db(Account.find_or_create_by({"email": "b@x"}))
    assert again.id == created.id and again.previously_new_record is False


async def test_find_or_create_by_runs_validation_and_events(db):
    Account = account_model(db)
    calls: list[str] = []
    Account.on("before_save", lambda r: calls.append("before_save"))
    Account.on("after_insert", lambda r: calls.append("after_insert"))
    await db.create(Account)
    await db(Account.find_or_create_by({"email": "c@x"}, defaults={"name": "c"}))
    assert calls == ["before_save", "after_insert"]
    with pytest.raises(RecordInvalid):
        await db(Account.find_or_create_by({"email": "d@x"}, defaults={"name": "x" * 30}))
    assert await db(Account.query().count()) == 1


async def test_a_collision_on_another_unique_key_propagates(db):
    class Member(db.Base):
        __table_name__ = "fc_members"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        handle: Annotated[str, Column(unique=True, max_length=100)]

    await db.create(Member)
    await db(Member.create(email="a@x", handle="taken"))
    with pytest.raises(RecordNotUnique):
        await db(Member.find_or_create_by({"email": "new@x"}, defaults={"handle": "taken"}))
    assert await db(Member.query().count()) == 1


async def test_inside_a_transaction_the_create_is_a_savepoint(db):
    Account = account_model(db)
    await db.create(Account)
    async with db.transaction(Account):
        await db(Account.create(email="first@x"))
        # The other unique key collides: only the savepoint is undone, not the transaction.
        await db(Account.backend().execute(
            "INSERT INTO fc_accounts (email, name, plan) VALUES (?, ?, ?)", ("raw@x", "r", "p")))
        found = await db(Account.find_or_create_by({"email": "raw@x"}))
        assert found.name == "r"
        await db(Account.create(email="after@x"))
    assert await db(Account.query().count()) == 3


async def test_update_or_create_by_updates_the_match(db):
    Account = account_model(db)
    await db.create(Account)
    account = await db(Account.create(email="a@x"))
    updated = await db(Account.update_or_create_by({"email": "a@x"}, {"plan": "pro"}))
    assert updated.id == account.id and updated.plan == "pro"
    assert updated.previously_new_record is False
    row = await db(Account.backend().fetch_one("SELECT plan FROM fc_accounts"))
    assert row == {"plan": "pro"}


async def test_update_or_create_by_creates_with_values_as_defaults(db):
    Account = account_model(db)
    await db.create(Account)
    created = await db(Account.update_or_create_by({"email": "n@x"}, {"plan": "pro"}))
    assert created.previously_new_record is True and created.plan == "pro"
    assert await db(Account.query().count()) == 1


async def test_update_or_create_by_rolls_back_when_the_save_fails(db):
    Account = account_model(db)

    @Account.on("before_save")
    def refuse_enterprise(record) -> None:
        if record.plan == "enterprise":
            raise RecordInvalid("no enterprise plan here", [])

    await db.create(Account)
    await db(Account.create(email="a@x"))
    with pytest.raises(RecordInvalid):
        await db(Account.update_or_create_by({"email": "a@x"}, {"plan": "enterprise"}))
    row = await db(Account.backend().fetch_one("SELECT plan FROM fc_accounts"))
    assert row == {"plan": "free"}


# ---- races (PostgreSQL and MariaDB, both kinds) ---------------------------------------------
def _servers_only(db) -> None:
    if db.backend_name == "sqlite":
        pytest.skip("races run on the servers (PostgreSQL, MariaDB)")


async def _concurrently(db, count: int, call):
    """`call(i)` `count` times at once: tasks on the async kind, threads on the sync kind.
    Returns (results, exceptions)."""
    if db.is_async:
        outcomes = await asyncio.gather(*(call(i) for i in range(count)), return_exceptions=True)
    else:
        barrier = threading.Barrier(count)

        def run(i):
            barrier.wait()
            try:
                return call(i)
            except Exception as error:
                return error

        with ThreadPoolExecutor(count) as pool:
            outcomes = list(pool.map(run, range(count)))
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    return [o for o in outcomes if not isinstance(o, BaseException)], errors


async def test_race_thirty_find_or_create_by_one_key(db):
    _servers_only(db)
    Account = account_model(db, "fc_race_accounts")
    await db.create(Account)
    results, errors = await _concurrently(
        db, 30, lambda i: Account.find_or_create_by({"email": "race@x"}, {"name": f"n{i}"})
    )
    assert errors == []
    rows = await db(Account.backend().fetch_all("SELECT id FROM fc_race_accounts"))
    assert len(rows) == 1
    assert {r.id for r in results} == {rows[0]["id"]}
    assert sum(r.previously_new_record for r in results) == 1


async def test_race_two_loaded_copies_of_a_locked_record(db):
    _servers_only(db)

    class Counter(OptimisticLockMixin, db.Base):
        __table_name__ = "fc_counters"
        id: Optional[int] = None
        value: int = 0

    await db.create(Counter)
    counter = await db(Counter.create())
    copies = [await db(Counter.find_one(counter.id)) for _ in range(2)]
    for i, copy in enumerate(copies):
        copy.value = i + 1
    results, errors = await _concurrently(db, 2, lambda i: copies[i].save())
    assert len(errors) == 1 and isinstance(errors[0], StaleObjectError), errors
    assert results == [1]
    row = await db(Counter.backend().fetch_one("SELECT value, lock_version FROM fc_counters"))
    assert row["lock_version"] == 1 and row["value"] in (1, 2)


async def test_race_update_or_create_by_one_key(db):
    _servers_only(db)
    Account = account_model(db, "fc_race_upd")
    await db.create(Account)
    results, errors = await _concurrently(
        db, 20, lambda i: Account.update_or_create_by({"email": "u@x"}, {"name": f"n{i}"})
    )
    assert errors == []
    rows = await db(Account.backend().fetch_all("SELECT id, name FROM fc_race_upd"))
    assert len(rows) == 1 and {r.id for r in results} == {rows[0]["id"]}



# ---- a model's own save() (issue: create() and *_or_create_by bypassed an override) ------
def saving_model(db, table: str):
    """An Account whose save() is overridden (the Rails/Django habit): it stamps `plan`
    and counts its calls, then saves as usual."""
    calls: list[str] = []

    if db.is_async:

        class Account(db.Base):
            __table_name__ = table
            id: Optional[int] = None
            email: Annotated[str, Column(unique=True, max_length=100)]
            name: str = Field(default="", max_length=20)
            plan: str = "free"

            async def save(self) -> int:
                calls.append(self.email)
                if self.email.startswith("refuse"):
                    raise ValueError("refused by save")
                self.plan = "stamped"
                return await super().save()

    else:

        class Account(db.Base):  # type: ignore[no-redef]
            __table_name__ = table
            id: Optional[int] = None
            email: Annotated[str, Column(unique=True, max_length=100)]
            name: str = Field(default="", max_length=20)
            plan: str = "free"

            def save(self) -> int:
                calls.append(self.email)
                if self.email.startswith("refuse"):
                    raise ValueError("refused by save")
                self.plan = "stamped"
                return super().save()

    events: list[str] = []
    Account.on("before_save", lambda r: events.append("before_save"))
    Account.on("after_insert", lambda r: events.append("after_insert"))
    Account.on("after_update", lambda r: events.append("after_update"))
    return Account, calls, events


async def _plan_of(db, Account, email: str) -> str:
    row = await db(Account.backend().fetch_one(
        f"SELECT plan FROM {Account.__table_name__} WHERE email = ?", (email,)))
    return row["plan"]


async def test_create_goes_through_an_overridden_save(db):
    Account, calls, events = saving_model(db, "fc_own_save_create")
    await db.create(Account)
    account = await db(Account.create(email="a@x"))
    assert calls == ["a@x"] and events == ["before_save", "after_insert"]
    assert account.plan == "stamped" and await _plan_of(db, Account, "a@x") == "stamped"


async def test_find_or_create_by_goes_through_an_overridden_save(db):
    Account, calls, events = saving_model(db, "fc_own_save_foc")
    await db.create(Account)
    created = await db(Account.find_or_create_by({"email": "b@x"}, defaults={"name": "b"}))
    assert calls == ["b@x"] and events == ["before_save", "after_insert"]
    assert created.plan == "stamped" and await _plan_of(db, Account, "b@x") == "stamped"
    found = await db(Account.find_or_create_by({"email": "b@x"}))
    assert found.id == created.id and calls == ["b@x"]  # found: nothing saved


async def test_update_or_create_by_goes_through_an_overridden_save(db):
    Account, calls, events = saving_model(db, "fc_own_save_uoc")
    await db.create(Account)
    await db(Account.update_or_create_by({"email": "c@x"}, {"name": "c"}))
    assert calls == ["c@x"] and events == ["before_save", "after_insert"]
    await db(Account.backend().execute(
        "UPDATE fc_own_save_uoc SET plan = 'free' WHERE email = ?", ("c@x",)))
    updated = await db(Account.update_or_create_by({"email": "c@x"}, {"name": "c2"}))
    assert calls == ["c@x", "c@x"]
    assert events == ["before_save", "after_insert", "before_save", "after_update"]
    assert updated.name == "c2" and await _plan_of(db, Account, "c@x") == "stamped"


async def test_an_overridden_save_that_raises_aborts_find_or_create_by(db):
    Account, calls, events = saving_model(db, "fc_own_save_refuse")
    await db.create(Account)
    with pytest.raises(ValueError, match="refused by save"):
        await db(Account.find_or_create_by({"email": "refuse@x"}))
    assert calls == ["refuse@x"] and events == []
    assert await db(Account.query().count()) == 0
