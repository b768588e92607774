"""Upsert and bulk writes (API.md §15), in every backend x kind combination; the race of
issue 11 (20 concurrent upsert_many on overlapping keys) on PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Optional

import pytest
from pydantic import Field

from twinrecord import (
    Column,
    ConfigurationError,
    ForeignKey,
    Index,
    IntegrityError,
    OptimisticLockMixin,
    RecordInvalid,
    RecordNotUnique,
    SoftDeleteMixin,
    StaleObjectError,
    StatementInvalid,
    TimestampMixin,
    excluded,
)


def user_model(db, table="bulk_users", *mixins):
    class User(*mixins, db.Base):
        __table_name__ = table
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        name: str = Field(default="", max_length=30)
        plan: str = "free"

    return User


async def _rows(db, model, table):
    rows = await db(model.backend().fetch_all(f"SELECT email, name, plan FROM {table} ORDER BY email"))
    return [(r["email"], r["name"], r["plan"]) for r in rows]


# ---- plain insert_many in large batches (PostgreSQL: one array per column) -------------------
async def test_insert_many_across_statement_boundaries_keeps_ids_in_order(db):
    from twinrecord.model._bulk import ARRAY_ROWS

    User = user_model(db)
    await db.create(User)
    count = ARRAY_ROWS + 7  # more than one statement on every database
    records = [User(email=f"u{i:05d}@x", name=f"n{i}") for i in range(count)]
    records[3].plan = "gold"
    assert await db(User.insert_many(records)) == count
    assert all(not r.is_new_record and not r.dirty_attributes for r in records)
    ids = [r.id for r in records]
    assert len(set(ids)) == count and ids == sorted(ids)  # one key each, given in order
    rows = await db(User.backend().fetch_all("SELECT id, email, name, plan FROM bulk_users"))
    stored = {r["id"]: (r["email"], r["name"], r["plan"]) for r in rows}
    assert [stored[r.id] for r in records] == [(r.email, r.name, r.plan) for r in records]
    assert stored[records[0].id][2] == "free"  # the model's default, sent


async def test_insert_many_mixes_records_with_and_without_keys(db):
    User = user_model(db)
    await db.create(User)
    records = [User(email=f"a{i}@x") for i in range(5)]
    records += [User(id=1000 + i, email=f"k{i}@x") for i in range(3)]
    records.insert(2, User(id=2000, email="mid@x"))
    assert await db(User.insert_many(records)) == 9
    for record in records:
        found = await db(User.find_one(record.id))
        assert found.email == record.email
    assert [r.id for r in records if r.email.startswith("k")] == [1000, 1001, 1002]


async def test_insert_many_keeps_server_defaults_nulls_and_sizes(db):
    class Item(db.Base):
        __table_name__ = "bulk_items"
        id: Optional[int] = None
        code: Annotated[str, Column(sql_type="VARCHAR(12)")] = "x"
        label: Annotated[str, Column(max_length=5)] = "ab"
        note: Optional[str] = None
        qty: Optional[int] = None

    await db.create(Item)
    records = [Item(code=f"c{i}", note=None if i % 2 else "n", qty=None if i % 3 else i)
               for i in range(7)]
    assert await db(Item.insert_many(records)) == 7
    loaded = await db(Item.query().order_by("id").all())
    assert [(r.code, r.note, r.qty) for r in loaded] == [(r.code, r.note, r.qty) for r in records]
    assert [r.id for r in loaded] == [r.id for r in records]

    class Wider(db.Base):  # the same table, declaring no size: nothing refuses on this side
        __table_name__ = "bulk_items"
        id: Optional[int] = None
        code: str = "x"
        label: str = "ab"
        note: Optional[str] = None
        qty: Optional[int] = None

    if db.backend_name != "sqlite":  # SQLite keeps any length
        with pytest.raises(StatementInvalid):
            await db(Wider.insert_many([Wider(code="ok"), Wider(code="c", label="abcdefgh")]))
        assert await db(Item.query().count()) == 7  # refused, not cut to fit


async def test_insert_many_round_trips_edge_values_of_each_array_type(db):
    class Sample(db.Base):
        __table_name__ = "bulk_samples"
        id: Optional[int] = None
        number: Optional[int] = None
        ratio: Optional[float] = None
        flag: Optional[bool] = None
        text: Optional[str] = None

    await db.create(Sample)
    values = [
        (2**62, -0.0, True, 'é ☃ {"a", NULL}\\'),
        (-(2**62), 1e300, False, ""),
        (None, None, None, None),
        (0, -2.5, True, "NULL"),
        (7, 0.1 + 0.2, None, "x" * 3000),
    ]
    records = [Sample(number=n, ratio=r, flag=f, text=t) for n, r, f, t in values]
    assert await db(Sample.insert_many(records)) == len(values)
    loaded = await db(Sample.query().order_by("id").all())
    assert [(x.number, x.ratio, x.flag, x.text) for x in loaded] == values
    assert [x.id for x in loaded] == [x.id for x in records]


async def test_insert_many_applies_the_mixins_in_large_batches(db):
    class Note(TimestampMixin, SoftDeleteMixin, OptimisticLockMixin, db.Base):
        __table_name__ = "bulk_notes"
        id: Optional[int] = None
        title: str = ""

    await db.create(Note)
    notes = [Note(title=f"t{i}") for i in range(50)]
    assert await db(Note.insert_many(notes)) == 50
    assert len({n.created_at for n in notes}) == 1 and notes[0].created_at == notes[0].updated_at
    loaded = await db(Note.query().order_by("id").all())
    assert [n.title for n in loaded] == [n.title for n in notes]
    assert all(n.deleted_at is None and n.lock_version == notes[0].lock_version for n in loaded)
    loaded[0].title = "changed"
    await db(loaded[0].save())  # the lock version as inserted is the one saved against


async def test_insert_many_in_a_transaction_rolls_back_with_it(db):
    User = user_model(db)
    await db.create(User)
    records = [User(email=f"r{i}@x") for i in range(20)]
    with pytest.raises(RuntimeError):
        async with db.transaction(User):
            await db(User.insert_many(records))
            raise RuntimeError("undo")
    assert await db(User.query().count()) == 0
    with pytest.raises(RecordNotUnique):
        await db(User.insert_many([User(email="same@x"), User(email="same@x")]))
    assert await db(User.query().count()) == 0


# ---- insert_many(on_conflict='ignore') -----------------------------------------------------
async def test_insert_many_ignore_skips_existing_rows_and_earlier_records(db):
    User = user_model(db)
    await db.create(User)
    await db(User.create(email="a@x", name="existing"))
    records = [User(email="a@x", name="new a"), User(email="b@x", name="b"),
               User(email="b@x", name="second b"), User(email="c@x", name="c")]
    assert await db(User.insert_many(records, on_conflict="ignore", unique_by="email")) == 2
    assert await _rows(db, User, "bulk_users") == [
        ("a@x", "existing", "free"), ("b@x", "b", "free"), ("c@x", "c", "free")]
    skipped, b, second_b, c = records
    assert not b.is_new_record and not c.is_new_record and isinstance(b.id, int)
    assert skipped.is_new_record and skipped.id is None and skipped.name == "new a"
    assert second_b.is_new_record and second_b.id is None
    found = await db(User.find_one({"email": "c@x"}))
    assert found.id == c.id


async def test_insert_many_ignore_without_unique_by_skips_on_any_unique_key(db):
    User = user_model(db)
    await db.create(User)
    first = await db(User.create(email="a@x"))
    records = [User(email="a@x", name="dup"), User(id=first.id, email="z@x"), User(email="n@x")]
    assert await db(User.insert_many(records, on_conflict="ignore")) == 1
    assert [r.is_new_record for r in records] == [True, True, False]
    assert records[2].id not in (None, first.id)
    assert len(await _rows(db, User, "bulk_users")) == 2


async def test_insert_many_ignore_keeps_timestamps_off_skipped_records(db):
    User = user_model(db, "bulk_stamped", TimestampMixin)
    await db.create(User)
    await db(User.create(email="a@x"))
    skipped, fresh = User(email="a@x"), User(email="b@x")
    await db(User.insert_many([skipped, fresh], on_conflict="ignore", unique_by="email"))
    assert skipped.created_at is None and skipped.updated_at is None
    assert fresh.created_at is not None and fresh.created_at == fresh.updated_at


async def test_insert_many_ignore_raises_for_other_keys_and_foreign_keys(db):
    class Team(db.Base):
        __table_name__ = "bulk_teams"
        id: Optional[int] = None
        name: str = "t"

    class Member(db.Base):
        __table_name__ = "bulk_members"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        handle: Annotated[str, Column(unique=True, max_length=100)]
        team_id: Annotated[Optional[int], ForeignKey(Team)] = None

    await db.create(Team, Member)
    await db(Member.create(email="a@x", handle="taken"))
    with pytest.raises(RecordNotUnique):
        await db(Member.insert_many([Member(email="new@x", handle="free"),
                                     Member(email="b@x", handle="taken")],
                                    on_conflict="ignore", unique_by="email"))
    assert await db(Member.query().count()) == 1  # rolled back: "new@x" is not there
    if db.backend_name != "sqlite":  # SQLite enforces foreign keys only when asked to
        with pytest.raises(IntegrityError):
            await db(Member.insert_many([Member(email="c@x", handle="c", team_id=999)],
                                        on_conflict="ignore", unique_by="email"))
        assert await db(Member.query().count()) == 1


async def test_insert_many_ignore_in_large_batches_matches_rows_and_reads_every_warning(db):
    class Team(db.Base):
        __table_name__ = "bulk_big_teams"
        id: Optional[int] = None
        name: str = "t"

    class Member(db.Base):
        __table_name__ = "bulk_big_members"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        handle: Annotated[str, Column(unique=True, max_length=100)]
        team_id: Annotated[Optional[int], ForeignKey(Team)] = None

    await db.create(Team, Member)
    team = await db(Team.create())
    # 1,500 existing rows: more skipped rows than a statement's rows, more warnings than
    # MariaDB keeps by default (64)
    await db(Member.insert_many([Member(email=f"e{i}@x", handle=f"h{i}") for i in range(0, 3000, 2)]))
    records = [Member(email=f"e{i}@x", handle=f"n{i}", team_id=team.id) for i in range(3000)]
    inserted = await db(Member.insert_many(records, on_conflict="ignore", unique_by="email"))
    assert inserted == 1500
    assert [r.is_new_record for r in records] == [i % 2 == 0 for i in range(3000)]
    for record in records[1::250]:
        found = await db(Member.find_one(record.id))
        assert (found.email, found.handle) == (record.email, record.handle)
    assert await db(Member.query().count()) == 3000

    def late(error_record):  # the bad record after 100 skipped ones, in one statement
        return [Member(email=f"e{i}@x", handle=f"z{i}") for i in range(0, 200, 2)] + [error_record]

    with pytest.raises(RecordNotUnique):  # a collision on handle, not on email
        await db(Member.insert_many(late(Member(email="fresh@x", handle="h0")),
                                    on_conflict="ignore", unique_by="email"))
    if db.backend_name != "sqlite":  # SQLite enforces foreign keys only when asked to
        with pytest.raises(IntegrityError):
            await db(Member.insert_many(late(Member(email="fresh@x", handle="f", team_id=999)),
                                        on_conflict="ignore", unique_by="email"))
    assert await db(Member.query().count()) == 3000
    # without unique_by: skipped on any key, rows matched to records by key or every column
    others = [Member(email=f"e{i}@x", handle=f"q{i}") for i in range(0, 100)]
    others += [Member(email=f"w{i}@x", handle=f"h{2 * i}") for i in range(0, 100)]
    others += [Member(email=f"v{i}@x", handle=f"v{i}") for i in range(0, 100)]
    assert await db(Member.insert_many(others, on_conflict="ignore")) == 100
    assert all(r.is_new_record for r in others[:200])
    assert all(isinstance(r.id, int) and not r.is_new_record for r in others[200:])


async def test_insert_many_ignore_validates_first(db):
    User = user_model(db)
    await db.create(User)
    bad = User(email="b@x").model_copy(update={"name": "x" * 40})  # unvalidated
    with pytest.raises(RecordInvalid):
        await db(User.insert_many([User(email="a@x"), bad], on_conflict="ignore"))
    assert await db(User.query().count()) == 0


async def test_insert_many_unknown_on_conflict_is_refused(db):
    User = user_model(db)
    with pytest.raises(ConfigurationError, match="ignore"):
        await db(User.insert_many([User(email="a@x")], on_conflict="update"))


# ---- upsert_many ------------------------------------------------------------------------
async def test_upsert_many_inserts_and_updates_and_records_hold_their_rows(db):
    User = user_model(db)
    await db.create(User)
    old = await db(User.create(email="a@x", name="old", plan="gold"))
    records = [User(email="a@x", name="new", plan="silver"), User(email="b@x", name="b")]
    assert await db(User.upsert_many(records, unique_by="email", update=("name",))) == 2
    assert await _rows(db, User, "bulk_users") == [("a@x", "new", "gold"), ("b@x", "b", "free")]
    updated, inserted = records
    assert updated.id == old.id and updated.plan == "gold"  # what the database kept
    assert not updated.is_new_record and not updated.is_dirty
    assert isinstance(inserted.id, int) and not inserted.is_new_record


async def test_upsert_many_default_update_overwrites_every_sent_column(db):
    User = user_model(db)
    await db.create(User)
    await db(User.create(email="a@x", name="old", plan="gold"))
    records = [User(email="a@x", name="new", plan="silver")]
    await db(User.upsert_many(records, unique_by="email"))
    assert await _rows(db, User, "bulk_users") == [("a@x", "new", "silver")]


async def test_upsert_many_by_primary_key(db):
    User = user_model(db)
    await db.create(User)
    old = await db(User.create(email="a@x", name="old"))
    records = [User(id=old.id, email="a@x", name="by key"), User(id=old.id + 100, email="c@x")]
    assert await db(User.upsert_many(records)) == 2
    assert await _rows(db, User, "bulk_users") == [("a@x", "by key", "free"), ("c@x", "", "free")]
    with pytest.raises(ConfigurationError, match="primary key"):
        await db(User.upsert_many([User(email="d@x")]))


async def test_upsert_many_refuses_batch_duplicates_and_empty_update(db):
    User = user_model(db)
    await db.create(User)
    with pytest.raises(RecordNotUnique, match="both"):
        await db(User.upsert_many([User(email="a@x"), User(email="a@x")], unique_by="email"))
    with pytest.raises(ConfigurationError, match="on_conflict='ignore'"):
        await db(User.upsert_many([User(email="a@x")], unique_by="email", update=()))
    assert await db(User.query().count()) == 0


async def test_upsert_many_collision_on_another_key_rolls_back(db):
    class Member(db.Base):
        __table_name__ = "bulk_members2"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        handle: Annotated[str, Column(unique=True, max_length=100)]

    await db.create(Member)
    await db(Member.create(email="a@x", handle="taken"))
    records = [Member(email="new@x", handle="n"), Member(email="b@x", handle="taken")]
    with pytest.raises(RecordNotUnique):
        await db(Member.upsert_many(records, unique_by="email"))
    rows = await db(Member.backend().fetch_all("SELECT email, handle FROM bulk_members2"))
    assert rows == [{"email": "a@x", "handle": "taken"}]
    # the rolled-back rows leave no key or saved state on the records
    assert all(r.is_new_record and r.id is None for r in records)


def page_model(db, *mixins):
    class Page(*mixins, db.Base):
        __table_name__ = "bulk_pages"
        __indexes__ = (Index("site_id", "path", unique=True),)
        id: Optional[int] = None
        site_id: int
        path: Annotated[str, Column(max_length=100)]
        hits: int = 0
        title: str = ""
        note: str = ""

    return Page


async def test_upsert_many_update_expressions_with_excluded(db):
    Page = page_model(db)
    await db.create(Page)
    await db(Page.insert_many([Page(site_id=1, path="/a", hits=5, title="A", note="kept"),
                               Page(site_id=1, path="/b", hits=1, title="B")]))
    records = [Page(site_id=1, path="/a", hits=2, title="A2"),
               Page(site_id=1, path="/c", hits=7, title="C")]
    update = {Page.c.hits: Page.c.hits + excluded(Page.c.hits),  # keys: columns or names
              "title": excluded("title") + "!", "note": "merged"}
    assert await db(Page.upsert_many(records, unique_by=("site_id", "path"), update=update)) == 2
    rows = await db(Page.backend().fetch_all(
        "SELECT path, hits, title, note FROM bulk_pages ORDER BY path"))
    assert [tuple(r.values()) for r in rows] == [
        ("/a", 7, "A2!", "merged"), ("/b", 1, "B", ""), ("/c", 7, "C", "")]
    a, c = records  # each record holds its row as stored
    assert (a.hits, a.title, a.note, a.is_dirty) == (7, "A2!", "merged", False)
    assert (c.hits, c.title, c.note) == (7, "C", "") and isinstance(c.id, int)


async def test_upsert_many_update_expressions_apply_the_mixins(db):
    Page = page_model(db, TimestampMixin, OptimisticLockMixin)
    await db.create(Page)
    old = await db(Page.create(site_id=1, path="/a", hits=1))
    update = {"hits": Page.c.hits + excluded(Page.c.hits)}
    again = Page(site_id=1, path="/a", hits=1)
    await db(Page.upsert_many([again], unique_by=("site_id", "path"), update=update))
    assert (again.hits, again.lock_version, again.created_at) == (2, 1, old.created_at)
    assert again.updated_at > old.updated_at


async def test_excluded_is_refused_outside_an_upsert_and_bad_updates_send_nothing(db):
    Page = page_model(db)
    await db.create(Page)
    with pytest.raises(StatementInvalid, match="upsert_many"):
        await db(Page.query().where(Page.c.hits == excluded(Page.c.hits)).all())
    with pytest.raises(StatementInvalid, match="upsert_many"):
        await db(Page.query().update({"hits": excluded("hits")}))
    with pytest.raises(StatementInvalid, match="excluded"):
        excluded("hits; DROP TABLE x")
    records = [Page(site_id=1, path="/a")]
    with pytest.raises(ConfigurationError, match="on_conflict='ignore'"):
        await db(Page.upsert_many(records, unique_by=("site_id", "path"), update={}))
    with pytest.raises(ConfigurationError, match="nope"):
        await db(Page.upsert_many(records, unique_by=("site_id", "path"), update={"nope": 1}))
    with pytest.raises(RecordInvalid):
        await db(Page.upsert_many(records, unique_by=("site_id", "path"), update={"hits": "x"}))
    assert await db(Page.query().count()) == 0 and records[0].is_new_record


async def test_upsert_many_applies_timestamps_and_bumps_the_lock(db):
    User = user_model(db, "bulk_mixed", TimestampMixin, OptimisticLockMixin)
    await db.create(User)
    old = await db(User.create(email="a@x", name="old"))
    created = old.created_at
    records = [User(email="a@x", name="new"), User(email="b@x")]
    await db(User.upsert_many(records, unique_by="email"))
    updated, inserted = records
    assert updated.created_at == created  # created_at is never overwritten by default
    assert updated.updated_at > created and updated.lock_version == 1
    assert inserted.created_at == inserted.updated_at and inserted.lock_version == 0
    old.name = "stale"
    with pytest.raises(StaleObjectError):
        await db(old.save())


async def test_upsert_many_leaves_a_soft_deleted_row_deleted(db):
    User = user_model(db, "bulk_soft", SoftDeleteMixin)
    await db.create(User)
    gone = await db(User.create(email="a@x", name="old"))
    await db(gone.delete())
    records = [User(email="a@x", name="new")]
    await db(User.upsert_many(records, unique_by="email"))
    assert records[0].is_deleted and records[0].name == "new"
    assert await db(User.query().count()) == 0
    await db(User.upsert_many([User(email="a@x", name="back")], unique_by="email",
                              update=("name", "deleted_at")))
    assert [u.name for u in await db(User.find_all())] == ["back"]


async def test_bulk_calls_are_savepoints_inside_a_transaction(db):
    User = user_model(db)
    await db.create(User)
    async with db.transaction(User):
        await db(User.create(email="a@x"))
        with pytest.raises(RecordNotUnique):
            await db(User.upsert_many([User(email="b@x"), User(email="b@x")], unique_by="email"))
        await db(User.upsert_many([User(email="c@x")], unique_by="email"))
    assert [r[0] for r in await _rows(db, User, "bulk_users")] == ["a@x", "c@x"]


async def test_large_upsert_is_split_by_parameter_limits(db):
    User = user_model(db)
    await db.create(User)
    await db(User.insert_many([User(email=f"u{i}@x") for i in range(0, 3000, 2)]))
    records = [User(email=f"u{i}@x", name="v2") for i in range(3000)]
    assert await db(User.upsert_many(records, unique_by="email", update=("name",))) == 3000
    assert await db(User.query().where({"name": "v2"}).count()) == 3000
    assert len({r.id for r in records}) == 3000


# ---- update_many ------------------------------------------------------------------------
async def test_update_many_writes_each_records_dirty_columns(db):
    User = user_model(db)
    await db.create(User)
    await db(User.insert_many([User(email=f"{i}@x", name=f"n{i}") for i in range(4)]))
    a, b, c, d = await db(User.query().order_by("id").all())
    a.name = "A"
    b.plan = "pro"
    c.name, c.plan = "C", "gold"
    assert await db(User.update_many([a, b, c, d])) == 3  # d has nothing to write
    assert await _rows(db, User, "bulk_users") == [
        ("0@x", "A", "free"), ("1@x", "n1", "pro"), ("2@x", "C", "gold"), ("3@x", "n3", "free")]
    assert not any(r.is_dirty for r in (a, b, c, d))


async def test_update_many_fields_and_vanished_rows(db):
    User = user_model(db)
    await db.create(User)
    await db(User.insert_many([User(email=f"{i}@x", name=f"n{i}") for i in range(3)]))
    a, b, c = await db(User.query().order_by("id").all())
    await db(User.backend().execute("DELETE FROM bulk_users WHERE email = ?", ("2@x",)))
    a.name, b.name, c.name = "A", "B", "C"
    a.plan = "unsent"
    assert await db(User.update_many([a, b, c], fields=("name",))) == 2
    assert await _rows(db, User, "bulk_users") == [("0@x", "A", "free"), ("1@x", "B", "free")]
    assert a.dirty_attributes == {"plan"}  # only the written columns became clean
    assert c.dirty_attributes == {"name"}  # its row vanished: as save() leaves it


async def test_update_many_refuses_new_records(db):
    User = user_model(db)
    await db.create(User)
    with pytest.raises(ConfigurationError, match="insert_many"):
        await db(User.update_many([User(email="a@x")]))


async def test_update_many_checks_every_version_and_stamps(db):
    User = user_model(db, "bulk_locked", TimestampMixin, OptimisticLockMixin)
    await db.create(User)
    await db(User.insert_many([User(email=f"{i}@x") for i in range(3)]))
    a, b, c = await db(User.query().order_by("id").all())
    stamp = a.updated_at
    other = await db(User.find_one(b.id))
    other.name = "elsewhere"
    await db(other.save())
    a.name, b.name, c.name = "A", "B", "C"
    with pytest.raises(StaleObjectError) as caught:
        await db(User.update_many([a, b, c]))
    assert repr([b.id]) in str(caught.value)
    assert await _rows(db, User, "bulk_locked") == [
        ("0@x", "", "free"), ("1@x", "elsewhere", "free"), ("2@x", "", "free")]
    assert await db(User.update_many([a, c])) == 2
    assert a.lock_version == 1 and a.updated_at > stamp
    fresh = await db(User.find_one(a.id))
    assert (fresh.name, fresh.lock_version, fresh.updated_at) == ("A", 1, a.updated_at)


def seat_model(db, *mixins):
    class Seat(*mixins, db.Base):
        __table_name__ = "bulk_seats"
        __primary_key__ = ("hall", "number")
        hall: str
        number: int
        holder: str = ""
        price: int = 0

    return Seat


async def _seats(db, Seat):
    rows = await db(Seat.backend().fetch_all(
        "SELECT hall, number, holder, price FROM bulk_seats ORDER BY hall, number"))
    return [tuple(r.values()) for r in rows]


async def test_update_many_with_a_composite_primary_key(db):
    Seat = seat_model(db)
    await db.create(Seat)
    await db(Seat.insert_many([Seat(hall=h, number=n) for h in ("a", "b") for n in (1, 2)]))
    seats = await db(Seat.query().order_by("hall", "number").all())
    a1, a2, b1, b2 = seats
    a1.holder, a2.price, b2.holder, b2.price = "ann", 5, "bob", 7  # b1 stays clean
    assert await db(Seat.update_many(seats)) == 3
    assert await _seats(db, Seat) == [
        ("a", 1, "ann", 0), ("a", 2, "", 5), ("b", 1, "", 0), ("b", 2, "bob", 7)]
    assert not any(s.is_dirty for s in seats)
    # a vanished row, found by its composite key, stays as save() would leave it
    await db(Seat.backend().execute("DELETE FROM bulk_seats WHERE hall = ? AND number = ?", ("a", 2)))
    a1.price, a2.price = 9, 9
    assert await db(Seat.update_many([a1, a2], fields=("price",))) == 1
    assert a2.dirty_attributes == {"price"} and not a1.is_dirty
    assert (await _seats(db, Seat))[0] == ("a", 1, "ann", 9)


async def test_update_many_with_a_composite_key_checks_versions(db):
    Seat = seat_model(db, OptimisticLockMixin)
    await db.create(Seat)
    await db(Seat.insert_many([Seat(hall=h, number=n) for h in ("a", "b") for n in (1, 2)]))
    a1, a2, b1, b2 = await db(Seat.query().order_by("hall", "number").all())
    other = await db(Seat.find_one(("b", 1)))
    other.holder = "elsewhere"
    await db(other.save())
    a1.price, b1.price, b2.price = 1, 2, 3
    with pytest.raises(StaleObjectError) as caught:
        await db(Seat.update_many([a1, b1, b2], fields=("price",)))
    assert repr([("b", 1)]) in str(caught.value)
    assert [r[3] for r in await _seats(db, Seat)] == [0, 0, 0, 0]  # nothing written
    assert await db(Seat.update_many([a1, b2])) == 2
    assert (a1.lock_version, b2.lock_version, a2.lock_version) == (1, 1, 0)
    rows = await db(Seat.backend().fetch_all(
        "SELECT price, lock_version FROM bulk_seats ORDER BY hall, number"))
    assert [tuple(r.values()) for r in rows] == [(1, 1), (0, 0), (0, 1), (3, 1)]


async def test_bulk_paths_fire_no_events(db):
    User = user_model(db)
    calls: list[str] = []
    for event in ("before_save", "after_save", "before_insert", "before_update"):
        User.on(event, lambda r, e=event: calls.append(e))
    await db.create(User)
    await db(User.upsert_many([User(email="a@x")], unique_by="email"))
    await db(User.insert_many([User(email="b@x")], on_conflict="ignore"))
    loaded = await db(User.find_one({"email": "a@x"}))
    loaded.name = "x"
    await db(User.update_many([loaded]))
    assert calls == []


# ---- the race ------------------------------------------------------------------------------
async def test_race_twenty_concurrent_upserts_on_overlapping_keys(db):
    if db.backend_name == "sqlite":
        pytest.skip("races run on the servers (PostgreSQL, MariaDB)")

    class Counter(db.Base):
        __table_name__ = "bulk_race"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=100)]
        hits: int = 0
        last: int = -1

    await db.create(Counter)
    # victims found in 50 ms, not the default second (PgBouncer cannot carry the setting)
    if db.backend_name == "postgres" and not getattr(db.backend.config, "pgbouncer", False):
        config = dataclasses.replace(db.backend.config, server_settings={"deadlock_timeout": "50ms"})
        Counter.configure(config, type(db.backend))
    # Caller i counts one hit on keys i..i+9 (overlapping); odd callers list them
    # backwards, so the servers see lock orders cross and pick deadlock victims, whose
    # calls are redone whole. A serial application counts each key once per caller.
    update = {"hits": Counter.c.hits + excluded(Counter.c.hits), "last": excluded("last")}

    def batch(i):
        keys = range(i, i + 10) if i % 2 == 0 else range(i + 9, i - 1, -1)
        return [Counter(email=f"k{k:02d}@x", hits=1, last=i) for k in keys]

    if db.is_async:
        outcomes = await asyncio.gather(
            *(Counter.upsert_many(batch(i), unique_by="email", update=update) for i in range(20)),
            return_exceptions=True)
    else:
        barrier = threading.Barrier(20)

        def call(i):
            barrier.wait()
            try:
                return Counter.upsert_many(batch(i), unique_by="email", update=update)
            except Exception as error:
                return error

        with ThreadPoolExecutor(20) as pool:
            outcomes = list(pool.map(call, range(20)))
    assert [o for o in outcomes if isinstance(o, BaseException)] == []
    assert outcomes == [10] * 20
    rows = await db(Counter.backend().fetch_all("SELECT email, hits, last FROM bulk_race ORDER BY email"))
    expected_hits = [min(k, 19) - max(0, k - 9) + 1 for k in range(29)]
    assert [(r["email"], r["hits"]) for r in rows] == [
        (f"k{k:02d}@x", n) for k, n in zip(range(29), expected_hits)]
    # each key's last writer is one of the callers covering it
    assert all(max(0, k - 9) <= r["last"] <= min(k, 19) for k, r in enumerate(rows))
    if Counter.backend() is not db.backend:
        await db(Counter.backend().close())
