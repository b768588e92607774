"""`find_or_create_by` and `update_or_create_by` (API.md §15), written once as plans.

Both go through `save()` (validation, events) -- the model's own `save()` when it
overrides it, as `create()` does. Race safety comes from the database:
the create runs in a savepoint, and when a concurrent caller's row wins the unique
constraint the savepoint is rolled back and the row is read with a locking read,
which sees the winner's committed row even in a REPEATABLE READ transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigurationError, RecordNotUnique
from ..plan import CallHook, InTransaction, IsAsync, Plan
from ..sql.dialect import Dialect
from ._core import _invalid as invalid

ROLLBACK_RETRIES = 5


def own_save(model: type[Any], kind: str) -> Callable[[Any], Any] | None:
    """The model's own `save()` when a class below twinrecord's overrides it for `kind`
    (API.md §3: create() is construct + save()), else None: the library's save runs
    as a plan. On a combined model (§6) the override belongs to its first base's kind;
    the other kind's face keeps the library's save. Found once per class and kind."""
    cache = model.__dict__.get("__twinrecord_own_save__")
    if cache is None:
        cache = {}
        type.__setattr__(model, "__twinrecord_own_save__", cache)
    elif kind in cache:
        return cache[kind]  # type: ignore[no-any-return]
    found: Callable[[Any], Any] | None = None
    if model.__twinrecord_kind__ == kind:
        for klass in model.__mro__:
            method = klass.__dict__.get("save")
            if method is not None:
                if not klass.__module__.startswith("twinrecord.") and callable(method):
                    found = method
                break
    cache[kind] = found
    return found


def _save(record: Any, dialect: Dialect) -> Plan[int]:
    """Save `record` through its model's own `save()` if it has one (a hook: the
    override's statements join the running transaction), else the library's plan."""
    kind = "async" if (yield IsAsync()) else "sync"
    override = own_save(type(record), kind)
    if override is None:
        saved: int = yield from record._save_plan(dialect)
        return saved
    result: int = yield CallHook(override, record)
    return result


def _query(model: type[Any], conditions: Mapping[str, object]) -> Any:
    from ..query._core import QueryCore

    if not isinstance(conditions, Mapping) or not conditions:
        raise ConfigurationError(
            f"{model.__name__}: find_or_create_by/update_or_create_by take a non-empty dict "
            f"of column values, e.g. {{'email': e}}; got {conditions!r}"
        )
    return QueryCore(model).where(dict(conditions))


def find_or_create_plan(
    model: type[Any],
    conditions: Mapping[str, object],
    defaults: Mapping[str, object] | None,
    dialect: Dialect,
) -> Plan[Any]:
    query = _query(model, conditions)
    found = yield from query._one_plan(dialect)
    if found is not None:
        return found
    return (yield from _create_plan(model, query, conditions, defaults, dialect))


def _create_plan(
    model: type[Any],
    query: Any,
    conditions: Mapping[str, object],
    defaults: Mapping[str, object] | None,
    dialect: Dialect,
) -> Plan[Any]:
    try:
        record = model(**{**dict(defaults or {}), **dict(conditions)})
    except ValidationError as error:
        raise invalid(model.__name__, error) from error
    try:
        yield InTransaction(_save(record, dialect))  # a savepoint inside a transaction
    except RecordNotUnique:
        # A concurrent caller inserted the row first: read it, locking, so its committed
        # version is seen whatever the isolation level.
        found = yield from query.for_update()._one_plan(dialect)
        if found is None:
            raise  # a unique key other than the conditions': a real error
        return found
    return record


def update_or_create_plan(
    model: type[Any],
    conditions: Mapping[str, object],
    values: Mapping[str, object],
    dialect: Dialect,
) -> Plan[Any]:
    query = _query(model, conditions)
    # Concurrent callers that all miss lock nothing and then collide inserting: the
    # server may pick one as a deadlock victim; its whole transaction (ours) is retried.
    attempt = lambda: _update_or_create(model, query, conditions, values, dialect)  # noqa: E731
    result = yield InTransaction(attempt, retries=ROLLBACK_RETRIES)
    return result


def _update_or_create(
    model: type[Any],
    query: Any,
    conditions: Mapping[str, object],
    values: Mapping[str, object],
    dialect: Dialect,
) -> Plan[Any]:
    found = yield from query.for_update()._one_plan(dialect)
    if found is None:
        return (yield from _create_plan(model, query, conditions, values, dialect))
    for name, value in values.items():
        setattr(found, name, value)  # validated as any assignment
    yield from _save(found, dialect)
    return found
