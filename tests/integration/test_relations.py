"""Relation scenarios (API.md §10), run in every backend x kind combination.

`sql_log` counts the statements sent (the `twinrecord.sql` logger), so the tests
prove the query counts: 1 + one per relation level for any number of parents,
and 0 for every access answered from the cache.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, Optional

import pytest

from twinrecord import (
    ActiveQuery,
    AsyncActiveQuery,
    AsyncBaseActiveRecord,
    BaseActiveRecord,
    BelongsTo,
    ConfigurationError,
    DatabaseError,
    HasMany,
    HasOne,
    RelationNotFound,
)


class StatementLog(logging.Handler):
    """Every statement the `twinrecord.sql` logger reports, in order."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(record.getMessage())

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        """The statements sent inside the block (filled when the block ends)."""
        start = len(self.statements)
        sent: list[str] = []
        yield sent
        sent.extend(self.statements[start:])


@pytest.fixture
def sql_log() -> Iterator[StatementLog]:
    logger = logging.getLogger("twinrecord.sql")
    handler = StatementLog()
    previous = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def blog_models(base):
    """The blog of API.md §10; related models named by string, defined in any order.

    Tables are prefixed so runs of other test files against the same servers (other
    sessions, at the same time) cannot drop them mid-test.
    """

    class User(base):
        __table_name__ = "rel_users"
        id: Optional[int] = None
        name: str
        posts: ClassVar[HasMany[Post]] = HasMany(foreign_key="user_id", inverse_of="author")
        profile: ClassVar[HasOne[Profile]] = HasOne(foreign_key="user_id", inverse_of="user")

    class Post(base):
        __table_name__ = "rel_posts"
        id: Optional[int] = None
        user_id: int
        editor_id: Optional[int] = None
        title: str
        published: bool = True
        author: ClassVar[BelongsTo[User]] = BelongsTo(foreign_key="user_id", inverse_of="posts")
        editor: ClassVar[BelongsTo[User]] = BelongsTo()          # editor_id by default
        comments: ClassVar[HasMany[Comment]] = HasMany()        # post_id by default
        tags: ClassVar[HasMany[Tag]] = HasMany(
            through="PostTag", foreign_key="post_id", target_key="tag_id"
        )
        first_tag: ClassVar[HasOne[Tag]] = HasOne(
            through="PostTag", foreign_key="post_id", target_key="tag_id"
        )

    class Comment(base):
        __table_name__ = "rel_comments"
        id: Optional[int] = None
        post_id: int
        body: str

    class Profile(base):
        __table_name__ = "rel_profiles"
        id: Optional[int] = None
        user_id: int
        bio: str
        user: ClassVar[BelongsTo[User]] = BelongsTo(inverse_of="profile")

    class Tag(base):
        __table_name__ = "rel_tags"
        id: Optional[int] = None
        name: str
        posts: ClassVar[HasMany[Post]] = HasMany(
            through="PostTag", foreign_key="tag_id", target_key="post_id"
        )

    class PostTag(base):
        __table_name__ = "rel_post_tags"
        id: Optional[int] = None
        post_id: int
        tag_id: int

    return User, Post, Comment, Profile, Tag, PostTag


async def blog(db):
    """ann: 2 posts (3 and 1 comments), a profile; bob: 1 unpublished post, a profile;
    cid: nothing. Tags: 'db' on ann's posts, 'py' on ann's first and bob's post."""
    User, Post, Comment, Profile, Tag, PostTag = models = blog_models(db.Base)
    await db.create(*models)
    ann, bob, cid = users = [User(name=n) for n in ("ann", "bob", "cid")]
    await db(User.insert_many(users))
    posts = [
        Post(user_id=ann.id, title="a1", editor_id=bob.id),
        Post(user_id=ann.id, title="a2"),
        Post(user_id=bob.id, title="b1", published=False),
    ]
    await db(Post.insert_many(posts))
    a1, a2, b1 = posts
    await db(Comment.insert_many(
        [Comment(post_id=a1.id, body=b) for b in ("x", "y", "z")] + [Comment(post_id=a2.id, body="w")]
    ))
    await db(Profile.insert_many([Profile(user_id=ann.id, bio="A"), Profile(user_id=bob.id, bio="B")]))
    db_tag, py_tag = tags = [Tag(name="db"), Tag(name="py")]
    await db(Tag.insert_many(tags))
    links = [(a1, db_tag), (a2, db_tag), (a1, py_tag), (b1, py_tag)]
    await db(PostTag.insert_many([PostTag(post_id=p.id, tag_id=t.id) for p, t in links]))
    return models


def titles(posts):
    return sorted(p.title for p in posts)


def padded(count):
    """How many keys an IN list of `count` keys sends: the next power of two."""
    return 1 << (count - 1).bit_length()


def by_id(records):
    return sorted(records, key=lambda r: r.id)


# ---- explicit loads --------------------------------------------------------------------
async def test_belongs_to_loads_once_then_answers_from_the_cache(db, sql_log):
    User, Post, *_ = await blog(db)
    post = await db(Post.find_one({"title": "a1"}))
    with sql_log.capture() as sent:
        author = await db(post.author())
    assert isinstance(author, User) and author.name == "ann"
    assert len(sent) == 1
    with sql_log.capture() as sent:
        again = await db(post.author())
    assert again is author and sent == []


async def test_belongs_to_default_key_and_null_key(db, sql_log):
    User, Post, *_ = await blog(db)
    a1, a2 = await db(Post.query().order_by("title").limit(2).all())
    assert (await db(a1.editor())).name == "bob"              # editor_id, from the name
    with sql_log.capture() as sent:
        assert await db(a2.editor()) is None                    # NULL key: nothing to ask
        assert await db(a2.editor()) is None
    assert sent == []


async def test_belongs_to_follows_a_changed_foreign_key(db):
    User, Post, *_ = await blog(db)
    post = await db(Post.find_one({"title": "a1"}))
    assert (await db(post.author())).name == "ann"
    bob = await db(User.find_one({"name": "bob"}))
    post.user_id = bob.id
    assert (await db(post.author())).name == "bob"


async def test_has_many_and_has_one(db, sql_log):
    User, *_ = await blog(db)
    ann, bob, cid = await db(User.query().order_by("name").all())
    assert titles(await db(ann.posts())) == ["a1", "a2"]
    assert titles(await db(bob.posts())) == ["b1"]
    assert (await db(ann.profile())).bio == "A"
    with sql_log.capture() as sent:
        assert await db(cid.posts()) == []
        assert await db(cid.profile()) is None
    assert len(sent) == 2
    with sql_log.capture() as sent:                          # empty results are cached too
        assert await db(cid.posts()) == []
        assert await db(cid.profile()) is None
    assert sent == []


async def test_a_new_record_has_no_related_rows_until_saved(db, sql_log):
    User, Post, *_ = await blog(db)
    dan = User(name="dan")
    with sql_log.capture() as sent:
        assert await db(dan.posts()) == []
        assert await db(dan.posts_query().all()) == []
    assert len(sent) == 1                                    # only the query that was asked for
    await db(dan.save())
    await db(Post(user_id=dan.id, title="d1").save())
    assert titles(await db(dan.posts())) == ["d1"]             # the key changed: loaded anew


async def test_inverse_of_fills_back_references_of_an_explicit_load(db, sql_log):
    User, *_ = await blog(db)
    ann = await db(User.find_one({"name": "ann"}))
    posts = await db(ann.posts())
    profile = await db(ann.profile())
    with sql_log.capture() as sent:
        assert all([await db(p.author()) is ann for p in posts])
        assert await db(profile.user()) is ann
    assert sent == []


async def test_refresh_reloads_and_clear_forgets(db, sql_log):
    User, Post, *_ = await blog(db)
    bob = await db(User.find_one({"name": "bob"}))
    assert titles(await db(bob.posts())) == ["b1"]
    await db(Post(user_id=bob.id, title="b2").save())
    assert titles(await db(bob.posts())) == ["b1"]             # the cache, as documented
    with sql_log.capture() as sent:
        assert titles(await db(bob.posts(refresh=True))) == ["b1", "b2"]
    assert len(sent) == 1
    await db(Post(user_id=bob.id, title="b3").save())
    bob.clear_relation_cache()
    assert titles(await db(bob.posts())) == ["b1", "b2", "b3"]
    await db(Post(user_id=bob.id, title="b4").save())
    await db(bob.refresh())                                   # reloading the record resets too
    assert titles(await db(bob.posts())) == ["b1", "b2", "b3", "b4"]


async def test_many_to_many_through_a_join_model_both_directions(db):
    User, Post, Comment, Profile, Tag, PostTag = await blog(db)
    a1 = await db(Post.find_one({"title": "a1"}))
    assert sorted(t.name for t in await db(a1.tags())) == ["db", "py"]
    py = await db(Tag.find_one({"name": "py"}))
    assert titles(await db(py.posts())) == ["a1", "b1"]
    first = await db(a1.first_tag())
    assert isinstance(first, Tag) and first.name in ("db", "py")
    b2 = Post(user_id=1, title="b2")
    await db(b2.save())
    assert await db(b2.tags()) == [] and await db(b2.first_tag()) is None


async def test_relation_query_is_the_filtered_query_of_the_kind(db):
    User, Post, Comment, Profile, Tag, PostTag = await blog(db)
    ann = await db(User.find_one({"name": "ann"}))
    query = ann.posts_query()
    assert isinstance(query, AsyncActiveQuery if db.is_async else ActiveQuery)
    assert await db(query.count()) == 2
    assert [p.title for p in await db(query.order_by("title DESC").all())] == ["a2", "a1"]
    assert await db(query.where("title = ?", ("a2",)).count()) == 1
    assert (await db(ann.profile_query().one())).bio == "A"
    a1 = await db(Post.find_one({"title": "a1"}))
    assert (await db(a1.author_query().one())).name == "ann"
    assert [t.name for t in await db(a1.tags_query().order_by("rel_tags.name").all())] == ["db", "py"]
    py = await db(Tag.find_one({"name": "py"}))
    assert await db(py.posts_query().where("published = ?", (False,)).count()) == 1
    assert ann.posts.query().to_sql()[1] == ann.posts_query().to_sql()[1]


# ---- eager loading ---------------------------------------------------------------------
async def test_eager_loading_sends_one_query_per_level_for_any_number_of_parents(db, sql_log):
    User, Post, Comment, Profile, *_ = blog_models(db.Base)
    await db.create(User, Post, Comment, Profile)
    for count in (1, 4, 13):
        users = [User(name=f"u{count}-{i}") for i in range(count)]
        await db(User.insert_many(users))
        posts = [Post(user_id=u.id, title=f"{u.name}-{j}") for u in users for j in range(2)]
        await db(Post.insert_many(posts))
        await db(Comment.insert_many([Comment(post_id=p.id, body="c") for p in posts]))
        query = User.query().where("name LIKE ?", (f"u{count}-%",))
        with sql_log.capture() as sent:
            loaded = await db(query.with_("posts", "posts.comments", "profile").all())
        assert len(loaded) == count
        assert len(sent) == 1 + 3, sent
        # The keys travel as one bound IN list per level (padded to a power of two).
        assert " IN (" in sent[1] and f"| {padded(count)} params" in sent[1]
        assert " IN (" in sent[2] and f"| {padded(2 * count)} params" in sent[2]
        with sql_log.capture() as sent:
            for user in loaded:
                user_posts = await db(user.posts())
                assert len(user_posts) == 2 and await db(user.profile()) is None
                for post in user_posts:
                    assert [c.body for c in await db(post.comments())] == ["c"]
                    assert await db(post.author()) is user            # inverse_of, eager
        assert sent == []


async def test_eager_results_equal_explicit_loads(db):
    User, *_ = await blog(db)
    eager = await db(
        User.query().order_by("name").with_("posts.comments", "posts.tags", "profile").all()
    )
    plain = await db(User.query().order_by("name").all())
    for loaded, fresh in zip(eager, plain):
        assert titles(await db(loaded.posts())) == titles(await db(fresh.posts()))
        assert await db(loaded.profile()) == await db(fresh.profile())
        twins = {p.id: p for p in await db(loaded.posts())}
        for post in await db(fresh.posts()):
            twin = twins[post.id]
            assert by_id(await db(twin.comments())) == by_id(await db(post.comments()))
            assert by_id(await db(twin.tags())) == by_id(await db(post.tags()))


async def test_a_nested_path_alone_loads_the_levels_above_it(db, sql_log):
    User, *_ = await blog(db)
    with sql_log.capture() as sent:
        users = await db(User.query().order_by("name").with_("posts.comments").all())
    assert len(sent) == 3
    with sql_log.capture() as sent:
        ann_posts = await db(users[0].posts())
        assert sorted([len(await db(p.comments())) for p in ann_posts]) == [1, 3]
    assert sent == []


async def test_eager_modifiers_filter_and_order_each_level(db, sql_log):
    User, *_ = await blog(db)
    query = User.query().order_by("name").with_(
        ("posts", lambda q: q.where("published = ?", (True,)).order_by("title DESC")),
        ("posts.comments", lambda q: q.where("body <> ?", ("y",)).order_by("body")),
    )
    with sql_log.capture() as sent:
        ann, bob, cid = await db(query.all())
    assert len(sent) == 3
    assert [p.title for p in await db(ann.posts())] == ["a2", "a1"]
    assert await db(bob.posts()) == []                      # b1 is not published
    a2, a1 = await db(ann.posts())
    assert [c.body for c in await db(a1.comments())] == ["x", "z"]


async def test_eager_belongs_to_shares_one_record_per_key(db, sql_log):
    User, Post, *_ = await blog(db)
    with sql_log.capture() as sent:
        posts = await db(Post.query().order_by("title").with_("author", "editor", "tags").all())
    assert len(sent) == 4
    with sql_log.capture() as sent:
        a1, a2, b1 = posts
        assert await db(a1.author()) is await db(a2.author())
        assert (await db(b1.author())).name == "bob"
        assert (await db(a1.editor())).name == "bob" and await db(a2.editor()) is None
        assert sorted(t.name for t in await db(a1.tags())) == ["db", "py"]
        # A tag linked to several posts is one record.
        db_tags = [t for p in (a1, a2) for t in await db(p.tags()) if t.name == "db"]
        assert db_tags[0] is db_tags[1]
    assert sent == []


async def test_eager_many_to_many_the_other_way_and_below_it(db, sql_log):
    User, Post, Comment, Profile, Tag, PostTag = await blog(db)
    with sql_log.capture() as sent:
        db_tag, py = await db(Tag.query().order_by("name").with_("posts.author").all())
    assert len(sent) == 3
    with sql_log.capture() as sent:
        assert titles(await db(py.posts())) == ["a1", "b1"]
        assert sorted([(await db(p.author())).name for p in await db(py.posts())]) == ["ann", "bob"]
    assert sent == []


async def test_eager_has_one_inverse_and_belongs_to_inverse(db, sql_log):
    User, Post, Comment, Profile, *_ = await blog(db)
    users = await db(User.query().with_("profile").all())
    profiles = await db(Profile.query().with_("user").all())
    with sql_log.capture() as sent:
        for user in users:
            profile = await db(user.profile())
            assert profile is None or await db(profile.user()) is user
        for profile in profiles:
            assert await db((await db(profile.user())).profile()) is profile
    assert sent == []


async def test_eager_loading_chunks_large_key_sets(db, sql_log, monkeypatch):
    User, Post, *_ = blog_models(db.Base)
    await db.create(User, Post)
    users = [User(name=f"u{i}") for i in range(10)]
    await db(User.insert_many(users))
    await db(Post.insert_many([Post(user_id=u.id, title=u.name) for u in users]))
    backend = db.backend
    monkeypatch.setattr(backend, "dialect", dataclasses.replace(backend.dialect, max_params=4))
    with sql_log.capture() as sent:
        loaded = await db(User.query().with_("posts").all())
    assert len(sent) == 1 + 3                                # 10 keys, at most 4 per statement
    assert all("| 4 params" in s or "| 2 params" in s for s in sent[1:])
    assert len(loaded) == 10
    for user in loaded:
        assert [p.title for p in await db(user.posts())] == [user.name]


async def test_one_row_loaded_twice_gets_two_lists(db):
    User, *_ = await blog(db)
    query = User.query().inner_join("rel_posts", "rel_posts.user_id = rel_users.id")
    first, second = await db(query.where({"name": "ann"}).with_("posts").all())
    assert first is not second and first.id == second.id
    assert titles(await db(first.posts())) == titles(await db(second.posts())) == ["a1", "a2"]
    (await db(first.posts())).clear()                        # one record's list is its own
    assert titles(await db(second.posts())) == ["a1", "a2"]


async def test_eager_loading_with_no_rows_sends_nothing_more(db, sql_log):
    User, *_ = await blog(db)
    with sql_log.capture() as sent:
        assert await db(User.query().where("name = ?", ("nobody",)).with_("posts").all()) == []
    assert len(sent) == 1


async def test_one_and_find_all_queries_eager_load_too(db, sql_log):
    User, *_ = await blog(db)
    with sql_log.capture() as sent:
        ann = await db(User.query().where({"name": "ann"}).with_("posts").one())
        assert titles(await db(ann.posts())) == ["a1", "a2"]
    assert len(sent) == 2


# ---- errors and no hidden I/O ----------------------------------------------------------
async def test_unknown_relation_names_list_the_models_relations(db):
    User, Post, *_ = blog_models(db.Base)
    with pytest.raises(RelationNotFound) as caught:
        User.query().with_("postz")
    assert isinstance(caught.value, DatabaseError)
    assert "postz" in str(caught.value) and "posts, profile" in str(caught.value)
    with pytest.raises(RelationNotFound) as caught:
        User.query().with_("posts.coments")
    message = str(caught.value)
    assert "Post has no relation 'coments'" in message
    assert "author, comments, editor, first_tag, tags" in message


async def test_attribute_access_and_model_dump_never_query(db, sql_log):
    User, Post, *_ = await blog(db)
    posts = await db(Post.query().order_by("title").with_("author").all())
    plain = await db(User.find_one({"name": "cid"}))
    with sql_log.capture() as sent:
        for post in posts:
            assert post.model_dump() == {
                "id": post.id, "user_id": post.user_id, "editor_id": post.editor_id,
                "title": post.title, "published": post.published,
            }
            assert "author" not in post.model_dump_json()
            assert not isinstance(post.author, User)          # reading it loads nothing
            post.author.is_loaded()
        assert plain.model_dump() == {"id": plain.id, "name": "cid"}
        assert not plain.posts.is_loaded() and plain.posts_query() is not None
    assert sent == []


async def test_records_with_loaded_relations_still_compare_by_fields(db):
    User, *_ = await blog(db)
    eager = await db(User.query().where({"name": "ann"}).with_("posts").one())
    plain = await db(User.find_one({"name": "ann"}))
    assert eager == plain


# ---- a model with both kinds (API.md §6) -----------------------------------------------
async def test_combined_models_reach_relations_through_either_kind(db):
    combined = type("Combined", (BaseActiveRecord, AsyncBaseActiveRecord), {"__module__": __name__})
    combined.configure(db.url)
    User, Post, *_ = models = blog_models(combined)
    try:
        for model in (User, Post):
            model.drop_table()
            model.create_table()
        ann = User(name="ann")
        ann.save()
        Post(user_id=ann.id, title="a1").save()
        assert titles(ann.posts()) == ["a1"]                   # bare names: the sync kind
        assert isinstance(ann.posts_query(), ActiveQuery)
        fresh = User.find_one(ann.id)
        if db.backend_name == "sqlite":                         # no async SQLite: a clear error
            with pytest.raises(ConfigurationError, match="SQLite"):
                await fresh.aio.posts()
        else:
            assert titles(await fresh.aio.posts()) == ["a1"]
            assert isinstance(fresh.aio.posts_query(), AsyncActiveQuery)
            assert await fresh.aio.posts_query().count() == 1
        # Once loaded, either kind answers from the cache.
        assert titles(await ann.aio.posts()) == ["a1"]
    finally:
        for model in reversed(models[:2]):
            model.drop_table()
        combined.backend().close()
        if db.backend_name != "sqlite":
            await combined.aio.backend().close()
