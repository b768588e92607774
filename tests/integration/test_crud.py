"""CRUD scenarios (API.md §1, §3), run in every backend x kind combination."""

from __future__ import annotations

import logging
from typing import Optional

import pytest
from pydantic import Field, ValidationError

from twinrecord import ConfigurationError, RecordInvalid, RecordNotFound


def user_model(db):
    class User(db.Base):
        __table_name__ = "users"
        id: Optional[int] = None
        name: str = Field(max_length=50)
        email: str = Field(max_length=100)
        is_active: bool = True

        def get_full_info(self) -> str:
            return f"{self.name} <{self.email}>"

    return User


async def test_save_inserts_and_sets_primary_key(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="John Doe", email="john@example.com")
    assert user.is_new_record and user.is_dirty
    assert await db(user.save()) == 1
    assert isinstance(user.id, int)
    assert not user.is_new_record and not user.is_dirty
    found = await db(User.find_one(user.id))
    assert found == user and found.get_full_info() == "John Doe <john@example.com>"


async def test_update_writes_only_dirty_columns_and_reports_rows(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="a", email="a@x")
    await db(user.save())
    assert await db(user.save()) == 0                     # nothing dirty, nothing sent
    user.name = "b"
    assert user.dirty_attributes == {"name"}
    # Someone else changes the email; our update must not overwrite it.
    await db(User.query().where({"id": user.id}).update({"email": "other@x"}))
    assert await db(user.save()) == 1
    fresh = await db(User.find_one(user.id))
    assert (fresh.name, fresh.email) == ("b", "other@x")


async def test_update_with_unchanged_value_still_reports_one(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="a", email="a@x")
    await db(user.save())
    assert await db(User.query().where({"id": user.id}).update({"name": "a"})) == 1


async def test_find_one_by_dict_and_or_fail(db):
    User = user_model(db)
    await db.create(User)
    await db(User(name="a", email="a@x").save())
    assert (await db(User.find_one({"email": "a@x"}))).name == "a"
    assert await db(User.find_one({"email": "nobody"})) is None
    assert await db(User.find_one(999)) is None
    with pytest.raises(RecordNotFound):
        await db(User.find_one_or_fail(999))


async def test_find_all(db):
    User = user_model(db)
    await db.create(User)
    for name in ("a", "b", "b"):
        await db(User(name=name, email=f"{name}@x").save())
    assert len(await db(User.find_all())) == 3
    assert [u.name for u in await db(User.find_all({"name": "b"}))] == ["b", "b"]


async def test_delete_leaves_record_new_and_second_delete_returns_zero(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="a", email="a@x")
    await db(user.save())
    key = user.id
    assert await db(user.delete()) == 1
    assert user.is_new_record and user.id == key
    assert await db(User.find_one(key)) is None
    other = User(id=key, name="a", email="a@x")
    assert await db(other.delete()) == 0
    assert await db(user.save()) == 1                     # inserted anew with its key
    assert (await db(User.find_one(key))).name == "a"


async def test_save_of_vanished_row_returns_zero(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="a", email="a@x")
    await db(user.save())
    await db(User.query().where({"id": user.id}).delete())
    user.name = "changed"
    assert await db(user.save()) == 0
    assert user.is_dirty and user.name == "changed"


async def test_record_constructed_with_key_is_inserted_with_it(db):
    User = user_model(db)
    await db.create(User)
    user = User(id=42, name="a", email="a@x")
    assert user.is_new_record
    assert await db(user.save()) == 1
    assert (await db(User.find_one(42))).email == "a@x"


async def test_refresh_discards_unsaved_changes(db):
    User = user_model(db)
    await db.create(User)
    user = User(name="a", email="a@x")
    await db(user.save())
    await db(User.query().where({"id": user.id}).update({"email": "new@x"}))
    user.name = "unsaved"
    await db(user.refresh())
    assert (user.name, user.email) == ("a", "new@x")
    assert not user.is_dirty


async def test_validation_on_assignment_and_before_save(db):
    User = user_model(db)
    await db.create(User)
    with pytest.raises(ValidationError):
        User(name="x" * 51, email="a@x")
    user = User(name="a", email="a@x")
    with pytest.raises(ValidationError):
        user.name = "x" * 51
    # Bypass assignment validation (model_copy(update=) does not validate): save() must
    # still refuse, writing nothing.
    user = user.model_copy(update={"name": "x" * 51})
    with pytest.raises(RecordInvalid) as caught:
        await db(user.save())
    assert caught.value.errors()[0]["loc"] == ("name",)
    assert "name" in str(caught.value)
    assert await db(User.query().count()) == 0


async def test_insert_many_sets_keys_and_validates_first(db):
    User = user_model(db)
    await db.create(User)
    users = [User(name=f"u{i}", email=f"{i}@x") for i in range(250)]
    assert await db(User.insert_many(users)) == 250
    keys = [u.id for u in users]
    assert len(set(keys)) == 250 and all(isinstance(k, int) for k in keys)
    for user in (users[0], users[137], users[-1]):
        assert (await db(User.find_one(user.id))).name == user.name
    assert not users[5].is_new_record
    bad = [User(name="ok", email="ok@x"), User(name="ok2", email="ok2@x")]
    bad[1] = bad[1].model_copy(update={"name": "x" * 99})  # unvalidated
    with pytest.raises(RecordInvalid):
        await db(User.insert_many(bad))
    assert await db(User.query().count()) == 250


async def test_loaded_records_behave_as_pydantic_models(db):
    import copy

    User = user_model(db)
    await db.create(User)
    await db(User(name="a", email="a@x").save())
    loaded = await db(User.find_one({"email": "a@x"}))
    assert loaded.model_fields_set == set(User.model_fields)
    assert loaded.model_dump(exclude_unset=True) == loaded.model_dump()
    assert dict(loaded) == loaded.model_dump()
    assert loaded.model_dump_json().startswith('{"id":')
    for clone in (loaded.model_copy(), copy.copy(loaded), copy.deepcopy(loaded)):
        assert clone == loaded and clone is not loaded
    loaded.name = "b"
    assert loaded.model_fields_set == set(User.model_fields)
    assert User.model_validate(loaded.model_dump()).is_new_record
    assert not hasattr(loaded, "no_such_attribute")


async def test_a_models_own_private_attributes_survive_save(db):
    from pydantic import PrivateAttr

    class Note(db.Base):
        __table_name__ = "notes"
        id: Optional[int] = None
        text: str
        _draft: str = PrivateAttr(default="")

    await db.create(Note)
    note = Note(text="a")
    note._draft = "unsaved thoughts"
    await db(note.save())
    note.text = "b"
    await db(note.save())
    assert note._draft == "unsaved thoughts" and not note.is_dirty


async def test_loaded_records_track_changes_made_any_supported_way(db):
    from pydantic import PrivateAttr

    class Tag(db.Base):
        __table_name__ = "tags"
        id: Optional[int] = None
        label: str
        uses: int = 0
        _note: str = PrivateAttr(default="none")
        _seen: list = PrivateAttr(default_factory=list)

    await db.create(Tag)
    await db(Tag.insert_many([Tag(label="a"), Tag(label="b")]))
    first, second = await db(Tag.query().order_by("id").all())
    assert not first.is_dirty and first._note == "none"    # private defaults on loaded records
    first._seen.append("x")
    assert second._seen == [] and first._seen == ["x"]      # a factory's value per record
    second._note = "set before any field change"
    assert not second.is_dirty
    copied = first.model_copy(update={"label": "z"})
    assert copied.dirty_attributes == {"label"} and not first.is_dirty
    first.uses += 1
    first.uses += 1
    assert first.dirty_attributes == {"uses"}
    assert await db(first.save()) == 1 and not first.is_dirty
    assert (await db(Tag.find_one(first.id))).uses == 2
    assert await db(copied.save()) == 1                     # updates the same row's label
    assert (await db(Tag.find_one(first.id))).label == "z"


async def test_saving_a_loaded_record_whose_key_was_set_to_none_is_refused(db, caplog):
    User = user_model(db)
    await db.create(User)
    user = User(name="ann", email="a@x")
    await db(user.save())
    loaded = await db(User.find_one(user.id))
    loaded.id = None
    loaded.name = "copy"
    with (
        caplog.at_level(logging.DEBUG, logger="twinrecord.sql"),
        pytest.raises(ConfigurationError, match=r"use dup\(\) to copy a record"),
    ):
        await db(loaded.save())
    assert [r for r in caplog.records if r.name == "twinrecord.sql"] == []  # nothing sent
    assert [u.name for u in await db(User.find_all())] == ["ann"]
