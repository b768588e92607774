"""Which backend a model uses: `configure()`, inheritance by subclasses, and lookup.

A model class carries one backend per kind it has ('sync', 'async') as class
attributes, so subclasses (also those defined later) inherit them by plain
attribute lookup until they are configured themselves.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from ..backends import AsyncBackend, BackendBase, BaseConfig, SyncBackend, resolve_url
from ..errors import ConfigurationError

SLOT = {"sync": "__twinrecord_sync_backend__", "async": "__twinrecord_async_backend__"}


class Refused:
    """Stands in for a backend that cannot exist (async SQLite): raises when used."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def kinds_of(model: type[Any]) -> list[str]:
    """The kinds a model class has, first base first ('sync', 'async' or both)."""
    kinds: list[str] = []
    for klass in model.__mro__:
        kind = klass.__dict__.get("__twinrecord_kind__")
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


def backend_of(model: type[Any], kind: str) -> Any:
    backend = getattr(model, SLOT[kind], None)
    if backend is None:
        name = model.__name__
        how = (
            f"{name}.configure('postgresql://user@host/app') or "
            f"{name}.configure('mysql://user@host/app') (the async kind needs PostgreSQL "
            "or MySQL; SQLite is sync only)"
            if kind == "async"
            else f"{name}.configure('sqlite:///app.db') (or a postgresql:// / mysql:// URL)"
        )
        raise ConfigurationError(
            f"{name} has no {kind} database configured: call {how}, or configure a base "
            "class it inherits from"
        )
    if isinstance(backend, Refused):
        raise ConfigurationError(backend.reason)
    return backend


def configure(
    model: type[Any], config: BaseConfig | str, backend_class: type[BackendBase[Any]] | None
) -> None:
    kinds = kinds_of(model)
    if not kinds:
        raise ConfigurationError(f"{model.__name__} is not a twinrecord model class")
    for kind in kinds:
        _install(model, kind, _build(model, kind, config, backend_class))


def _build(
    model: type[Any],
    kind: str,
    config: BaseConfig | str,
    backend_class: type[BackendBase[Any]] | None,
) -> Any:
    want_async = kind == "async"
    if isinstance(config, str):
        try:
            backend_class, config = resolve_url(config, want_async)
        except ConfigurationError as error:
            if want_async and "SQLite" in str(error) and len(kinds_of(model)) > 1:
                return Refused(str(error))  # a combined model on SQLite: sync only
            raise
    if backend_class is None:
        raise ConfigurationError(
            f"{model.__name__}.configure({config!r}) needs a backend class, e.g. "
            "configure(config, SQLiteBackend), or a URL such as 'sqlite:///app.db'"
        )
    backend_class = _twin_of_kind(backend_class, want_async, model)
    if isinstance(backend_class, Refused):
        return backend_class
    if not isinstance(config, backend_class.config_type):
        raise ConfigurationError(
            f"{backend_class.__name__} takes a {backend_class.config_type.__name__}, "
            f"got {type(config).__name__}"
        )
    return backend_class(config)


def _twin_of_kind(backend_class: type[BackendBase[Any]], want_async: bool, model: type[Any]) -> Any:
    """The backend class of the wanted kind from the same driver module."""
    if issubclass(backend_class, AsyncBackend if want_async else SyncBackend):
        return backend_class
    module = sys.modules[backend_class.__module__]
    name = backend_class.__name__
    twin_name = name.removeprefix("Async") if not want_async else "Async" + name
    twin = getattr(module, twin_name, None)
    if twin is not None:
        return twin
    refusal = getattr(module, "ASYNC_REFUSAL", None)
    if want_async and refusal:
        if len(kinds_of(model)) > 1:
            return Refused(refusal)
        raise ConfigurationError(f"{model.__name__} is an async model. {refusal}")
    raise ConfigurationError(
        f"{backend_class.__name__} is a {'sync' if want_async else 'async'} backend; "
        f"{model.__name__} needs the {'async' if want_async else 'sync'} one"
    )


def _install(model: type[Any], kind: str, backend: Any) -> None:
    slot = SLOT[kind]
    old = model.__dict__.get(slot)
    type.__setattr__(model, slot, backend)
    if old is not None and old is not backend:
        close_quietly(old)


def close_quietly(backend: Any) -> None:
    """Close a replaced backend; an async one is closed on its loop when one runs."""
    if isinstance(backend, Refused):
        return
    if isinstance(backend, SyncBackend):
        backend.close()
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        backend._close_unawaited()
        return
    task = loop.create_task(backend.close())
    _closing.add(task)  # keep a reference until it is done
    task.add_done_callback(_closing.discard)


_closing: set[asyncio.Task[None]] = set()
