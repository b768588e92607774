"""The relation declarations (`BelongsTo`, `HasOne`, `HasMany`) and what they resolve to.

Rule: a declaration is plain data until first use; `link()` then resolves it once
into a `Link` (models and key columns), which is all the loading plans need. The
same declaration serves sync, async and combined models: the kind is picked when
the relation is read from a record (see `_access.py`).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar, overload

from ..errors import ConfigurationError, RelationNotFound
from ..model._kinds import AsyncKind, SyncKind
from ._resolve import annotated_target, foreign_key_for, resolve_model

if TYPE_CHECKING:
    from ..model._core import RecordCore
    from ._access import AsyncRelationCall, RelationCall

T = TypeVar("T")
R = TypeVar("R")

# The shells a relation read from a record becomes, by kind ('sync', 'async'): the
# classes in `_access.py`, which registers them (it sits above this module).
CALL_CLASSES: dict[str, Callable[[Relation[Any, Any], Any], Any]] = {}


@dataclass(frozen=True, slots=True)
class Link:
    """A resolved relation: which rows of `target` belong to an owner record.

    The owner's `owner_column` value is the key. Direct relations match it against
    `match_column` of the target; `through` relations against the join model's
    `match_column`, whose `join_column` points at the target's `target_key`.
    """

    name: str
    owner: type[RecordCore]
    target: type[RecordCore]
    owner_column: str
    match_column: str
    many: bool
    through: type[RecordCore] | None = None
    join_column: str | None = None
    target_key: str | None = None
    inverse: str | None = None


class Relation(Generic[T, R]):
    """Base of the declarations: a descriptor read from a record as an explicit call."""

    many = False

    def __init__(
        self,
        model: type[T] | str | None = None,
        *,
        foreign_key: str | None = None,
        primary_key: str | None = None,
        inverse_of: str | None = None,
        through: type[RecordCore] | str | None = None,
        target_key: str | None = None,
    ) -> None:
        self.model = model
        self.foreign_key = foreign_key
        self.primary_key = primary_key
        self.inverse_of = inverse_of
        self.through = through
        self.target_key = target_key
        self.name = ""
        self.owner: type[RecordCore] | None = None
        self._annotation: Any = None
        self._link: Link | None = None
        self._check_options()

    def _check_options(self) -> None:
        if self.through is None and self.target_key is not None:
            raise ConfigurationError("target_key= names a join-model column: it needs through=")
        if self.through is not None and self.inverse_of is not None:
            raise ConfigurationError("inverse_of= is not supported with through=")

    def __set_name__(self, owner: type[RecordCore], name: str) -> None:
        self.owner = owner
        self.name = name
        annotations = inspect.get_annotations(owner)
        self._annotation = annotations.get(name)
        query_name = f"{name}_query"
        # A name the class defines itself (a method, a field) is the user's to keep.
        if query_name not in owner.__dict__ and query_name not in annotations:
            type.__setattr__(owner, query_name, RelationQuery(self))

    def __repr__(self) -> str:
        where = f" {self.owner.__name__}.{self.name}" if self.owner is not None else ""
        return f"<{type(self).__name__}{where} -> {self._target_label()}>"

    def _target_label(self) -> str:
        ref = self.model or annotated_target(self._annotation)
        return ref if isinstance(ref, str) else getattr(ref, "__name__", "?")

    # ---- reading the relation from a record ------------------------------------------
    @overload
    def __get__(self, instance: None, owner: type[RecordCore]) -> Self: ...
    @overload
    def __get__(
        self, instance: SyncKind[object], owner: type[RecordCore]
    ) -> RelationCall[T, R]: ...
    @overload
    def __get__(
        self, instance: AsyncKind[object], owner: type[RecordCore]
    ) -> AsyncRelationCall[T, R]: ...
    @overload
    def __get__(self, instance: object, owner: type[RecordCore]) -> Any: ...
    def __get__(self, instance: Any, owner: type[RecordCore]) -> object:
        if instance is None:
            return self
        # Bare names follow the model's first base (API.md §6): its kind is found first.
        return self.bind_kind(instance, owner, type(instance).__twinrecord_kind__)

    def bind_kind(self, instance: Any, owner: type[RecordCore], kind: str) -> Any:
        """The relation read from `instance` for one kind (also used by `record.aio`)."""
        if instance is None:
            return self
        return CALL_CLASSES[kind](self, instance)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: object) -> object:
        # Reached only when the annotation lacks ClassVar and Pydantic takes it for a field.
        raise ConfigurationError(
            f"relations are declared as class variables, not fields: "
            f"`posts: ClassVar[{cls.__name__}['Post']] = {cls.__name__}(...)`"
        )

    # ---- resolution -------------------------------------------------------------------
    def link(self) -> Link:
        """Models and key columns, resolved at first use (forward references allowed)."""
        if self._link is None:
            self._link = self._resolve()
        return self._link

    def target_model(self) -> type[T]:
        """The related model class: `link().target`, typed as the declared target."""
        return self.link().target  # type: ignore[return-value]  # Link is not generic

    def _where(self) -> str:
        owner = self.owner.__name__ if self.owner is not None else "?"
        return f"{owner}.{self.name} ({type(self).__name__})"

    def _owner(self) -> type[RecordCore]:
        if self.owner is None:
            raise ConfigurationError(f"{self!r} is not declared on a model class")
        return self.owner

    def _target(self) -> type[RecordCore]:
        ref = self.model or annotated_target(self._annotation)
        if ref is None:
            raise ConfigurationError(
                f"{self._where()}: name the related model in the annotation, "
                f"`ClassVar[{type(self).__name__}['Post']]`, or pass model=Post"
            )
        return resolve_model(ref, self._owner(), self._where())

    def _resolve(self) -> Link:
        raise NotImplementedError

    def _checked(self, link: Link) -> Link:
        """Every named column exists; an inverse points back at the owner."""
        _require_column(link.owner, link.owner_column, self._where())
        _require_column(link.through or link.target, link.match_column, self._where())
        if link.through is not None:
            _require_column(link.through, link.join_column or "", self._where())
            _require_column(link.target, link.target_key or "", self._where())
        if link.inverse is not None:
            self._check_inverse(link)
        return link

    def _check_inverse(self, link: Link) -> None:
        """The inverse is the opposite kind of direct relation, back to the owner.

        Its own target is resolved without `link()`, which would come back here.
        """
        inverse = relation_named(link.target, link.inverse or "")
        opposite = isinstance(inverse, BelongsTo) != isinstance(self, BelongsTo)
        back_to_owner = issubclass(link.owner, inverse._target())
        if not (opposite and back_to_owner and inverse.through is None):
            raise ConfigurationError(
                f"{self._where()}: inverse_of={link.inverse!r} must name the relation of "
                f"{link.target.__name__} back to {link.owner.__name__} "
                f"({'HasOne or HasMany' if isinstance(self, BelongsTo) else 'BelongsTo'}); "
                f"it is {inverse!r}"
            )


def _require_column(model: type[RecordCore], column: str, where: str) -> None:
    columns = model._meta().columns
    if column not in columns:
        raise ConfigurationError(
            f"{where}: {model.__name__} has no column {column!r} (its columns: "
            f"{', '.join(columns)}); name the right one with foreign_key= / primary_key= / "
            "target_key="
        )


def _single_key(model: type[RecordCore], where: str) -> str:
    keys = model._meta().primary_key
    if len(keys) != 1:
        raise ConfigurationError(
            f"{where}: {model.__name__} has a composite primary key {keys}; name the "
            "referenced column with primary_key="
        )
    return str(keys[0])


class BelongsTo(Relation[T, T | None]):
    """The owner holds the key: `post.author()` is the `User` whose key is `post.author_id`.

    `foreign_key` (default `<name>_id`) is the owner's column; `primary_key` (default
    the target's primary key) the column it refers to.
    """

    def _check_options(self) -> None:
        super()._check_options()
        if self.through is not None:
            raise ConfigurationError("BelongsTo takes no through=; use HasOne(through=...)")

    def _resolve(self) -> Link:
        target = self._target()
        return self._checked(Link(
            name=self.name,
            owner=self._owner(),
            target=target,
            owner_column=self.foreign_key or f"{self.name}_id",
            match_column=self.primary_key or _single_key(target, self._where()),
            many=False,
            inverse=self.inverse_of,
        ))


class _HasRelation(Relation[T, R]):
    """HasOne / HasMany: the target (or the join model) holds the owner's key."""

    def _resolve(self) -> Link:
        owner, target = self._owner(), self._target()
        through = resolve_model(self.through, owner, self._where()) if self.through else None
        link = Link(
            name=self.name,
            owner=owner,
            target=target,
            owner_column=self.primary_key or _single_key(owner, self._where()),
            match_column=self.foreign_key or foreign_key_for(owner.__name__),
            many=self.many,
            through=through,
            join_column=(self.target_key or foreign_key_for(target.__name__)) if through else None,
            target_key=_single_key(target, self._where()) if through else None,
            inverse=self.inverse_of,
        )
        return self._checked(link)


class HasOne(_HasRelation[T, T | None]):
    """The target holds the owner's key: `user.profile()` is the `Profile` with
    `user_id == user.id` (the first, when several match), or None."""


class HasMany(_HasRelation[T, list[T]]):
    """The targets hold the owner's key: `user.posts()` is every `Post` with
    `user_id == user.id`. With `through=JoinModel`, `foreign_key` is the join model's
    column pointing at the owner and `target_key` its column pointing at the target."""

    many = True


class RelationQuery:
    """`record.<relation>_query()`: the relation's query, of the record's kind."""

    def __init__(self, relation: Relation[Any, Any]) -> None:
        self.relation = relation

    def __get__(self, instance: object, owner: type[RecordCore]) -> object:
        if instance is None:
            return self
        return self.relation.__get__(instance, owner).query

    def bind_kind(self, instance: object, owner: type[RecordCore], kind: str) -> Any:
        if instance is None:
            return self
        return self.relation.bind_kind(instance, owner, kind).query


def relations_of(model: type[RecordCore]) -> dict[str, Relation[Any, Any]]:
    """Every relation a model declares or inherits, by name (computed once per class:
    relations are declared in class bodies, never added later)."""
    found: dict[str, Relation[Any, Any]] | None = model.__dict__.get("__twinrecord_relations__")
    if found is None:
        found = {}
        for klass in reversed(model.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, Relation):
                    found[name] = value
        type.__setattr__(model, "__twinrecord_relations__", found)
    return found


def relation_named(model: type[RecordCore], name: str, context: str = "") -> Relation[Any, Any]:
    """The relation `name` of `model`, or RelationNotFound listing its relations."""
    relation = relations_of(model).get(name)
    if relation is None:
        known = ", ".join(sorted(relations_of(model))) or "(none declared)"
        raise RelationNotFound(
            f"{model.__name__} has no relation {name!r}{context}; its relations are: {known}"
        )
    return relation


# Readers coming from upstream know the async declarations by these names.
AsyncBelongsTo = BelongsTo
AsyncHasOne = HasOne
AsyncHasMany = HasMany
