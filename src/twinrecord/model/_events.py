"""Lifecycle events (API.md §16): declaring handlers, and the save/delete plans that run
them.

Rule: everything about which handlers run, in what order, inside which transaction,
and how a failed span puts the record back, lives here. Handlers are `CallHook`
requests, so `run` and `arun` drive one sequence; a model without handlers never
reaches this module (its save is the plain plan of `_core.py`).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Callable, Iterator
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar, overload

from ..errors import ConfigurationError
from ..plan import CallHook, InTransaction, IsAsync, Plan
from ..sql.dialect import Dialect
from . import _mixins
from ._mixins import Features


class ModelEvent(StrEnum):
    """The ten lifecycle events; each value is the event's name."""

    BEFORE_VALIDATE = "before_validate"
    AFTER_VALIDATE = "after_validate"
    BEFORE_SAVE = "before_save"
    AFTER_SAVE = "after_save"
    BEFORE_INSERT = "before_insert"
    AFTER_INSERT = "after_insert"
    BEFORE_UPDATE = "before_update"
    AFTER_UPDATE = "after_update"
    BEFORE_DELETE = "before_delete"
    AFTER_DELETE = "after_delete"


EVENT_NAMES: tuple[str, ...] = tuple(e.value for e in ModelEvent)
SAVE_EVENTS = frozenset(EVENT_NAMES) - {"before_delete", "after_delete"}
DELETE_EVENTS = frozenset({"before_delete", "after_delete"})
# A model with a handler for any of these runs save()/delete() in a transaction.
SPAN_EVENTS = frozenset(EVENT_NAMES) - {"before_validate", "after_validate"}

_MARK = "__twinrecord_events__"
_LIFE = "__twinrecord_lifecycle__"
_LISTENERS = "__twinrecord_listeners__"
_registration = itertools.count()  # on() order across classes

F = TypeVar("F", bound=Callable[..., Any])
Handlers = dict[str, tuple[Callable[..., Any], ...]]


def event_name(event: str | ModelEvent) -> str:
    """The event's name, or a ConfigurationError listing the ten."""
    if isinstance(event, str) and event in EVENT_NAMES:
        return str(event)
    raise ConfigurationError(f"unknown event {event!r}; the events are: {', '.join(EVENT_NAMES)}")


def _marker(event: str) -> Callable[[F], F]:
    def mark(method: F) -> F:
        if not callable(method):
            raise ConfigurationError(f"@{event} decorates a method taking self; got {method!r}")
        marks = getattr(method, _MARK, ())
        setattr(method, _MARK, (*marks, event))
        return method

    mark.__name__ = event
    mark.__doc__ = f"Mark a method (taking self) as a {event!r} handler."
    return mark


before_validate = _marker("before_validate")
after_validate = _marker("after_validate")
before_save = _marker("before_save")
after_save = _marker("after_save")
before_insert = _marker("before_insert")
after_insert = _marker("after_insert")
before_update = _marker("before_update")
after_update = _marker("after_update")
before_delete = _marker("before_delete")
after_delete = _marker("after_delete")


# ---- the handler table of a model ---------------------------------------------------
def _kinds(model: type[Any]) -> set[str]:
    return {k for c in model.__mro__ if (k := c.__dict__.get("__twinrecord_kind__"))}


def _refuse_async_on_sync_model(model: type[Any], handler: Callable[..., Any], event: str) -> None:
    if inspect.iscoroutinefunction(handler) and _kinds(model) == {"sync"}:
        raise ConfigurationError(
            f"{model.__name__}: the {event!r} handler {handler.__qualname__} is `async def`, "
            "but the model is synchronous and cannot await it; make it a plain function, "
            "or use an async (or combined) model"
        )


def check_declared_handlers(model: type[Any]) -> None:
    """At class definition: an `async def` handler on a sync-only model is refused."""
    for event, handler in _declared(model):
        _refuse_async_on_sync_model(model, handler, event)


def _declared(model: type[Any]) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Decorated methods: base classes and mixins first, then each class's own in
    definition order (a method redefined by a subclass takes the subclass's place)."""
    methods: dict[str, Callable[..., Any]] = {}
    for klass in reversed(model.__mro__):
        for name, value in klass.__dict__.items():
            methods.pop(name, None)
            if callable(value) and getattr(value, _MARK, None):
                methods[name] = value
    for method in methods.values():
        for event in getattr(method, _MARK):
            yield event, method


class Lifecycle(NamedTuple):
    """What a model's saves and deletes add to the plain plans: handlers, mixins."""

    handlers: Handlers
    features: Features | None


def lifecycle_of(model: type[Any]) -> Lifecycle | bool:
    """The model's Lifecycle, or False when it has neither handlers nor mixins (its
    saves take the plain plans). Computed once; `on()`/`off()` make it recomputed."""
    life: Lifecycle | bool | None = model.__dict__.get(_LIFE)
    if life is None:
        handlers = handlers_of(model)
        features = _mixins.features_of(model)
        life = Lifecycle(handlers, features) if handlers or features else False
        type.__setattr__(model, _LIFE, life)
    return life


def handlers_of(model: type[Any]) -> Handlers:
    """Every event's handlers in running order (empty when the model has none)."""
    collected: dict[str, list[Callable[..., Any]]] = {}
    for event, method in _declared(model):
        collected.setdefault(event, []).append(method)
    registered: list[tuple[int, str, Callable[..., Any]]] = []
    for klass in model.__mro__:
        for event, entries in klass.__dict__.get(_LISTENERS, {}).items():
            registered.extend((seq, event, fn) for seq, fn in entries)
    for _, event, fn in sorted(registered, key=lambda entry: entry[0]):
        collected.setdefault(event, []).append(fn)
    return {event: tuple(fns) for event, fns in collected.items()}


def _forget_tables(model: type[Any]) -> None:
    if model.__dict__.get(_LIFE) is not None:
        type.__setattr__(model, _LIFE, None)
    for sub in model.__subclasses__():
        _forget_tables(sub)


@overload
def register(model: type[Any], event: str | ModelEvent, fn: None) -> Callable[[F], F]: ...
@overload
def register(model: type[Any], event: str | ModelEvent, fn: F) -> F: ...
def register(model: type[Any], event: str | ModelEvent, fn: F | None) -> F | Callable[[F], F]:
    """`Model.on(event, fn)`, or `@Model.on(event)` as a decorator."""
    name = event_name(event)
    if fn is None:
        return lambda handler: register(model, name, handler)
    if not callable(fn):
        raise ConfigurationError(f"{model.__name__}.on({name!r}, ...) takes a callable; got {fn!r}")
    _refuse_async_on_sync_model(model, fn, name)
    listeners = model.__dict__.get(_LISTENERS)
    if listeners is None:
        listeners = {}
        type.__setattr__(model, _LISTENERS, listeners)
    listeners.setdefault(name, []).append((next(_registration), fn))
    _forget_tables(model)
    return fn


def unregister(model: type[Any], event: str | ModelEvent, fn: Callable[..., Any]) -> None:
    """`Model.off(event, fn)`: remove a registration made on this model with `on()`."""
    name = event_name(event)
    entries = model.__dict__.get(_LISTENERS, {}).get(name, [])
    for position, (_, registered) in enumerate(entries):
        if registered is fn or registered == fn:
            del entries[position]
            _forget_tables(model)
            return
    raise ConfigurationError(
        f"{fn!r} is not registered for {name!r} on {model.__name__} (register it with on())"
    )


# ---- the plans ----------------------------------------------------------------------
def _call(handlers: Handlers, event: str, record: Any) -> Plan[None]:
    for handler in handlers.get(event, ()):
        yield CallHook(handler, record)


def _begin(record: Any, handlers: Handlers, events: frozenset[str], action: str) -> Plan[None]:
    """Refuse re-entry and `async def` handlers a sync save cannot await, before any write."""
    private = record._private()
    if private.get("_in_events"):
        raise ConfigurationError(
            f"{action}() was called on the {type(record).__name__} record that is being "
            f"saved or deleted (from one of its handlers); change its fields instead and "
            "let the running save write them"
        )
    is_async = yield IsAsync()
    if not is_async:
        for event in events:
            for handler in handlers.get(event, ()):
                if inspect.iscoroutinefunction(handler):
                    raise ConfigurationError(
                        f"{type(record).__name__}.{action}() on the sync kind would need the "
                        f"`async def` {event!r} handler {handler.__qualname__}; nothing was "
                        f"written. Use the async kind (`await record.aio.{action}()`)"
                    )


def _captured(record: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    private = record._private()
    kept = ("_snapshot", "_previously_new", "_unvalidated")  # values put back stay unchecked
    return dict(record.__dict__), {k: private.get(k) for k in kept}


def _put_back(record: Any, state: tuple[dict[str, Any], dict[str, Any]]) -> None:
    values, private_state = state
    record.__dict__.clear()
    record.__dict__.update(values)
    record._private().update(private_state)


def save_plan(record: Any, life: Lifecycle, dialect: Dialect) -> Plan[int]:
    """The plan of `save()`: picked here rather than wrapped (one generator less per
    save for a model with mixins and no handlers)."""
    handlers, features = life
    if handlers:
        return _evented_save_plan(record, life, dialect)
    if record._private()["_snapshot"] is None:  # a new record
        return _insert(record, features, dialect, validate=True)
    return _update(record, features, dialect, validate=True)


def _evented_save_plan(record: Any, life: Lifecycle, dialect: Dialect) -> Plan[int]:
    span = lambda: _save_span(record, life, dialect)  # noqa: E731
    return _evented(record, life.handlers, SAVE_EVENTS, "save", span, validates=True)


def _evented(
    record: Any,
    handlers: Handlers,
    events: frozenset[str],
    action: str,
    span: Callable[[], Plan[int]],
    validates: bool,
) -> Plan[int]:
    """A save or delete with handlers: re-entry refused, the validation handlers (saves),
    then the span in a transaction when a span handler exists; on any exception in it
    the record is put back as it was before the call."""
    yield from _begin(record, handlers, events, action)
    private = record._private()
    before = _captured(record)
    private["_in_events"] = True
    try:
        if validates:
            yield from _call(handlers, "before_validate", record)
            record._validated_values(full=True)  # §16: the validation between its two events
            yield from _call(handlers, "after_validate", record)
        try:
            if SPAN_EVENTS.isdisjoint(handlers):
                return (yield from span())
            result: int = yield InTransaction(span())
            return result
        except BaseException:
            _put_back(record, before)
            raise
    finally:
        private["_in_events"] = False


def _insert(record: Any, features: Features | None, dialect: Dialect, validate: bool) -> Plan[int]:
    if features is None:
        return record._insert_plan(dialect, validate)  # type: ignore[no-any-return]
    return _mixins.insert_plan(record, features, dialect, validate)


def _update(record: Any, features: Features | None, dialect: Dialect, validate: bool) -> Plan[int]:
    if features is None:
        return record._update_plan(dialect, validate)  # type: ignore[no-any-return]
    return _mixins.update_plan(record, features, dialect, validate)


def _save_span(record: Any, life: Lifecycle, dialect: Dialect) -> Plan[int]:
    # Validated once, between the validation handlers; later changes are assignments,
    # validated as they are made.
    handlers, features = life
    yield from _call(handlers, "before_save", record)
    if record.is_new_record:
        yield from _call(handlers, "before_insert", record)
        yield from _insert(record, features, dialect, validate=False)
        yield from _call(handlers, "after_insert", record)
        yield from _call(handlers, "after_save", record)
        return 1
    lock = features.lock if features else None
    if not (record.dirty_attributes - {lock}):
        record._private()["_previously_new"] = False
        yield from _call(handlers, "after_save", record)
        return 0
    yield from _call(handlers, "before_update", record)
    affected: int = yield from _update(record, features, dialect, validate=False)
    if affected:
        yield from _call(handlers, "after_update", record)
        yield from _call(handlers, "after_save", record)
    return affected


def delete_plan(record: Any, life: Lifecycle, dialect: Dialect, hard: bool = False) -> Plan[int]:
    """`delete()` (soft with SoftDeleteMixin) or `hard_delete()`, with its events."""
    handlers, features = life
    if not handlers:
        return _delete(record, features, dialect, hard)
    return _evented_delete_plan(record, life, dialect, hard)


def _evented_delete_plan(record: Any, life: Lifecycle, dialect: Dialect, hard: bool) -> Plan[int]:
    action = "hard_delete" if hard else "delete"
    span = lambda: _delete_span(record, life, dialect, hard)  # noqa: E731
    return _evented(record, life.handlers, DELETE_EVENTS, action, span, validates=False)


def _delete(record: Any, features: Features | None, dialect: Dialect, hard: bool) -> Plan[int]:
    if features is None:
        return record._delete_row_plan(dialect)  # type: ignore[no-any-return]
    if hard:
        return _mixins.hard_delete_plan(record, features, dialect)
    return _mixins.delete_plan(record, features, dialect)


def _delete_span(record: Any, life: Lifecycle, dialect: Dialect, hard: bool) -> Plan[int]:
    handlers, features = life
    yield from _call(handlers, "before_delete", record)
    affected: int = yield from _delete(record, features, dialect, hard)
    if affected:
        yield from _call(handlers, "after_delete", record)
    return affected


__all__ = [
    "EVENT_NAMES",
    "ModelEvent",
    "after_delete",
    "after_insert",
    "after_save",
    "after_update",
    "after_validate",
    "before_delete",
    "before_insert",
    "before_save",
    "before_update",
    "before_validate",
    "check_declared_handlers",
    "delete_plan",
    "handlers_of",
    "lifecycle_of",
    "register",
    "save_plan",
    "unregister",
]
