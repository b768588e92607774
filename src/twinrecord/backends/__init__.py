"""Database backends: one module per database (config, sync and async backend,
type adaptation, error translation). Nothing here knows a model.

`resolve_url()` maps a URL to the backend class and its config, importing the
driver module only when that database is used.
"""

from __future__ import annotations

import importlib

from ..errors import ConfigurationError
from ._config import BaseConfig, mask_url
from ._core import AsyncBackend, BackendBase, SyncBackend, pair

# scheme -> (module, config class, sync backend class); the async one is its `twin`.
_SCHEMES: dict[str, tuple[str, str, str]] = {
    "sqlite": ("sqlite", "SQLiteConfig", "SQLiteBackend"),
    "postgresql": ("postgres", "PostgresConfig", "PostgresBackend"),
    "postgres": ("postgres", "PostgresConfig", "PostgresBackend"),
    "mysql": ("mysql", "MySQLConfig", "MySQLBackend"),
    "mariadb": ("mysql", "MySQLConfig", "MySQLBackend"),
}


def resolve_url(url: str, want_async: bool) -> tuple[type[BackendBase[BaseConfig]], BaseConfig]:
    """The backend class (of the wanted kind) and the config a URL describes."""
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    scheme = scheme.split("+", 1)[0]
    if scheme not in _SCHEMES:
        raise ConfigurationError(
            f"unsupported or malformed database URL {mask_url(url)!r}; expected "
            "sqlite:///path.db, postgresql://user@host/db or mysql://user@host/db"
        )
    module_name, config_name, sync_name = _SCHEMES[scheme]
    module = importlib.import_module(f"{__name__}.{module_name}")
    backend_class: type[BackendBase[BaseConfig]] = getattr(module, sync_name)
    if want_async:
        if backend_class.twin is None:
            raise ConfigurationError(backend_class.async_refusal or f"{scheme}: no async backend")
        backend_class = backend_class.twin
    config: BaseConfig = getattr(module, config_name).from_url(url)
    return backend_class, config


__all__ = ["AsyncBackend", "BackendBase", "BaseConfig", "SyncBackend", "pair", "resolve_url"]
