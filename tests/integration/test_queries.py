"""Query scenarios (API.md §4), run in every backend x kind combination."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Optional

import pytest
from pydantic import Field

from twinrecord import ConfigurationError, RecordNotFound, StatementInvalid, raw


def models(db):
    class Employee(db.Base):
        __table_name__ = "employees"
        id: Optional[int] = None
        name: str = Field(max_length=50)
        department: str = Field(max_length=20)
        salary: float
        bonus: Decimal = Field(max_digits=12, decimal_places=2)
        level: int
        hire_date: date
        is_active: bool = True
        manager_id: Optional[int] = None

    class Badge(db.Base):
        __table_name__ = "badges"
        id: Optional[int] = None
        employee_id: int
        label: str = Field(max_length=20)

    return Employee, Badge


STAFF = [
    ("ann", "eng", 100.0, "10.50", 3, date(2020, 1, 5), True),
    ("bob", "eng", 120.0, "20.25", 2, date(2019, 3, 1), True),
    ("cid", "eng", 140.0, "0.10", 1, date(2021, 7, 9), False),
    ("dee", "ops", 90.0, "5.00", 2, date(2018, 2, 2), True),
    ("eve", "ops", 80.0, "1.15", 1, date(2022, 11, 30), True),
]


async def seeded(db):
    Employee, Badge = models(db)
    await db.create(Employee, Badge)
    rows = [
        Employee(name=n, department=d, salary=s, bonus=Decimal(b), level=lv, hire_date=h, is_active=a)
        for n, d, s, b, lv, h, a in STAFF
    ]
    await db(Employee.insert_many(rows))
    return Employee, Badge, rows


async def test_where_with_placeholders_and_bool(db):
    Employee, _, _ = await seeded(db)
    active = await db(Employee.query().where("is_active = ?", (True,)).order_by("name").all())
    assert [e.name for e in active] == ["ann", "bob", "dee", "eve"]
    assert all(isinstance(e.is_active, bool) for e in active)


async def test_where_or_where_fold(db):
    Employee, _, _ = await seeded(db)
    query = (
        Employee.query().where("department = ?", ("eng",)).where("level = ?", (1,))
        .or_where("name = ?", ("eve",)).order_by("name")
    )
    assert [e.name for e in await db(query.all())] == ["cid", "eve"]


async def test_dict_conditions_equality_null_and_in(db):
    Employee, _, _ = await seeded(db)
    assert [e.name for e in await db(Employee.query().where({"name": ["ann", "eve"]}).order_by("name").all())] == ["ann", "eve"]
    assert len(await db(Employee.query().where({"manager_id": None}).all())) == 5
    assert await db(Employee.query().where({"name": []}).all()) == []
    both = Employee.query().where({"department": "eng", "level": 2})
    assert [e.name for e in await db(both.all())] == ["bob"]


async def test_unknown_column_in_dict_condition_names_it(db):
    Employee, _, _ = await seeded(db)
    with pytest.raises(StatementInvalid) as caught:
        Employee.query().where({"nope": 1})
    assert "nope" in str(caught.value) and "Employee" in str(caught.value)


async def test_placeholder_count_mismatch_is_caught_before_sending(db):
    Employee, _, _ = await seeded(db)
    with pytest.raises(StatementInvalid):
        Employee.query().where("name = ? AND level = ?", ("ann",))


async def test_question_mark_in_literal_and_percent(db):
    Employee, _, _ = await seeded(db)
    found = await db(Employee.query().where("name LIKE 'a%' AND '?' = '?' AND level = ?", (3,)).all())
    assert [e.name for e in found] == ["ann"]


async def test_order_limit_offset_distinct_select(db):
    Employee, _, _ = await seeded(db)
    page = await db(Employee.query().order_by("salary DESC").limit(2).offset(1).all())
    assert [e.name for e in page] == ["bob", "ann"]
    only_offset = await db(Employee.query().order_by("salary DESC").offset(3).all())
    assert [e.name for e in only_offset] == ["dee", "eve"]
    departments = await db(Employee.query().select("department").distinct().order_by("department").to_dicts())
    assert departments == [{"department": "eng"}, {"department": "ops"}]


async def test_one_one_or_fail_exists(db):
    Employee, _, _ = await seeded(db)
    assert (await db(Employee.query().order_by("name DESC").one())).name == "eve"
    assert await db(Employee.query().where({"name": "zed"}).one()) is None
    with pytest.raises(RecordNotFound):
        await db(Employee.query().where({"name": "zed"}).one_or_fail())
    assert await db(Employee.query().where({"name": "ann"}).exists()) is True
    assert await db(Employee.query().where({"name": "zed"}).exists()) is False


async def test_to_dicts_converts_to_field_types(db):
    Employee, _, _ = await seeded(db)
    rows = await db(Employee.query().where({"name": "ann"}).to_dicts())
    assert rows[0]["hire_date"] == date(2020, 1, 5)
    assert rows[0]["bonus"] == Decimal("10.50") and isinstance(rows[0]["bonus"], Decimal)
    assert rows[0]["is_active"] is True
    assert set(rows[0]) == set(Employee.model_fields)


async def test_joins_return_model_columns(db):
    Employee, Badge, rows = await seeded(db)
    await db(Badge(employee_id=rows[0].id, label="star").save())
    await db(Badge(employee_id=rows[3].id, label="star").save())
    starred = await db(
        Employee.query().inner_join("badges", "badges.employee_id = employees.id")
        .where("badges.label = ?", ("star",)).order_by("employees.name").all()
    )
    assert [e.name for e in starred] == ["ann", "dee"]
    left = await db(
        Employee.query().left_join("badges", "badges.employee_id = employees.id")
        .where("badges.id IS NULL").count()
    )
    assert left == 3
    raw = await db(
        Employee.query().join("JOIN badges ON badges.employee_id = employees.id").count()
    )
    assert raw == 2


async def test_group_by_having(db):
    Employee, _, _ = await seeded(db)
    rows = await db(
        Employee.query().group_by("department").count("id", "n")
        .having("COUNT(id) > ?", (2,)).aggregate()
    )
    assert rows == [{"department": "eng", "n": 3}]


async def test_query_update_and_delete(db):
    Employee, _, _ = await seeded(db)
    assert await db(Employee.query().where({"department": "ops"}).update({"level": 9})) == 2
    assert await db(Employee.query().where({"level": 9}).count()) == 2
    limited = Employee.query().where({"department": "eng"}).order_by("salary DESC").limit(1)
    assert await db(limited.update({"level": 7})) == 1
    assert (await db(Employee.query().where({"level": 7}).one())).name == "cid"
    assert await db(Employee.query().where("salary < ?", (85,)).delete()) == 1
    assert await db(Employee.query().count()) == 4


async def test_scalar_aggregates_and_types(db):
    Employee, _, _ = await seeded(db)
    query = Employee.query()
    assert await db(query.count()) == 5
    assert await db(query.where("level > ?", (1,)).count()) == 3
    total_level = await db(query.sum("level"))
    assert total_level == 9 and isinstance(total_level, int)
    salary = await db(query.sum("salary"))
    assert salary == 530.0 and isinstance(salary, float)
    average = await db(query.avg("level"))
    assert average == pytest.approx(1.8) and isinstance(average, float)
    bonus = await db(query.sum("bonus"))
    assert bonus == Decimal("37.00") and isinstance(bonus, Decimal)
    assert await db(query.min("hire_date")) == date(2018, 2, 2)
    assert await db(query.max("name")) == "eve"
    assert await db(query.count("department", distinct=True)) == 2


async def test_scalar_aggregates_on_no_rows(db):
    Employee, _, _ = await seeded(db)
    empty = Employee.query().where({"name": "nobody"})
    assert await db(empty.count()) == 0
    assert await db(empty.sum("level")) is None
    assert await db(empty.avg("salary")) is None
    assert await db(empty.max("hire_date")) is None


async def test_scalar_aggregates_respect_limit_offset_distinct(db):
    Employee, _, _ = await seeded(db)
    top_two = Employee.query().order_by("salary DESC").limit(2)
    assert await db(top_two.count()) == 2
    assert await db(top_two.sum("salary")) == 260.0
    assert await db(Employee.query().order_by("salary").offset(3).count()) == 2
    assert await db(Employee.query().select("department").distinct().count()) == 2


async def test_aggregate_mode_department_statistics(db):
    Employee, _, _ = await seeded(db)
    rows = await db(
        Employee.query()
        .group_by("department")
        .count("id", "employee_count")
        .avg("salary", "avg_salary")
        .min("hire_date", "earliest_hire")
        .order_by("department")
        .aggregate()
    )
    assert rows == [
        {"department": "eng", "employee_count": 3, "avg_salary": 120.0, "earliest_hire": date(2019, 3, 1)},
        {"department": "ops", "employee_count": 2, "avg_salary": 85.0, "earliest_hire": date(2018, 2, 2)},
    ]
    assert isinstance(rows[0]["avg_salary"], float)


async def test_aggregate_mode_default_aliases_and_empty(db):
    Employee, _, _ = await seeded(db)
    rows = await db(Employee.query().group_by("department").count().avg("salary").order_by("department").aggregate())
    assert set(rows[0]) == {"department", "count", "avg_salary"}
    empty = await db(
        Employee.query().where({"name": "nobody"}).count("id", "n").sum("level", "s").aggregate()
    )
    assert empty == [{"n": 0, "s": None}]


async def test_to_sql_touches_nothing_and_binds_values(db):
    Employee, _, _ = await seeded(db)
    sql, params = Employee.query().where({"name": "x'; DROP TABLE employees; --"}).limit(3).to_sql()
    assert "DROP" not in sql
    assert params[0] == "x'; DROP TABLE employees; --" and params[-1] == 3


async def test_aggregate_without_group_or_aggregate_is_refused(db):
    Employee, _, _ = await seeded(db)
    with pytest.raises(ConfigurationError):
        await db(Employee.query().aggregate())


async def test_for_update_inside_transaction(db):
    Employee, _, _ = await seeded(db)
    async with db.transaction(Employee):
        locked = await db(Employee.query().where({"name": "ann"}).for_update().one())
        locked.level = 5
        await db(locked.save())
    assert (await db(Employee.find_one({"name": "ann"}))).level == 5


async def test_decimal_aggregates_are_exact(db):
    class Ledger(db.Base):
        __table_name__ = "ledger_lines"
        id: Optional[int] = None
        amount: Decimal
        account: str

    await db.create(Ledger)
    amounts = ["0.1", "0.2", "10.5", "9.25", "1234567890123.0000001"]
    await db(Ledger.insert_many([Ledger(amount=Decimal(a), account="x") for a in amounts]))
    total = await db(Ledger.query().sum("amount"))
    assert total == Decimal("1234567890143.0500001") and isinstance(total, Decimal)
    small = Ledger.query().where({"amount": [Decimal("0.1"), Decimal("0.2")]})
    assert await db(small.sum("amount")) == Decimal("0.3")
    assert await db(small.avg("amount")) == Decimal("0.15")
    assert await db(Ledger.query().max("amount")) == Decimal("1234567890123.0000001")
    assert await db(Ledger.query().where("id <= ?", (4,)).max("amount")) == Decimal("10.5")
    assert await db(Ledger.query().min("amount")) == Decimal("0.1")
    rows = await db(Ledger.query().group_by("account").sum("amount", "total").aggregate())
    assert rows == [{"account": "x", "total": Decimal("1234567890143.0500001")}]


# ---- order_by / group_by take column references only (API.md §4) ------------------------
async def canary_exists(db, backend):
    rows = await db(backend.fetch_all("SELECT COUNT(*) AS n FROM canary"))
    return rows == [{"n": 1}]


async def test_sql_in_order_by_or_group_by_is_refused_and_the_canary_survives(db):
    Employee, _, _ = await seeded(db)
    backend = Employee.backend()
    await db(backend.execute("DROP TABLE IF EXISTS canary"))
    await db(backend.execute("CREATE TABLE canary (id INTEGER)"))
    await db(backend.execute("INSERT INTO canary (id) VALUES (1)"))
    try:
        attacks = [
            "id; DROP TABLE canary; -- ",
            "id; DROP TABLE canary",
            "(SELECT 1); DROP TABLE canary",
            "id DESC, name; DROP TABLE canary; #",
        ]
        for attack in attacks:
            with pytest.raises(StatementInvalid, match=r"raw\(\)"):
                await db(Employee.query().order_by(attack).all())
            with pytest.raises(StatementInvalid, match=r"raw\(\)"):  # with bound values too
                await db(Employee.query().where("level > ?", (0,)).order_by(attack).all())
            with pytest.raises(StatementInvalid, match=r"raw\(\)"):
                await db(Employee.query().group_by(attack).count("id", "n").aggregate())
            assert await canary_exists(db, backend)
        # The connection is fine afterwards.
        assert await db(Employee.query().count()) == 5
    finally:
        await db(backend.execute("DROP TABLE IF EXISTS canary"))


async def test_sort_keys_with_minus_directions_qualifiers_and_quotes(db):
    Employee, _, _ = await seeded(db)
    names = lambda rows: [e.name for e in rows]  # noqa: E731
    assert names(await db(Employee.query().order_by("-name").all())) == ["eve", "dee", "cid", "bob", "ann"]
    both = Employee.query().order_by("department DESC, -salary")
    assert names(await db(both.all())) == ["dee", "eve", "cid", "bob", "ann"]
    quote = "`" if db.backend_name == "mysql" else '"'
    qualified = Employee.query().order_by(f'{quote}employees{quote}."level" asc', "-employees.name")
    assert names(await db(qualified.all())) == ["eve", "cid", "dee", "bob", "ann"]
    by_alias = await db(
        Employee.query().select("department", "COUNT(*) AS headcount")
        .group_by("department").order_by("-headcount").to_dicts()
    )
    assert [r["department"] for r in by_alias] == ["eng", "ops"]


async def test_nulls_first_and_last_on_every_database(db):
    Employee, _, rows = await seeded(db)
    await db(Employee.query().where({"name": ["bob", "dee"]}).update({"manager_id": 2}))
    await db(Employee.query().where({"name": "eve"}).update({"manager_id": 1}))
    last = await db(Employee.query().order_by("manager_id NULLS LAST", "name").all())
    assert [e.name for e in last] == ["eve", "bob", "dee", "ann", "cid"]
    first = await db(Employee.query().order_by("-manager_id NULLS FIRST", "name").all())
    assert [e.name for e in first] == ["ann", "cid", "bob", "dee", "eve"]


async def test_raw_sort_and_group_keys_with_bound_values(db):
    Employee, _, _ = await seeded(db)
    pinned = Employee.query().order_by(raw("CASE WHEN name = ? THEN 0 ELSE 1 END", ("dee",)), "name")
    assert [e.name for e in await db(pinned.where("level < ?", (3,)).all())] == ["dee", "bob", "cid", "eve"]
    assert await db(pinned.limit(2).count()) == 2
    assert (await db(pinned.one())).name == "dee"
    grouped = await db(Employee.query().group_by(raw("level * 10")).count("id", "n").aggregate())
    assert sorted(r["n"] for r in grouped) == [1, 2, 2]


# ---- Decimal compares, sorts and aggregates by value (API.md §8) -------------------------
async def test_decimal_columns_sort_and_compare_by_value(db):
    class Reading(db.Base):
        __table_name__ = "readings"
        id: Optional[int] = None
        x: Decimal
        fixed: Optional[Decimal] = Field(default=None, max_digits=12, decimal_places=2)

    await db.create(Reading)
    values = ["-12.50", "-3.00", "0.75", "10.25", "100.00", "9.50"]
    await db(Reading.insert_many([Reading(x=Decimal(v), fixed=Decimal(v)) for v in values]))
    numeric = sorted(map(Decimal, values))
    for column in ("x", "fixed"):
        rows = await db(Reading.query().order_by(column).all())
        assert [getattr(r, column) for r in rows] == numeric
        rows = await db(Reading.query().order_by(f"-{column}").all())
        assert [getattr(r, column) for r in rows] == sorted(map(Decimal, values), reverse=True)
        above = await db(Reading.query().where(f"{column} > ?", (Decimal("5"),)).order_by(column).all())
        assert [getattr(r, column) for r in above] == [Decimal("9.5"), Decimal("10.25"), Decimal(100)]
        between = Reading.query().where(f"{column} >= ? AND {column} < ?", (Decimal("-3"), Decimal("10")))
        assert await db(between.count()) == 3
        assert await db(Reading.query().where(f"{column} = ?", (Decimal("9.5"),)).count()) == 1
        assert await db(Reading.query().max(column)) == Decimal("100.00")
        assert await db(Reading.query().min(column)) == Decimal("-12.50")
        assert await db(Reading.query().sum(column)) == Decimal("105.00")
    exact = await db(Reading.find_one({"x": Decimal("0.75")}))
    assert str(exact.x) == "0.75" and str(exact.fixed) == "0.75"
    # Found by value (SQLite: exact text compared by value); an undeclared scale reads
    # back in its shortest form on every database (API.md §8, docs/safe-queries.md).
    assert str((await db(Reading.find_one({"x": Decimal("-12.5")}))).x) == "-12.5"


# ---- query().update() validates and writes as save() does (API.md §4) --------------------
async def test_query_update_validates_each_value_and_writes_it_as_save_does(db, caplog):
    import logging

    from pydantic import field_validator

    from twinrecord import RecordInvalid

    class Gadget(db.Base):
        __table_name__ = "gadgets"
        id: Optional[int] = None
        name: str = Field(max_length=8)
        age: int = Field(ge=0)
        price: Decimal = Field(max_digits=8, decimal_places=2)
        tags: list = []
        seen: Optional[date] = None

        @field_validator("name")
        @classmethod
        def lower_name(cls, value: str) -> str:
            return value.lower()

    await db.create(Gadget)
    await db(Gadget(name="a", age=1, price=Decimal("1.00")).save())
    everyone = Gadget.query()
    refused = [{"age": "abc"}, {"age": -1}, {"name": "x" * 9}, {"age": None}, {"price": "cheap"}]
    for changes in refused:
        with caplog.at_level(logging.DEBUG, logger="twinrecord.sql"):
            caplog.clear()
            with pytest.raises(RecordInvalid) as caught:
                await db(everyone.update(changes))
        assert [r for r in caplog.records if r.name == "twinrecord.sql"] == []  # nothing sent
        assert caught.value.errors()[0]["loc"][0] == next(iter(changes))
    with pytest.raises(ConfigurationError, match="unknown field 'nope'"):
        await db(everyone.update({"nope": 1}))
    # Valid values are coerced and written as save() writes them.
    changes = {"age": "7", "name": "BOB", "tags": ["x", 1], "seen": "2024-02-29", "price": "2.5"}
    assert await db(everyone.update(changes)) == 1
    loaded = await db(Gadget.find_one({"age": 7}))
    assert loaded.model_dump(exclude={"id"}) == {
        "name": "bob", "age": 7, "price": Decimal("2.50"), "tags": ["x", 1], "seen": date(2024, 2, 29)
    }
    # SQL the database evaluates goes through raw(), as it is.
    assert await db(everyone.update({"age": raw("age + ?", (3,))})) == 1
    assert (await db(Gadget.find_one(loaded.id))).age == 10
