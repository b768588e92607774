"""Which backend a model uses: `configure()`, inheritance by subclasses, and lookup.

A model class carries one backend per kind it has ('sync', 'async') as class
attributes, so subclasses (also those defined later) inherit them by plain
attribute lookup until they are configured themselves.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Literal, overload
from urllib.parse import parse_qsl, urlsplit

from ..backends import AsyncBackend, BackendBase, BaseConfig, SyncBackend, resolve_url
from ..backends._config import ServerConfig, mask_url
from ..backends._replicas import PinPrimary, check_role
from ..errors import ConfigurationError

SLOT = {"sync": "__twinrecord_sync_backend__", "async": "__twinrecord_async_backend__"}


class Refused:
    """Stands in for a backend that cannot exist (async SQLite): raises when used."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def kinds_of(model: type[object]) -> list[str]:
    """The kinds a model class has, first base first ('sync', 'async' or both)."""
    kinds: list[str] = []
    for klass in model.__mro__:
        kind = klass.__dict__.get("__twinrecord_kind__")
        if kind and kind not in kinds:
            kinds.append(kind)
    return kinds


@overload
def backend_of(model: type[object], kind: Literal["sync"]) -> SyncBackend[BaseConfig]: ...
@overload
def backend_of(model: type[object], kind: Literal["async"]) -> AsyncBackend[BaseConfig]: ...
@overload
def backend_of(model: type[object], kind: str) -> BackendBase[BaseConfig]: ...
def backend_of(model: type[object], kind: str) -> BackendBase[BaseConfig]:
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
    model: type[object],
    config: BaseConfig | str,
    backend_class: type[BackendBase[BaseConfig]] | None,
    replicas: Sequence[BaseConfig | str] = (),
) -> None:
    kinds = kinds_of(model)
    if not kinds:
        raise ConfigurationError(f"{model.__name__} is not a twinrecord model class")
    if isinstance(replicas, (str, BaseConfig)):
        replicas = [replicas]  # one replica given bare
    built = []
    for kind in kinds:
        primary = _build(model, kind, config, backend_class)
        if replicas:
            if isinstance(primary, Refused):
                raise ConfigurationError(primary.reason)
            primary.use_replicas([_build_replica(model, primary, each) for each in replicas])
        built.append((kind, primary))
    for kind, primary in built:
        _install(model, kind, primary)


def _build_replica(
    model: type[object], primary: BackendBase[BaseConfig], replica: BaseConfig | str
) -> BackendBase[BaseConfig]:
    """A backend of the primary's own class for one replica (API.md §18): a URL without
    `pool_size` takes the primary's."""
    database = primary.dialect.name
    if database == "sqlite":
        raise ConfigurationError(
            f"{model.__name__}.configure(..., replicas=...): SQLite has no read replicas "
            "(one file, one server); configure replicas with PostgreSQL or MySQL/MariaDB"
        )
    if isinstance(replica, str):
        replica_class, replica_config = resolve_url(replica, want_async=primary.is_async)
        shown = repr(mask_url(replica))
        if (
            "pool_size" not in dict(parse_qsl(urlsplit(replica).query))
            and isinstance(primary.config, ServerConfig)  # not SQLite: refused above
            and isinstance(replica_config, ServerConfig)
        ):
            pool_size = primary.config.pool_size
            minimum = min(replica_config.pool_min_size, pool_size)
            replica_config = dataclasses.replace(
                replica_config, pool_size=pool_size, pool_min_size=minimum
            )
    else:
        replica_class, replica_config, shown = type(primary), replica, repr(replica)
    if replica_class is not type(primary) or not isinstance(replica_config, type(primary.config)):
        raise ConfigurationError(
            f"replica {shown} is not a {database} database like the primary "
            f"({type(primary).__name__}); a replica is a copy of the primary's database"
        )
    return replica_class(replica_config)


def pin_primary(model: type[object], role: str) -> PinPrimary:
    """`Model.using('primary')`: reads of the model's backends (each kind it has) in this
    task or thread go to the primary inside the `with` block."""
    check_role(role)
    backends = [backend_of(model, kind) for kind in kinds_of(model)
                if not isinstance(getattr(model, SLOT[kind], None), Refused)]
    return PinPrimary(backends)


def _build(
    model: type[object],
    kind: str,
    config: BaseConfig | str,
    backend_class: type[BackendBase[BaseConfig]] | None,
) -> BackendBase[BaseConfig] | Refused:
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
    backend_class: type[BackendBase[BaseConfig]],
    want_async: bool,
    model: type[object],
    from_url: bool,
) -> type[BackendBase[BaseConfig]] | Refused:
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


def _install(
    model: type[object], kind: str, backend: BackendBase[BaseConfig] | Refused
) -> None:
    slot = SLOT[kind]
    old = model.__dict__.get(slot)
    type.__setattr__(model, slot, backend)
    if old is not None and old is not backend:
        close_quietly(old)


def close_quietly(backend: BackendBase[BaseConfig] | Refused) -> None:
    """Close a replaced backend; an async one is closed on its loop when one runs."""
    if isinstance(backend, Refused):
        return
    if isinstance(backend, SyncBackend):
        backend.close()
        return
    if not isinstance(backend, AsyncBackend):
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
