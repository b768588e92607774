"""Which backend a model uses: `configure()`, inheritance by subclasses, and lookup.

A model class carries one backend per kind it has ('sync', 'async') as class
attributes, so subclasses (also those defined later) inherit them by plain
attribute lookup until they are configured themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, overload

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


@overload
def backend_of(model: type[Any], kind: Literal["sync"]) -> SyncBackend[Any]: ...
@overload
def backend_of(model: type[Any], kind: Literal["async"]) -> AsyncBackend[Any]: ...
@overload
def backend_of(model: type[Any], kind: str) -> BackendBase[Any]: ...
def backend_of(model: type[Any], kind: str) -> BackendBase[Any]:
    """The model's backend of one kind, or an error saying how to configure one."""
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
    return backend  # type: ignore[no-any-return]  # a class attribute set by _install


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
    from_url = isinstance(config, str)
    if isinstance(config, str):
        backend_class, config = resolve_url(config, want_async=False)
    if backend_class is None:
        raise ConfigurationError(
            f"{model.__name__}.configure({config!r}) needs a backend class, e.g. "
            "configure(config, SQLiteBackend), or a URL such as 'sqlite:///app.db'"
        )
    chosen = _twin_of_kind(backend_class, want_async, model, from_url)
    if isinstance(chosen, Refused):
        return chosen
    if not isinstance(config, chosen.config_type):
        raise ConfigurationError(
            f"{chosen.__name__} takes a {chosen.config_type.__name__}, got {type(config).__name__}"
        )
    return chosen(config)


def _twin_of_kind(
    backend_class: type[BackendBase[Any]], want_async: bool, model: type[Any], from_url: bool
) -> type[BackendBase[Any]] | Refused:
    """The backend class of the wanted kind for the same database (its `twin`)."""
    if issubclass(backend_class, AsyncBackend if want_async else SyncBackend):
        return backend_class
    if backend_class.twin is not None:
        return backend_class.twin
    refusal = backend_class.async_refusal
    if want_async and refusal:
        if len(kinds_of(model)) > 1:
            return Refused(refusal)  # a combined model on SQLite: sync only
        raise ConfigurationError(
            refusal if from_url else f"{model.__name__} is an async model. {refusal}"
        )
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
