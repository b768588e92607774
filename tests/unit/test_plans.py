"""The plan layer, driven by a scripted fake backend: requests in, results out.

Like h11's tests, nothing here does I/O. A plan yields requests; the fake backend
records each one and answers it from a script (an exception in the script is
raised, so the driver throws it into the plan). Every plan test runs under both
drivers, `plan.run` with a plain fake and `plan.arun` with an `async def` fake,
and must see the same requests and give the same result.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
from collections.abc import Callable, Generator
from contextvars import ContextVar
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from twinrecord import BaseActiveRecord
from twinrecord.backends._transaction import (
    Frame,
    TransactionState,
    enter_plan,
    exit_plan,
)
from twinrecord.errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    Deadlocked,
    RecordInvalid,
    RecordNotFound,
    RecordNotUnique,
    StatementInvalid,
    TransactionError,
)
from twinrecord.plan import CallHook, Execute, FetchRows, FetchTable, Insert, Request, arun, run
from twinrecord.query._core import QueryCore
from twinrecord.sql.dialect import MYSQL, POSTGRES, SQLITE, Dialect

# ---- the scripted fake backend --------------------------------------------------------------


class Scripted:
    """Records every request and answers it with the next entry of the script."""

    def __init__(self, script: list[Any]) -> None:
        self.script = list(script)
        self.requests: list[tuple[Any, ...]] = []

    def answer(self, *request: Any) -> Any:
        self.requests.append(request)
        if not self.script:
            raise AssertionError(f"unscripted request {request!r}")
        reply = self.script.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        return reply


class FakeBackend(Scripted):
    def run_execute(self, sql: str, params: Any) -> Any:
        return self.answer("execute", sql, list(params))

    def run_fetch(self, sql: str, params: Any) -> Any:
        return self.answer("fetch", sql, list(params))

    def run_fetch_table(self, sql: str, params: Any) -> Any:
        return self.answer("fetch_table", sql, list(params))

    def run_insert(self, sql: str, params: Any, row_count: int) -> Any:
        return self.answer("insert", sql, list(params), row_count)

    def acquire(self) -> Any:
        return self.answer("acquire")

    def release(self, connection: Any, discard: bool = False) -> Any:
        return self.answer("release", connection, discard)

    def control(self, connection: Any, sql: str) -> Any:
        return self.answer("control", connection, sql)


class AsyncFakeBackend(Scripted):
    async def run_execute(self, sql: str, params: Any) -> Any:
        await asyncio.sleep(0)  # a real suspension point, as a driver would have
        return self.answer("execute", sql, list(params))

    async def run_fetch(self, sql: str, params: Any) -> Any:
        await asyncio.sleep(0)
        return self.answer("fetch", sql, list(params))

    async def run_fetch_table(self, sql: str, params: Any) -> Any:
        await asyncio.sleep(0)
        return self.answer("fetch_table", sql, list(params))

    async def run_insert(self, sql: str, params: Any, row_count: int) -> Any:
        await asyncio.sleep(0)
        return self.answer("insert", sql, list(params), row_count)

    async def acquire(self) -> Any:
        return self.answer("acquire")

    async def release(self, connection: Any, discard: bool = False) -> Any:
        return self.answer("release", connection, discard)

    async def control(self, connection: Any, sql: str) -> Any:
        return self.answer("control", connection, sql)


class Driver:
    """Runs a plan against a fresh fake of its kind: `run` for sync, `arun` for async."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def backend(self, *script: Any) -> Scripted:
        return (FakeBackend if self.kind == "sync" else AsyncFakeBackend)(list(script))

    def run(self, plan: Generator[Request, Any, Any], backend: Scripted) -> Any:
        sync = self.kind == "sync"
        result = run(plan, backend) if sync else asyncio.run(arun(plan, backend))
        assert backend.script == [], f"script not used up: {backend.script!r}"
        return result

    def __repr__(self) -> str:
        return self.kind


@pytest.fixture(params=["sync", "async"])
def driver(request: pytest.FixtureRequest) -> Driver:
    return Driver(request.param)


# ---- models (never configured: plans take the dialect as an argument) ----------------------


class Person(BaseActiveRecord):
    __table_name__ = "people"
    id: int | None = None
    name: str
    age: int = 0
    born: date | None = None


class Membership(BaseActiveRecord):
    __table_name__ = "memberships"
    __primary_key__ = ("club_id", "person_id")
    club_id: int
    person_id: int
    role: str = "member"


class Bare(BaseActiveRecord):
    """Nothing but an auto-increment key."""

    __table_name__ = "bares"
    id: int | None = None


class Ledger(BaseActiveRecord):
    __table_name__ = "ledgers"
    id: int | None = None
    amount: Decimal


PEOPLE = '"people"."id", "people"."name", "people"."age", "people"."born"'


def loaded(model: type[Any], *row: Any, dialect: Dialect = SQLITE) -> Any:
    """A record as a fetch would load it (not new, not dirty)."""
    return model._meta().hydrate([row], dialect)[0]


# ---- the drivers themselves -----------------------------------------------------------------


def steps_plan() -> Generator[Request, Any, Any]:
    affected = yield Execute("UPDATE t SET a = ?", [1])
    rows = yield FetchRows("SELECT a FROM t", [])
    names, table = yield FetchTable("SELECT a, b FROM t", [])
    keys = yield Insert("INSERT INTO t (a) VALUES (?), (?)", [1, 2], 2)
    return affected, rows, names, table, keys


STEPS_SCRIPT = [3, [(1,), (2,)], (["a", "b"], [(1, 2)]), [10, 11]]


def test_run_and_arun_give_the_same_results_for_the_same_script() -> None:
    sync_backend = FakeBackend(STEPS_SCRIPT)
    async_backend = AsyncFakeBackend(STEPS_SCRIPT)
    sync_result = run(steps_plan(), sync_backend)
    async_result = asyncio.run(arun(steps_plan(), async_backend))
    assert sync_result == async_result == (3, [(1,), (2,)], ["a", "b"], [(1, 2)], [10, 11])
    assert (
        sync_backend.requests
        == async_backend.requests
        == [
            ("execute", "UPDATE t SET a = ?", [1]),
            ("fetch", "SELECT a FROM t", []),
            ("fetch_table", "SELECT a, b FROM t", []),
            ("insert", "INSERT INTO t (a) VALUES (?), (?)", [1, 2], 2),
        ]
    )


def test_a_plan_that_yields_nothing_returns_its_value(driver: Driver) -> None:
    def nothing() -> Generator[Request, Any, str]:
        return "done"
        yield  # pragma: no cover  (makes this a generator)

    backend = driver.backend()
    assert driver.run(nothing(), backend) == "done"
    assert backend.requests == []


def test_backend_errors_are_thrown_into_the_plan_which_can_catch_them(driver: Driver) -> None:
    seen: list[BaseException] = []

    def careful() -> Generator[Request, Any, str]:
        try:
            yield Execute("INSERT INTO t VALUES (?)", [1])
        except StatementInvalid as error:
            seen.append(error)
            yield Execute("INSERT INTO fallback VALUES (?)", [1])
            return "recovered"
        return "not reached"

    failure = StatementInvalid("duplicate", "INSERT INTO t VALUES (?)")
    backend = driver.backend(failure, 1)
    assert driver.run(careful(), backend) == "recovered"
    assert seen == [failure]
    assert [r[1] for r in backend.requests] == [
        "INSERT INTO t VALUES (?)",
        "INSERT INTO fallback VALUES (?)",
    ]


def test_uncaught_backend_errors_propagate_after_the_plans_cleanup(driver: Driver) -> None:
    cleaned: list[str] = []

    def plan() -> Generator[Request, Any, None]:
        try:
            yield Execute("BAD SQL", [])
        finally:
            cleaned.append("finally ran")

    backend = driver.backend(StatementInvalid("syntax error", "BAD SQL"))
    with pytest.raises(StatementInvalid, match="syntax error"):
        driver.run(plan(), backend)
    assert cleaned == ["finally ran"]


def test_call_hook_plain_function_runs_under_both_drivers(driver: Driver) -> None:
    calls: list[tuple[Any, ...]] = []

    def hook(*args: Any) -> str:
        calls.append(args)
        return "hooked"

    def plan() -> Generator[Request, Any, Any]:
        return (yield CallHook(hook, "before_save", 42))

    assert driver.run(plan(), driver.backend()) == "hooked"
    assert calls == [("before_save", 42)]


def test_arun_awaits_a_call_hook_that_returns_a_coroutine() -> None:
    async def hook(value: int) -> int:
        await asyncio.sleep(0)
        return value * 2

    def plan() -> Generator[Request, Any, Any]:
        return (yield CallHook(hook, 21))

    assert asyncio.run(arun(plan(), AsyncFakeBackend([]))) == 42


def test_arun_throws_an_async_hooks_exception_into_the_plan() -> None:
    async def hook() -> None:
        raise ValueError("handler failed")

    def plan() -> Generator[Request, Any, Any]:
        try:
            yield CallHook(hook)
        except ValueError as error:
            return f"caught: {error}"
        return "not reached"

    assert asyncio.run(arun(plan(), AsyncFakeBackend([]))) == "caught: handler failed"


def test_run_refuses_a_call_hook_that_returns_a_coroutine() -> None:
    made: list[Any] = []

    async def hook() -> None:  # pragma: no cover  (never awaited, by design)
        pass

    def calling() -> Any:
        made.append(hook())
        return made[-1]

    def plan() -> Generator[Request, Any, Any]:
        yield CallHook(calling)
        return "not reached"

    with pytest.raises(ConfigurationError) as caught:
        run(plan(), FakeBackend([]))
    message = str(caught.value)
    assert "awaitable" in message
    assert "synchronous" in message
    assert "async" in message
    # The refused coroutine is closed, so no "never awaited" warning follows the error.
    assert inspect.getcoroutinestate(made[0]) == inspect.CORO_CLOSED


# ---- record plans: save ---------------------------------------------------------------------

INSERT_SQL = {
    "sqlite": 'INSERT INTO "people" ("name", "age", "born") VALUES (?, ?, ?)',
    "postgresql": 'INSERT INTO "people" ("name", "age", "born") VALUES (%s, %s, %s) RETURNING "id"',
    "mysql": "INSERT INTO `people` (`name`, `age`, `born`) VALUES (%s, %s, %s)",
}


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES, MYSQL], ids=["sqlite", "postgres", "mysql"])
def test_save_new_record_inserts_and_takes_the_key_from_the_insert_result(
    driver: Driver, dialect: Dialect
) -> None:
    person = Person(name="Ann", age=30, born=date(1990, 5, 17))
    backend = driver.backend([7])
    assert driver.run(person._save_plan(dialect), backend) == 1
    # SQLite stores dates as ISO text; the other drivers take the date object.
    born = "1990-05-17" if dialect is SQLITE else date(1990, 5, 17)
    assert backend.requests == [("insert", INSERT_SQL[dialect.name], ["Ann", 30, born], 1)]
    assert person.id == 7
    assert not person.is_new_record
    assert not person.is_dirty


def test_save_new_record_with_its_own_key_executes_a_plain_insert(driver: Driver) -> None:
    person = Person(id=99, name="Bo")
    backend = driver.backend(1)
    assert driver.run(person._save_plan(POSTGRES), backend) == 1
    assert backend.requests == [
        (
            "execute",
            'INSERT INTO "people" ("id", "name", "age", "born") VALUES (%s, %s, %s, %s)',
            [99, "Bo", 0, None],
        )
    ]
    assert person.id == 99
    assert not person.is_new_record


def test_save_validates_before_sending_anything(driver: Driver) -> None:
    person = Person.model_construct(name="Ann", age="not a number")  # unvalidated
    backend = driver.backend()
    with pytest.raises(RecordInvalid) as caught:
        driver.run(person._save_plan(SQLITE), backend)
    assert backend.requests == []
    assert caught.value.errors()[0]["loc"] == ("age",)
    assert person.is_new_record


def test_save_loaded_record_updates_only_dirty_columns(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    person.age = 31
    assert person.dirty_attributes == {"age"}
    backend = driver.backend(1)
    assert driver.run(person._save_plan(MYSQL), backend) == 1
    assert backend.requests == [
        ("execute", "UPDATE `people` SET `age` = %s WHERE `id` = %s", [31, 7])
    ]
    assert not person.is_dirty


def test_save_clean_record_sends_nothing_and_returns_zero(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    backend = driver.backend()
    assert driver.run(person._save_plan(SQLITE), backend) == 0
    assert backend.requests == []


def test_update_matching_no_row_returns_zero_and_leaves_the_record_dirty(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    person.name = "Anna"
    backend = driver.backend(0)
    assert driver.run(person._save_plan(SQLITE), backend) == 0
    assert person.is_dirty
    assert person.dirty_attributes == {"name"}
    assert not person.is_new_record
    # A second save tries again with the same statement.
    again = driver.backend(1)
    assert driver.run(person._save_plan(SQLITE), again) == 1
    assert again.requests == backend.requests
    assert not person.is_dirty


def test_update_of_a_changed_key_targets_the_stored_key(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    person.id = 8
    backend = driver.backend(1)
    driver.run(person._save_plan(SQLITE), backend)
    assert backend.requests == [("execute", 'UPDATE "people" SET "id" = ? WHERE "id" = ?', [8, 7])]


def test_update_with_a_composite_key(driver: Driver) -> None:
    membership = loaded(Membership, 1, 2, "member")
    membership.role = "owner"
    backend = driver.backend(1)
    driver.run(membership._save_plan(POSTGRES), backend)
    assert backend.requests == [
        (
            "execute",
            'UPDATE "memberships" SET "role" = %s WHERE "club_id" = %s AND "person_id" = %s',
            ["owner", 1, 2],
        )
    ]


def test_update_writes_values_for_the_dialect(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    person.born = date(2000, 1, 2)
    backend = driver.backend(1)
    driver.run(person._save_plan(SQLITE), backend)
    assert backend.requests[0][2] == ["2000-01-02", 7]


# ---- record plans: delete, refresh, find ----------------------------------------------------


def test_delete_sends_the_key_and_leaves_the_record_new_with_its_values(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    backend = driver.backend(1)
    assert driver.run(person._delete_plan(POSTGRES), backend) == 1
    assert backend.requests == [("execute", 'DELETE FROM "people" WHERE "id" = %s', [7])]
    assert person.is_new_record
    assert person.id == 7
    assert person.name == "Ann"


def test_delete_of_a_vanished_row_returns_zero(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    assert driver.run(person._delete_plan(SQLITE), driver.backend(0)) == 0
    assert person.is_new_record


def test_delete_of_a_record_without_a_key_sends_nothing(driver: Driver) -> None:
    backend = driver.backend()
    assert driver.run(Person(name="Ann")._delete_plan(SQLITE), backend) == 0
    assert backend.requests == []


def test_refresh_reloads_every_field_and_discards_changes(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    person.name = "unsaved"
    backend = driver.backend([(7, "Ann B.", 41, "1983-02-01")])
    assert driver.run(person._refresh_plan(SQLITE), backend) is None
    assert backend.requests == [("fetch", f'SELECT {PEOPLE} FROM "people" WHERE "id" = ?', [7])]
    assert (person.name, person.age, person.born) == ("Ann B.", 41, date(1983, 2, 1))
    assert not person.is_dirty


def test_refresh_of_a_vanished_row_raises_record_not_found(driver: Driver) -> None:
    person = loaded(Person, 7, "Ann", 30, None)
    with pytest.raises(RecordNotFound, match="Person"):
        driver.run(person._refresh_plan(SQLITE), driver.backend([]))


def test_find_one_by_key_fetches_and_hydrates(driver: Driver) -> None:
    backend = driver.backend([(7, "Ann", 30, None)])
    found = driver.run(Person._find_one_plan(7, MYSQL), backend)
    assert backend.requests == [
        (
            "fetch",
            "SELECT `people`.`id`, `people`.`name`, `people`.`age`, `people`.`born` "
            "FROM `people` WHERE `id` = %s",
            [7],
        )
    ]
    assert isinstance(found, Person)
    assert (found.id, found.name) == (7, "Ann")
    assert not found.is_new_record
    assert not found.is_dirty


def test_find_one_by_a_key_dict_is_the_key_lookup(driver: Driver) -> None:
    backend = driver.backend([])
    assert driver.run(Person._find_one_plan({"id": 7}, SQLITE), backend) is None
    assert backend.requests == [("fetch", f'SELECT {PEOPLE} FROM "people" WHERE "id" = ?', [7])]


def test_find_one_by_a_column_dict_queries_with_limit_one(driver: Driver) -> None:
    backend = driver.backend([(7, "Ann", 30, None)])
    found = driver.run(Person._find_one_plan({"name": "Ann", "age": None}, SQLITE), backend)
    assert backend.requests == [
        (
            "fetch",
            f'SELECT {PEOPLE} FROM "people" WHERE ("people"."name" = ? AND "people"."age" IS NULL)'
            " LIMIT ?",
            ["Ann", 1],
        )
    ]
    assert found.id == 7


def test_find_one_with_a_composite_key(driver: Driver) -> None:
    backend = driver.backend([(1, 2, "member")])
    found = driver.run(Membership._find_one_plan((1, 2), POSTGRES), backend)
    assert backend.requests[0][1].endswith('WHERE "club_id" = %s AND "person_id" = %s')
    assert backend.requests[0][2] == [1, 2]
    assert found.role == "member"


def test_find_one_with_the_wrong_number_of_key_values_is_refused(driver: Driver) -> None:
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match="primary key"):
        driver.run(Membership._find_one_plan(1, SQLITE), backend)
    assert backend.requests == []


def test_find_one_or_fail_raises_when_nothing_matches(driver: Driver) -> None:
    with pytest.raises(RecordNotFound, match="Person"):
        driver.run(Person._find_one_or_fail_plan(7, SQLITE), driver.backend([]))


def test_find_one_by_a_key_dict_with_a_list_means_in(driver: Driver) -> None:
    backend = driver.backend([(1, "Ann", 30, None)])
    driver.run(Person._find_one_plan({"id": [1, 2]}, SQLITE), backend)
    assert backend.requests[0][2] == [1, 2, 1]


# ---- record plans: insert_many --------------------------------------------------------------


def people(count: int) -> list[Person]:
    return [Person(name=f"p{i}", age=i) for i in range(count)]


def test_insert_many_sends_one_multi_row_statement_and_sets_every_key(driver: Driver) -> None:
    batch = people(3)
    backend = driver.backend([10, 11, 12])
    assert driver.run(Person._insert_many_plan(batch, POSTGRES), backend) == 3
    assert backend.requests == [
        (
            "insert",
            'INSERT INTO "people" ("name", "age", "born") VALUES (%s, %s, %s), (%s, %s, %s), '
            '(%s, %s, %s) RETURNING "id"',
            ["p0", 0, None, "p1", 1, None, "p2", 2, None],
            3,
        )
    ]
    assert [p.id for p in batch] == [10, 11, 12]
    assert not any(p.is_new_record or p.is_dirty for p in batch)


def test_insert_many_chunks_by_the_dialects_parameter_limit(driver: Driver) -> None:
    small = dataclasses.replace(SQLITE, max_params=7)  # 3 columns: two rows per statement
    batch = people(5)
    backend = driver.backend([1, 2], [3, 4], [5])
    assert driver.run(Person._insert_many_plan(batch, small), backend) == 5
    assert [(r[0], r[3], len(r[2])) for r in backend.requests] == [
        ("insert", 2, 6),
        ("insert", 2, 6),
        ("insert", 1, 3),
    ]
    assert all(len(r[2]) <= small.max_params for r in backend.requests)
    assert backend.requests[-1][1] == (
        'INSERT INTO "people" ("name", "age", "born") VALUES (?, ?, ?)'
    )
    assert [p.id for p in batch] == [1, 2, 3, 4, 5]


def test_insert_many_without_returning_takes_keys_from_the_insert_result(driver: Driver) -> None:
    batch = people(2)
    backend = driver.backend([41, 42])
    driver.run(Person._insert_many_plan(batch, MYSQL), backend)
    assert backend.requests[0][1] == (
        "INSERT INTO `people` (`name`, `age`, `born`) VALUES (%s, %s, %s), (%s, %s, %s)"
    )
    assert [p.id for p in batch] == [41, 42]


def test_insert_many_keeps_records_with_their_own_keys_apart(driver: Driver) -> None:
    own = Person(id=100, name="own")
    batch = [Person(name="auto"), own]
    backend = driver.backend([5], 1)
    assert driver.run(Person._insert_many_plan(batch, SQLITE), backend) == 2
    assert backend.requests == [
        (
            "insert",
            'INSERT INTO "people" ("name", "age", "born") VALUES (?, ?, ?)',
            ["auto", 0, None],
            1,
        ),
        (
            "execute",
            'INSERT INTO "people" ("id", "name", "age", "born") VALUES (?, ?, ?, ?)',
            [100, "own", 0, None],
        ),
    ]
    assert [p.id for p in batch] == [5, 100]


def test_insert_many_validates_every_record_before_writing(driver: Driver) -> None:
    batch = people(3)
    batch[1] = batch[1].model_copy(update={"age": "x"})  # unvalidated
    backend = driver.backend()
    with pytest.raises(RecordInvalid, match=r"1 of 3 records are invalid.*index 1"):
        driver.run(Person._insert_many_plan(batch, SQLITE), backend)
    assert backend.requests == []
    assert all(p.is_new_record for p in batch)


def test_insert_many_refuses_other_models(driver: Driver) -> None:
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match="Person"):
        driver.run(Person._insert_many_plan([Bare()], SQLITE), backend)
    assert backend.requests == []


def test_insert_many_of_nothing_sends_nothing(driver: Driver) -> None:
    backend = driver.backend()
    assert driver.run(Person._insert_many_plan([], SQLITE), backend) == 0
    assert backend.requests == []


def test_insert_many_of_key_only_records_inserts_one_row_per_record(driver: Driver) -> None:
    batch = [Bare(), Bare(), Bare()]
    backend = driver.backend(*([[n] for n in (1, 2, 3)]))
    driver.run(Bare._insert_many_plan(batch, SQLITE), backend)
    assert [p.id for p in batch] == [1, 2, 3]


# ---- query plans ----------------------------------------------------------------------------


def adults() -> QueryCore:
    return QueryCore(Person).where("age >= ?", (18,))


def test_all_fetches_rows_and_hydrates_records(driver: Driver) -> None:
    backend = driver.backend([(1, "Ann", 30, None), (2, "Bo", 40, "1984-01-01")])
    records = driver.run(adults().order_by("age")._all_plan(SQLITE), backend)
    assert backend.requests == [
        ("fetch", f'SELECT {PEOPLE} FROM "people" WHERE (age >= ?) ORDER BY age', [18])
    ]
    assert [(r.id, r.born) for r in records] == [(1, None), (2, date(1984, 1, 1))]
    assert not any(r.is_new_record or r.is_dirty for r in records)


def test_all_with_select_fetches_a_table_and_maps_columns_by_name(driver: Driver) -> None:
    table = (["age", "born", "name", "id"], [(30, None, "Ann", 1)])
    backend = driver.backend(table)
    records = driver.run(
        QueryCore(Person).select("age", "born", "name", "id")._all_plan(POSTGRES), backend
    )
    assert backend.requests == [("fetch_table", 'SELECT age, born, name, id FROM "people"', [])]
    assert (records[0].id, records[0].name, records[0].age) == (1, "Ann", 30)


def test_one_and_exists_use_limit_one(driver: Driver) -> None:
    backend = driver.backend([])
    assert driver.run(adults()._one_plan(SQLITE), backend) is None
    assert backend.requests[0][1].endswith(" LIMIT ?")
    assert backend.requests[0][2] == [18, 1]

    backend = driver.backend([(1,)])
    assert driver.run(adults().offset(5)._exists_plan(MYSQL), backend) is True
    assert backend.requests == [
        ("fetch", "SELECT 1 FROM `people` WHERE (age >= %s) LIMIT %s OFFSET %s", [18, 1, 5])
    ]
    assert driver.run(adults()._exists_plan(SQLITE), driver.backend([])) is False


@pytest.mark.parametrize(
    ("func", "column", "distinct", "reply", "sql", "result"),
    [
        ("COUNT", "*", False, [(3,)], 'SELECT COUNT(*) FROM "people" WHERE (age >= ?)', 3),
        ("COUNT", "*", False, [(None,)], 'SELECT COUNT(*) FROM "people" WHERE (age >= ?)', 0),
        (
            "COUNT",
            "name",
            True,
            [(2,)],
            'SELECT COUNT(DISTINCT name) FROM "people" WHERE (age >= ?)',
            2,
        ),
        ("SUM", "age", False, [(70.0,)], 'SELECT SUM(age) FROM "people" WHERE (age >= ?)', 70),
        ("SUM", "age", False, [(None,)], 'SELECT SUM(age) FROM "people" WHERE (age >= ?)', None),
        ("AVG", "age", False, [(35,)], 'SELECT AVG(age) FROM "people" WHERE (age >= ?)', 35.0),
        (
            "MIN",
            "born",
            False,
            [("1980-01-02",)],
            'SELECT MIN(born) FROM "people" WHERE (age >= ?)',
            date(1980, 1, 2),
        ),
    ],
    ids=["count", "count-none", "count-distinct", "sum-int", "sum-empty", "avg", "min-date"],
)
def test_scalar_plan_sql_and_result_types(
    driver: Driver, func: str, column: str, distinct: bool, reply: Any, sql: str, result: Any
) -> None:
    backend = driver.backend(reply)
    value = driver.run(adults()._scalar_plan(func, column, distinct, SQLITE), backend)
    assert backend.requests == [("fetch", sql, [18])]
    assert value == result
    assert type(value) is type(result)


@pytest.mark.parametrize(
    ("dialect", "sql", "reply"),
    [
        (SQLITE, 'SELECT twinrecord_decimal_sum(amount) FROM "ledgers"', "0.30"),
        (POSTGRES, 'SELECT SUM(amount) FROM "ledgers"', Decimal("0.30")),
        (MYSQL, "SELECT SUM(amount) FROM `ledgers`", Decimal("0.30")),
    ],
    ids=["sqlite", "postgres", "mysql"],
)
def test_scalar_sum_of_a_decimal_column_is_exact_per_dialect(
    driver: Driver, dialect: Dialect, sql: str, reply: Any
) -> None:
    # SQLite keeps decimals as text, so it sums them with the library's exact function.
    backend = driver.backend([(reply,)])
    value = driver.run(QueryCore(Ledger)._scalar_plan("SUM", "amount", False, dialect), backend)
    assert backend.requests == [("fetch", sql, [])]
    assert value == Decimal("0.30")
    assert isinstance(value, Decimal)


def test_scalar_plan_with_limit_wraps_and_sends_limit_last(driver: Driver) -> None:
    backend = driver.backend([(2,)])
    driver.run(
        adults().order_by("age").limit(2)._scalar_plan("COUNT", "*", False, POSTGRES), backend
    )
    assert backend.requests == [
        (
            "fetch",
            f'SELECT COUNT(*) FROM (SELECT {PEOPLE} FROM "people" WHERE (age >= %s) '
            'ORDER BY age LIMIT %s) AS "_rows"',
            [18, 2],
        )
    ]


def test_scalar_plan_sends_as_many_params_as_placeholders(driver: Driver) -> None:
    backend = driver.backend([(0,)])
    query = QueryCore(Person).having("COUNT(*) > ?", (1,))
    driver.run(query._scalar_plan("COUNT", "*", False, SQLITE), backend)
    _, sql, params = backend.requests[0]
    assert sql.count("?") == len(params)


def test_aggregate_plan_selects_groups_and_converts_results(driver: Driver) -> None:
    query = QueryCore(Person).group_by("name").count("id", "n").avg("age").min("born", "first_born")
    table = (
        ["name", "n", "avg_age", "first_born"],
        [("Ann", 2, 30, "1990-01-01"), ("Bo", 0, None, None)],
    )
    backend = driver.backend(table)
    rows = driver.run(query._aggregate_plan(SQLITE), backend)
    assert backend.requests == [
        (
            "fetch_table",
            'SELECT name, COUNT(id) AS "n", AVG(age) AS "avg_age", MIN(born) AS "first_born" '
            'FROM "people" GROUP BY name',
            [],
        )
    ]
    assert rows == [
        {"name": "Ann", "n": 2, "avg_age": 30.0, "first_born": date(1990, 1, 1)},
        {"name": "Bo", "n": 0, "avg_age": None, "first_born": None},
    ]
    assert type(rows[0]["avg_age"]) is float


def test_aggregate_plan_needs_group_by_or_an_aggregate(driver: Driver) -> None:
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match="group_by"):
        driver.run(adults()._aggregate_plan(SQLITE), backend)
    assert backend.requests == []


def test_update_plan_simple_query(driver: Driver) -> None:
    backend = driver.backend(4)
    affected = driver.run(
        adults()._update_plan({"name": "adult", "born": date(2000, 1, 1)}, SQLITE), backend
    )
    assert affected == 4
    assert backend.requests == [
        (
            "execute",
            'UPDATE "people" SET "name" = ?, "born" = ? WHERE (age >= ?)',
            ["adult", "2000-01-01", 18],
        )
    ]


def test_update_plan_with_limit_uses_the_key_subquery(driver: Driver) -> None:
    backend = driver.backend(1)
    driver.run(adults().order_by("age").limit(1)._update_plan({"age": 0}, MYSQL), backend)
    assert backend.requests == [
        (
            "execute",
            "UPDATE `people` SET `age` = %s WHERE `id` IN (SELECT `_k`.`id` FROM (SELECT "
            "`people`.`id` FROM `people` WHERE (age >= %s) ORDER BY age LIMIT %s) AS `_k`)",
            [0, 18, 1],
        )
    ]


def test_update_plan_refuses_unknown_columns_and_skips_empty_changes(driver: Driver) -> None:
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match=r"unknown field .nickname."):
        driver.run(adults()._update_plan({"nickname": "x"}, SQLITE), backend)
    assert driver.run(adults()._update_plan({}, SQLITE), backend) == 0
    assert backend.requests == []


def test_delete_plan_simple_and_complex(driver: Driver) -> None:
    backend = driver.backend(2)
    assert (
        driver.run(QueryCore(Person).where({"name": ["a", "b"]})._delete_plan(POSTGRES), backend)
        == 2
    )
    assert backend.requests == [
        ("execute", 'DELETE FROM "people" WHERE "people"."name" IN (%s, %s)', ["a", "b"])
    ]
    backend = driver.backend(1)
    driver.run(
        adults().join("JOIN pets ON pets.owner_id = people.id")._delete_plan(SQLITE), backend
    )
    assert backend.requests == [
        (
            "execute",
            'DELETE FROM "people" WHERE "id" IN (SELECT "_k"."id" FROM (SELECT "people"."id" '
            'FROM "people" JOIN pets ON pets.owner_id = people.id WHERE (age >= ?)) AS "_k")',
            [18],
        )
    ]


def test_complex_delete_needs_a_single_column_key(driver: Driver) -> None:
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match="single-column primary key"):
        driver.run(QueryCore(Membership).limit(1)._delete_plan(SQLITE), backend)
    assert backend.requests == []


# ---- transaction plans ----------------------------------------------------------------------


def new_lock() -> Any:
    return object()


TxVar = ContextVar[TransactionState | None]


def transaction(
    variable: TxVar,
    dialect: Dialect,
    body: Callable[[], Generator[Request, Any, Any]] | None = None,
    isolation_level: str | None = None,
) -> Generator[Request, Any, Any]:
    """`with transaction(): body` as one plan, the way the backends drive it."""
    frame = yield from enter_plan(variable, dialect, isolation_level, new_lock)
    try:
        try:
            result = (yield from body()) if body is not None else None
        except BaseException:
            yield from exit_plan(frame, failed=True)
            raise
        yield from exit_plan(frame, failed=False)
        return result
    finally:
        frame.restore()


def test_transaction_begins_and_commits_on_its_own_connection(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    seen: list[Any] = []

    def body() -> Generator[Request, Any, str]:
        seen.append(variable.get())
        yield Execute("INSERT INTO t VALUES (1)", [])
        return "body result"

    backend = driver.backend("conn-1", None, 1, None, None)
    assert driver.run(transaction(variable, POSTGRES, body), backend) == "body result"
    assert backend.requests == [
        ("acquire",),
        ("control", "conn-1", "BEGIN"),
        ("execute", "INSERT INTO t VALUES (1)", []),
        ("control", "conn-1", "COMMIT"),
        ("release", "conn-1", False),
    ]
    assert seen[0].connection == "conn-1"
    assert seen[0].closed  # finished transactions refuse late statements
    assert variable.get() is None  # unpinned afterwards


def test_transaction_rolls_back_when_the_block_fails(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)

    def body() -> Generator[Request, Any, None]:
        yield Execute("INSERT INTO t VALUES (1)", [])
        raise ValueError("business rule")

    backend = driver.backend("c", None, 1, None, None)
    with pytest.raises(ValueError, match="business rule"):
        driver.run(transaction(variable, SQLITE, body), backend)
    assert backend.requests[-2:] == [("control", "c", "ROLLBACK"), ("release", "c", False)]


@pytest.mark.parametrize(
    ("dialect", "level", "begin"),
    [
        (POSTGRES, "serializable", ["BEGIN ISOLATION LEVEL SERIALIZABLE"]),
        (
            MYSQL,
            "Read Committed",
            ["SET TRANSACTION ISOLATION LEVEL READ COMMITTED", "START TRANSACTION"],
        ),
        (SQLITE, "REPEATABLE READ", ["BEGIN IMMEDIATE"]),
        (SQLITE, "immediate", ["BEGIN IMMEDIATE"]),
    ],
    ids=["postgres", "mysql", "sqlite", "sqlite-immediate"],
)
def test_transaction_begin_statements_per_dialect(
    driver: Driver, dialect: Dialect, level: str, begin: list[str]
) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    script = ["c", *([None] * len(begin)), None, None]
    backend = driver.backend(*script)
    driver.run(transaction(variable, dialect, isolation_level=level), backend)
    assert backend.requests == [
        ("acquire",),
        *[("control", "c", sql) for sql in begin],
        ("control", "c", "COMMIT"),
        ("release", "c", False),
    ]


def test_unknown_isolation_level_is_refused_before_any_request(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    backend = driver.backend()
    with pytest.raises(ConfigurationError, match="isolation level"):
        driver.run(transaction(variable, POSTGRES, isolation_level="SNAPSHOT"), backend)
    assert backend.requests == []


def test_nested_transaction_is_a_savepoint_on_the_same_connection(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)

    def inner() -> Generator[Request, Any, None]:
        yield Execute("INSERT INTO t VALUES (2)", [])

    def outer() -> Generator[Request, Any, None]:
        yield from transaction(variable, POSTGRES, inner)
        yield from transaction(variable, POSTGRES, inner)  # sibling reuses the name

    backend = driver.backend("c", None, None, 1, None, None, 1, None, None, None)
    driver.run(transaction(variable, POSTGRES, outer), backend)
    assert backend.requests == [
        ("acquire",),
        ("control", "c", "BEGIN"),
        ("control", "c", "SAVEPOINT twinrecord_sp_1"),
        ("execute", "INSERT INTO t VALUES (2)", []),
        ("control", "c", "RELEASE SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "SAVEPOINT twinrecord_sp_1"),
        ("execute", "INSERT INTO t VALUES (2)", []),
        ("control", "c", "RELEASE SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "COMMIT"),
        ("release", "c", False),
    ]


def test_failed_nested_block_rolls_back_to_its_savepoint_only(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)

    def failing() -> Generator[Request, Any, None]:
        yield Execute("INSERT INTO t VALUES (3)", [])
        raise KeyError("inner")

    def deeper() -> Generator[Request, Any, None]:
        yield from transaction(variable, SQLITE, failing)

    def outer() -> Generator[Request, Any, str]:
        try:
            yield from transaction(variable, SQLITE, deeper)
        except KeyError:
            return "outer carries on"
        return "not reached"

    backend = driver.backend("c", None, None, None, 1, None, None, None, None, None, None)
    assert driver.run(transaction(variable, SQLITE, outer), backend) == "outer carries on"
    assert backend.requests == [
        ("acquire",),
        ("control", "c", "BEGIN IMMEDIATE"),
        ("control", "c", "SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "SAVEPOINT twinrecord_sp_2"),
        ("execute", "INSERT INTO t VALUES (3)", []),
        ("control", "c", "ROLLBACK TO SAVEPOINT twinrecord_sp_2"),
        ("control", "c", "RELEASE SAVEPOINT twinrecord_sp_2"),
        ("control", "c", "ROLLBACK TO SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "RELEASE SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "COMMIT"),
        ("release", "c", False),
    ]


def test_failed_commit_discards_the_connection_and_raises(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    failure = StatementInvalid("could not serialize access", "COMMIT")
    backend = driver.backend("c", None, failure, None)
    with pytest.raises(StatementInvalid, match="serialize"):
        driver.run(transaction(variable, POSTGRES), backend)
    assert backend.requests == [
        ("acquire",),
        ("control", "c", "BEGIN"),
        ("control", "c", "COMMIT"),
        ("release", "c", True),
    ]
    assert variable.get() is None


def test_failed_rollback_discards_the_connection_and_raises_the_block_error(
    driver: Driver,
) -> None:
    """§5: the block's own error is reported, never the failure of the ROLLBACK after it."""
    variable: TxVar = ContextVar("tx", default=None)

    def body() -> Generator[Request, Any, None]:
        raise ValueError("block failed")
        yield  # pragma: no cover

    backend = driver.backend("c", None, StatementInvalid("connection lost", "ROLLBACK"), None)
    with pytest.raises(ValueError, match="block failed"):
        driver.run(transaction(variable, SQLITE, body), backend)
    assert backend.requests[-2:] == [("control", "c", "ROLLBACK"), ("release", "c", True)]


def test_failed_begin_discards_the_connection_and_pins_nothing(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    backend = driver.backend("c", StatementInvalid("bad", "BEGIN"), None)
    with pytest.raises(StatementInvalid):
        driver.run(transaction(variable, POSTGRES), backend)
    assert backend.requests == [
        ("acquire",),
        ("control", "c", "BEGIN"),
        ("release", "c", True),
    ]
    assert variable.get() is None


def test_failed_savepoint_leaves_the_depth_unchanged(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    states: list[TransactionState] = []

    def outer() -> Generator[Request, Any, None]:
        state = variable.get()
        assert state is not None
        states.append(state)
        with pytest.raises(StatementInvalid):
            yield from transaction(variable, SQLITE)
        assert state.depth == 0

    backend = driver.backend("c", None, StatementInvalid("no", "SAVEPOINT"), None, None)
    # The server refused a statement (SAVEPOINT itself): the transaction is doomed (§5).
    with pytest.raises(TransactionError, match="StatementInvalid: no"):
        driver.run(transaction(variable, SQLITE, outer), backend)
    assert backend.requests[2] == ("control", "c", "SAVEPOINT twinrecord_sp_1")
    assert backend.requests[-2:] == [("control", "c", "ROLLBACK"), ("release", "c", False)]


def test_nested_transaction_from_another_owner_is_refused(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    state = TransactionState("c", new_lock())
    state.owner = object()  # opened by some other task or thread
    variable.set(state)
    backend = driver.backend()
    with pytest.raises(TransactionError, match="task"):
        driver.run(enter_plan(variable, SQLITE, None, new_lock), backend)
    assert backend.requests == []


def test_closed_transaction_in_context_starts_a_fresh_one(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    state = TransactionState("old", new_lock())
    state.closed = True
    variable.set(state)
    backend = driver.backend("new", None)
    frame = driver.run(enter_plan(variable, SQLITE, None, new_lock), backend)
    assert isinstance(frame, Frame)
    assert frame.savepoint is None
    assert frame.state.connection == "new"
    assert backend.requests == [("acquire",), ("control", "new", "BEGIN IMMEDIATE")]


# ---- §5: errors inside nested transactions are reported as themselves -----------------------
def _failing_in_savepoint(
    variable: TxVar, error: Exception
) -> Callable[[], Generator[Request, Any, None]]:
    """A body that opens a savepoint in which a statement fails with `error` (as the
    backend's statement path records it: the transaction is doomed by it)."""

    def inner() -> Generator[Request, Any, None]:
        state = variable.get()
        assert state is not None
        state.doom(error)
        raise error
        yield  # pragma: no cover

    def outer() -> Generator[Request, Any, None]:
        yield from transaction(variable, MYSQL, inner)

    return outer


def test_a_deadlock_in_a_savepoint_skips_its_rollback_and_propagates(driver: Driver) -> None:
    """The server rolled back the whole transaction: ROLLBACK TO SAVEPOINT would fail
    (MariaDB 1305) and hide the deadlock; it is not sent, and the outer one rolls back."""
    variable: TxVar = ContextVar("tx", default=None)
    backend = driver.backend("c", None, None, None, None)
    deadlock = Deadlocked("Deadlock found when trying to get lock")
    with pytest.raises(Deadlocked) as caught:
        driver.run(transaction(variable, MYSQL, _failing_in_savepoint(variable, deadlock)), backend)
    assert caught.value is deadlock
    assert backend.requests == [
        ("acquire",),
        ("control", "c", "START TRANSACTION"),
        ("control", "c", "SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "ROLLBACK"),
        ("release", "c", False),
    ]


def test_a_failing_rollback_to_savepoint_never_replaces_the_error(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    gone = StatementInvalid("MySQL error 1305: SAVEPOINT twinrecord_sp_1 does not exist")
    backend = driver.backend("c", None, None, gone, None, None)
    duplicate = RecordNotUnique("duplicate")
    with pytest.raises(RecordNotUnique) as caught:
        driver.run(transaction(variable, MYSQL, _failing_in_savepoint(variable, duplicate)), backend)
    assert caught.value is duplicate
    assert backend.requests[-3:] == [
        ("control", "c", "ROLLBACK TO SAVEPOINT twinrecord_sp_1"),
        ("control", "c", "ROLLBACK"),
        ("release", "c", False),
    ]


def test_a_lost_connection_is_discarded_without_a_rollback(driver: Driver) -> None:
    variable: TxVar = ContextVar("tx", default=None)
    backend = driver.backend("c", None, None, None)
    lost = ConnectionNotEstablished("the connection to the server failed")
    with pytest.raises(ConnectionNotEstablished):
        driver.run(transaction(variable, MYSQL, _failing_in_savepoint(variable, lost)), backend)
    assert backend.requests[-1] == ("release", "c", True)
    assert ("control", "c", "ROLLBACK") not in backend.requests
