"""The schema declared on the model (API.md §19), every backend x kind: keys, unique
constraints, foreign keys, defaults, comments, indexes, column names, enum width, and
the constraint names errors report."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Optional

import pytest
from pydantic import Field, ValidationError

from twinrecord import (
    Column,
    ConfigurationError,
    FeatureNotSupported,
    ForeignKey,
    Index,
    IntegrityError,
    RecordInvalid,
    RecordNotUnique,
)


def blog_models(db, partial: bool = True):
    class User(db.Base):
        __table_name__ = "users"
        id: Optional[int] = None
        email: Annotated[str, Column(unique=True, max_length=120)]

    where = "deleted_at IS NULL" if partial else None

    class Post(db.Base):
        __table_name__ = "posts"
        __indexes__ = (
            Index("user_id", "created_at"),
            Index("slug", unique=True, where=where),
        )
        id: Optional[int] = None
        user_id: Annotated[int, ForeignKey(User, on_delete="cascade")]
        slug: str = Field(max_length=200)
        title: Annotated[str, Column(unique=True, max_length=300)]
        views: Annotated[int, Column(server_default=0, index=True)] = 0
        body: Annotated[str, Column(name="body_text", comment="markdown")]
        created_at: Optional[datetime] = None
        deleted_at: Optional[datetime] = None

    return User, Post


async def fresh(db, partial: bool = True):
    if partial and db.backend_name == "mysql":
        partial = False
    User, Post = blog_models(db, partial)
    await db.create(User, Post)
    return User, Post


async def index_names(db, table: str) -> set[str]:
    backend = db.backend
    if db.backend_name == "sqlite":
        rows = await db(backend.fetch_all(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND name NOT LIKE 'sqlite_autoindex%'", (table,)))
    elif db.backend_name == "postgres":
        rows = await db(backend.fetch_all(
            "SELECT indexname AS name FROM pg_indexes WHERE tablename = ?", (table,)))
    else:
        rows = await db(backend.fetch_all(
            "SELECT DISTINCT index_name AS name FROM information_schema.statistics "
            "WHERE table_schema = DATABASE() AND table_name = ?", (table,)))
    return {r["name"] for r in rows}


async def test_indexes_and_unique_constraints_have_their_names(db):
    User, Post = await fresh(db)
    names = await index_names(db, "posts")
    assert {"ix_posts_user_id_created_at", "uq_posts_slug", "ix_posts_views"} <= names
    if db.backend_name == "sqlite":  # a UNIQUE constraint's index is SQLite's own
        made = await db(db.backend.fetch_one("SELECT sql FROM sqlite_master WHERE name = 'posts'"))
        assert 'CONSTRAINT "uq_posts_title" UNIQUE ("title")' in made["sql"]
    else:
        assert "uq_posts_title" in names


async def test_unique_violation_reports_the_constraint_name(db):
    User, Post = await fresh(db)
    await db(User(email="a@x.org").save())
    with pytest.raises(RecordNotUnique) as caught:
        await db(User(email="a@x.org").save())
    assert caught.value.constraint == "uq_users_email"
    user = await db(User.find_one({"email": "a@x.org"}))
    await db(Post(user_id=user.id, slug="s1", title="T", body="b").save())
    with pytest.raises(RecordNotUnique) as caught:
        await db(Post(user_id=user.id, slug="s2", title="T", body="b").save())
    assert caught.value.constraint == "uq_posts_title"
    with pytest.raises(RecordNotUnique) as caught:
        await db(Post(user_id=user.id, slug="s1", title="U", body="b").save())
    assert caught.value.constraint == "uq_posts_slug"


async def test_primary_key_violation_reports_pk_name(db):
    User, Post = await fresh(db)
    await db(User(id=7, email="a@x.org").save())
    with pytest.raises(RecordNotUnique) as caught:
        await db(User(id=7, email="b@x.org").save())
    assert caught.value.constraint == "pk_users"


async def test_foreign_key_is_enforced_and_named(db):
    User, Post = await fresh(db)
    with pytest.raises(IntegrityError) as caught:
        await db(Post(user_id=999, slug="s", title="T", body="b").save())
    assert type(caught.value) is IntegrityError
    assert caught.value.constraint == "fk_posts_user_id_users"
    assert await db(Post.query().count()) == 0


def other_application(directory) -> list[type]:
    """Another application in the same process, on its own SQLite database, whose
    tables share the scenario's names but not its constraints."""
    from twinrecord import BaseActiveRecord

    class OtherBase(BaseActiveRecord):
        pass

    class OtherUser(OtherBase):
        __table_name__ = "users"
        id: Optional[int] = None
        handle: Annotated[str, Column(unique=True, max_length=50)]

    class OtherPost(OtherBase):
        __table_name__ = "posts"
        id: Optional[int] = None
        owner_id: Annotated[int, ForeignKey(OtherUser)]
        title: str

    class OtherComment(OtherBase):
        __table_name__ = "comments"
        id: Optional[int] = None
        post_id: Annotated[int, ForeignKey(OtherPost)]

    OtherBase.configure(f"sqlite:///{directory}/other.db")
    for model in (OtherUser, OtherPost, OtherComment):
        model.create_table()
    return [OtherBase, OtherUser, OtherPost, OtherComment]


async def test_constraint_names_ignore_another_applications_tables(db, tmp_path):
    # SQLite reports a foreign key violation without a name and a unique one by its
    # columns: the names are looked up among the tables this backend created, never
    # among same-named tables another backend created later in the process.
    User, Post = await fresh(db)
    other = other_application(tmp_path)
    try:
        with pytest.raises(IntegrityError) as caught:
            await db(Post(user_id=999, slug="s", title="T", body="b").save())
        assert caught.value.constraint == "fk_posts_user_id_users"
        user = User(email="a@x.org")
        await db(user.save())
        await db(Post(user_id=user.id, slug="s", title="T", body="b").save())
        with pytest.raises(RecordNotUnique) as caught:
            await db(Post(user_id=user.id, slug="s", title="U", body="b").save())
        assert caught.value.constraint == "uq_posts_slug"
    finally:
        other[0].backend().close()


async def test_not_null_violation_has_no_constraint_name(db):
    User, Post = await fresh(db)
    with pytest.raises(IntegrityError) as caught:
        await db(db.backend.execute("INSERT INTO users (email) VALUES (?)", (None,)))
    assert type(caught.value) is IntegrityError
    assert caught.value.constraint is None  # NOT NULL constraints have no name (§19)


async def test_on_delete_cascade(db):
    User, Post = await fresh(db)
    user = User(email="a@x.org")
    await db(user.save())
    await db(Post(user_id=user.id, slug="s", title="T", body="b").save())
    await db(user.delete())
    assert await db(Post.query().count()) == 0


async def test_server_default_applies_to_rows_written_without_the_column(db):
    User, Post = await fresh(db)
    user = User(email="a@x.org")
    await db(user.save())
    await db(db.backend.execute(
        "INSERT INTO posts (user_id, slug, title, body_text) VALUES (?, ?, ?, ?)",
        (user.id, "s", "T", "b")))
    post = await db(Post.find_one({"slug": "s"}))
    assert post.views == 0


async def test_column_name_maps_field_to_column(db):
    User, Post = await fresh(db)
    user = User(email="a@x.org")
    await db(user.save())
    post = Post(user_id=user.id, slug="s", title="T", body="# hello")
    await db(post.save())
    row = await db(db.backend.fetch_one("SELECT body_text FROM posts"))
    assert row == {"body_text": "# hello"}
    loaded = await db(Post.find_one({"body": "# hello"}))
    assert loaded.body == "# hello" and "body_text" not in loaded.model_dump()
    loaded.body = "changed"
    assert await db(loaded.save()) == 1
    assert (await db(Post.find_one(post.id))).body == "changed"
    assert await db(Post.query().where({"body": "changed"}).update({"body": "again"})) == 1
    by_sql = await db(Post.find_by_sql("SELECT * FROM posts"))
    assert by_sql[0].body == "again"
    assert await db(Post.query().where({"body": "again"}).delete()) == 1


async def test_partial_unique_index(db):
    if db.backend_name == "mysql":
        User, Post = blog_models(db, partial=True)
        await db(User.drop_table())
        await db(User.create_table())
        db._tables.append(User)
        with pytest.raises(FeatureNotSupported, match="partial"):
            await db(Post.create_table())
        assert "posts" not in {t.lower() for t in await tables(db)}
        return
    User, Post = await fresh(db)
    user = User(email="a@x.org")
    await db(user.save())
    gone = Post(user_id=user.id, slug="s", title="T1", body="b", deleted_at=datetime(2024, 1, 1))
    await db(gone.save())
    await db(Post(user_id=user.id, slug="s", title="T2", body="b").save())
    with pytest.raises(RecordNotUnique) as caught:
        await db(Post(user_id=user.id, slug="s", title="T3", body="b").save())
    assert caught.value.constraint == "uq_posts_slug"


async def tables(db) -> list[str]:
    backend = db.backend
    if db.backend_name == "sqlite":
        rows = await db(backend.fetch_all("SELECT name FROM sqlite_master WHERE type = 'table'"))
    elif db.backend_name == "postgres":
        rows = await db(backend.fetch_all(
            "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'"))
    else:
        rows = await db(backend.fetch_all(
            "SELECT table_name AS name FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"))
    return [r["name"] for r in rows]


async def test_comments(db):
    User, Post = await fresh(db)
    if db.backend_name == "postgres":
        row = await db(db.backend.fetch_one(
            "SELECT col_description('posts'::regclass, attnum) AS c FROM pg_attribute "
            "WHERE attrelid = 'posts'::regclass AND attname = 'body_text'"))
        assert row == {"c": "markdown"}
    elif db.backend_name == "mysql":
        row = await db(db.backend.fetch_one(
            "SELECT column_comment AS c FROM information_schema.columns WHERE table_schema = "
            "DATABASE() AND table_name = 'posts' AND column_name = 'body_text'"))
        assert row == {"c": "markdown"}
    else:  # SQLite has no comments; the column is made all the same
        assert "body_text" in (await db(db.backend.fetch_one(
            "SELECT sql FROM sqlite_master WHERE name = 'posts'")))["sql"]


async def test_create_table_is_one_transaction_where_ddl_is_transactional(db):
    class Broken(db.Base):
        __table_name__ = "broken"
        __indexes__ = (Index("n", where="no_such_column > 0"),)
        id: Optional[int] = None
        n: int

    if db.backend_name == "mysql":
        with pytest.raises(FeatureNotSupported):
            await db(Broken.create_table())
        return
    with pytest.raises(Exception):  # noqa: B017  # the index's WHERE is wrong
        await db(Broken.create_table())
    assert "broken" not in await tables(db)  # the CREATE TABLE was rolled back with it


class Status(str, enum.Enum):
    NEW = "new"
    DONE = "done"


async def test_enum_column_fits_values_added_later(db):
    class Task(db.Base):
        __table_name__ = "tasks"
        id: Optional[int] = None
        status: Status

    await db.create(Task)
    later = "waiting_for_an_external_review_by_the_committee_2025"
    await db(db.backend.execute("INSERT INTO tasks (status) VALUES (?)", (later,)))
    row = await db(db.backend.fetch_one("SELECT status FROM tasks"))
    assert row == {"status": later}


async def test_composite_key_table_with_foreign_keys(db):
    User, Post = await fresh(db)

    class Like(db.Base):
        __table_name__ = "likes"
        __primary_key__ = ("user_id", "post_id")
        user_id: Annotated[int, ForeignKey("users")]
        post_id: Annotated[int, ForeignKey("posts", on_delete="cascade")]

    await db.create(Like)
    user = User(email="a@x.org")
    await db(user.save())
    post = Post(user_id=user.id, slug="s", title="T", body="b")
    await db(post.save())
    await db(Like(user_id=user.id, post_id=post.id).save())
    with pytest.raises(RecordNotUnique) as caught:
        await db(Like(user_id=user.id, post_id=post.id).save())
    assert caught.value.constraint == "pk_likes"
    with pytest.raises(IntegrityError) as caught:
        await db(Like(user_id=user.id, post_id=12345).save())
    # SQLite does not say which foreign key failed; with two candidates there is no name.
    expected = None if db.backend_name == "sqlite" else "fk_likes_post_id_posts"
    assert caught.value.constraint == expected
    await db(post.delete())
    assert await db(Like.query().count()) == 0


async def test_column_max_length_validates(db):
    User, Post = await fresh(db)
    with pytest.raises(ValidationError):
        User(email="x" * 121)
    user = User(email="x@y.z")
    await db(user.save())
    # model_copy(update=) writes around assignment validation: save validates again.
    user = user.model_copy(update={"email": "x" * 121})
    with pytest.raises(RecordInvalid):
        await db(user.save())


def test_bad_declarations_fail_at_class_definition():
    from twinrecord import BaseActiveRecord

    with pytest.raises(ConfigurationError, match="on_delete"):
        ForeignKey("users", on_delete="explode")
    with pytest.raises(ConfigurationError, match="nope"):

        class Bad(BaseActiveRecord):
            __indexes__ = (Index("nope"),)
            id: Optional[int] = None

    with pytest.raises(ConfigurationError, match="server_default"):

        class BadDefault(BaseActiveRecord):
            id: Optional[int] = None
            n: Annotated[int, Column(server_default="many")]

    with pytest.raises(ConfigurationError, match="both use column"):

        class Twice(BaseActiveRecord):
            id: Optional[int] = None
            a: Annotated[int, Column(name="x")]
            x: int

        Twice._meta()


async def test_field_names_reach_renamed_columns_wherever_names_are_taken(db):
    """`Column(name=...)` renames the column; the field's name works in every method that
    takes a column name as a string (API.md §19), as in where() and dicts."""

    class Doc(db.Base):
        __table_name__ = "renamed_docs"
        id: Optional[int] = None
        title: Annotated[str, Column(name="title_text", max_length=50)]
        kind: Annotated[str, Column(name="kind_code", max_length=10)] = "a"
        size: Annotated[int, Column(name="size_n")] = 0

    await db.create(Doc)
    await db(Doc.insert_many([
        Doc(title="b", kind="x", size=2), Doc(title="a", kind="y", size=1),
        Doc(title="c", kind="x", size=4)]))
    titles = lambda docs: [d.title for d in docs]  # noqa: E731
    assert titles(await db(Doc.query().order_by("title").all())) == ["a", "b", "c"]
    assert titles(await db(Doc.query().order_by("-title").all())) == ["c", "b", "a"]
    assert titles(await db(Doc.query().order_by("renamed_docs.title DESC").all())) == ["c", "b", "a"]
    assert titles(await db(Doc.query().order_by("kind", "-size").all())) == ["c", "b", "a"]
    assert (await db(Doc.query().order_by("title").last())).title == "c"
    assert await db(Doc.query().order_by("title").pluck("title")) == ["a", "b", "c"]
    assert await db(Doc.query().order_by("size").pluck("title", "size")) == [("a", 1), ("b", 2), ("c", 4)]
    rows = await db(Doc.query().select("title").order_by("title").to_dicts())
    assert rows == [{"title": "a"}, {"title": "b"}, {"title": "c"}]
    grouped = await db(Doc.query().group_by("kind").count("*", "n").sum("size", "total").aggregate())
    assert sorted((r["kind"], r["n"], r["total"]) for r in grouped) == [("x", 2, 6), ("y", 1, 1)]
    assert await db(Doc.query().sum("size")) == 7
    assert await db(Doc.query().max("title")) == "c"
    assert await db(Doc.query().count("kind", distinct=True)) == 2
    assert await db(Doc.query().group_by("kind").count("size").aggregate()) in (
        [{"kind": "x", "count_size": 2}, {"kind": "y", "count_size": 1}],
        [{"kind": "y", "count_size": 1}, {"kind": "x", "count_size": 2}])
