"""The blog's HTTP API: CRUD with input models that cannot set `id` or timestamps,
relations, pagination and filters, a transaction per request, aggregates."""

from __future__ import annotations

import os
from typing import Annotated, Generic, Optional, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel

from twinrecord.fastapi import input_model, install_error_handlers, lifespan, transaction

from .models import TABLES, AppModel, Comment, Post, User

T = TypeVar("T")

# Request bodies: the records' fields minus the server-owned ones (id, created_at, updated_at).
UserIn = input_model(User)
UserPatch = input_model(User, partial=True)
PostIn = input_model(Post, exclude=["user_id"])  # the author comes from the URL
CommentIn = input_model(Comment, exclude=["post_id"])


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PostWithAuthor(BaseModel):
    post: Post
    author: Optional[User]


class PostDetail(BaseModel):
    post: Post
    author: Optional[User]
    comments: list[Comment]


class PostsIn(BaseModel):
    posts: list[PostIn]  # type: ignore[valid-type]  # a model built at run time


Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0)]


def create_app(database_url: str, create_tables: bool = False) -> FastAPI:
    app = FastAPI(
        title="twinrecord blog",
        lifespan=lifespan(AppModel, database_url, create_tables=TABLES if create_tables else ()),
    )
    install_error_handlers(app)

    # ---- users ------------------------------------------------------------------------------
    @app.post("/users", status_code=201)
    async def create_user(body: UserIn) -> User:  # type: ignore[valid-type]
        return await User.create(**body.model_dump())  # type: ignore[attr-defined]

    @app.get("/users")
    async def list_users(
        limit: Limit = 20, offset: Offset = 0, name: Optional[str] = None
    ) -> Page[User]:
        query = User.query()
        if name is not None:
            query = query.where(User.c.name.contains(name))
        total = await query.count()
        items = await query.order_by("id").limit(limit).offset(offset).all()
        return Page(items=items, total=total, limit=limit, offset=offset)

    @app.get("/users/{user_id}")
    async def get_user(user_id: int) -> User:
        return await User.find_one_or_fail(user_id)  # 404 through the error handlers

    @app.patch("/users/{user_id}")
    async def update_user(user_id: int, body: UserPatch) -> User:  # type: ignore[valid-type]
        user = await User.find_one_or_fail(user_id)
        for field, value in body.model_dump(exclude_unset=True).items():  # type: ignore[attr-defined]
            setattr(user, field, value)
        await user.save()
        return user

    @app.post("/users/{user_id}/rename")
    async def rename_user(user_id: int, name: str) -> User:
        """`query().update()` validates the value against the field: RecordInvalid (422)."""
        await User.query().where(id=user_id).update({"name": name})
        return await User.find_one_or_fail(user_id)

    @app.delete("/users/{user_id}", status_code=204)
    async def delete_user(user_id: int) -> Response:
        user = await User.find_one_or_fail(user_id)
        await user.delete()
        return Response(status_code=204)

    # ---- posts: relations, filters, pagination ----------------------------------------------
    @app.post("/users/{user_id}/posts", status_code=201)
    async def create_post(user_id: int, body: PostIn) -> Post:  # type: ignore[valid-type]
        author = await User.find_one_or_fail(user_id)
        return await Post.create(user_id=author.id, **body.model_dump())  # type: ignore[attr-defined]

    @app.post("/users/{user_id}/posts/batch", status_code=201, dependencies=[transaction(AppModel)])
    async def create_posts(user_id: int, body: PostsIn) -> list[Post]:
        """All or nothing: one request transaction; a duplicate title (409) or an invalid
        post (422) anywhere in the batch leaves no post of it written."""
        author = await User.find_one_or_fail(user_id)
        created = []
        for item in body.posts:
            created.append(await Post.create(user_id=author.id, **item.model_dump()))
        return created

    @app.get("/posts")
    async def list_posts(
        limit: Limit = 20,
        offset: Offset = 0,
        user_id: Optional[int] = None,
        published: Optional[bool] = None,
        q: Optional[str] = None,
        order: Annotated[str, Query(pattern=r"^-?(id|title|created_at)$")] = "-id",
    ) -> Page[PostWithAuthor]:
        query = Post.query()
        if user_id is not None:
            query = query.where(user_id=user_id)
        if published is not None:
            query = query.where(published=published)
        if q:
            query = query.where(Post.c.title.contains(q))
        total = await query.count()
        posts = await query.with_("author").order_by(order).limit(limit).offset(offset).all()
        items = [PostWithAuthor(post=p, author=await p.author()) for p in posts]  # cached: no query
        return Page(items=items, total=total, limit=limit, offset=offset)

    @app.get("/posts/{post_id}")
    async def get_post(post_id: int) -> PostDetail:
        post = await Post.query().where(id=post_id).with_("author", "comments").one_or_fail()
        return PostDetail(post=post, author=await post.author(), comments=await post.comments())

    @app.post("/posts/{post_id}/comments", status_code=201)
    async def create_comment(post_id: int, body: CommentIn) -> Comment:  # type: ignore[valid-type]
        post = await Post.find_one_or_fail(post_id)
        data = body.model_dump()  # type: ignore[attr-defined]
        if await User.find_one(data["user_id"]) is None:
            raise HTTPException(422, f"no user {data['user_id']}")
        return await Comment.create(post_id=post.id, **data)

    # ---- a transaction endpoint -------------------------------------------------------------
    @app.post("/users/{user_id}/merge-into/{target_id}", dependencies=[transaction(AppModel)])
    async def merge_users(user_id: int, target_id: int) -> User:
        """Move a user's posts and comments to another user and delete the first: every
        step in the request's transaction, so a missing target (404) changes nothing."""
        source = await User.find_one_or_fail(user_id)
        target = await User.find_one_or_fail(target_id)
        await Post.query().where(user_id=source.id).update({"user_id": target.id})
        await Comment.query().where(user_id=source.id).update({"user_id": target.id})
        await source.delete()
        return target

    # ---- aggregates -------------------------------------------------------------------------
    @app.get("/stats/posts-per-user")
    async def posts_per_user() -> list[dict[str, int]]:
        rows = await (
            Post.query().group_by("user_id").count("id", "posts").order_by("user_id").aggregate()
        )
        return [{"user_id": r["user_id"], "posts": r["posts"]} for r in rows]

    @app.get("/users/{user_id}/stats")
    async def user_stats(user_id: int) -> dict[str, int]:
        user = await User.find_one_or_fail(user_id)
        return {
            "posts": await user.posts_query().count(),
            "published": await user.posts_query().where(published=True).count(),
            "comments": await Comment.query().where(user_id=user.id).count(),
        }

    return app


def __getattr__(name: str) -> FastAPI:
    """`uvicorn examples.fastapi_app.main:app` with DATABASE_URL set (the tables are
    created if they do not exist); built on first access, not at import."""
    if name != "app":
        raise AttributeError(name)
    return create_app(os.environ["DATABASE_URL"], create_tables=True)
