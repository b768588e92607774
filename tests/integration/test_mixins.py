"""The four mixins (API.md §17), run in every backend x kind combination.

Expected values come from the test's own clock readings and raw SQL, not from the ORM.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Optional

import pytest

from twinrecord import (
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    ConfigurationError,
    OptimisticLockMixin,
    SoftDeleteMixin,
    StaleObjectError,
    StatementInvalid,
    TimestampMixin,
    UUIDMixin,
    after_update,
    before_delete,
)


def stamped_model(db):
    class Article(TimestampMixin, db.Base):
        __table_name__ = "articles"
        id: Optional[int] = None
        title: str
        body: str = ""

    return Article


def locked_model(db, column: str | None = None):
    namespace = {"__table_name__": "ledgers", "__annotations__": {"id": Optional[int], "amount": int}, "id": None}
    if column:
        namespace["__locking_column__"] = column
    return type("Ledger", (OptimisticLockMixin, db.Base), namespace)


def document_model(db):
    class Document(UUIDMixin, TimestampMixin, SoftDeleteMixin, OptimisticLockMixin, db.Base):
        __table_name__ = "documents"
        title: str

    return Document


def _aware_utc(value) -> bool:
    return value.tzinfo is not None and value.utcoffset() == timedelta(0)


# ---- the fields each mixin adds --------------------------------------------------------------
def test_document_fields():
    class Document(UUIDMixin, TimestampMixin, SoftDeleteMixin, OptimisticLockMixin, BaseActiveRecord):
        __table_name__ = "documents"
        title: str

    fields = Document.model_fields
    assert set(fields) == {"id", "title", "created_at", "updated_at", "deleted_at", "lock_version"}
    assert next(iter(fields)) == "id"
    document = Document(title="t")
    assert isinstance(document.id, uuid.UUID)  # known before save()
    assert (document.created_at, document.updated_at, document.deleted_at) == (None, None, None)
    assert document.lock_version == 0
    assert Document._meta().primary_key == ("id",)


# ---- TimestampMixin ------------------------------------------------------------------------
async def test_insert_stamps_both_with_one_aware_utc_instant(db):
    Article = stamped_model(db)
    await db.create(Article)
    before = datetime.now(UTC)
    article = await db(Article.create(title="a"))
    after = datetime.now(UTC)
    assert article.created_at == article.updated_at
    assert before <= article.created_at <= after and _aware_utc(article.created_at)
    loaded = await db(Article.find_one(article.id))
    assert loaded.created_at == article.created_at  # microseconds kept
    assert _aware_utc(loaded.created_at) and _aware_utc(loaded.updated_at)


async def test_insert_keeps_stamps_the_record_already_holds(db):
    Article = stamped_model(db)
    await db.create(Article)
    imported = datetime(2020, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    article = Article(title="old", created_at=imported)
    await db(article.save())
    loaded = await db(Article.find_one(article.id))
    assert loaded.created_at == imported
    assert loaded.updated_at > imported  # the one without a value was stamped


async def test_insert_many_stamps_every_record(db):
    Article = stamped_model(db)
    await db.create(Article)
    imported = datetime(2021, 5, 5, tzinfo=UTC)
    articles = [Article(title="a"), Article(title="b"), Article(title="c", updated_at=imported)]
    await db(Article.insert_many(articles))
    assert articles[0].created_at == articles[1].created_at == articles[0].updated_at
    assert articles[2].updated_at == imported and articles[2].created_at is not None
    rows = await db(Article.find_all())
    assert {r.title: r.updated_at for r in rows}["c"] == imported
    assert all(r.created_at is not None for r in rows)


async def test_update_sets_updated_at_unless_the_change_sets_it(db):
    Article = stamped_model(db)
    await db.create(Article)
    article = await db(Article.create(title="a"))
    created, first = article.created_at, article.updated_at
    article.title = "b"
    assert await db(article.save()) == 1
    assert article.created_at == created and article.updated_at > first
    assert not article.is_dirty
    loaded = await db(Article.find_one(article.id))
    assert loaded.updated_at == article.updated_at and loaded.title == "b"
    chosen = datetime(2030, 1, 1, tzinfo=UTC)
    article.title = "c"
    article.updated_at = chosen
    await db(article.save())
    assert (await db(Article.find_one(article.id))).updated_at == chosen


async def test_clean_save_leaves_updated_at_alone(db):
    Article = stamped_model(db)
    await db.create(Article)
    article = await db(Article.create(title="a"))
    stamp = article.updated_at
    assert await db(article.save()) == 0
    assert article.updated_at == stamp
    assert (await db(Article.find_one(article.id))).updated_at == stamp


async def test_touch_writes_only_updated_at_without_events_or_lock_check(db):
    class Page(TimestampMixin, OptimisticLockMixin, db.Base):
        __table_name__ = "pages"
        id: Optional[int] = None
        title: str

    calls: list[str] = []
    for event in ("before_save", "after_save", "before_update", "after_update"):
        Page.on(event, lambda r, e=event: calls.append(e))
    await db.create(Page)
    page = await db(Page.create(title="a"))
    stamp = page.updated_at
    other = await db(Page.find_one(page.id))
    other.title = "changed elsewhere"
    await db(other.save())  # our copy's version is now stale
    page.title = "unsaved"
    calls.clear()
    assert await db(page.touch()) == 1  # no lock check: no StaleObjectError
    assert calls == []
    assert page.updated_at > stamp
    assert page.dirty_attributes == {"title"}  # the other change stays unsaved
    row = await db(Page.backend().fetch_one("SELECT title, lock_version FROM pages"))
    assert row == {"title": "changed elsewhere", "lock_version": 1}
    loaded = await db(Page.find_one(page.id))
    assert loaded.updated_at == page.updated_at


async def test_touch_needs_the_mixin(db):
    class Plain(db.Base):
        __table_name__ = "plains"
        id: Optional[int] = None

    await db.create(Plain)
    plain = await db(Plain.create())
    with pytest.raises(ConfigurationError, match="TimestampMixin"):
        await db(plain.touch())


# ---- OptimisticLockMixin ------------------------------------------------------------------
async def test_update_checks_and_bumps_the_version(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    assert ledger.lock_version == 0
    ledger.amount = 2
    assert await db(ledger.save()) == 1
    assert ledger.lock_version == 1 and not ledger.is_dirty
    row = await db(Ledger.backend().fetch_one("SELECT amount, lock_version FROM ledgers"))
    assert row == {"amount": 2, "lock_version": 1}


async def test_two_loaded_copies_one_stale_object_error(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    first = await db(Ledger.create(amount=1))
    mine = await db(Ledger.find_one(first.id))
    theirs = await db(Ledger.find_one(first.id))
    theirs.amount = 10
    await db(theirs.save())
    mine.amount = 20
    before = dict(mine.__dict__)
    with pytest.raises(StaleObjectError) as caught:
        await db(mine.save())
    message = str(caught.value)
    assert "Ledger" in message and repr((first.id,)) in message and "expected version 0" in message
    assert dict(mine.__dict__) == before and mine.dirty_attributes == {"amount"}
    row = await db(Ledger.backend().fetch_one("SELECT amount, lock_version FROM ledgers"))
    assert row == {"amount": 10, "lock_version": 1}


async def test_a_vanished_row_is_stale(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    await db(Ledger.backend().execute("DELETE FROM ledgers"))
    ledger.amount = 2
    with pytest.raises(StaleObjectError):
        await db(ledger.save())


async def test_a_form_round_trips_the_version(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    ledger.amount = 2
    await db(ledger.save())  # version 1 now
    form = await db(Ledger.find_one(ledger.id))
    form.lock_version = 0  # the version the user's form was rendered with
    form.amount = 3
    with pytest.raises(StaleObjectError, match="expected version 0"):
        await db(form.save())
    assert (await db(Ledger.find_one(ledger.id))).amount == 2


async def test_a_changed_version_alone_sends_nothing(db, caplog):
    # The version a form brings back is the expected one, not a change to write.
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    ledger.lock_version = 7
    with caplog.at_level(logging.DEBUG, logger="twinrecord.sql"):
        assert await db(ledger.save()) == 0
    assert [r for r in caplog.records if r.name == "twinrecord.sql"] == []
    assert ledger.lock_version == 7 and ledger.dirty_attributes == {"lock_version"}
    row = await db(Ledger.backend().fetch_one("SELECT amount, lock_version FROM ledgers"))
    assert row == {"amount": 1, "lock_version": 0}


async def test_a_key_set_to_none_is_refused_before_sending(db, caplog):
    class Entry(TimestampMixin, OptimisticLockMixin, db.Base):
        __table_name__ = "entries"
        id: Optional[int] = None
        title: str

    await db.create(Entry)
    entry = await db(Entry.create(title="a"))
    entry.id = None
    entry.title = "b"
    refused = pytest.raises(ConfigurationError, match="primary key 'id' was set to None")
    with caplog.at_level(logging.DEBUG, logger="twinrecord.sql"), refused:
        await db(entry.save())
    assert [r for r in caplog.records if r.name == "twinrecord.sql"] == []
    assert entry.lock_version == 0 and entry.updated_at == entry.created_at
    assert await db(Entry.query().pluck(Entry.c.title)) == ["a"]


async def test_each_dirty_set_writes_its_own_columns(db):
    # The UPDATE is worked out once per set of changed fields: another set, another statement.
    Article = stamped_model(db)
    await db.create(Article)
    article = await db(Article.create(title="a", body="x"))
    article.title = "b"
    await db(article.save())
    article.body = "y"
    await db(article.save())
    article.title, article.body = "c", "z"
    await db(article.save())
    other = await db(Article.create(title="o", body="o"))
    other.body = "p"
    await db(other.save())
    rows = await db(Article.backend().fetch_all("SELECT title, body FROM articles ORDER BY id"))
    assert rows == [{"title": "c", "body": "z"}, {"title": "o", "body": "p"}]


async def test_delete_checks_the_version(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    other = await db(Ledger.find_one(ledger.id))
    other.amount = 5
    await db(other.save())
    with pytest.raises(StaleObjectError):
        await db(ledger.delete())
    assert await db(Ledger.query().count()) == 1
    assert not ledger.is_new_record
    assert await db(other.delete()) == 1
    assert await db(Ledger.query().count()) == 0


async def test_locking_column_renames_the_version(db):
    Ledger = locked_model(db, column="row_version")
    assert "row_version" in Ledger.model_fields and "lock_version" not in Ledger.model_fields
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    stale = await db(Ledger.find_one(ledger.id))
    ledger.amount = 2
    await db(ledger.save())
    assert ledger.row_version == 1
    stale.amount = 3
    with pytest.raises(StaleObjectError):
        await db(stale.save())


async def test_stale_save_with_handlers_puts_the_record_back(db):
    Ledger = locked_model(db)
    calls: list[str] = []
    Ledger.on("after_update", lambda r: calls.append("after_update"))
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    other = await db(Ledger.find_one(ledger.id))
    other.amount = 9
    await db(other.save())
    calls.clear()
    ledger.amount = 2
    with pytest.raises(StaleObjectError):
        await db(ledger.save())
    assert (ledger.amount, ledger.lock_version, ledger.dirty_attributes) == (2, 0, {"amount"})
    assert calls == []


# ---- UUIDMixin --------------------------------------------------------------------------------
async def test_uuid_key_generated_on_the_client_and_stored_per_database(db):
    class Token(UUIDMixin, db.Base):
        __table_name__ = "tokens"
        name: str

    await db.create(Token)
    token = Token(name="a")
    known = token.id
    assert isinstance(known, uuid.UUID)
    await db(token.save())
    assert token.id == known
    found = await db(Token.find_one(known))
    assert found is not None and found.id == known
    raw = await db(Token.backend().fetch_one("SELECT id FROM tokens"))
    if db.backend_name == "mysql":
        assert raw["id"] == str(known)  # CHAR(36), lower-case canonical text
    elif db.backend_name == "sqlite":
        assert raw["id"] == str(known)
    else:
        assert raw["id"] == known  # PostgreSQL's uuid type
    many = [Token(name="b"), Token(name="c")]
    keys = [t.id for t in many]
    await db(Token.insert_many(many))
    assert [t.id for t in many] == keys
    assert {t.id for t in await db(Token.find_all())} == {known, *keys}


async def test_uuid_factory_replaces_uuid4(db):
    made: list[uuid.UUID] = []

    def ordered() -> uuid.UUID:
        value = uuid.UUID(int=len(made) + 1)
        made.append(value)
        return value

    class Event(UUIDMixin, db.Base):
        __table_name__ = "mixin_events"
        __uuid_factory__ = ordered
        name: str = "x"

    await db.create(Event)
    first, second = Event(), Event()
    assert (first.id, second.id) == (uuid.UUID(int=1), uuid.UUID(int=2))
    await db(first.save())
    assert (await db(Event.find_one(first.id))).id == uuid.UUID(int=1)


async def test_dup_resets_key_stamps_version_and_deletion(db):
    Document = document_model(db)
    await db.create(Document)
    document = await db(Document.create(title="a"))
    document.title = "b"
    await db(document.save())
    copy = document.dup()
    assert copy.id != document.id and copy.is_new_record
    assert (copy.created_at, copy.updated_at, copy.deleted_at, copy.lock_version) == (None, None, None, 0)
    await db(copy.save())
    assert await db(Document.query().count()) == 2


# ---- SoftDeleteMixin (the record) ------------------------------------------------------
def soft_model(db):
    class Post(TimestampMixin, SoftDeleteMixin, db.Base):
        __table_name__ = "soft_posts"
        id: Optional[int] = None
        title: str

    return Post


async def test_soft_delete_marks_the_row_and_keeps_the_record_persisted(db):
    Post = soft_model(db)
    calls: list[str] = []
    Post.on("before_delete", lambda r: calls.append("before_delete"))
    Post.on("after_delete", lambda r: calls.append("after_delete"))
    await db.create(Post)
    post = await db(Post.create(title="a"))
    stamp = post.updated_at
    assert not post.is_deleted
    assert await db(post.delete()) == 1
    assert calls == ["before_delete", "after_delete"]
    assert post.is_deleted and not post.is_new_record and not post.is_dirty
    assert post.deleted_at is not None and _aware_utc(post.deleted_at)
    assert post.updated_at == post.deleted_at and post.updated_at > stamp
    row = await db(Post.backend().fetch_one("SELECT deleted_at FROM soft_posts"))
    assert row["deleted_at"] is not None  # still there, marked
    assert await db(post.delete()) == 0  # already deleted
    other = await db(Post.create(title="b"))
    await db(Post.backend().execute("DELETE FROM soft_posts WHERE title = ?", ("b",)))
    assert await db(other.delete()) == 0  # the row is gone


async def test_hard_delete_removes_the_row_with_the_same_events(db):
    Post = soft_model(db)
    calls: list[str] = []
    Post.on("after_delete", lambda r: calls.append("after_delete"))
    await db.create(Post)
    post = await db(Post.create(title="a"))
    assert await db(post.hard_delete()) == 1
    assert calls == ["after_delete"]
    assert post.is_new_record and post.id is not None  # new again, as after §3's delete()
    assert (await db(Post.backend().fetch_all("SELECT id FROM soft_posts"))) == []


async def test_restore_clears_deleted_at(db):
    Post = soft_model(db)
    await db.create(Post)
    post = await db(Post.create(title="a"))
    await db(post.delete())
    assert await db(post.restore()) == 1
    assert not post.is_deleted and post.deleted_at is None
    row = await db(Post.backend().fetch_one("SELECT deleted_at FROM soft_posts"))
    assert row["deleted_at"] is None


async def test_soft_delete_checks_the_lock(db):
    Document = document_model(db)
    await db.create(Document)
    document = await db(Document.create(title="a"))
    other = await db(Document.find_one(document.id))
    other.title = "b"
    await db(other.save())
    with pytest.raises(StaleObjectError):
        await db(document.delete())
    assert not document.is_deleted
    assert await db(other.delete()) == 1 and other.lock_version == 2


async def test_restore_needs_the_mixin(db):
    Article = stamped_model(db)
    await db.create(Article)
    article = await db(Article.create(title="a"))
    with pytest.raises(ConfigurationError, match="SoftDeleteMixin"):
        await db(article.restore())


# ---- combined models ------------------------------------------------------------------------
async def test_mixins_on_a_combined_model(db):
    class Both(TimestampMixin, OptimisticLockMixin, BaseActiveRecord, AsyncBaseActiveRecord):
        __table_name__ = "both_mixins"
        id: Optional[int] = None
        title: str

    Both.configure(db.url)
    try:
        if db.is_async:
            await Both.aio.drop_table()
            await Both.aio.create_table()
            item = Both(title="a")
            await item.aio.save()
            item.title = "b"
            await item.aio.save()
            assert item.lock_version == 1 and item.updated_at >= item.created_at
            await Both.aio.drop_table()
        else:
            Both.drop_table()
            Both.create_table()
            item = Both.create(title="a")
            item.title = "b"
            item.save()
            assert item.lock_version == 1 and item.updated_at >= item.created_at
            Both.drop_table()
    finally:
        Both.backend().close()
        if db.is_async:
            await Both.aio.backend().close()


async def test_mixin_behaviour_cannot_be_switched_off_by_a_handler(db):
    class Guarded(TimestampMixin, OptimisticLockMixin, db.Base):
        __table_name__ = "guarded"
        id: Optional[int] = None
        title: str

        @before_delete
        def nothing(self) -> None:
            pass

        @after_update
        def also_nothing(self) -> None:
            pass

    await db.create(Guarded)
    item = await db(Guarded.create(title="a"))
    item.title = "b"
    await db(item.save())
    assert item.lock_version == 1 and item.updated_at > item.created_at


# ---- SoftDeleteMixin (queries) ---------------------------------------------------------
async def _three_posts(db):
    Post = soft_model(db)
    await db.create(Post)
    kept = await db(Post.create(title="kept"))
    gone = await db(Post.create(title="gone"))
    other = await db(Post.create(title="other"))
    await db(gone.delete())
    return Post, kept, gone, other


async def test_queries_finds_exists_and_aggregates_exclude_deleted_rows(db):
    Post, kept, gone, other = await _three_posts(db)
    assert sorted(p.title for p in await db(Post.query().all())) == ["kept", "other"]
    assert sorted(p.title for p in await db(Post.find_all())) == ["kept", "other"]
    assert await db(Post.find_one(gone.id)) is None
    assert await db(Post.find_one({"title": "gone"})) is None
    assert await db(Post.query().where({"title": "gone"}).exists()) is False
    assert await db(Post.query().count()) == 2
    assert await db(Post.query().max("id")) == other.id


async def test_the_filter_is_anded_around_the_whole_condition(db):
    Post, kept, gone, other = await _three_posts(db)
    query = Post.query().where({"title": "kept"}).or_where({"title": "gone"})
    assert [p.title for p in await db(query.all())] == ["kept"]
    sql, params = query.to_sql()
    assert "deleted_at" in sql and "IS NULL" in sql
    assert sql.index("OR") < sql.rindex("deleted_at")
    assert sql.rstrip().endswith("deleted_at\" IS NULL") or sql.rstrip().endswith("deleted_at` IS NULL")


async def test_with_deleted_lifts_and_only_deleted_inverts_the_filter(db):
    Post, kept, gone, other = await _three_posts(db)
    assert await db(Post.query().with_deleted().count()) == 3
    assert [p.title for p in await db(Post.query().only_deleted().all())] == ["gone"]
    found = await db(Post.query().with_deleted().where({"id": gone.id}).one())
    assert found.is_deleted


async def test_raw_sql_and_find_by_sql_are_never_filtered(db):
    Post, kept, gone, other = await _three_posts(db)
    rows = await db(Post.backend().fetch_all("SELECT title FROM soft_posts"))
    assert len(rows) == 3
    assert len(await db(Post.find_by_sql("SELECT * FROM soft_posts"))) == 3


async def test_refresh_reloads_a_soft_deleted_record(db):
    Post, kept, gone, other = await _three_posts(db)
    gone.title = "unsaved"
    await db(gone.refresh())
    assert gone.title == "gone" and gone.is_deleted


async def test_query_delete_soft_deletes_and_hard_delete_deletes(db):
    Post, kept, gone, other = await _three_posts(db)
    assert await db(Post.query().where({"title": "other"}).delete()) == 1
    assert await db(Post.query().count()) == 1
    assert await db(Post.query().with_deleted().count()) == 3
    # purge: only the deleted ones
    assert await db(Post.query().only_deleted().where({"title": "gone"}).hard_delete()) == 1
    rows = await db(Post.backend().fetch_all("SELECT title FROM soft_posts ORDER BY title"))
    assert [r["title"] for r in rows] == ["kept", "other"]
    assert await db(Post.query().hard_delete()) == 1  # live rows only by default
    assert await db(Post.query().with_deleted().hard_delete()) == 1
    assert await db(Post.backend().fetch_all("SELECT title FROM soft_posts")) == []


async def test_relations_and_eager_loading_exclude_deleted_rows(db):
    from typing import ClassVar

    from twinrecord import BelongsTo, HasMany

    class Author(SoftDeleteMixin, db.Base):
        __table_name__ = "soft_authors"
        id: Optional[int] = None
        name: str
        posts: ClassVar[HasMany[Entry]] = HasMany(foreign_key="author_id", model="Entry")

    class Entry(SoftDeleteMixin, db.Base):
        __table_name__ = "soft_entries"
        id: Optional[int] = None
        author_id: int
        title: str
        author: ClassVar[BelongsTo[Author]] = BelongsTo(foreign_key="author_id", model=Author)

    Author.posts.model = Entry  # resolve the forward reference locally
    await db.create(Author, Entry)
    ann = await db(Author.create(name="ann"))
    live = await db(Entry.create(author_id=ann.id, title="live"))
    dead = await db(Entry.create(author_id=ann.id, title="dead"))
    await db(dead.delete())
    assert [e.title for e in await db(ann.posts())] == ["live"]
    assert await db(ann.posts_query().count()) == 1
    loaded = await db(Author.query().with_("posts").all())
    assert [e.title for e in await db(loaded[0].posts())] == ["live"]
    await db(ann.delete())
    assert await db(live.author(refresh=True)) is None
    parent = await db(live.author_query().with_deleted().one())
    assert parent is not None and parent.name == "ann" and parent.is_deleted


async def test_with_deleted_needs_the_mixin(db):
    Article = stamped_model(db)
    with pytest.raises(ConfigurationError, match="SoftDeleteMixin"):
        Article.query().with_deleted()


# ---- query().update() ------------------------------------------------------------------
async def test_query_update_stamps_updated_at_unless_touch_false(db):
    Article = stamped_model(db)
    await db.create(Article)
    article = await db(Article.create(title="a"))
    stamp = article.updated_at
    assert await db(Article.query().where({"id": article.id}).update({"title": "b"})) == 1
    first = await db(Article.find_one(article.id))
    assert first.title == "b" and first.updated_at > stamp and first.created_at == stamp
    assert await db(Article.query().update({"title": "c"}, touch=False)) == 1
    second = await db(Article.find_one(article.id))
    assert second.title == "c" and second.updated_at == first.updated_at
    chosen = datetime(2031, 1, 1, tzinfo=UTC)
    await db(Article.query().update({"updated_at": chosen}))
    assert (await db(Article.find_one(article.id))).updated_at == chosen


async def test_query_update_bumps_the_version_without_a_check(db):
    Ledger = locked_model(db)
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    assert await db(Ledger.query().update({"amount": 5})) == 1
    row = await db(Ledger.backend().fetch_one("SELECT amount, lock_version FROM ledgers"))
    assert row == {"amount": 5, "lock_version": 1}
    ledger.amount = 2
    with pytest.raises(StaleObjectError):
        await db(ledger.save())  # every loaded copy went stale


async def test_expression_queries_and_updates_honour_the_mixins(db):
    class Note(TimestampMixin, SoftDeleteMixin, db.Base):
        __table_name__ = "soft_notes"
        id: Optional[int] = None
        title: str
        views: int = 0

    await db.create(Note)
    kept = await db(Note.create(title="kept"))
    gone = await db(Note.create(title="gone"))
    await db(gone.delete())
    found = await db(Note.query().where(Note.c.views >= 0).all())
    assert [n.title for n in found] == ["kept"]
    stamp = kept.updated_at
    assert await db(Note.query().update({"views": Note.c.views + 1})) == 1  # live rows only
    fresh = await db(Note.find_one(kept.id))
    assert fresh.views == 1 and fresh.updated_at > stamp
    deleted = await db(Note.query().with_deleted().where({"id": gone.id}).one())
    assert deleted.views == 0


async def test_expression_update_bumps_the_version_without_a_check(db):
    Ledger = locked_model(db, "revision")
    await db.create(Ledger)
    ledger = await db(Ledger.create(amount=1))
    other = await db(Ledger.create(amount=7))
    query = Ledger.query().where(Ledger.c.id == ledger.id)
    assert await db(query.update({"amount": Ledger.c.amount + 10})) == 1
    # a query the plain compiler cannot express (limit): rows chosen by key, bumped too
    limited = Ledger.query().where(Ledger.c.amount > 100).order_by("id").limit(1)
    assert await db(limited.update({"amount": 0})) == 0
    assert await db(Ledger.query().order_by("-id").limit(1).update({"amount": Ledger.c.amount * 2})) == 1
    rows = await db(Ledger.backend().fetch_all("SELECT amount, revision FROM ledgers ORDER BY id"))
    assert rows == [{"amount": 11, "revision": 1}, {"amount": 14, "revision": 1}]
    ledger.amount = 2
    with pytest.raises(StaleObjectError):
        await db(ledger.save())  # every loaded copy went stale
    fresh = await db(Ledger.find_one(other.id))
    # the change setting the version itself is taken as given
    assert await db(Ledger.query().where(Ledger.c.id == other.id).update({"revision": Ledger.c.revision + 5})) == 1
    assert (await db(Ledger.find_one(other.id))).revision == fresh.revision + 5


# ---- joins to a soft-deleting model ----------------------------------------------------------
async def _writers(db):
    from typing import ClassVar

    from twinrecord import HasMany

    class Writer(db.Base):
        __table_name__ = "soft_writers"
        id: Optional[int] = None
        name: str
        pieces: ClassVar[HasMany[Piece]] = HasMany(foreign_key="writer_id", model="Piece")

    class Piece(SoftDeleteMixin, db.Base):
        __table_name__ = "soft_pieces"
        id: Optional[int] = None
        writer_id: int
        title: str

    Writer.pieces.model = Piece
    await db.create(Writer, Piece)
    ann = await db(Writer.create(name="ann"))  # one live piece, one deleted
    bob = await db(Writer.create(name="bob"))  # only a deleted piece
    await db(Piece.create(writer_id=ann.id, title="live"))
    for writer in (ann, bob):
        await db((await db(Piece.create(writer_id=writer.id, title="dead"))).delete())
    return Writer, Piece


async def _names(db, query):
    return sorted(tuple(r.values()) for r in await db(query.to_dicts()))


async def test_joins_to_a_soft_deleting_model_leave_deleted_rows_out(db):
    from twinrecord import aliased

    Writer, Piece = await _writers(db)
    pairs = lambda q: q.select(Writer.c.name, Piece.c.title)  # noqa: E731
    live = [("ann", "live")]
    assert await _names(db, pairs(Writer.query().join("pieces"))) == live
    assert await _names(db, pairs(Writer.query().inner_join(
        Piece, on=Piece.c.writer_id == Writer.c.id))) == live
    p = aliased(Piece, "p")
    assert await _names(db, Writer.query().inner_join(p, on=p.c.writer_id == Writer.c.id)
                        .select(Writer.c.name, p.c.title)) == live
    # in ON, not WHERE: a LEFT JOIN keeps the writer whose pieces are all deleted
    assert await _names(db, pairs(Writer.query().left_join("pieces"))) == [
        ("ann", "live"), ("bob", None)]
    # with_deleted() lifts the joins' filters too (the writer model has none of its own)
    assert len(await db(pairs(Writer.query().join("pieces").with_deleted()).to_dicts())) == 3
    sql, _ = Writer.query().join("pieces").to_sql()
    assert "deleted_at" in sql and "IS NULL" in sql


async def test_joins_written_as_sql_leave_deleted_rows_out(db):
    Writer, Piece = await _writers(db)
    cols = "soft_writers.name, soft_pieces.title"
    table_on = Writer.query().inner_join("soft_pieces", on="soft_pieces.writer_id = soft_writers.id")
    assert await _names(db, table_on.select(cols)) == [("ann", "live")]
    clause = Writer.query().join(
        "LEFT JOIN soft_pieces AS sp ON sp.writer_id = soft_writers.id -- a comment\n")
    assert await _names(db, clause.select("soft_writers.name, sp.title")) == [
        ("ann", "live"), ("bob", None)]
    assert await db(Writer.query().join(
        "JOIN soft_pieces ON soft_pieces.writer_id = soft_writers.id OR 1 = 1").count()) == 2
    assert await db(Writer.query().join(
        "JOIN soft_pieces ON soft_pieces.writer_id = soft_writers.id").with_deleted().count()) == 3
    with pytest.raises(StatementInvalid, match="one join per call"):
        Writer.query().join("JOIN soft_writers w2 ON w2.id = soft_writers.id "
                            "JOIN soft_pieces ON soft_pieces.writer_id = w2.id")
    rows = await db(Writer.backend().fetch_all(  # raw SQL is never filtered
        "SELECT soft_pieces.title FROM soft_writers JOIN soft_pieces "
        "ON soft_pieces.writer_id = soft_writers.id"))
    assert len(rows) == 3
