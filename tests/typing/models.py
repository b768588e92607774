"""Models shared by the type tests (sync, async, and the combined model in both orders)."""

from __future__ import annotations

from typing import ClassVar, Optional

from twinrecord import (
    ActiveRecord,
    AsyncActiveRecord,
    AsyncBaseActiveRecord,
    AsyncHasMany,
    BaseActiveRecord,
    BelongsTo,
    HasMany,
    HasOne,
)


class User(ActiveRecord):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    age: int = 0
    posts: ClassVar[HasMany[Post]] = HasMany(foreign_key="user_id", inverse_of="author")
    profile: ClassVar[HasOne[Profile]] = HasOne(foreign_key="user_id")


class Post(ActiveRecord):
    __table_name__ = "posts"
    id: Optional[int] = None
    user_id: int
    title: str
    author: ClassVar[BelongsTo[User]] = BelongsTo(foreign_key="user_id", inverse_of="posts")


class Profile(ActiveRecord):
    __table_name__ = "profiles"
    id: Optional[int] = None
    user_id: int


class AsyncUser(AsyncActiveRecord):
    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    age: int = 0
    posts: ClassVar[AsyncHasMany[AsyncPost]] = AsyncHasMany(foreign_key="user_id")


class AsyncPost(AsyncActiveRecord):
    __table_name__ = "posts"
    id: Optional[int] = None
    user_id: int
    title: str


class SyncFirst(BaseActiveRecord, AsyncBaseActiveRecord):
    """Bare names are sync; `.aio` gives the async kind."""

    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    posts: ClassVar[HasMany[Post]] = HasMany(foreign_key="user_id")


class AsyncFirst(AsyncBaseActiveRecord, BaseActiveRecord):
    """Bare names are async; `.sync` gives the sync kind."""

    __table_name__ = "users"
    id: Optional[int] = None
    name: str
    posts: ClassVar[HasMany[AsyncPost]] = HasMany(foreign_key="user_id")
