"""Configuration shared by every backend: URL parsing, option coercion, password masking."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar, get_type_hints
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import ConfigurationError

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
