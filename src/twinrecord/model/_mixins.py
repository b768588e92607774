"""The four mixins (API.md §17) and what they add to the record's write plans.

Rule: a mixin is data (the fields it declares, read once into `Features`); its
behaviour is written here as parts of the save/delete plans, never as handlers, so
no handler can switch it off and the bulk paths apply the same functions.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, Optional
from uuid import UUID, uuid4

from pydantic import AwareDatetime, Field

from ..errors import ConfigurationError, StaleObjectError
from ..plan import Execute, Plan
from ..sql.dialect import Dialect
from ..sql.guarded import (
    GuardedDelete,
    GuardedUpdate,
    compile_guarded_delete,
    compile_guarded_update,
)

_STAMP = Optional[AwareDatetime]


def now() -> datetime:
    """The application clock: one aware UTC instant (microseconds kept)."""
    return datetime.now(UTC)


def _declare(cls: type[Any], name: str, annotation: Any, default: Any, first: bool = False) -> None:
    """Add a field to a class being defined, unless it declares or inherits it already.

    Runs from `__init_subclass__`, before Pydantic collects the class's fields, so the
    field is the class's own (a mixin can name it from a class attribute, and sits
    where the model's readers expect it: the key first, the rest after the fields).
    """
    own = dict(inspect.get_annotations(cls))
    if name in own:
        return
    inherited = any(name in getattr(base, "__pydantic_fields__", {}) for base in cls.__mro__[1:])
    if inherited and not first:
        return
    own = {name: annotation, **own} if first else {**own, name: annotation}
    type.__setattr__(cls, "__annotations__", own)
    type.__setattr__(cls, name, default)


class TimestampMixin:
    """`created_at` and `updated_at` (aware, UTC), stamped by the writes themselves."""

    if TYPE_CHECKING:
        created_at: Optional[AwareDatetime]
        updated_at: Optional[AwareDatetime]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _declare(cls, "created_at", _STAMP, None)
        _declare(cls, "updated_at", _STAMP, None)
        super().__init_subclass__(**kwargs)


class SoftDeleteMixin:
    """`deleted_at`: `delete()` marks the row instead of removing it."""

    if TYPE_CHECKING:
        deleted_at: Optional[AwareDatetime]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _declare(cls, "deleted_at", _STAMP, None)
        super().__init_subclass__(**kwargs)


class OptimisticLockMixin:
    """`lock_version` (or `__locking_column__`): every UPDATE/DELETE of a record checks
    and bumps it; a stale one raises `StaleObjectError`."""

    __locking_column__: ClassVar[str] = "lock_version"
    if TYPE_CHECKING:
        lock_version: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        _declare(cls, cls.__locking_column__, int, 0)
        super().__init_subclass__(**kwargs)


class UUIDMixin:
    """`id: UUID`, the primary key, generated on the client when the record is made
    (by `__uuid_factory__`, `uuid4` unless the model names another callable)."""

    __uuid_factory__: ClassVar[Callable[[], UUID]] = uuid4
    if TYPE_CHECKING:
        id: UUID

    def __init_subclass__(cls, **kwargs: Any) -> None:
        factory = cls.__dict__.get("__uuid_factory__")
        if factory is None:
            factory = cls.__uuid_factory__
        elif isinstance(factory, staticmethod):
            factory = factory.__func__
        if not callable(factory):
            raise ConfigurationError(
                f"{cls.__name__}.__uuid_factory__ must be a callable returning a UUID; "
                f"got {factory!r}"
            )
        if "__uuid_factory__" in cls.__dict__ or not any(
            "id" in getattr(b, "__pydantic_fields__", {}) for b in cls.__mro__[1:]
        ):
            _declare(cls, "id", UUID, Field(default_factory=factory), first=True)
        super().__init_subclass__(**kwargs)


# ---- what a model's mixins mean for its plans ----------------------------------------
class Features(NamedTuple):
    timestamps: bool
    deleted: str | None  # the soft-delete column
    lock: str | None  # the lock-version column

    @property
    def row_state(self) -> tuple[str, ...]:
        """Columns describing the stored row rather than the data (a copy resets them)."""
        columns = ("created_at", "updated_at") if self.timestamps else ()
        return columns + tuple(c for c in (self.deleted, self.lock) if c)


def features_of(model: type[Any]) -> Features | None:
    found = Features(
        timestamps=issubclass(model, TimestampMixin),
        deleted="deleted_at" if issubclass(model, SoftDeleteMixin) else None,
        lock=model.__locking_column__ if issubclass(model, OptimisticLockMixin) else None,
    )
    return found if any(found) else None


def _stale(record: Any, expected: Any) -> StaleObjectError:
    model = type(record).__name__
    return StaleObjectError(
        f"{model} with key {record._stored_key()!r} was changed or deleted by someone else: "
        f"expected version {expected!r} is no longer stored; nothing was written. Reload "
        "it (refresh()) and apply the change again"
    )


def stamp_inserts(records: list[Any], features: Features | None) -> None:
    """Bulk inserts: both stamps, one instant for the call, where a record holds none."""
    if features is None or not features.timestamps:
        return
    instant = now()
    for record in records:
        data = record.__dict__
        if data["created_at"] is None:
            data["created_at"] = instant
        if data["updated_at"] is None:
            data["updated_at"] = instant


def insert_plan(record: Any, features: Features, dialect: Dialect, validate: bool) -> Plan[int]:
    """The record's INSERT with both stamps set where the record holds none."""
    stamped: list[str] = []
    if features.timestamps:
        instant = now()
        data = record.__dict__
        for column in ("created_at", "updated_at"):
            if data[column] is None:
                data[column] = instant
                stamped.append(column)
    try:
        inserted: int = yield from record._insert_plan(dialect, validate)
    except BaseException:
        for column in stamped:
            record.__dict__[column] = None
        raise
    return inserted


def update_plan(record: Any, features: Features, dialect: Dialect, validate: bool) -> Plan[int]:
    """The record's UPDATE of its dirty columns, stamped, version checked and bumped."""
    meta = type(record).__dict__.get("__twinrecord_meta__") or record._meta()
    private = record._private()
    snapshot = private["_snapshot"]
    data = record.__dict__
    current = meta._pick_columns(data)
    if current == snapshot:
        private["_previously_new"] = False
        return 0
    dirty = tuple([i for i, old in enumerate(snapshot) if current[i] != old])
    spec = meta._specs.get((dialect, dirty)) or _update_spec(meta, features, dirty, dialect)
    sql, columns, writers, stamp, key_indexes = spec
    if sql is None:  # only the lock column differs: the expected version, not a change
        private["_previously_new"] = False
        return 0
    if key_indexes:  # a key column is among the changes
        _refuse_unset_key(record, meta, data, key_indexes)
    if validate:
        data = record._validated_values()
    if stamp:
        previous = data["updated_at"]
        data["updated_at"] = now()
    values = [data[c] for c in columns]
    values += [snapshot[i] for i in meta.key_indexes]  # the row's key as stored
    params = [
        value if writer is None or value is None else writer(value)
        for writer, value in zip(writers, values)
    ]
    lock = features.lock
    if lock:
        params.append(data[lock])
    try:
        affected: int = yield Execute(sql, params)
    except BaseException:
        if stamp:
            data["updated_at"] = previous
        raise
    if not affected:
        if stamp:
            data["updated_at"] = previous
        if lock:
            raise _stale(record, data[lock])
        return 0
    if lock:
        data[lock] += 1
    private["_snapshot"] = meta.snapshot(data)
    private["_previously_new"] = False
    return 1


def _refuse_unset_key(
    record: Any, meta: Any, data: dict[str, Any], indexes: tuple[int, ...]
) -> None:
    for i in indexes:
        if data[meta.columns[i]] is None:
            raise ConfigurationError(
                f"{type(record).__name__}: cannot save a loaded record whose primary key "
                f"{meta.columns[i]!r} was set to None (its row keeps its key); to store a "
                "copy as a new row, use dup() to copy a record and save the copy. "
                "Nothing was sent."
            )


def _update_spec(
    meta: Any, features: Features, dirty: tuple[int, ...], dialect: Dialect
) -> tuple[str | None, tuple[str, ...], list[Any], bool, tuple[int, ...]]:
    """Per dirty set (as found, the lock column included), worked out once: the guarded
    UPDATE (None when only the lock column differs), the fields it writes (with
    `updated_at` stamped unless the change sets it), their writers then the key's,
    whether the stamp is added, and the key columns among the changes."""
    lock = features.lock
    indexes = tuple(i for i in dirty if lock is None or meta.columns[i] != lock)
    stamp = False
    if indexes and features.timestamps:
        stamp_index = meta.column_index["updated_at"]
        if stamp_index not in indexes:
            indexes, stamp = (*indexes, stamp_index), True
    columns = tuple(meta.columns[i] for i in indexes)
    sql = None
    if indexes:
        sql = compile_guarded_update(_guarded_update(meta, columns, lock, None), dialect)
    all_writers = meta.writers(dialect)
    writers = [all_writers[i] for i in (*indexes, *meta.key_indexes)]
    keys = tuple(i for i in meta.key_indexes if i in indexes)
    spec = meta._specs[(dialect, dirty)] = (sql, columns, writers, stamp, keys)
    return spec


def delete_plan(record: Any, features: Features, dialect: Dialect) -> Plan[int]:
    """`delete()`: soft (mark `deleted_at`) with SoftDeleteMixin, else the row goes."""
    if features.deleted:
        return (yield from _soft_delete_plan(record, features, dialect))
    return (yield from hard_delete_plan(record, features, dialect))


def hard_delete_plan(record: Any, features: Features | None, dialect: Dialect) -> Plan[int]:
    lock = features.lock if features else None
    if lock is None:
        deleted: int = yield from record._delete_row_plan(dialect)
        return deleted
    meta = record._meta()
    key = record._stored_key()
    if any(v is None for v in key):
        return 0
    statement = GuardedDelete(
        meta.table, meta.sql_names(meta.primary_key), (meta.sql_column(lock),)
    )
    sql = compile_guarded_delete(statement, dialect)
    params = [meta.write(k, v, dialect) for k, v in zip(meta.primary_key, key)]
    expected = record.__dict__[lock]
    affected: int = yield Execute(sql, [*params, expected])
    if not affected:
        raise _stale(record, expected)
    record._set_snapshot(None)
    record._private()["_previously_new"] = False
    return affected


def _soft_delete_plan(record: Any, features: Features, dialect: Dialect) -> Plan[int]:
    deleted = str(features.deleted)
    if record.is_new_record or record.__dict__[deleted] is not None:
        return 0  # never saved, or already deleted: nothing to mark
    instant = now()
    changes: dict[str, Any] = {deleted: instant}
    if features.timestamps:
        changes["updated_at"] = instant
    return (yield from _write_columns(record, features, changes, dialect, only_live=True))


def restore_plan(record: Any, features: Features | None, dialect: Dialect) -> Plan[int]:
    if features is None or not features.deleted:
        raise ConfigurationError(
            f"{type(record).__name__}.restore() needs SoftDeleteMixin on the model"
        )
    if record.is_new_record:
        return 0
    changes: dict[str, Any] = {features.deleted: None}
    if features.timestamps:
        changes["updated_at"] = now()
    return (yield from _write_columns(record, features, changes, dialect, only_live=False))


def touch_plan(record: Any, features: Features | None, dialect: Dialect) -> Plan[int]:
    """`touch()`: only `updated_at`; no events, no lock check."""
    if features is None or not features.timestamps:
        raise ConfigurationError(f"{type(record).__name__}.touch() needs TimestampMixin")
    if record.is_new_record:
        return 0
    plain = features._replace(lock=None)
    return (yield from _write_columns(record, plain, {"updated_at": now()}, dialect, False))


def _write_columns(
    record: Any, features: Features, changes: dict[str, Any], dialect: Dialect, only_live: bool
) -> Plan[int]:
    """UPDATE just `changes` on the record's row (version checked and bumped with
    OptimisticLockMixin); on success the record takes them, and its snapshot takes
    them too, leaving its other unsaved changes dirty."""
    meta = record._meta()
    lock = features.lock
    columns = tuple(changes)
    statement = _guarded_update(meta, columns, lock, features.deleted if only_live else None)
    params = [meta.write(c, v, dialect) for c, v in changes.items()]
    params += [meta.write(k, v, dialect) for k, v in zip(meta.primary_key, record._stored_key())]
    if lock:
        params.append(record.__dict__[lock])
    affected: int = yield Execute(compile_guarded_update(statement, dialect), params)
    if not affected:
        if lock:  # a vanished (or meanwhile deleted) row counts as stale
            raise _stale(record, record.__dict__[lock])
        return 0
    if lock:
        changes = {**changes, lock: record.__dict__[lock] + 1}
    snapshot = list(record._snapshot_values())
    for column, value in changes.items():
        record.__dict__[column] = value
        snapshot[meta.column_index[column]] = value
    record._set_snapshot(tuple(snapshot))
    return affected


def mixin_changes(
    model: type[Any], changes: dict[str, Any], touch: bool
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """`query().update()`: TimestampMixin's stamp (unless the changes set it, or
    `touch=False`) and OptimisticLockMixin's bump (no check: every loaded copy goes
    stale), as (changes, columns to bump)."""
    features = model._features_of_model()
    if features is None:
        return changes, ()
    if features.timestamps and touch and "updated_at" not in changes:
        changes["updated_at"] = now()
    lock = features.lock
    bump = (model._meta().sql_column(lock),) if lock and lock not in changes else ()
    return changes, bump


def _guarded_update(
    meta: Any, columns: tuple[str, ...], lock: str | None, live: str | None
) -> GuardedUpdate:
    """The statement, in the database's column names (fields may be mapped, §19)."""
    locked = (meta.sql_column(lock),) if lock else ()
    return GuardedUpdate(
        meta.table,
        meta.sql_names(columns),
        meta.sql_names(meta.primary_key),
        bump=locked,
        match=locked,
        unset=(meta.sql_column(live),) if live else (),
    )


def _write(writer: Any, value: Any) -> Any:
    return value if writer is None or value is None else writer(value)
