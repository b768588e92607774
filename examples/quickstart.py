"""A tour of twinrecord: the product description's samples, runnable.

    python examples/quickstart.py

Runs on SQLite (a file in a temporary folder) with no server. Set
TWINRECORD_DEMO_URL to a postgresql:// or mysql:// URL to also run the async
tour (the same operations, awaited) against that server.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from datetime import date
from decimal import Decimal
from typing import Optional

from pydantic import Field

from twinrecord import (
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    ConfigurationError,
    RecordInvalid,
)


def heading(text: str) -> None:
    print(f"\n== {text} " + "=" * max(0, 60 - len(text)))


# ---- models -------------------------------------------------------------------------------
class AppModel(BaseActiveRecord):
    """Configure this once; every model below inherits its database."""


class User(AppModel):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str = Field(max_length=80)
    email: str
    is_active: bool = True

    def get_full_info(self) -> str:
        return f"{self.name} <{self.email}>"


class Account(AppModel):
    __table_name__ = "accounts"
    id: Optional[int] = None
    owner: str
    balance: Decimal = Field(ge=0)       # a transfer that overdraws fails validation


class Employee(AppModel):
    __table_name__ = "employees"
    id: Optional[int] = None
    name: str
    department: str
    salary: float
    hire_date: date


class AsyncUser(AsyncBaseActiveRecord):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    email: str
    is_active: bool = True


class CombinedUser(BaseActiveRecord, AsyncBaseActiveRecord):
    """One class, both kinds: bare names are sync (first base), `.aio` is async."""

    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    email: str
    is_active: bool = True


# ---- the sync tour (SQLite) -------------------------------------------------------------------
def crud() -> None:
    heading("CRUD")
    user = User(name="John Doe", email="john@example.com")
    print("new record?", user.is_new_record, "-> save() returns", user.save(), "-> id", user.id)
    user = User.find_one(1)
    print("find_one(1):", user.get_full_info())
    active = User.query().where("is_active = ?", (True,)).all()
    print("active users:", [u.name for u in active])
    user.name = "Jane Doe"
    print("dirty:", user.dirty_attributes, "-> save() returns", user.save())
    print("saving again sends nothing, returns", user.save())
    try:
        User(name="x" * 100, email="e").save()
    except Exception as error:
        print("validation:", type(error).__name__, "-", str(error).splitlines()[0])
    print("delete() returns", user.delete(), "; find_one(1) ->", User.find_one(1))


def transfer_funds(from_account_id: int, to_account_id: int, amount: Decimal) -> None:
    with Account.transaction():
        from_account = Account.find_one(from_account_id)
        to_account = Account.find_one(to_account_id)
        from_account.balance -= amount
        to_account.balance += amount
        from_account.save()
        to_account.save()


def transactions() -> None:
    heading("Transactions")
    alice, bob = Account(owner="alice", balance=Decimal("100.00")), Account(owner="bob", balance=Decimal("5.00"))
    Account.insert_many([alice, bob])
    transfer_funds(alice.id, bob.id, Decimal("30.00"))
    print("after transferring 30:", {a.owner: str(a.balance) for a in Account.find_all()})
    try:
        transfer_funds(alice.id, bob.id, Decimal("500.00"))   # alice would go negative
    except (ValueError, RecordInvalid) as error:
        print("transferring 500 failed:", type(error).__name__, "- rolled back")
    print("balances unchanged:", {a.owner: str(a.balance) for a in Account.find_all()})


def department_statistics() -> None:
    heading("Aggregates")
    Employee.insert_many([
        Employee(name="ann", department="eng", salary=120.0, hire_date=date(2019, 3, 1)),
        Employee(name="bob", department="eng", salary=100.0, hire_date=date(2021, 6, 1)),
        Employee(name="cat", department="ops", salary=90.0, hire_date=date(2018, 1, 15)),
    ])
    print("count():", Employee.query().count(), "| avg salary:", Employee.query().avg("salary"))
    stats = (Employee.query()
        .group_by('department')
        .count('id', 'employee_count')
        .avg('salary', 'avg_salary')
        .min('hire_date', 'earliest_hire')
        .aggregate())
    for row in stats:
        print(" ", row)


def both_kinds(url: str) -> None:
    heading("Both model styles on SQLite")
    try:
        AsyncUser.configure(url)
    except ConfigurationError as error:
        print("AsyncUser on SQLite:", str(error).split(":")[0] + ": ...")
    CombinedUser.configure(url)
    CombinedUser(name="Combo", email="combo@example.com").save()
    print("CombinedUser (sync face):", [u.name for u in CombinedUser.find_all()])


# ---- the async tour (a server) -----------------------------------------------------------------
async def async_tour(url: str) -> None:
    heading(f"Async tour on {url.split('://')[0]}")
    AsyncUser.configure(url)
    await AsyncUser.drop_table()
    await AsyncUser.create_table()
    user = AsyncUser(name="John Doe", email="john@example.com")
    await user.save()
    user = await AsyncUser.find_one(user.id)
    active_users = await AsyncUser.query().where('is_active = ?', (True,)).all()
    print("active users:", [u.name for u in active_users])
    user.name = "Jane Doe"
    await user.save()
    async with AsyncUser.transaction():
        await AsyncUser(name="In a transaction", email="tx@example.com").save()
    print("count:", await AsyncUser.query().count())
    print("delete() returns", await user.delete())
    await AsyncUser.drop_table()
    await AsyncUser.backend().close()


def main() -> None:
    folder = tempfile.mkdtemp(prefix="twinrecord-demo-")
    url = f"sqlite:///{folder}/demo.db"
    print("twinrecord quickstart on", url)
    AppModel.configure(url)
    for model in (User, Account, Employee):
        model.create_table()
    crud()
    transactions()
    department_statistics()
    both_kinds(url)
    AppModel.backend().close()
    server = os.environ.get("TWINRECORD_DEMO_URL")
    if server:
        asyncio.run(async_tour(server))
    else:
        print("\n(set TWINRECORD_DEMO_URL=postgresql://... or mysql://... to run the async tour)")


if __name__ == "__main__":
    main()
