"""Schema and type round-trip scenarios (API.md §1, §8), every backend x kind."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Optional
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


def everything_model(db):
    class Everything(db.Base):
        __table_name__ = "everything"
        id: Optional[int] = None
        flag: bool
        count: int
        ratio: float
        money: Decimal
        price: Decimal = Field(max_digits=10, decimal_places=2)
        title: str = Field(max_length=40)
        body: str
        at: datetime
        at_tz: AwareDatetime
        day: date
        clock: time
        ident: UUID
        blob: bytes
        color: Color
        priority: Priority
        data: dict
        items: list
        maybe: Optional[str] = None

    return Everything


def sample(Everything):
    return Everything(
        flag=True,
        count=2**40 + 3,
        ratio=0.1 + 0.2,
        money=Decimal("12345678901234567890.0123456789"),
        price=Decimal("19.99"),
        title="naïve ☃ title",
        body="x" * 5000,
        at=datetime(2024, 2, 29, 13, 14, 15, 123456),
        at_tz=datetime(2024, 6, 1, 12, 0, 0, 654321, tzinfo=timezone(timedelta(hours=2))),
        day=date(1999, 12, 31),
        clock=time(23, 59, 58, 999999),
        ident=uuid4(),
        blob=b"\x00\xff binary",
        color=Color.GREEN,
        priority=Priority.HIGH,
        data={"a": 1, "nested": {"b": [1, 2]}},
        items=[1, "two", None],
    )


async def test_values_round_trip_exactly(db):
    Everything = everything_model(db)
    await db.create(Everything)
    original = sample(Everything)
    await db(original.save())
    loaded = await db(Everything.find_one(original.id))
    for name in Everything.model_fields:
        if name == "at_tz":
            continue
        assert getattr(loaded, name) == getattr(original, name), name
        assert type(getattr(loaded, name)) is type(getattr(original, name)), name
    assert loaded.at_tz == original.at_tz
    assert loaded.at_tz.utcoffset() == timedelta(0)
    assert loaded.at.microsecond == 123456
    assert str(loaded.money) == "12345678901234567890.0123456789"
    assert not loaded.is_dirty


async def test_in_place_change_of_json_value_is_dirty_and_saved(db):
    Everything = everything_model(db)
    await db.create(Everything)
    record = sample(Everything)
    await db(record.save())
    loaded = await db(Everything.find_one(record.id))
    loaded.data["a"] = 2
    loaded.items.append(4)
    assert loaded.dirty_attributes == {"data", "items"}
    assert await db(loaded.save()) == 1
    again = await db(Everything.find_one(record.id))
    assert again.data["a"] == 2 and again.items[-1] == 4


async def test_null_values_and_queries_by_typed_values(db):
    Everything = everything_model(db)
    await db.create(Everything)
    record = sample(Everything)
    await db(record.save())
    assert (await db(Everything.find_one(record.id))).maybe is None
    assert await db(Everything.query().where({"ident": record.ident}).count()) == 1
    assert await db(Everything.query().where({"color": Color.GREEN}).count()) == 1
    assert await db(Everything.query().where({"day": date(1999, 12, 31)}).count()) == 1
    assert await db(Everything.query().where({"flag": True}).count()) == 1
    assert await db(Everything.query().where("at = ?", (record.at,)).count()) == 1


async def test_insert_many_round_trips_types(db):
    Everything = everything_model(db)
    await db.create(Everything)
    records = [sample(Everything) for _ in range(3)]
    await db(Everything.insert_many(records))
    loaded = await db(Everything.query().order_by("id").all())
    assert [r.ident for r in loaded] == [r.ident for r in records]
    assert loaded[0].data == records[0].data


async def test_create_table_adds_no_extra_columns_and_is_idempotent(db):
    Everything = everything_model(db)
    await db.create(Everything)
    await db(Everything.create_table(if_not_exists=True))
    row = await db(Everything.backend().fetch_all("SELECT * FROM everything"))
    assert row == []
    record = sample(Everything)
    await db(record.save())
    columns = set(await db(Everything.backend().fetch_one("SELECT * FROM everything")))
    assert columns == set(Everything.model_fields)


async def test_drop_table(db):
    Everything = everything_model(db)
    await db.create(Everything)
    await db(Everything.drop_table())
    await db(Everything.drop_table(if_exists=True))


async def test_string_and_composite_primary_keys(db):
    class Country(db.Base):
        __table_name__ = "countries"
        __primary_key__ = "code"
        code: str = Field(max_length=2)
        name: str

    class Membership(db.Base):
        __table_name__ = "memberships"
        __primary_key__ = ("group_id", "user_id")
        group_id: int
        user_id: int
        role: str

    await db.create(Country, Membership)
    await db(Country(code="FR", name="France").save())
    assert (await db(Country.find_one("FR"))).name == "France"
    await db(Membership(group_id=1, user_id=2, role="admin").save())
    await db(Membership(group_id=1, user_id=3, role="member").save())
    found = await db(Membership.find_one((1, 3)))
    assert found.role == "member" and found.primary_key_value() == (1, 3)
    assert (await db(Country.find_one("FR"))).primary_key_value() == "FR"
    assert (await db(Membership.find_one({"group_id": 1, "user_id": 2}))).role == "admin"
    assert (await db(Membership.find_one_or_fail((1, 2)))).role == "admin"
    found.role = "owner"
    assert await db(found.save()) == 1
    assert (await db(Membership.find_one((1, 3)))).role == "owner"
    assert await db(found.delete()) == 1
    assert await db(Membership.query().count()) == 1


async def test_default_table_names(db):
    class Category(db.Base):
        id: Optional[int] = None
        name: str

    class Address(db.Base):
        id: Optional[int] = None
        line: str

    class PostTag(db.Base):
        id: Optional[int] = None
        tag: str

    assert Category._meta().table == "categories"
    assert Address._meta().table == "addresses"
    assert PostTag._meta().table == "post_tags"
    await db.create(Category)
    await db(Category(name="x").save())
    assert await db(Category.query().count()) == 1


# ---- time zones (API.md §8) --------------------------------------------------------------
def moment_model(db):
    class Moment(db.Base):
        __table_name__ = "moments"
        id: Optional[int] = None
        label: str = Field(max_length=10)
        plain: datetime
        aware: AwareDatetime

    return Moment


PLUS_TWO = timezone(timedelta(hours=2))
NOON_PLUS_TWO = datetime(2024, 6, 1, 12, 0, 0, 654321, tzinfo=PLUS_TWO)
TEN_UTC_NAIVE = datetime(2024, 6, 1, 10, 0, 0, 654321)
TEN_UTC = TEN_UTC_NAIVE.replace(tzinfo=UTC)


def assert_utc_instants(moment):
    assert moment.plain == TEN_UTC_NAIVE and moment.plain.tzinfo is None
    assert moment.aware == TEN_UTC and moment.aware.utcoffset() == timedelta(0)
    assert moment.aware.replace(tzinfo=None) == TEN_UTC_NAIVE  # UTC, not shifted
    assert moment.plain.microsecond == moment.aware.microsecond == 654321


async def test_aware_values_keep_their_instant_as_utc_on_every_database(db):
    Moment = moment_model(db)
    await db.create(Moment)
    async with db.transaction(Moment):
        if db.backend_name == "postgres":
            # A session time zone other than UTC must not shift anything.
            await db(Moment.backend().execute("SET LOCAL TIME ZONE 'Europe/Berlin'"))
        saved = Moment(label="save", plain=NOON_PLUS_TWO, aware=NOON_PLUS_TWO)
        await db(saved.save())
        await db(Moment.insert_many([Moment(label="many", plain=NOON_PLUS_TWO, aware=NOON_PLUS_TWO)]))
        changed = Moment(label="update", plain=datetime(2000, 1, 1), aware=TEN_UTC)
        await db(changed.save())
        changed.plain = NOON_PLUS_TWO
        await db(changed.save())
        loaded = await db(Moment.query().order_by("label").all())
        assert [m.label for m in loaded] == ["many", "save", "update"]
        for moment in loaded:
            assert_utc_instants(moment)
        # A dict condition writes its value as the column does: the same instant matches.
        assert await db(Moment.query().where({"plain": NOON_PLUS_TWO}).count()) == 3
        assert await db(Moment.query().where({"aware": NOON_PLUS_TWO}).count()) == 3
    rows = await db(Moment.query().where({"label": "save"}).to_dicts())
    assert rows[0]["plain"] == TEN_UTC_NAIVE and rows[0]["aware"] == TEN_UTC


async def test_stored_datetimes_are_utc_for_other_readers(db):
    Moment = moment_model(db)
    await db.create(Moment)
    await db(Moment(label="x", plain=NOON_PLUS_TWO, aware=NOON_PLUS_TWO).save())
    if db.backend_name == "postgres":
        sql = "SELECT plain::text AS plain, (aware AT TIME ZONE 'UTC')::text AS aware FROM moments"
    elif db.backend_name == "mysql":
        sql = "SELECT CAST(plain AS CHAR) AS plain, CAST(aware AS CHAR) AS aware FROM moments"
    else:
        sql = "SELECT plain, aware FROM moments"
    row = await db(Moment.backend().fetch_one(sql))
    assert row["plain"].startswith("2024-06-01 10:00:00.654321")
    assert row["aware"].startswith("2024-06-01 10:00:00.654321")


async def test_decimals_read_back_the_same_on_every_database(db):
    """An undeclared scale cannot survive MySQL's DECIMAL(38,10), so every database reads
    such a value in its shortest form; a declared `decimal_places` is the scale on all."""

    class Money(db.Base):
        __table_name__ = "decimal_scales"
        id: Optional[int] = None
        exact: Decimal
        price: Decimal = Field(max_digits=12, decimal_places=2)

    await db.create(Money)
    written = [("-12.50", "-12.5"), ("12.5", "12.50"), ("1E+2", "100"), ("0.000", "0")]
    for exact, price in written:
        await db(Money(exact=Decimal(exact), price=Decimal(price)).save())
    rows = await db(Money.query().order_by("id").all())
    assert [(str(r.exact), str(r.price)) for r in rows] == [
        ("-12.5", "-12.50"), ("12.5", "12.50"), ("100", "100.00"), ("0", "0.00")]
    plucked = await db(Money.query().order_by("id").pluck("exact"))
    assert [str(v) for v in plucked] == ["-12.5", "12.5", "100", "0"]
