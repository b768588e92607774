"""URL parsing and config objects that need no server (SQLite; shared helpers)."""

from __future__ import annotations

import pytest

from twinrecord import ConfigurationError
from twinrecord.backends import resolve_url
from twinrecord.backends._config import mask_url, parse_server_url
from twinrecord.backends.sqlite import SQLiteBackend, SQLiteConfig


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("sqlite:///app.db", "app.db"),
        ("sqlite:////var/data/app.db", "/var/data/app.db"),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
    ],
)
def test_sqlite_urls(url, database):
    backend_class, config = resolve_url(url, want_async=False)
    assert backend_class is SQLiteBackend
    assert isinstance(config, SQLiteConfig) and config.database == database


def test_sqlite_url_options_are_coerced_and_unknown_ones_refused():
    _, config = resolve_url("sqlite:///a.db?busy_timeout=2.5&pool_size=3&log_values=true", False)
    assert (config.busy_timeout, config.pool_size, config.log_values) == (2.5, 3, True)
    with pytest.raises(ConfigurationError, match="nonsense"):
        resolve_url("sqlite:///a.db?nonsense=1", False)
    with pytest.raises(ConfigurationError, match="pool_size"):
        resolve_url("sqlite:///a.db?pool_size=many", False)


def test_async_sqlite_is_refused_with_the_reason():
    with pytest.raises(ConfigurationError) as caught:
        resolve_url("sqlite:///a.db", want_async=True)
    assert "native async" in str(caught.value) and "postgresql://" in str(caught.value)


def test_unknown_scheme_masks_the_password():
    with pytest.raises(ConfigurationError) as caught:
        resolve_url("oracle://scott:tiger@host/db", False)
    assert "tiger" not in str(caught.value) and "scott:***@host" in str(caught.value)


def test_mask_and_parse_server_urls():
    assert mask_url("postgresql://u:p%40ss@h:5/d") == "postgresql://u:***@h:5/d"
    assert mask_url("mysql://u@h/d") == "mysql://u@h/d"
    parsed = parse_server_url("postgresql://us%20er:p%40ss@db.example:6543/app?pool_size=4")
    assert parsed == {
        "host": "db.example", "port": "6543", "user": "us er", "password": "p@ss",
        "database": "app", "pool_size": "4",
    }
    with pytest.raises(ConfigurationError, match="malformed") as caught:
        parse_server_url("postgresql://u:secret@h:notaport/d")
    assert "secret" not in str(caught.value)


def test_config_repr_masks_password():
    from dataclasses import dataclass

    from twinrecord.backends._config import BaseConfig

    @dataclass(kw_only=True, repr=False)
    class WithPassword(BaseConfig):
        user: str = "u"
        password: str = ""

    assert "hunter2" not in repr(WithPassword(password="hunter2"))
    assert "***" in repr(WithPassword(password="hunter2"))
