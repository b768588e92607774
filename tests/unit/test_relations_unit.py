"""Relations without a database: annotation parsing, model-name resolution, key
defaults, declaration errors, and the loading plans driven by a scripted fake
(requests in, rows out, in the style of h11's tests).

This module deliberately has no `from __future__ import annotations`: its
relation annotations are typing objects, the integration tests' are strings.
"""

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Optional

import pytest

from twinrecord import (
    AsyncBaseActiveRecord,
    AsyncHasMany,
    BaseActiveRecord,
    BelongsTo,
    ConfigurationError,
    HasMany,
    HasOne,
    RelationNotFound,
)
from twinrecord.plan import FetchRows
from twinrecord.relations._core import eager_load_plan, record_plan
from twinrecord.relations._resolve import annotated_target, foreign_key_for, resolve_model
from twinrecord.sql.dialect import POSTGRES, SQLITE


# ---- a scripted driver ---------------------------------------------------------------------
def drive(plan: Any, answer: Callable[[str, list[Any]], list[tuple[Any, ...]]]) -> list[tuple[str, list[Any]]]:
    """Run a plan, answering each FetchRows with `answer(sql, params)`; return what was sent."""
    sent: list[tuple[str, list[Any]]] = []
    try:
        request = next(plan)
        while True:
            assert isinstance(request, FetchRows)
            sent.append((request.sql, list(request.params)))
            request = plan.send(answer(request.sql, list(request.params)))
    except StopIteration:
        return sent


def rows_for(table: dict[Any, list[tuple[Any, ...]]]) -> Callable[[str, list[Any]], list[tuple[Any, ...]]]:
    """Answer a keyed query as IN does: the rows filed under each distinct key."""
    def answer(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return [row for key in dict.fromkeys(params) for row in table.get(key, [])]

    return answer


class Author(BaseActiveRecord):
    __table_name__ = "authors"
    id: Optional[int] = None
    name: str
    books: ClassVar[HasMany["Book"]] = HasMany(inverse_of="author")
    badge: ClassVar[HasOne["Badge"]] = HasOne()


class Book(BaseActiveRecord):
    __table_name__ = "books"
    id: Optional[int] = None
    author_id: int
    title: str
    author: ClassVar[BelongsTo[Author]] = BelongsTo(inverse_of="books")
    shelves: ClassVar[HasMany["Shelf"]] = HasMany(through="Placement")


class Badge(BaseActiveRecord):
    id: Optional[int] = None
    author_id: int


class Shelf(BaseActiveRecord):
    __table_name__ = "shelves"
    id: Optional[int] = None
    label: str


class Placement(BaseActiveRecord):
    id: Optional[int] = None
    book_id: int
    shelf_id: int


class AsyncAuthor(AsyncBaseActiveRecord):
    __table_name__ = "authors"
    id: Optional[int] = None
    name: str
    books: ClassVar[AsyncHasMany["Book"]] = AsyncHasMany(foreign_key="author_id")


def _async_twin() -> type[Any]:
    class Book(AsyncBaseActiveRecord):      # the async twin, with the same class name
        __table_name__ = "books"
        id: Optional[int] = None
        author_id: int
        title: str

    return Book


AsyncBook = _async_twin()




# ---- annotations and names ---------------------------------------------------------------
@pytest.mark.parametrize(
    "annotation",
    [
        "ClassVar[HasMany['Post']]",
        'typing.ClassVar[twinrecord.HasMany["Post"]]',
        "ClassVar['HasMany[Post]']",
        "HasMany[Post]",
        ClassVar[HasMany["Post"]],  # noqa: F821 - a forward reference, never evaluated
        HasMany["Post"],
    ],
)
def test_the_related_name_is_read_without_evaluating_the_annotation(annotation: Any) -> None:
    assert annotated_target(annotation) == "Post"


def test_a_class_in_the_annotation_is_taken_as_is() -> None:
    assert annotated_target(ClassVar[BelongsTo[Author]]) is Author
    assert annotated_target(None) is None


def test_foreign_keys_default_to_the_rails_names() -> None:
    assert foreign_key_for("User") == "user_id"
    assert foreign_key_for("AsyncUser") == "user_id"        # the async twin owns the same key
    assert foreign_key_for("BlogPost") == "blog_post_id"
    assert foreign_key_for("Asynchrony") == "asynchrony_id"
    link = Book.author.link()
    assert (link.owner_column, link.match_column) == ("author_id", "id")
    through = Book.shelves.link()
    assert (through.match_column, through.join_column) == ("book_id", "shelf_id")


def test_a_name_shared_by_both_kinds_resolves_to_the_owners_kind() -> None:
    assert AsyncBook.__name__ == Book.__name__ == "Book"
    assert Author.books.link().target is Book
    assert AsyncAuthor.books.link().target is AsyncBook


def test_an_unknown_name_is_a_configuration_error_that_says_what_to_do() -> None:
    class Lonely(BaseActiveRecord):
        id: Optional[int] = None
        friends: ClassVar[HasMany["Nobody"]] = HasMany()  # noqa: F821 - the point

    with pytest.raises(ConfigurationError, match=r"Lonely.friends .*no sync model named 'Nobody'.*model="):
        Lonely.friends.link()


def test_a_name_of_the_other_kind_only_is_reported_as_such() -> None:
    class OnlyAsync(AsyncBaseActiveRecord):
        id: Optional[int] = None

    class Wants(BaseActiveRecord):
        id: Optional[int] = None
        other: ClassVar[HasMany["OnlyAsync"]] = HasMany()

    with pytest.raises(ConfigurationError, match="of another kind"):
        Wants.other.link()


def test_a_class_statement_run_again_replaces_its_earlier_runs() -> None:
    def factory() -> type[Any]:
        class Owner(BaseActiveRecord):
            id: Optional[int] = None
            items: ClassVar[HasMany["Item"]] = HasMany()

        class Item(BaseActiveRecord):
            id: Optional[int] = None
            owner_id: int

        return Owner

    first = factory()
    first_item = first.items.link().target           # resolved at first use: its own run
    second = factory()
    second_item = second.items.link().target
    assert first_item.__qualname__ == second_item.__qualname__
    assert second_item is not first_item
    assert first.items.link().target is first_item   # resolved once, kept


def test_two_different_classes_of_one_name_are_ambiguous() -> None:
    def one() -> type[BaseActiveRecord]:
        class Twin(BaseActiveRecord):
            id: Optional[int] = None

        return Twin

    def two() -> type[BaseActiveRecord]:
        class Twin(BaseActiveRecord):
            id: Optional[int] = None

        return Twin

    # Held here: resolution only sees classes that are alive.
    one_twin, two_twin = one(), two()

    class Holder(BaseActiveRecord):
        id: Optional[int] = None
        twins: ClassVar[HasMany["Twin"]] = HasMany()  # noqa: F821 - two of them

    with pytest.raises(ConfigurationError, match=r"ambiguous .*one\.<locals>\.Twin.*model=Twin"):
        Holder.twins.link()
    assert one_twin is not two_twin


def test_resolve_accepts_a_class_and_refuses_a_non_model() -> None:
    assert resolve_model(Author, Book, "here") is Author
    with pytest.raises(ConfigurationError, match="not a twinrecord model"):
        resolve_model(int, Book, "here")


# ---- declaration errors ---------------------------------------------------------------------
def test_declaration_mistakes_are_named() -> None:
    with pytest.raises(ConfigurationError, match="needs through="):
        HasMany(target_key="x_id")
    with pytest.raises(ConfigurationError, match="BelongsTo takes no through"):
        BelongsTo(through="X")
    with pytest.raises(ConfigurationError, match="inverse_of= is not supported with through="):
        HasMany(through="X", inverse_of="y")


def test_a_missing_key_column_names_the_models_columns() -> None:
    class Orphan(BaseActiveRecord):
        id: Optional[int] = None
        parent: ClassVar[BelongsTo[Author]] = BelongsTo()

    with pytest.raises(ConfigurationError, match=r"Orphan has no column 'parent_id' \(its columns: id\)"):
        Orphan.parent.link()


def test_an_inverse_must_point_back_at_the_owner() -> None:
    class Note(BaseActiveRecord):
        id: Optional[int] = None
        author_id: int
        author: ClassVar[BelongsTo[Author]] = BelongsTo(inverse_of="badge")

    with pytest.raises(ConfigurationError, match="inverse_of='badge' must name the relation"):
        Note.author.link()


def test_a_relation_without_classvar_is_refused_with_the_right_spelling() -> None:
    with pytest.raises(ConfigurationError, match=r"ClassVar\[HasMany\['Post'\]\]"):
        class Wrong(BaseActiveRecord):
            id: Optional[int] = None
            posts: HasMany[Author] = HasMany()


def test_unknown_relation_in_with_lists_the_relations() -> None:
    with pytest.raises(RelationNotFound, match="its relations are: badge, books"):
        Author.query().with_("bookz")
    with pytest.raises(RelationNotFound, match=r"Badge has no relation 'x'.*\(none declared\)"):
        Author.query().with_("badge.x")


# ---- the plans ---------------------------------------------------------------------------
def authors(*names: str) -> list[Any]:
    return Author._meta().hydrate([(i + 1, n) for i, n in enumerate(names)], SQLITE)


def test_eager_plan_sends_one_in_list_per_level_and_fills_caches() -> None:
    ann, bob = authors("ann", "bob")
    books = {1: [(10, 1, "a"), (11, 1, "b")]}
    sent = drive(eager_load_plan(Author, [ann, bob], [("books", None)], SQLITE), rows_for(books))
    assert sent == [(
        'SELECT "books"."id", "books"."author_id", "books"."title" FROM "books" '
        'WHERE "books"."author_id" IN (?, ?)',
        [1, 2],
    )]
    a, b = ann.books()                       # from the cache: no backend is configured
    assert (a.title, b.title) == ("a", "b") and bob.books() == []
    assert a.author() is ann                  # inverse_of


def test_modifier_conditions_stay_grouped_and_params_keep_their_order() -> None:
    [ann] = authors("ann")
    def only(q: Any) -> Any:
        return q.where("title = ?", ("a",)).or_where("title = ?", ("b",)).order_by("title").limit(5)
    sent = drive(eager_load_plan(Author, [ann], [("books", only)], POSTGRES), lambda s, p: [])
    sql, params = sent[0]
    assert sql.endswith(
        'WHERE ((title = %s) OR (title = %s)) AND "books"."author_id" IN (%s) ORDER BY title LIMIT %s'
    )
    assert params == ["a", "b", 1, 5]


def test_keys_are_chunked_to_the_parameter_limit() -> None:
    records = authors(*[f"a{i}" for i in range(7)])
    tight = dataclasses.replace(SQLITE, max_params=3)
    sent = drive(eager_load_plan(Author, records, [("books", None)], tight), lambda s, p: [])
    assert [params for _, params in sent] == [[1, 2, 3], [4, 5, 6], [7]]


def test_in_lists_are_padded_to_a_power_of_two_with_the_last_key() -> None:
    records = authors(*[f"a{i}" for i in range(5)])
    books = {1: [(10, 1, "a")], 5: [(11, 5, "b")]}
    sent = drive(eager_load_plan(Author, records, [("books", None)], SQLITE), rows_for(books))
    assert sent[0][1] == [1, 2, 3, 4, 5, 5, 5, 5]
    assert sent[0][0].endswith("IN (?, ?, ?, ?, ?, ?, ?, ?)")
    assert [b.title for b in records[4].books()] == ["b"]


def test_through_rows_share_one_target_and_group_by_the_owner_key() -> None:
    books = Book._meta().hydrate([(1, 1, "a"), (2, 1, "b")], SQLITE)
    rows = [(7, "top", 1), (7, "top", 2), (8, "low", 1)]      # shelf columns + placements.book_id
    sent = drive(eager_load_plan(Book, books, [("shelves", None)], SQLITE), lambda s, p: rows)
    assert 'INNER JOIN "placements" ON "placements"."shelf_id" = "shelves"."id"' in sent[0][0]
    first, second = books
    assert [s.label for s in first.shelves()] == ["top", "low"]
    assert second.shelves()[0] is first.shelves()[0]


def test_nested_levels_load_from_the_distinct_targets_of_the_level_above() -> None:
    books = Book._meta().hydrate([(1, 1, "a"), (2, 1, "b"), (3, 2, "c")], SQLITE)
    def answer(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        if "FROM \"authors\"" in sql:
            return [(1, "ann"), (2, "bob")]
        return [(5, 1)]                                      # badges
    sent = drive(eager_load_plan(Book, books, [("author.badge", None)], SQLITE), answer)
    assert [params for _, params in sent] == [[1, 2], [1, 2]]  # each author key once
    assert books[0].author() is books[1].author()
    assert books[0].author().badge().id == 5 and books[2].author().badge() is None


def test_a_null_key_loads_nothing_and_caches_none() -> None:
    [ann] = authors("ann")
    ann.__dict__["id"] = None
    assert drive(record_plan(Author.books.link(), ann, SQLITE), lambda s, p: []) == []
    assert ann.books() == []


def test_a_modifier_must_return_a_query_of_the_relation() -> None:
    [ann] = authors("ann")
    with pytest.raises(ConfigurationError, match="must return the query"):
        drive(eager_load_plan(Author, [ann], [("books", lambda q: None)], SQLITE), lambda s, p: [])
    with pytest.raises(ConfigurationError, match="select"):
        drive(eager_load_plan(Author, [ann], [("books", lambda q: q.select("id"))], SQLITE),
              lambda s, p: [])


def test_drive_helper_reports_requests() -> None:
    sent: Sequence[Any] = drive(iter(()), lambda s, p: [])   # a plan that asks nothing
    assert sent == []
