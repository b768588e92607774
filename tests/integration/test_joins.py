"""Joins between models, what joined and computed queries return, and subqueries
(API.md §13.1 to §13.3), in every backend x kind.

Expected rows come from plain Python over `AUTHORS` and `POSTS`, never from the ORM.
"""

from __future__ import annotations

from typing import ClassVar, Optional

import pytest
from pydantic import Field

from twinrecord import (
    BelongsTo,
    HasMany,
    RelationNotFound,
    StatementInvalid,
    aliased,
    exists,
    func,
)

AUTHORS = [  # name, banned, manager (index into AUTHORS or None)
    ("ann", False, None),
    ("bob", True, 0),
    ("cid", False, 0),
    ("dee", False, 2),
]
POSTS = [  # author index, title, views, published
    (0, "a1", 10, True),
    (0, "a2", 0, False),
    (1, "b1", 7, True),
    (2, "c1", 3, True),
    (2, "c2", 12, True),
    (2, "c3", 1, False),
]


def models(db):
    class Author(db.Base):
        __table_name__ = "authors"
        id: Optional[int] = None
        name: str = Field(max_length=20)
        banned: bool = False
        manager_id: Optional[int] = None
        posts: ClassVar[HasMany[Article]] = HasMany(foreign_key="author_id")

    class Article(db.Base):
        __table_name__ = "articles"
        id: Optional[int] = None
        author_id: int
        title: str = Field(max_length=20)
        views: int = 0
        published: bool = False
        author: ClassVar[BelongsTo[Author]] = BelongsTo(foreign_key="author_id")

    return Author, Article


async def seeded(db):
    Author, Article = models(db)
    await db.create(Author, Article)
    authors = [Author(name=n, banned=b) for n, b, _ in AUTHORS]
    for author in authors:
        await db(author.save())
    for author, (_, _, manager) in zip(authors, AUTHORS):
        if manager is not None:
            author.manager_id = authors[manager].id
            await db(author.save())
    articles = [Article(author_id=authors[a].id, title=t, views=v, published=p) for a, t, v, p in POSTS]
    await db(Article.insert_many(articles))
    return Author, Article


def titles(records):
    return sorted(r.title for r in records)


async def test_join_by_relation_filters_on_the_joined_table(db):
    Author, Article = await seeded(db)
    posts = await db(Article.query().join("author").where(Author.c.name == "ann").all())
    assert titles(posts) == sorted(t for a, t, _, _ in POSTS if AUTHORS[a][0] == "ann")
    assert all(isinstance(p, Article) for p in posts)
    with pytest.raises(RelationNotFound, match="posts"):
        Author.query().join("comments")


async def test_left_join_with_extra_on_condition_and_distinct(db):
    Author, Article = await seeded(db)
    users = await db(Author.query().left_join("posts", on=Article.c.published == True).order_by(Author.c.id).all())  # noqa: E712
    # a has-many join repeats the parent per matching child; authors without one appear once
    expected = []
    for i, (name, _, _) in enumerate(AUTHORS):
        matches = sum(1 for a, _, _, p in POSTS if a == i and p)
        expected += [name] * max(matches, 1)
    assert [u.name for u in users] == expected
    distinct = await db(Author.query().join("posts").distinct().order_by(Author.c.id).all())
    assert [u.name for u in distinct] == [n for i, (n, _, _) in enumerate(AUTHORS) if any(a == i for a, *_ in POSTS)]


async def test_dict_conditions_on_a_joined_relation_column(db):
    Author, Article = await seeded(db)
    found = await db(Author.query().join("posts").where({"posts.published": False}).distinct().order_by(Author.c.id).all())
    assert [a.name for a in found] == [n for i, (n, _, _) in enumerate(AUTHORS) if any(a == i and not p for a, _, _, p in POSTS)]


async def test_inner_join_model_and_aliased_self_join(db):
    Author, Article = await seeded(db)
    rows = await db(
        Article.query().inner_join(Author, on=Article.c.author_id == Author.c.id)
        .select(Article.c.title, Author.c.name.alias("author")).order_by(Article.c.title).to_dicts()
    )
    assert rows == sorted(({"title": t, "author": AUTHORS[a][0]} for a, t, _, _ in POSTS), key=lambda r: r["title"])
    boss = aliased(Author, "boss")
    pairs = await db(
        Author.query().left_join(boss, on=Author.c.manager_id == boss.c.id)
        .select(Author.c.name, boss.c.name.alias("boss_name")).order_by(Author.c.id).to_dicts()
    )
    assert pairs == [{"name": n, "boss_name": AUTHORS[m][0] if m is not None else None} for n, _, m in AUTHORS]


async def test_joining_a_table_twice_needs_an_alias(db):
    Author, Article = await seeded(db)
    with pytest.raises(StatementInvalid, match="alias="):
        Article.query().join("author").inner_join(Author, on=Article.c.author_id == Author.c.id)
    again = aliased(Author, "again")
    posts = await db(
        Article.query().join("author").join("author", alias="again").where(again.c.name == "cid").all()
    )
    assert titles(posts) == sorted(t for a, t, _, _ in POSTS if AUTHORS[a][0] == "cid")


async def test_extras_hold_labelled_computed_columns(db):
    Author, Article = await seeded(db)
    users = await db(
        Author.query().left_join("posts").group_by(*Author.c)
        .select(*Author.c, func.count(Article.c.id).alias("post_count"), func.sum(Article.c.views).alias("views"))
        .order_by(Author.c.id).all()
    )
    assert [(u.name, u.extras["post_count"]) for u in users] == [
        (n, sum(1 for a, *_ in POSTS if a == i)) for i, (n, _, _) in enumerate(AUTHORS)
    ]
    assert users[0].extras["views"] == sum(v for a, _, v, _ in POSTS if a == 0)
    assert type(users[0].extras["post_count"]) is int
    assert "post_count" not in users[0].model_dump()
    with pytest.raises(TypeError):
        users[0].extras["post_count"] = 3  # read-only
    plain = await db(Author.query().first())
    assert plain.extras == {}
    users[0].name = "ann2"
    await db(users[0].save())  # extras are never saved
    assert (await db(Author.find_one(users[0].id))).name == "ann2"


async def test_unlabelled_expressions_and_clashing_columns_are_refused(db):
    Author, Article = await seeded(db)
    with pytest.raises(StatementInvalid, match="unlabelled"):
        await db(Author.query().select(*Author.c, func.count()).group_by(*Author.c).all())
    with pytest.raises(StatementInvalid, match="like the field"):
        await db(Author.query().join("posts").select(*Author.c, Article.c.id).all())
    with pytest.raises(StatementInvalid, match="both come back as 'name'"):
        await db(Article.query().join("author").select(Article.c.title.alias("name"), Author.c.name).to_dicts())


async def test_pluck_flat_and_tuples(db):
    Author, Article = await seeded(db)
    assert await db(Article.query().order_by(Article.c.id).pluck(Article.c.title)) == [t for _, t, _, _ in POSTS]
    assert await db(Article.query().where(Article.c.views > 5).order_by(Article.c.id).pluck(Article.c.title, Article.c.published)) == [
        (t, p) for _, t, v, p in POSTS if v > 5
    ]
    assert await db(Author.query().order_by(Author.c.id).select(Author.c.banned).pluck()) == [b for _, b, _ in AUTHORS]
    doubled = await db(Article.query().order_by(Article.c.id).pluck((Article.c.views * 2).alias("v")))
    assert [int(v) for v in doubled] == [v * 2 for _, _, v, _ in POSTS]


async def test_subquery_in_exists_and_scalar(db):
    Author, Article = await seeded(db)
    banned_posts = await db(Article.query().where(Article.c.author_id.in_(Author.query().where(Author.c.banned == True))).all())  # noqa: E712
    assert titles(banned_posts) == sorted(t for a, t, _, _ in POSTS if AUTHORS[a][1])
    silent = await db(Author.query().where(~exists(Article.query().where(Article.c.author_id == Author.c.id))).all())
    assert [a.name for a in silent] == [n for i, (n, _, _) in enumerate(AUTHORS) if not any(a == i for a, *_ in POSTS)]
    counted = await db(
        Author.query().select(*Author.c, Article.query().where(Article.c.author_id == Author.c.id)
                              .select(func.count()).alias("post_count")).order_by(Author.c.id).all()
    )
    assert [u.extras["post_count"] for u in counted] == [sum(1 for a, *_ in POSTS if a == i) for i in range(len(AUTHORS))]
    top = Author.query().order_by(Author.c.id).limit(1)  # LIMIT inside IN: wrapped on MySQL/MariaDB
    assert titles(await db(Article.query().where(Article.c.author_id.in_(top)).all())) == ["a1", "a2"]
    assert len(await db(Article.query().where(Article.c.author_id.not_in(top)).all())) == len(POSTS) - 2


async def test_derived_table_join(db):
    Author, Article = await seeded(db)
    popular = Article.query().where(Article.c.views >= 7).subquery("popular")
    authors = await db(Author.query().inner_join(popular, on=popular.c.author_id == Author.c.id).distinct().order_by(Author.c.id).all())
    assert [a.name for a in authors] == [n for i, (n, _, _) in enumerate(AUTHORS) if any(a == i and v >= 7 for a, _, v, _ in POSTS)]


async def test_joined_queries_count_update_and_delete_by_key(db):
    Author, Article = await seeded(db)
    query = Article.query().join("author").where(Author.c.name == "cid")
    assert await db(query.count()) == sum(1 for a, *_ in POSTS if AUTHORS[a][0] == "cid")
    assert await db(query.update({"views": Article.c.views + 100})) == 3
    assert sorted(await db(Article.query().where(Article.c.views > 100).pluck(Article.c.title))) == ["c1", "c2", "c3"]
    assert await db(Article.query().join("author").where(Author.c.banned == True).delete()) == 1  # noqa: E712
    assert await db(Article.query().count()) == len(POSTS) - 1


async def test_eager_loading_and_relation_queries_take_expressions(db):
    Author, Article = await seeded(db)
    authors = await db(
        Author.query().with_(("posts", lambda q: q.where(Article.c.published == True).order_by(Article.c.title.desc())))  # noqa: E712
        .order_by(Author.c.id).all()
    )
    for i, author in enumerate(authors):
        loaded = author.posts() if not db.is_async else await author.posts()
        assert [p.title for p in loaded] == sorted((t for a, t, _, p in POSTS if a == i and p), reverse=True)
    cid = authors[2]
    viewed = await db(cid.posts_query().where(Article.c.views > 2).order_by(Article.c.id).pluck(Article.c.title))
    assert viewed == [t for a, t, v, _ in POSTS if a == 2 and v > 2]


async def test_to_dicts_keys_are_field_names_for_renamed_columns(db):
    from typing import Annotated

    from twinrecord import Column

    class Renamed(db.Base):
        __table_name__ = "renamed"
        id: Optional[int] = None
        title: Annotated[str, Column(name="headline")] = Field(max_length=20)

    await db.create(Renamed)
    await db(Renamed.create(title="hi"))
    assert await db(Renamed.query().where(Renamed.c.title == "hi").select(Renamed.c.id, Renamed.c.title).to_dicts()) == [{"id": 1, "title": "hi"}]
    found = await db(Renamed.query().where(Renamed.c.title.startswith("h")).all())
    assert [r.title for r in found] == ["hi"]
    assert await db(Renamed.query().pluck(Renamed.c.title)) == ["hi"]


async def test_sql_string_select_items_go_to_extras_too(db):
    Author, Article = await seeded(db)
    users = await db(
        Author.query().select("authors.*", "(SELECT COUNT(*) FROM articles WHERE articles.author_id = authors.id) AS n")
        .order_by("id").all()
    )
    assert [int(u.extras["n"]) for u in users] == [sum(1 for a, *_ in POSTS if a == i) for i in range(len(AUTHORS))]
