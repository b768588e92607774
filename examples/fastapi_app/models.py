"""The blog's records: one base configured once, three tables, their relations."""

from __future__ import annotations

from typing import Annotated, ClassVar, Optional

from pydantic import Field, model_validator

from twinrecord import (
    AsyncActiveRecord,
    BelongsTo,
    Column,
    ForeignKey,
    HasMany,
    TimestampMixin,
)


class AppModel(AsyncActiveRecord):
    """Every model of the app inherits the backend the lifespan configures here."""


class User(TimestampMixin, AppModel):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str = Field(min_length=1, max_length=100)
    email: Annotated[str, Column(unique=True, max_length=200)] = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    posts: ClassVar[HasMany[Post]] = HasMany(foreign_key="user_id", inverse_of="author")


class Post(TimestampMixin, AppModel):
    __table_name__ = "posts"
    id: Optional[int] = None
    user_id: Annotated[int, ForeignKey(User, on_delete="cascade")]
    title: Annotated[str, Column(unique=True, max_length=200)] = Field(min_length=1)
    body: str = ""
    published: bool = False
    author: ClassVar[BelongsTo[User]] = BelongsTo(foreign_key="user_id", inverse_of="posts")
    comments: ClassVar[HasMany[Comment]] = HasMany(foreign_key="post_id")

    @model_validator(mode="after")
    def published_posts_have_a_body(self) -> Post:
        # A rule across fields: input_model() copies fields, not this; the record checks it.
        if self.published and not self.body:
            raise ValueError("a published post needs a body")
        return self


class Comment(TimestampMixin, AppModel):
    __table_name__ = "comments"
    id: Optional[int] = None
    post_id: Annotated[int, ForeignKey(Post, on_delete="cascade")]
    user_id: Annotated[int, ForeignKey(User, on_delete="cascade")]
    body: str = Field(min_length=1, max_length=2000)


TABLES = (User, Post, Comment)
