"""Configuration shared by every backend: URL parsing, option coercion, password masking."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigurationError
from ..sql.dialect import ISOLATION_LEVELS

C = TypeVar("C", bound="BaseConfig")


@dataclasses.dataclass(kw_only=True)
class BaseConfig:
    """Options every backend takes. Subclasses add their own."""

    log_values: bool = False

    def __repr__(self) -> str:
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "password" and value:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    @classmethod
    def from_options(cls: type[C], options: Mapping[str, str], source: str) -> C:
        """Build from string options (URL query), coercing each to the field's type."""
        hints = get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in options.items():
            if key not in names:
                raise ConfigurationError(
                    f"unknown option {key!r} in {source}; {cls.__name__} takes: "
                    + ", ".join(sorted(names))
                )
            values[key] = _coerce(raw, hints[key], key, source)
        return cls(**values)


SYNC_IN_EVENT_LOOP = ("warn", "raise", "allow")


@dataclasses.dataclass(kw_only=True, repr=False)
class ServerConfig(BaseConfig):
    """Options every server database (PostgreSQL, MySQL/MariaDB) takes, with one name and
    one unit everywhere (API.md §2, §5). Times are seconds."""

    pool_size: int = 10  # the most connections open at once
    pool_min_size: int = 1  # opened at first use and kept
    pool_timeout: float = 30.0  # how long a statement waits for a free connection
    pool_pre_ping: bool = False  # check each connection before use (a restart costs nothing)
    connect_timeout: float = 10.0  # the whole wait for a new connection, retries included
    statement_timeout: float | None = None  # None: the server's own limit
    # Transactions without an explicit level run at this one (§5: READ COMMITTED everywhere).
    isolation_level: str = "READ COMMITTED"
    sync_in_event_loop: str = "warn"  # 'warn' | 'raise' | 'allow' (§2)
    # Read replicas (§18): reads in a task or thread stay on the primary this long after
    # it wrote; an unreachable replica is skipped this long before it is tried again.
    sticky_seconds: float = 2.0
    replica_retry_seconds: float = 30.0

    def server_option_problems(self) -> list[str]:
        """What is wrong with the shared options (subclasses add their own and raise)."""
        problems = []
        if self.pool_size < 1:
            problems.append(f"pool_size must be at least 1, got {self.pool_size}")
        if not 0 <= self.pool_min_size <= max(self.pool_size, 0):
            problems.append(
                f"pool_min_size must be between 0 and pool_size ({self.pool_size}), "
                f"got {self.pool_min_size}"
            )
        for name in ("pool_timeout", "connect_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"{name} must be a positive number of seconds")
        for name in ("sticky_seconds", "replica_retry_seconds"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be zero or a positive number of seconds")
        if self.statement_timeout is not None and self.statement_timeout <= 0:
            problems.append("statement_timeout must be a positive number of seconds or None")
        level = " ".join(str(self.isolation_level).upper().replace("_", " ").split())
        if level not in ISOLATION_LEVELS:
            problems.append(
                f"isolation_level {self.isolation_level!r} is not one of "
                + ", ".join(repr(name) for name in ISOLATION_LEVELS)
            )
        else:
            self.isolation_level = level
        if self.sync_in_event_loop not in SYNC_IN_EVENT_LOOP:
            problems.append(
                f"sync_in_event_loop {self.sync_in_event_loop!r} is not one of "
                + ", ".join(repr(name) for name in SYNC_IN_EVENT_LOOP)
            )
        return problems


def _coerce(raw: Any, hint: Any, key: str, source: str) -> Any:
    if not isinstance(raw, str):
        return raw
    text = str(hint)
    try:
        if hint is bool or text.startswith("bool"):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if hint is int or text.startswith("int"):
            return int(raw)
        if hint is float or text.startswith("float"):
            return float(raw)
    except ValueError:
        raise ConfigurationError(f"option {key!r} has a bad value {raw!r} in {source}") from None
    return raw


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def parse_server_url(url: str) -> dict[str, str]:
    """host/port/user/password/database and query options of a server URL, as strings."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise ConfigurationError(f"malformed database URL {mask_url(url)!r}: {error}") from None
    options: dict[str, str] = {}
    if parts.hostname:
        options["host"] = unquote(parts.hostname)
    if port is not None:
        options["port"] = str(port)
    if parts.username:
        options["user"] = unquote(parts.username)
    if parts.password:
        options["password"] = unquote(parts.password)
    database = parts.path.lstrip("/")
    if database:
        options["database"] = unquote(database)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        options[key] = value
    return options
