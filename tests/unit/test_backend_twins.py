"""A model with both kinds configured with one backend class gets that database's
other kind too: the backends are paired as data (`twin`), not found by name."""

from __future__ import annotations

from typing import Optional

import pytest

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, ConfigurationError
from twinrecord.backends.mysql import AsyncMySQLBackend, MySQLBackend, MySQLConfig
from twinrecord.backends.postgres import AsyncPostgresBackend, PostgresBackend, PostgresConfig
from twinrecord.backends.sqlite import SQLiteBackend, SQLiteConfig

PAIRS = [
    (PostgresBackend, AsyncPostgresBackend, PostgresConfig(database="x")),
    (MySQLBackend, AsyncMySQLBackend, MySQLConfig(database="x")),
]


def _combined() -> type[BaseActiveRecord]:
    class Both(BaseActiveRecord, AsyncBaseActiveRecord):
        id: Optional[int] = None

    return Both


@pytest.mark.parametrize(("sync_class", "async_class", "config"), PAIRS)
@pytest.mark.parametrize("given", ["sync", "async"])
def test_a_combined_model_gets_both_kinds_of_the_given_database(
    sync_class: type, async_class: type, config: object, given: str
) -> None:
    model = _combined()
    model.configure(config, sync_class if given == "sync" else async_class)
    assert type(model.backend()) is sync_class
    assert type(model.aio.backend()) is async_class
    assert sync_class.twin is async_class and async_class.twin is sync_class


def test_sqlite_has_no_twin_and_says_why() -> None:
    model = _combined()
    model.configure(SQLiteConfig(), SQLiteBackend)
    assert type(model.backend()) is SQLiteBackend
    with pytest.raises(ConfigurationError, match="SQLite has no asynchronous backend"):
        model.aio.backend()

    class OnlyAsync(AsyncBaseActiveRecord):
        id: Optional[int] = None

    with pytest.raises(ConfigurationError, match=r"OnlyAsync is an async model\. SQLite has no"):
        OnlyAsync.configure(SQLiteConfig(), SQLiteBackend)
