"""The product description's samples (../shared/seed/async-support.md), verbatim.

Only imports, configure() calls, the models the seed uses without defining them
(AsyncAccount, AsyncEmployee, an is_active field) and the parentheses its
multi-line aggregate chain needs are added. Async samples run on every server
(the `async_db` combinations); the sync model styles run on every combination.
"""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from typing import Optional

import pytest

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, ConfigurationError


# ---- "Separate Definitions" -------------------------------------------------------------
# Synchronous model
class User(BaseActiveRecord):
    __table_name__ = 'users'
    id: Optional[int] = None
    name: str
    email: str
    is_active: bool = True  # added: the seed's query filters on it

    def get_full_info(self):
        return f"{self.name} <{self.email}>"

# Asynchronous model
class AsyncUser(AsyncBaseActiveRecord):
    __table_name__ = 'users'
    id: Optional[int] = None
    name: str
    email: str
    is_active: bool = True  # added

    def get_full_info(self):
        return f"{self.name} <{self.email}>"


# ---- "Mixin Inheritance" ------------------------------------------------------------------
# Combined model with both sync and async capabilities
class CombinedUser(BaseActiveRecord, AsyncBaseActiveRecord):
    __table_name__ = 'users'
    id: Optional[int] = None
    name: str
    email: str
    is_active: bool = True  # added

    def get_full_info(self):
        return f"{self.name} <{self.email}>"


# ---- models the seed uses without defining them --------------------------------------------
class AsyncAccount(AsyncBaseActiveRecord):
    __table_name__ = 'accounts'
    id: Optional[int] = None
    balance: Decimal


class AsyncEmployee(AsyncBaseActiveRecord):
    __table_name__ = 'employees'
    id: Optional[int] = None
    department: str
    salary: float
    hire_date: date


# ---- the seed's async functions, verbatim -----------------------------------------------
async def transfer_funds(from_account_id, to_account_id, amount):
    async with AsyncAccount.transaction():
        from_account = await AsyncAccount.find_one(from_account_id)
        to_account = await AsyncAccount.find_one(to_account_id)
        
        from_account.balance -= amount
        to_account.balance += amount
        
        await from_account.save()
        await to_account.save()


async def get_department_statistics():
    return await (AsyncEmployee.query()
        .group_by('department')
        .count('id', 'employee_count')
        .avg('salary', 'avg_salary')
        .min('hire_date', 'earliest_hire')
        .aggregate())


async def basic_crud():
    # Create
    user = AsyncUser(name="John Doe", email="john@example.com")
    await user.save()

    # Read
    user = await AsyncUser.find_one(1)  # By primary key
    active_users = await AsyncUser.query().where('is_active = ?', (True,)).all()

    # Update
    user.name = "Jane Doe"
    await user.save()

    # Delete
    await user.delete()
    return active_users


@contextlib.asynccontextmanager
async def configured(model, url):
    """The model on a fresh table of that server; table dropped and pool closed after."""
    model.configure(url)
    try:
        await model.drop_table()
        await model.create_table()
        yield
    finally:
        await model.drop_table()
        await model.backend().close()


async def test_seed_basic_crud(async_db):
    async with configured(AsyncUser, async_db.url):
        active = await basic_crud()
        assert [u.get_full_info() for u in active] == ["John Doe <john@example.com>"]
        assert await AsyncUser.find_one(1) is None


async def test_seed_transfer_funds(async_db):
    async with configured(AsyncAccount, async_db.url):
        a, b = AsyncAccount(balance=Decimal("100")), AsyncAccount(balance=Decimal("5"))
        await a.save()
        await b.save()
        await transfer_funds(a.id, b.id, Decimal("30"))
        assert (await AsyncAccount.find_one(a.id)).balance == Decimal("70")
        assert (await AsyncAccount.find_one(b.id)).balance == Decimal("35")
        with pytest.raises(AttributeError):          # missing account: rolled back whole
            await transfer_funds(a.id, 999, Decimal("10"))
        assert (await AsyncAccount.find_one(a.id)).balance == Decimal("70")


async def test_seed_department_statistics(async_db):
    async with configured(AsyncEmployee, async_db.url):
        await AsyncEmployee.insert_many([
            AsyncEmployee(department="eng", salary=100.0, hire_date=date(2020, 1, 1)),
            AsyncEmployee(department="eng", salary=140.0, hire_date=date(2019, 5, 5)),
            AsyncEmployee(department="ops", salary=90.0, hire_date=date(2021, 3, 3)),
        ])
        rows = sorted(await get_department_statistics(), key=lambda r: r["department"])
        assert rows == [
            {"department": "eng", "employee_count": 2, "avg_salary": 120.0, "earliest_hire": date(2019, 5, 5)},
            {"department": "ops", "employee_count": 1, "avg_salary": 90.0, "earliest_hire": date(2021, 3, 3)},
        ]


def test_seed_sync_model_on_sqlite(tmp_path):
    User.configure(f"sqlite:///{tmp_path}/seed.db")
    try:
        User.create_table()
        user = User(name="John Doe", email="john@example.com")
        user.save()
        assert User.find_one(1).get_full_info() == "John Doe <john@example.com>"
        assert len(User.query().where('is_active = ?', (True,)).all()) == 1
    finally:
        User.backend().close()


async def test_seed_combined_model_both_kinds(async_db):
    CombinedUser.configure(async_db.url)
    try:
        CombinedUser.drop_table()
        CombinedUser.create_table()
        user = CombinedUser(name="John Doe", email="john@example.com")
        user.save()                                        # bare names: sync (first base)
        loaded = await CombinedUser.aio.find_one(user.id)  # the other kind, same names
        assert type(loaded) is CombinedUser and loaded.get_full_info() == user.get_full_info()
        loaded.name = "Jane"
        assert await loaded.aio.save() == 1
        assert CombinedUser.find_one(user.id).name == "Jane"
        async with CombinedUser.aio.transaction():
            await CombinedUser(name="x", email="y").aio.save()
        rows = await CombinedUser.aio.query().group_by('name').count('id', 'n').aggregate()
        assert sorted(r["n"] for r in rows) == [1, 1]
    finally:
        CombinedUser.drop_table()
        CombinedUser.backend().close()
        await CombinedUser.aio.backend().close()


def test_combined_model_on_sqlite_refuses_only_its_async_face(tmp_path):
    CombinedUser.configure(f"sqlite:///{tmp_path}/combined.db")
    try:
        CombinedUser.create_table()
        CombinedUser(name="a", email="b").save()
        assert CombinedUser.find_one(1).name == "a"
        with pytest.raises(ConfigurationError, match="SQLite"):
            CombinedUser.aio.backend()
    finally:
        CombinedUser.backend().close()


def test_async_model_on_sqlite_is_refused_at_configure_with_reason():
    with pytest.raises(ConfigurationError) as caught:
        AsyncUser.configure("sqlite:///app.db")
    message = str(caught.value)
    assert "async" in message and "postgresql" in message
    from twinrecord.backends.sqlite import SQLiteBackend, SQLiteConfig

    with pytest.raises(ConfigurationError, match="SQLite"):
        AsyncUser.configure(SQLiteConfig(database="app.db"), SQLiteBackend)


@pytest.mark.filterwarnings("ignore:Field name .aio. .*shadows an attribute")
def test_reserved_field_names_are_rejected_at_class_definition():
    with pytest.raises(ConfigurationError, match="reserved"):
        class Bad(BaseActiveRecord):
            aio: int = 1
