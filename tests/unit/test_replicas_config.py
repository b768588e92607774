"""configure(..., replicas=...) and using() without a server (API.md §18): configure
opens no connection, so what it builds and refuses is checked here; routing against real
servers is in tests/integration/test_replicas.py."""

from __future__ import annotations

from typing import Optional

import pytest

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, ConfigurationError
from twinrecord.backends.mysql import MySQLBackend
from twinrecord.backends.postgres import AsyncPostgresBackend, PostgresBackend, PostgresConfig

PRIMARY = "postgresql://app:secret@db-primary:5432/app?pool_size=7"
REPLICA = "postgresql://app:secret@db-replica-1/app"


def model(root: type = BaseActiveRecord) -> type:
    class Item(root):  # type: ignore[misc, valid-type]
        id: Optional[int] = None
        name: str

    return Item


def test_each_replica_gets_a_backend_of_the_primarys_class_and_pool_size() -> None:
    Item = model()
    Item.configure(PRIMARY, replicas=[REPLICA, "postgresql://app@db-replica-2/app?pool_size=3"])
    backend = Item.backend()
    assert isinstance(backend, PostgresBackend)
    first, second = backend.replica_set.replicas
    assert type(first) is PostgresBackend and first.config.host == "db-replica-1"
    assert first.config.pool_size == 7              # a URL without pool_size: the primary's
    assert second.config.pool_size == 3             # its own when it says so
    assert first is not backend and first._pool is not backend._pool


def test_async_and_combined_models_get_replicas_of_their_kind() -> None:
    AsyncItem = model(AsyncBaseActiveRecord)
    AsyncItem.configure(PRIMARY, replicas=[REPLICA])
    assert type(AsyncItem.backend().replica_set.replicas[0]) is AsyncPostgresBackend

    class Both(BaseActiveRecord, AsyncBaseActiveRecord):
        id: Optional[int] = None

    Both.configure(PRIMARY, replicas=[REPLICA])
    assert type(Both.backend().replica_set.replicas[0]) is PostgresBackend
    assert type(Both.aio.backend().replica_set.replicas[0]) is AsyncPostgresBackend


def test_a_replica_config_object_is_used_as_given() -> None:
    Item = model()
    replica = PostgresConfig(host="db-replica-1", database="app", pool_size=2)
    Item.configure(PostgresConfig(host="db-primary", database="app"), PostgresBackend,
                   replicas=[replica])
    assert Item.backend().replica_set.replicas[0].config is replica


def test_sqlite_replicas_are_refused() -> None:
    Item = model()
    with pytest.raises(ConfigurationError, match="SQLite has no read replicas"):
        Item.configure("sqlite:///:memory:", replicas=["sqlite:///copy.db"])


def test_a_replica_of_another_database_is_refused_with_the_password_masked() -> None:
    Item = model()
    with pytest.raises(ConfigurationError, match="not a postgresql database") as caught:
        Item.configure(PRIMARY, replicas=["mysql://app:secret@db-replica/app"])
    assert "secret" not in str(caught.value)
    with pytest.raises(ConfigurationError):
        Item.configure(PRIMARY, replicas=[object()])


def test_a_refused_configure_leaves_the_old_backend() -> None:
    Item = model()
    Item.configure(PRIMARY)
    before = Item.backend()
    with pytest.raises(ConfigurationError):
        Item.configure(PRIMARY, replicas=["mysql://root@db/app"])
    assert Item.backend() is before


def test_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="sticky_seconds"):
        PostgresConfig(database="app", sticky_seconds=-1)
    with pytest.raises(ConfigurationError, match="replica_retry_seconds"):
        PostgresConfig.from_url("postgresql://h/app?replica_retry_seconds=-5")
    config = PostgresConfig.from_url("postgresql://h/app?sticky_seconds=0.5")
    assert (config.sticky_seconds, config.replica_retry_seconds) == (0.5, 30.0)
    assert (PostgresConfig(database="app").sticky_seconds, MySQLBackend.config_type(
        database="app").sticky_seconds) == (2.0, 2.0)


def test_using_takes_primary_only_and_needs_no_io() -> None:
    Item = model()
    Item.configure(PRIMARY, replicas=[REPLICA])
    with pytest.raises(ConfigurationError, match="'primary'"):
        Item.query().using("replica")
    with pytest.raises(ConfigurationError, match="'primary'"):
        Item.using("writer")
    pins = Item.backend().replica_set.pinned
    assert pins.get() is False
    with Item.using("primary"):
        assert pins.get() is True
        with Item.using("primary"):
            assert pins.get() is True
        assert pins.get() is True
    assert pins.get() is False
    plain = model()
    plain.configure("sqlite:///:memory:")
    with plain.using("primary"):       # no replicas: nothing to pin, still fine
        pass


def test_reads_route_through_the_replica_set_only_when_there_is_one() -> None:
    Item = model()
    Item.configure(PRIMARY)
    assert Item.backend().reads() is Item.backend()
    Item.configure(PRIMARY, replicas=[REPLICA])
    backend = Item.backend()
    assert backend.reads() is backend.replica_set.route
    assert backend.reads(pinned=True) is backend.replica_set.primary_route
    assert Item.query().for_update()._reads_through(backend) is backend.replica_set.primary_route
    assert Item.query().using("primary")._reads_through(backend) is backend.replica_set.primary_route
    assert Item.query()._reads_through(backend) is backend.replica_set.route
