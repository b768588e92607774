"""Column expressions and the §4 additions (API.md §4, §12) in every backend x kind.

Expected rows are computed in plain Python over the seeded data (`PEOPLE`), never by
the ORM.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Optional

import pytest
from pydantic import Field

from twinrecord import StatementInvalid, func, raw

PEOPLE = [
    # name, email, age, score, balance, note, born
    ("ann", "ann@example.com", 31, 2.5, "10.25", None, date(1993, 1, 5)),
    ("Bob", "bob@EXAMPLE.com", 17, 4.0, "0.10", "50% off", date(2007, 3, 1)),
    ("cid", "cid@other.org", 45, 1.0, "99.99", "vip_1", date(1979, 7, 9)),
    ("dee", "dee@example.com", 64, 3.5, "5.00", "it's", None),
    ("eve", "eve@other.org", 22, 0.5, "1.15", None, date(2002, 11, 30)),
]


def models(db):
    class Person(db.Base):
        __table_name__ = "people"
        id: Optional[int] = None
        name: str = Field(max_length=40)
        email: str = Field(max_length=60)
        age: int
        score: float
        balance: Decimal = Field(max_digits=12, decimal_places=2)
        note: Optional[str] = Field(default=None, max_length=40)
        born: Optional[date] = None
        views: int = 0

    return Person


async def seeded(db):
    Person = models(db)
    await db.create(Person)
    rows = [
        Person(name=n, email=e, age=a, score=s, balance=Decimal(b), note=no, born=bo)
        for n, e, a, s, b, no, bo in PEOPLE
    ]
    await db(Person.insert_many(rows))
    return Person


def names(records):
    return [r.name for r in records]


async def test_where_and_order_by_expressions(db):
    Person = await seeded(db)
    adults = await db(Person.query().where(Person.c.age >= 18).order_by(Person.c.name.desc()).all())
    expected = sorted((p[0] for p in PEOPLE if p[2] >= 18), reverse=True)
    assert names(adults) == expected


async def test_or_and_not_in_between_and_functions(db):
    Person = await seeded(db)
    condition = (Person.c.name.in_(["ann", "eve"]) | Person.c.age.between(40, 50)) & ~Person.c.note.is_(None)
    found = await db(Person.query().where(condition).order_by(Person.c.name).all())
    assert names(found) == sorted(
        p[0] for p in PEOPLE if (p[0] in ("ann", "eve") or 40 <= p[2] <= 50) and p[5] is not None
    )
    lowered = await db(Person.query().where(func.lower(Person.c.email).like("%@example.com")).order_by(Person.c.id).all())
    assert names(lowered) == [p[0] for p in PEOPLE if p[1].lower().endswith("@example.com")]
    assert names(await db(Person.query().where(Person.c.note == None).order_by(Person.c.id).all())) == [p[0] for p in PEOPLE if p[5] is None]  # noqa: E711
    assert names(await db(Person.query().where(Person.c.age.not_in([17, 22])).order_by(Person.c.id).all())) == [p[0] for p in PEOPLE if p[2] not in (17, 22)]
    assert await db(Person.query().where(Person.c.age.in_([])).all()) == []
    assert len(await db(Person.query().where(Person.c.age.not_in([])).all())) == len(PEOPLE)


async def test_startswith_contains_match_user_input_literally(db):
    Person = await seeded(db)
    assert names(await db(Person.query().where(Person.c.note.startswith("50%")).all())) == ["Bob"]
    assert names(await db(Person.query().where(Person.c.note.contains("_")).all())) == ["cid"]
    assert await db(Person.query().where(Person.c.note.contains("%%")).all()) == []
    assert names(await db(Person.query().where(Person.c.note.endswith("'s")).all())) == ["dee"]


async def test_like_case_follows_the_database_and_ilike_ignores_it(db):
    Person = await seeded(db)
    like = names(await db(Person.query().where(Person.c.name.like("b%")).all()))
    # PostgreSQL's LIKE is case-sensitive; MySQL's default collation and SQLite's ASCII LIKE are not
    assert like == ([] if db.backend_name == "postgres" else ["Bob"])
    assert names(await db(Person.query().where(Person.c.name.ilike("b%")).all())) == ["Bob"]
    assert names(await db(Person.query().where(Person.c.email.ilike("%@EXAMPLE.COM")).order_by(Person.c.id).all())) == ["ann", "Bob", "dee"]


async def test_arithmetic_true_division_modulo_concat_and_cast(db):
    Person = await seeded(db)
    rows = await db(
        Person.query().select(
            Person.c.name,
            (Person.c.age / 2).alias("half"),
            (Person.c.age % 7).alias("rest"),
            (Person.c.name + "!" + Person.c.email).alias("label"),
            Person.c.age.cast(str).alias("age_text"),
            (-Person.c.age + 100).alias("left"),
        ).order_by(Person.c.id).to_dicts()
    )
    assert [r["name"] for r in rows] == [p[0] for p in PEOPLE]
    for row, person in zip(rows, PEOPLE):
        assert float(row["half"]) == pytest.approx(person[2] / 2)
        assert int(row["rest"]) == math.fmod(person[2], 7)
        assert row["label"] == f"{person[0]}!{person[1]}"
        assert row["age_text"] == str(person[2]) and isinstance(row["age_text"], str)
        assert int(row["left"]) == 100 - person[2]


async def test_result_types_of_functions_and_aggregates(db):
    Person = await seeded(db)
    rows = await db(
        Person.query().select(
            func.lower(Person.c.name).alias("low"),
            func.coalesce(Person.c.note, "-").alias("note"),
            func.length(Person.c.name).alias("n"),
            Person.c.age.cast(float).alias("f"),
            Person.c.balance,
            Person.c.born,
        ).order_by(Person.c.id).to_dicts()
    )
    assert rows[0] == {"low": "ann", "note": "-", "n": 3, "f": 31.0, "balance": Decimal("10.25"), "born": date(1993, 1, 5)}
    assert isinstance(rows[0]["f"], float)
    totals = await db(
        Person.query().select(
            func.count().alias("n"), func.sum(Person.c.age).alias("ages"),
            func.sum(Person.c.balance).alias("money"), func.max(Person.c.born).alias("latest"),
            func.avg(Person.c.score).alias("avg"),
        ).to_dicts()
    )
    assert totals == [{
        "n": 5, "ages": sum(p[2] for p in PEOPLE), "money": sum(Decimal(p[4]) for p in PEOPLE),
        "latest": max(p[6] for p in PEOPLE if p[6]), "avg": pytest.approx(sum(p[3] for p in PEOPLE) / 5),
    }]
    assert type(totals[0]["ages"]) is int and type(totals[0]["money"]) is Decimal
    assert type(totals[0]["latest"]) is date


async def test_values_compare_as_their_column_writes_them(db):
    Person = await seeded(db)
    found = await db(Person.query().where(Person.c.born > date(2000, 1, 1)).order_by(Person.c.id).all())
    assert names(found) == [p[0] for p in PEOPLE if p[6] and p[6] > date(2000, 1, 1)]
    rich = await db(Person.query().where(Person.c.balance >= Decimal("10.25")).order_by(Person.c.id).all())
    assert names(rich) == [p[0] for p in PEOPLE if Decimal(p[4]) >= Decimal("10.25")]


async def test_mixing_dicts_expressions_and_sql(db):
    Person = await seeded(db)
    query = (
        Person.query().where({"note": None}).where(Person.c.age >= 18)
        .where("email <> ?", ("nobody",)).or_where(Person.c.name == "cid")
    )
    assert names(await db(query.order_by(Person.c.id).all())) == [
        p[0] for p in PEOPLE if (p[5] is None and p[2] >= 18 and p[1] != "nobody") or p[0] == "cid"
    ]
    assert names(await db(Person.query().where(raw("age > ?", (40,)) & (Person.c.name != "dee")).all())) == ["cid"]


async def test_group_by_having_and_aggregates_take_expressions(db):
    Person = await seeded(db)
    decade = (Person.c.age - Person.c.age % 10).alias("decade")
    rows = await db(
        Person.query().select(decade, func.count().alias("n")).group_by(Person.c.age - Person.c.age % 10)
        .having(func.count() >= 1).order_by("decade").to_dicts()
    )
    expected: dict[int, int] = {}
    for p in PEOPLE:
        expected[p[2] - p[2] % 10] = expected.get(p[2] - p[2] % 10, 0) + 1
    assert [(int(r["decade"]), r["n"]) for r in rows] == sorted(expected.items())
    assert await db(Person.query().where(Person.c.age > 20).count(Person.c.note)) == sum(1 for p in PEOPLE if p[2] > 20 and p[5])
    assert await db(Person.query().sum(Person.c.age * 2)) == sum(p[2] * 2 for p in PEOPLE)
    assert await db(Person.query().max(Person.c.balance)) == max(Decimal(p[4]) for p in PEOPLE)
    limited = await db(Person.query().order_by(Person.c.age).limit(2).sum(Person.c.age))
    assert limited == sum(sorted(p[2] for p in PEOPLE)[:2])
    grouped = await db(
        Person.query().group_by("email").count(Person.c.id, "n").sum(Person.c.balance, "money").aggregate()
    )
    assert sorted((r["email"], r["n"], r["money"]) for r in grouped) == sorted((p[1], 1, Decimal(p[4])) for p in PEOPLE)


async def test_update_with_expressions_is_atomic(db):
    Person = await seeded(db)
    ann = await db(Person.find_one({"name": "ann"}))
    for _ in range(3):
        assert await db(Person.query().where(Person.c.id == ann.id).update({"views": Person.c.views + 1})) == 1
    await db(Person.query().where(Person.c.age > 40).update({Person.c.score: Person.c.score * 2, "note": "x"}))
    rows = {r.name: r for r in await db(Person.query().all())}
    assert rows["ann"].views == 3
    assert {n: r.score for n, r in rows.items()} == {p[0]: p[3] * (2 if p[2] > 40 else 1) for p in PEOPLE}
    assert {n for n, r in rows.items() if r.note == "x"} == {p[0] for p in PEOPLE if p[2] > 40}
    deleted = await db(Person.query().where(Person.c.age < 20).delete())
    assert deleted == sum(1 for p in PEOPLE if p[2] < 20)


async def test_where_keywords_where_not_first_last(db):
    Person = await seeded(db)
    assert names(await db(Person.query().where(name="cid", age=45).all())) == ["cid"]
    assert names(await db(Person.query().or_where(name="ann").or_where(name=["eve"]).order_by(Person.c.id).all())) == ["ann", "eve"]
    # NULL-safe: rows whose note is NULL are kept by where_not(note=...)
    kept = await db(Person.query().where_not(note="vip_1").order_by(Person.c.id).all())
    assert names(kept) == [p[0] for p in PEOPLE if p[5] != "vip_1"]
    assert names(await db(Person.query().where_not(note=None).order_by(Person.c.id).all())) == [p[0] for p in PEOPLE if p[5] is not None]
    assert names(await db(Person.query().where_not({"age": [17, 22], "name": "ann"}).order_by(Person.c.id).all())) == [p[0] for p in PEOPLE if p[2] not in (17, 22) or p[0] != "ann"]
    assert (await db(Person.query().first())).name == PEOPLE[0][0]
    assert (await db(Person.query().last())).name == PEOPLE[-1][0]
    by_age = sorted(PEOPLE, key=lambda p: p[2])
    assert (await db(Person.query().order_by(Person.c.age).first())).name == by_age[0][0]
    assert (await db(Person.query().order_by(Person.c.age).last())).name == by_age[-1][0]
    assert (await db(Person.query().order_by("-age").last())).name == by_age[0][0]
    assert await db(Person.query().where(Person.c.age > 100).first()) is None


async def test_nulls_first_and_last_on_every_database(db):
    Person = await seeded(db)
    first = await db(Person.query().order_by(Person.c.born.asc(nulls="first")).all())
    assert names(first)[0] == "dee"
    last = await db(Person.query().order_by(Person.c.born.desc(nulls="last")).all())
    assert names(last) == [p[0] for p in sorted((p for p in PEOPLE if p[6]), key=lambda p: p[6], reverse=True)] + ["dee"]


async def test_refusals_before_anything_is_sent(db):
    Person = await seeded(db)
    with pytest.raises(StatementInvalid, match="params"):
        Person.query().where(Person.c.age > 1, (1,))
    with pytest.raises(TypeError, match="parenthesise"):
        Person.query().where((Person.c.age > 1) and (Person.c.age < 3))
    with pytest.raises(AttributeError, match="its columns are"):
        Person.c.nope  # noqa: B018
    with pytest.raises(StatementInvalid, match="window function"):
        Person.query().where(func.rank().over(order_by=Person.c.age) == 1)


async def test_modulo_takes_the_dividends_sign_and_datetimes_compare_as_written(db):
    from datetime import datetime
    from uuid import UUID, uuid4

    class Tick(db.Base):
        __table_name__ = "ticks"
        id: Optional[int] = None
        n: int
        at: datetime
        token: UUID

    await db.create(Tick)
    tokens = [uuid4() for _ in range(3)]
    values = [(-7, datetime(2024, 1, 1, 9, 30)), (7, datetime(2024, 1, 2, 10, 0)), (-8, datetime(2024, 1, 3, 0, 0, 0, 5))]
    for (n, at), token in zip(values, tokens):
        await db(Tick.create(n=n, at=at, token=token))
    rests = await db(Tick.query().order_by(Tick.c.id).pluck((Tick.c.n % 3).alias("r")))
    assert [int(r) for r in rests] == [int(math.fmod(n, 3)) for n, _ in values]
    later = await db(Tick.query().where(Tick.c.at > datetime(2024, 1, 2, 10, 0)).pluck(Tick.c.n))
    assert later == [n for n, at in values if at > datetime(2024, 1, 2, 10, 0)]
    assert await db(Tick.query().where(Tick.c.token == tokens[1]).pluck(Tick.c.n)) == [7]
    assert await db(Tick.query().where(Tick.c.token.in_([tokens[0], tokens[2]])).order_by(Tick.c.id).pluck(Tick.c.token)) == [tokens[0], tokens[2]]


async def test_raw_with_values_as_a_group_key_and_in_aggregates(db):
    """raw(sql, params) where an expression goes (API.md §12): as a group key, selected
    and grouped (PostgreSQL binds the two `?` apart, so the key is grouped by position),
    and as what an aggregate takes."""
    Person = await seeded(db)
    initial = raw("LOWER(SUBSTR(name, 1, ?))", (1,))
    expected: dict[str, int] = {}
    for p in PEOPLE:
        expected[p[0][0].lower()] = expected.get(p[0][0].lower(), 0) + 1
    rows = await db(Person.query().group_by(initial).count().aggregate())
    assert sorted((r["LOWER(SUBSTR(name, 1, ?))"], r["count"]) for r in rows) == sorted(expected.items())
    rows = await db(Person.query().select(initial).group_by(initial).count("*", "n").aggregate())
    assert sorted((r["LOWER(SUBSTR(name, 1, ?))"], r["n"]) for r in rows) == sorted(expected.items())
    older = raw("age > ?", (30,))
    rows = await db(Person.query().group_by(older).count().where(Person.c.age > 0).aggregate())
    assert sorted((bool(r["age > ?"]), r["count"]) for r in rows) == [(False, 2), (True, 3)]
    total = await db(Person.query().sum(raw("age + ?", (1,))))
    assert int(total) == sum(p[2] + 1 for p in PEOPLE)
    per_email = await db(
        Person.query().group_by("email").sum(raw("age * ?", (2,)), "twice").aggregate())
    assert sorted((r["email"], int(r["twice"])) for r in per_email) == sorted((p[1], p[2] * 2) for p in PEOPLE)
    # select() text keeps the name the database gives it (its AS label here)
    named = await db(Person.query().select("name", "COUNT(*) AS n").group_by("name")
                     .sum(Person.c.age, "s").aggregate())
    assert sorted((r["name"], r["n"], r["s"]) for r in named) == sorted((p[0], 1, p[2]) for p in PEOPLE)
