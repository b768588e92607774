"""API.md §21 on a sync model: what each expression's type is (`assert_type`)."""

from __future__ import annotations

from typing import Any, assert_type

from models import Post, Profile, User

from twinrecord import ActiveQuery, ColumnExpr, Condition, Grouped, RecordStream, func
from twinrecord.sql.expressions import Expr, Function


def queries() -> None:
    query = User.query()
    assert_type(query, ActiveQuery[User])
    assert_type(query.where("age > ?", (30,)), ActiveQuery[User])
    assert_type(query.where({"name": "a"}).or_where("age < ?", (5,)), ActiveQuery[User])
    assert_type(query.select("id").order_by("-name").limit(3).offset(1), ActiveQuery[User])
    assert_type(query.distinct().join("JOIN posts ON posts.user_id = users.id"), ActiveQuery[User])
    assert_type(query.inner_join("posts", "posts.user_id = users.id"), ActiveQuery[User])
    assert_type(query.left_join("posts", "posts.user_id = users.id"), ActiveQuery[User])
    assert_type(query.group_by("name").having("COUNT(*) > ?", (1,)), ActiveQuery[User, Grouped])
    assert_type(query.with_("posts", ("profile", lambda q: q)), ActiveQuery[User])
    assert_type(query.for_update(), ActiveQuery[User])
    assert_type(query.where_not(name="a"), ActiveQuery[User])
    assert_type(query.where(User.c.age >= 18).order_by(User.c.name.desc()), ActiveQuery[User])
    assert_type(User.c.age, ColumnExpr)
    assert_type(User.c.age >= 18, Condition)
    assert_type((User.c.age >= 18) & ~(User.c.name == "a"), Condition)
    assert_type(User.c.name.in_(["a", "b"]) | User.c.age.between(1, 9), Condition)
    assert_type(func.lower(User.c.name), Function)
    assert_type(func.lower(User.c.name).like("%@example.com"), Condition)
    assert_type(func.count(distinct=True), Function)
    assert_type(User.c.age + 1, Expr)


def terminals() -> None:
    query = User.query()
    assert_type(query.all(), list[User])
    assert_type(query.one(), User | None)
    assert_type(query.one_or_fail(), User)
    assert_type(query.first(), User | None)
    assert_type(query.last(), User | None)
    assert_type(query.exists(), bool)
    assert_type(query.count(), int)
    assert_type(query.to_dicts(), list[dict[str, Any]])
    assert_type(query.update({"age": 1}), int)
    assert_type(query.delete(), int)
    assert_type(query.to_sql(), tuple[str, list[Any]])


def streams() -> None:
    stream = User.query().where(User.c.age >= 18).iterate(batch_size=500)
    assert_type(stream, RecordStream[User])
    for user in stream:
        assert_type(user, User)
    with User.query().with_("posts").iterate() as users:
        assert_type(users, RecordStream[User])
        assert_type(next(users), User)


def aggregates() -> None:
    query = User.query()
    # Plain query, no alias: runs at once (scalar).
    assert_type(query.count(), int)
    assert_type(query.count("id", distinct=True), int)
    assert_type(query.sum("age"), Any)
    assert_type(query.avg(User.c.age), Any)
    assert_type(query.where("age > ?", (1,)).min("age"), Any)
    assert_type(query.max("age"), Any)
    # An alias: chains, and the query now aggregates.
    assert_type(query.count("id", "n"), ActiveQuery[User, Grouped])
    assert_type(query.count(alias="n"), ActiveQuery[User, Grouped])
    assert_type(query.sum("age", "total").avg("age", "mean"), ActiveQuery[User, Grouped])
    assert_type(query.min("age", "low").max("age", "high"), ActiveQuery[User, Grouped])
    # Grouped (or already aggregating), no alias: chains too (keyed count, <func>_<column>).
    grouped = query.group_by("name")
    assert_type(grouped, ActiveQuery[User, Grouped])
    assert_type(grouped.count(), ActiveQuery[User, Grouped])
    assert_type(grouped.where("age > ?", (1,)).sum("age"), ActiveQuery[User, Grouped])
    assert_type(query.count("id", "n").max("age"), ActiveQuery[User, Grouped])
    assert_type(grouped.count("id", "n").aggregate(), list[dict[str, Any]])
    assert_type(grouped.avg("age").aggregate(), list[dict[str, Any]])
    assert_type(query.aggregate(), list[dict[str, Any]])


def records() -> None:
    assert_type(User.find_one(1), User | None)
    assert_type(User.find_one_or_fail({"name": "a"}), User)
    assert_type(User.find_all(), list[User])
    assert_type(User.find_by_sql("SELECT * FROM users"), list[User])
    assert_type(User.create(name="a"), User)
    user = User(name="a")
    assert_type(user.save(), int)
    assert_type(user.delete(), int)
    assert_type(user.refresh(), None)
    assert_type(User.insert_many([user]), int)
    with User.transaction():
        pass


def relations() -> None:
    user = User(name="a")
    assert_type(user.posts(), list[Post])
    assert_type(user.posts(refresh=True), list[Post])
    assert_type(user.posts.query(), ActiveQuery[Post])
    assert_type(user.posts.query().where("title = ?", ("x",)).count(), int)
    assert_type(user.profile(), Profile | None)
    assert_type(Post(user_id=1, title="t").author(), User | None)
