"""`find_or_create_by` and `update_or_create_by` (API.md §15), written once as plans.

Both go through `save()` (validation, events). Race safety comes from the database:
the create runs in a savepoint, and when a concurrent caller's row wins the unique
constraint the savepoint is rolled back and the row is read with a locking read,
which sees the winner's committed row even in a REPEATABLE READ transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ..errors import ConfigurationError, RecordNotUnique
from ..plan import InTransaction, Plan
from ..sql.dialect import Dialect
from ._core import _invalid as invalid

ROLLBACK_RETRIES = 5


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
        yield InTransaction(record._save_plan(dialect))  # a savepoint inside a transaction
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
    yield from found._save_plan(dialect)
    return found
