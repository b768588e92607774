"""API.md §3's create() and dup(), §15's previously_new_record, §22's reserved names;
run in every backend x kind combination."""

from __future__ import annotations

import warnings
from typing import Optional

import pytest
from pydantic import Field

from twinrecord import ConfigurationError, RecordInvalid


def item_model(db):
    class Item(db.Base):
        __table_name__ = "items"
        id: Optional[int] = None
        name: str = Field(max_length=20)
        tags: list[str] = []

    return Item


async def test_create_constructs_saves_and_returns_the_record(db):
    Item = item_model(db)
    await db.create(Item)
    item = await db(Item.create(name="a", tags=["x"]))
    assert isinstance(item, Item) and isinstance(item.id, int)
    assert not item.is_new_record and not item.is_dirty
    rows = await db(Item.backend().fetch_all("SELECT id, name FROM items"))
    assert rows == [{"id": item.id, "name": "a"}]


async def test_create_validates_and_writes_nothing_when_invalid(db):
    Item = item_model(db)
    await db.create(Item)
    with pytest.raises(Exception) as caught:  # Pydantic's ValidationError at construction
        await db(Item.create(name="x" * 21))
    assert "name" in str(caught.value)
    assert await db(Item.query().count()) == 0


async def test_dup_is_a_new_unsaved_copy_without_the_key(db):
    Item = item_model(db)
    await db.create(Item)
    item = await db(Item.create(name="a", tags=["x"]))
    copy = item.dup()  # not awaited on either kind
    assert type(copy) is Item
    assert copy.is_new_record and copy.id is None
    assert (copy.name, copy.tags) == ("a", ["x"])
    copy.tags.append("y")  # the copy's mutable values are its own
    assert item.tags == ["x"] and not item.is_dirty
    assert await db(copy.save()) == 1
    assert copy.id != item.id
    names = await db(Item.backend().fetch_all("SELECT id FROM items ORDER BY id"))
    assert [r["id"] for r in names] == sorted([item.id, copy.id])


async def test_dup_of_a_new_record_with_its_key_set_drops_the_key(db):
    Item = item_model(db)
    await db.create(Item)
    copy = Item(id=41, name="b").dup()
    assert copy.id is None and copy.name == "b"


async def test_previously_new_record_follows_saves_deletes_and_refreshes(db):
    Item = item_model(db)
    await db.create(Item)
    item = Item(name="a")
    assert item.previously_new_record is False
    await db(item.save())
    assert item.previously_new_record is True  # this save inserted
    assert await db(item.save()) == 0  # a clean save is still a save
    assert item.previously_new_record is False
    created = await db(Item.create(name="b"))
    assert created.previously_new_record is True
    created.name = "c"
    await db(created.save())  # an update
    assert created.previously_new_record is False
    other = await db(Item.create(name="d"))
    await db(other.refresh())
    assert other.previously_new_record is False
    last = await db(Item.create(name="e"))
    await db(last.delete())
    assert last.previously_new_record is False
    loaded = await db(Item.find_one(item.id))
    assert loaded.previously_new_record is False


async def test_saving_a_record_constructed_with_its_key_reports_previously_new(db):
    Item = item_model(db)
    await db.create(Item)
    item = Item(id=7, name="a")
    await db(item.save())
    assert item.previously_new_record is True and item.id == 7


RESERVED = ["c", "aio", "sync", "extras", "touch", "restore", "hard_delete", "dup",
            "is_deleted", "previously_new_record"]


@pytest.mark.parametrize("name", RESERVED)
async def test_reserved_names_cannot_be_fields(db, name):
    with pytest.raises(ConfigurationError, match="reserved") as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pydantic's own "shadows an attribute" warning
        type(
            "Clash",
            (db.Base,),
            {"__annotations__": {"id": Optional[int], name: int}, "id": None, name: 0},
        )
    assert name in str(caught.value)


async def test_invalid_create_raises_record_invalid_for_model_validators(db):
    from pydantic import model_validator

    class Checked(db.Base):
        __table_name__ = "checked"
        id: Optional[int] = None
        low: int
        high: int

        @model_validator(mode="after")
        def ordered(self):
            if self.low > self.high:
                raise ValueError("low > high")
            return self

    await db.create(Checked)
    record = await db(Checked.create(low=1, high=2))
    record = record.model_copy(update={"low": 5})  # unvalidated; save validates again
    with pytest.raises(RecordInvalid):
        await db(record.save())
