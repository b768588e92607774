"""Lifecycle events (API.md §16), run in every backend x kind combination.

Order is checked by recording calls (and the statements sent, from the `twinrecord.sql`
logger, into the same list); a failed span's restore is checked field by field.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Optional

import pytest
from pydantic import Field, ValidationError, model_validator

import twinrecord
from twinrecord import (
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    ConfigurationError,
    ModelEvent,
    RecordInvalid,
    after_delete,
    after_insert,
    before_delete,
    before_save,
    before_validate,
)

TEN = [
    "before_validate", "after_validate", "before_save", "after_save", "before_insert",
    "after_insert", "before_update", "after_update", "before_delete", "after_delete",
]
WRITES = ("INSERT", "UPDATE", "DELETE")
CONTROL = ("BEGIN", "START TRANSACTION", "SAVEPOINT", "COMMIT", "ROLLBACK", "RELEASE")


class Journal(logging.Handler):
    """Handler calls and statements sent, in one list, in the order they happened."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.entries: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        sql = record.getMessage().split(" | ")[0].strip()
        if sql.startswith("SET TRANSACTION"):
            return
        for word in WRITES + CONTROL:
            if sql.upper().startswith(word):
                self.entries.append(word if word in WRITES else f"tx:{word}")
                return
        self.entries.append("SELECT" if sql.upper().startswith("SELECT") else sql)

    def __call__(self, name: str):
        """A handler recording `name` when called."""

        def handler(record) -> None:
            self.entries.append(name)

        handler.__qualname__ = name
        return handler

    def take(self) -> list[str]:
        taken, self.entries[:] = list(self.entries), []
        return taken


@pytest.fixture
def journal() -> Iterator[Journal]:
    logger = logging.getLogger("twinrecord.sql")
    handler = Journal()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def recorded_model(db, journal):
    """A model with a decorated handler for every event, each recording its name."""

    class Note(db.Base):
        __table_name__ = "notes"
        id: Optional[int] = None
        title: str = Field(max_length=20)
        body: str = ""

        @model_validator(mode="after")
        def _record_validation(self):
            journal.entries.append("validation")
            return self

    for name in TEN:
        decorator = getattr(twinrecord, name)
        method = decorator(journal(name))
        setattr(Note, f"_on_{name}", method)
    # Decorated after class creation: register through on() in the same order instead.
    for name in TEN:
        Note.on(name, journal(name))
    return Note


def _without_control(entries: list[str]) -> list[str]:
    return [e for e in entries if not e.startswith("tx:")]


def twice(names: list[str]) -> list[str]:
    """Each event name twice (the decorated handler, then the on() one)."""
    return [n for name in names for n in ([name] * (2 if name in TEN else 1))]


# ---- declaring --------------------------------------------------------------------------
def test_ten_decorators_and_model_event_are_importable():
    assert [getattr(twinrecord, n).__name__ for n in TEN] == TEN
    assert [e.value for e in ModelEvent] == TEN
    assert isinstance(ModelEvent.BEFORE_SAVE, str) and ModelEvent.BEFORE_SAVE == "before_save"


async def test_decorated_method_changes_fields_before_the_insert(db):
    class User(db.Base):
        __table_name__ = "ev_users"
        id: Optional[int] = None
        email: str

        @before_save
        def normalise_email(self) -> None:
            self.email = self.email.strip().lower()

    await db.create(User)
    user = User(email="  Ann@Example.COM ")
    assert await db(user.save()) == 1
    assert user.email == "ann@example.com"
    rows = await db(User.backend().fetch_all("SELECT email FROM ev_users"))
    assert rows == [{"email": "ann@example.com"}]


async def test_new_record_order(db, journal):
    Note = recorded_model(db, journal)
    await db.create(Note)
    note = Note(title="a")
    journal.take()
    await db(note.save())
    assert _without_control(journal.take()) == twice([
        "before_validate", "validation", "after_validate", "before_save", "before_insert",
        "INSERT", "after_insert", "after_save",
    ])


async def test_loaded_record_order_dirty_clean_and_vanished(db, journal):
    Note = recorded_model(db, journal)
    await db.create(Note)
    await db(Note(title="a").save())
    note = await db(Note.find_one({"title": "a"}))
    note.body = "changed"  # assignment validation runs the model validator too
    journal.take()
    assert await db(note.save()) == 1
    assert _without_control(journal.take()) == twice([
        "before_validate", "validation", "after_validate", "before_save", "before_update",
        "UPDATE", "after_update", "after_save",
    ])
    # Clean: validate and save handlers, no update ones, nothing written.
    assert await db(note.save()) == 0
    assert _without_control(journal.take()) == twice([
        "before_validate", "validation", "after_validate", "before_save", "after_save",
    ])
    # Vanished row: 0, and neither after_update nor after_save.
    await db(Note.backend().execute("DELETE FROM notes"))
    note.body = "again"
    journal.take()
    assert await db(note.save()) == 0
    assert _without_control(journal.take()) == twice([
        "before_validate", "validation", "after_validate", "before_save", "before_update",
        "UPDATE",
    ])
    assert note.is_dirty  # left as it was


async def test_delete_order_and_no_after_delete_without_a_row(db, journal):
    Note = recorded_model(db, journal)
    await db.create(Note)
    note = Note(title="a")
    await db(note.save())
    journal.take()
    assert await db(note.delete()) == 1
    assert _without_control(journal.take()) == [
        "before_delete", "before_delete", "DELETE", "after_delete", "after_delete",
    ]
    loaded = Note(title="b")
    await db(loaded.save())
    await db(Note.backend().execute("DELETE FROM notes"))
    journal.take()
    assert await db(loaded.delete()) == 0
    assert _without_control(journal.take()) == ["before_delete", "before_delete", "DELETE"]


async def test_order_bases_and_mixins_first_then_own_then_on_registrations(db):
    calls: list[str] = []

    class Stamping:  # a plain mixin carrying a handler
        @before_save
        def mixin_handler(self) -> None:
            calls.append("mixin")

    class Base(Stamping, db.Base):
        @before_save
        def base_handler(self) -> None:
            calls.append("base")

    class Thing(Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

        @before_save
        def second(self) -> None:
            calls.append("own-1")

        @before_save
        def first_by_name_second_by_place(self) -> None:
            calls.append("own-2")

    Thing.on("before_save", lambda r: calls.append("on-1"))
    Base.on(ModelEvent.BEFORE_SAVE, lambda r: calls.append("on-2 (base)"))
    Thing.on("before_save", lambda r: calls.append("on-3"))
    await db.create(Thing)
    await db(Thing().save())
    assert calls == ["mixin", "base", "own-1", "own-2", "on-1", "on-2 (base)", "on-3"]


async def test_on_as_decorator_and_off(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Thing)
    audit: list[int] = []

    @Thing.on("after_delete")
    def remember(record) -> None:
        audit.append(record.id)

    thing = Thing()
    await db(thing.save())
    kept = thing.id
    await db(thing.delete())
    assert audit == [kept]
    Thing.off("after_delete", remember)
    other = Thing()
    await db(other.save())
    await db(other.delete())
    assert audit == [kept]  # removed: not called again
    with pytest.raises(ConfigurationError, match="not registered"):
        Thing.off("after_delete", remember)


async def test_unknown_event_name_lists_the_ten(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

    for call in (lambda: Thing.on("before_frobnicate", print),
                 lambda: Thing.off("after_commit", print)):
        with pytest.raises(ConfigurationError) as caught:
            call()
        assert all(name in str(caught.value) for name in TEN)


# ---- what a handler may do ----------------------------------------------------------------
async def test_assignments_in_handlers_are_validated_at_once(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = Field(max_length=5)

        @before_save
        def too_long(self) -> None:
            self.name = "far too long"

    await db.create(Thing)
    thing = Thing(name="ok")
    with pytest.raises(ValidationError):
        await db(thing.save())
    assert await db(Thing.query().count()) == 0
    assert thing.name == "ok" and thing.is_new_record


async def test_changes_in_before_validate_go_through_the_saves_validation(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        tags: list[str] = Field(default_factory=list, max_length=2)

        @before_validate
        def add_tags(self) -> None:
            self.tags.extend(["a", "b", "c"])  # in place: only the save's validation sees it

    await db.create(Thing)
    with pytest.raises(RecordInvalid):
        await db(Thing().save())
    assert await db(Thing.query().count()) == 0


@pytest.mark.parametrize("event", ["before_validate", "after_validate", "before_save",
                                   "before_insert"])
async def test_raising_in_a_before_handler_aborts_the_insert(db, event):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Thing)
    refusal = RecordInvalid("refused by handler", [])

    def refuse(record) -> None:
        raise refusal

    Thing.on(event, refuse)
    thing = Thing()
    with pytest.raises(RecordInvalid) as caught:
        await db(thing.save())
    assert caught.value is refusal  # propagates unchanged
    assert await db(Thing.query().count()) == 0
    assert thing.is_new_record and thing.id is None


@pytest.mark.parametrize("event", ["before_update", "before_save"])
async def test_raising_in_before_update_writes_nothing(db, event):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Thing)
    thing = Thing()
    await db(thing.save())
    Thing.on(event, lambda r: (_ for _ in ()).throw(LookupError("no")))
    thing.name = "y"
    with pytest.raises(LookupError, match="no"):
        await db(thing.save())
    assert (await db(Thing.backend().fetch_one("SELECT name FROM things")))["name"] == "x"
    assert thing.name == "y" and thing.dirty_attributes == {"name"}


async def test_raising_in_before_delete_deletes_nothing(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

        @before_delete
        def keep(self) -> None:
            raise PermissionError("kept")

    await db.create(Thing)
    thing = Thing()
    await db(thing.save())
    with pytest.raises(PermissionError):
        await db(thing.delete())
    assert await db(Thing.query().count()) == 1
    assert not thing.is_new_record


async def test_handlers_read_and_save_other_records_in_the_same_transaction(db):
    class Audit(db.Base):
        __table_name__ = "audits"
        id: Optional[int] = None
        what: str

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Audit, Thing)
    seen: list[int] = []
    if db.is_async:
        async def audit(record) -> None:
            seen.append(await Audit.query().count())
            await Audit(what=f"saved {record.id}").save()
    else:
        def audit(record) -> None:
            seen.append(Audit.query().count())
            Audit(what=f"saved {record.id}").save()
    Thing.on("after_save", audit)
    thing = Thing()
    await db(thing.save())
    assert seen == [0]
    assert [a.what for a in await db(Audit.find_all())] == [f"saved {thing.id}"]

    # A later handler fails: the audit row written by the first one is rolled back too.
    Thing.on("after_save", lambda r: (_ for _ in ()).throw(RuntimeError("late")))
    with pytest.raises(RuntimeError, match="late"):
        await db(Thing(name="y").save())
    assert await db(Audit.query().count()) == 1
    assert await db(Thing.query().count()) == 1


async def test_save_or_delete_of_the_record_being_saved_is_refused(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Thing)
    errors: list[Exception] = []

    for event, action in (("after_insert", "save"), ("before_delete", "delete")):
        if db.is_async:
            async def again(record, action=action) -> None:
                try:
                    await getattr(record, action)()
                except ConfigurationError as error:
                    errors.append(error)
                    raise
        else:
            def again(record, action=action) -> None:
                try:
                    getattr(record, action)()
                except ConfigurationError as error:
                    errors.append(error)
                    raise
        Thing.on(event, again)
    thing = Thing()
    with pytest.raises(ConfigurationError, match="being saved"):
        await db(thing.save())
    assert len(errors) == 1 and await db(Thing.query().count()) == 0
    Thing.off("after_insert", Thing._handlers()["after_insert"][0])
    await db(thing.save())
    with pytest.raises(ConfigurationError, match="being saved or deleted"):
        await db(thing.delete())
    assert len(errors) == 2 and await db(Thing.query().count()) == 1


async def test_return_values_are_ignored(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

        @before_save
        def returns_false(self):
            return False

    await db.create(Thing)
    thing = Thing()
    assert await db(thing.save()) == 1
    assert await db(Thing.query().count()) == 1


# ---- the transaction around the span ------------------------------------------------------
async def test_span_is_one_transaction_opened_after_the_validation_handlers(db, journal):
    Note = recorded_model(db, journal)
    await db.create(Note)
    journal.take()
    await db(Note(title="a").save())
    entries = journal.take()
    begin = next(i for i, e in enumerate(entries) if e in ("tx:BEGIN", "tx:START TRANSACTION"))
    commit = entries.index("tx:COMMIT")
    assert entries[begin - 1] == "after_validate" and entries[begin + 1] == "before_save"
    assert entries[commit - 1] == "after_save"


async def test_models_without_handlers_send_one_statement_and_no_transaction(db, journal):
    class Plain(db.Base):
        __table_name__ = "plains"
        id: Optional[int] = None
        name: str = "x"

    await db.create(Plain)
    journal.take()
    plain = Plain()
    await db(plain.save())
    plain.name = "y"
    await db(plain.save())
    await db(plain.delete())
    assert journal.take() == ["INSERT", "UPDATE", "DELETE"]


async def test_only_validation_handlers_open_no_transaction(db, journal):
    class Checked(db.Base):
        __table_name__ = "checked"
        id: Optional[int] = None
        name: str = "x"

        @before_validate
        def strip(self) -> None:
            self.name = self.name.strip()

    await db.create(Checked)
    journal.take()
    await db(Checked(name=" a ").save())
    assert journal.take() == ["INSERT"]


async def test_failure_after_insert_rolls_back_and_puts_the_new_record_back(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"
        tags: list[str] = []

        @before_save
        def rename(self) -> None:
            self.name = "renamed in before_save"

    def fail(record) -> None:
        raise RuntimeError("after_save failed")

    Thing.on("after_save", fail)
    await db.create(Thing)
    thing = Thing(name="original", tags=["t"])
    before = dict(thing.__dict__)
    with pytest.raises(RuntimeError, match="after_save failed"):
        await db(thing.save())
    assert await db(Thing.query().count()) == 0
    for field, value in before.items():
        assert getattr(thing, field) == value, field
    assert thing.id is None  # the generated key cleared
    assert thing.is_new_record and not thing.previously_new_record
    Thing.off("after_save", fail)  # the record saves once the failing handler is gone
    assert await db(thing.save()) == 1 and isinstance(thing.id, int)


async def test_failure_after_update_rolls_back_and_restores_values_and_snapshot(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"
        count: int = 0

    await db.create(Thing)
    thing = Thing(name="a", count=1)
    await db(thing.save())

    def bump_then_fail(record) -> None:
        record.count += 10

    def fail(record) -> None:
        raise RuntimeError("after_update failed")

    Thing.on("before_update", bump_then_fail)
    Thing.on("after_update", fail)
    thing.name = "b"
    with pytest.raises(RuntimeError):
        await db(thing.save())
    row = await db(Thing.backend().fetch_one("SELECT name, count FROM things"))
    assert row == {"name": "a", "count": 1}  # rolled back
    assert (thing.name, thing.count) == ("b", 1)  # as before the call
    assert thing.dirty_attributes == {"name"}  # snapshot restored: only the user's change
    Thing.off("after_update", fail)
    Thing.off("before_update", bump_then_fail)
    assert await db(thing.save()) == 1
    assert (await db(Thing.find_one(thing.id))).name == "b"


async def test_failure_after_delete_rolls_back_and_keeps_the_record_persisted(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

        @after_delete
        def fail(self) -> None:
            raise RuntimeError("after_delete failed")

    await db.create(Thing)
    thing = Thing()
    await db(thing.save())
    with pytest.raises(RuntimeError):
        await db(thing.delete())
    assert await db(Thing.query().count()) == 1
    assert not thing.is_new_record and thing.id is not None


async def test_inside_an_open_transaction_the_span_is_a_savepoint(db):
    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

        @after_insert
        def fail_for_bad(self) -> None:
            if self.name == "bad":
                raise ValueError("bad")

    await db.create(Thing)
    async with db.transaction(Thing):
        await db(Thing(name="good").save())
        with pytest.raises(ValueError):
            await db(Thing(name="bad").save())
        await db(Thing(name="after").save())  # the outer transaction goes on
    names = await db(Thing.backend().fetch_all("SELECT name FROM things ORDER BY id"))
    assert [r["name"] for r in names] == ["good", "after"]


# ---- coroutines ---------------------------------------------------------------------------
async def test_coroutine_handlers_are_awaited_in_order_on_async_models(db):
    if not db.is_async:
        pytest.skip("async models only: a sync model refuses async def handlers (next test)")
    calls: list[str] = []

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

        @after_insert
        async def slow(self) -> None:
            await asyncio.sleep(0.01)
            calls.append("async-1")

        @after_insert
        def plain(self) -> None:
            calls.append("plain")

    async def registered(record) -> None:
        await asyncio.sleep(0)
        calls.append("async-2")

    Thing.on("after_insert", registered)
    await db.create(Thing)
    await Thing().save()
    assert calls == ["async-1", "plain", "async-2"]


async def test_async_def_handlers_are_refused_on_sync_models(db):
    if db.is_async:
        pytest.skip("sync models only")
    with pytest.raises(ConfigurationError, match="async def"):
        class Bad(db.Base):
            __table_name__ = "bad"
            id: Optional[int] = None

            @before_save
            async def nope(self) -> None:
                pass

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

    async def handler(record) -> None:
        pass

    with pytest.raises(ConfigurationError, match="async def"):
        Thing.on("before_save", handler)


async def test_plain_handler_returning_an_awaitable_on_a_sync_model_rolls_back(db):
    if db.is_async:
        pytest.skip("sync models only")

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None

    async def later() -> None:
        pass

    Thing.on("after_insert", lambda record: later())
    await db.create(Thing)
    thing = Thing()
    with pytest.raises(ConfigurationError, match="awaitable"):
        thing.save()
    assert Thing.query().count() == 0 and thing.id is None


async def test_combined_model_runs_plain_handlers_on_both_faces_async_on_aio_only(db):
    calls: list[str] = []

    class Both(BaseActiveRecord, AsyncBaseActiveRecord):
        __table_name__ = "both_things"
        id: Optional[int] = None
        name: str = "x"

        @before_save
        def plain(self) -> None:
            calls.append("plain")

    Both.configure(db.url)
    try:
        if db.is_async:
            await Both.aio.drop_table()
            await Both.aio.create_table()
            await Both(name="a").aio.save()
            assert calls == ["plain"]

            async def awaited(record) -> None:
                await asyncio.sleep(0)
                calls.append("async")

            Both.on("before_save", awaited)  # allowed: the model has an async face
            await Both(name="b").aio.save()
            assert calls == ["plain", "plain", "async"]
            assert await Both.aio.query().count() == 2
            await Both.aio.drop_table()
        else:
            Both.drop_table()
            Both.create_table()
            Both(name="a").save()
            assert calls == ["plain"]

            async def awaited(record) -> None:
                calls.append("async")

            Both.on("before_save", awaited)
            with pytest.raises(ConfigurationError, match="async def"):
                Both(name="b").save()  # the sync face would need it: refused, nothing written
            assert calls == ["plain"] and Both.query().count() == 1
            Both.drop_table()
    finally:
        Both.backend().close()
        if db.is_async:
            await Both.aio.backend().close()


# ---- bulk paths fire none -----------------------------------------------------------------
async def test_bulk_paths_fire_no_events(db):
    calls: list[str] = []

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: str = "x"

    for name in TEN:
        Thing.on(name, lambda r, name=name: calls.append(name))
    await db.create(Thing)
    assert await db(Thing.insert_many([Thing(name="a"), Thing(name="b")])) == 2
    assert await db(Thing.query().where({"name": "a"}).update({"name": "c"})) == 1
    assert await db(Thing.query().where({"name": "b"}).delete()) == 1
    assert calls == []
    assert await db(Thing.query().count()) == 1
