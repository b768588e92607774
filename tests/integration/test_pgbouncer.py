"""PostgreSQL behind a real PgBouncer in transaction pooling mode (`pgbouncer=True`).

PgBouncer (Debian's package, started by the `pgbouncer` fixture on a free port in front
of a private PostgreSQL) hands each transaction, and each statement outside one, to any
of its few server connections. The PostgreSQL scenarios of the harness that take only
`db` (CRUD, transactions, child tasks, queries, bulk writes, find_or_create, relations)
run through it in both kinds; then what transaction pooling would break is checked
directly: prepared statements, session settings (TimeZone, the isolation level), and
many clients sharing few server sessions.
"""

from __future__ import annotations

import asyncio
import inspect
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any, Optional

import psycopg
import pytest

from twinrecord import ConnectionNotEstablished

from . import (
    test_async_tasks,
    test_bulk,
    test_crud,
    test_find_or_create,
    test_queries,
    test_relations,
    test_transactions,
)
from .harness import DB
from .servers import PgBouncer, pgbouncer

__all__ = ["pgbouncer"]  # the session fixture, used by name

MODULES = [test_crud, test_transactions, test_async_tasks, test_queries, test_bulk,
           test_find_or_create, test_relations]


def scenarios() -> list[Any]:
    """(scenario, kind) for every scenario of MODULES taking only `db` (both kinds) or
    `async_db` (the async kind)."""
    found = []
    for module in MODULES:
        for name, function in vars(module).items():
            if not (name.startswith("test_") and inspect.iscoroutinefunction(function)):
                continue
            if getattr(function, "pytestmark", None):
                continue  # parametrised or marked: needs more than `db`
            parameters = list(inspect.signature(function).parameters)
            kinds = {("db",): ["sync", "async"], ("async_db",): ["async"]}.get(tuple(parameters))
            for kind in kinds or []:
                found.append(pytest.param(function, kind, id=f"{module.__name__.rsplit('.', 1)[-1]}."
                                          f"{name}-{kind}"))
    return found


@pytest.fixture(scope="module")
def bounced_database(pgbouncer: PgBouncer) -> Iterator[str]:
    """A database of this module's own on the server behind PgBouncer."""
    name = f"twinrecord_b_{secrets.token_hex(4)}"
    pgbouncer.server.create_database(name)
    try:
        yield name
    finally:
        with pgbouncer.server.connect() as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def through(pgbouncer: PgBouncer, bounced_database: str) -> Callable[..., DB]:
    """Makes DBs on PgBouncer's URL (with `pgbouncer=true` unless options say otherwise),
    closed after the test by `made`."""
    made: list[DB] = []

    def make(kind: str, **options: Any) -> DB:
        query = "&".join(f"{k}={v}" for k, v in {"pgbouncer": "true", **options}.items())
        db = DB("postgres", kind, url=f"{pgbouncer.url(bounced_database)}?{query}")
        made.append(db)
        return db

    make.made = made  # type: ignore[attr-defined]
    return make


async def close_all(through: Callable[..., DB]) -> None:
    for db in through.made:  # type: ignore[attr-defined]
        await db.aclose()


@pytest.mark.parametrize(("scenario", "kind"), scenarios())
async def test_scenario_through_pgbouncer(
    through: Callable[..., DB], scenario: Any, kind: str
) -> None:
    try:
        await scenario(through(kind))
    finally:
        await close_all(through)


def test_the_scenarios_are_found() -> None:
    assert len(scenarios()) > 150  # if the harness changes shape, this says so


def item_model(db: DB) -> Any:
    class Item(db.Base):
        __table_name__ = "bouncer_items"
        id: Optional[int] = None
        name: str
        n: int = 0

    return Item


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_statements_are_never_prepared(through: Callable[..., DB], kind: str) -> None:
    # Without pgbouncer=True psycopg prepares a statement on its 5th run, in one server
    # session; the next transaction may get another session ("prepared statement does
    # not exist") or a session where another client prepared the same name ("already
    # exists"). Many runs of one statement from several clients must just work.
    db = through(kind, pool_size=3)
    try:
        Item = item_model(db)
        await db.create(Item)
        for n in range(20):
            await db(Item(name=f"i{n}", n=n).save())
            assert await db(Item.query().where(n=n).count()) == 1
        assert db.backend.config.prepare_threshold is None
        assert await db(db.backend.fetch_one("SELECT count(*) AS n FROM pg_prepared_statements")) \
            == {"n": 0}
    finally:
        await close_all(through)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_time_zone_and_isolation_survive_shared_server_sessions(
    through: Callable[..., DB], pgbouncer: PgBouncer, bounced_database: str, kind: str
) -> None:
    db = through(kind, pool_size=2, isolation_level="REPEATABLE_READ")
    # Another client of the same PgBouncer sets its own zone on the server sessions it
    # borrows; PgBouncer puts each client's tracked settings back on every handover.
    other = psycopg.connect(host=pgbouncer.host, port=pgbouncer.port, user="postgres",
                            dbname=bounced_database, autocommit=True, prepare_threshold=None)
    try:
        for _ in range(10):
            other.execute("SET TimeZone TO 'Asia/Tokyo'")
            row = await db(db.backend.fetch_one("SELECT current_setting('TimeZone') AS tz"))
            assert row == {"tz": "UTC"}
            async with db.transaction(db.Base):
                level = await db(db.backend.fetch_one(
                    "SELECT current_setting('transaction_isolation') AS level"))
                assert level == {"level": "repeatable read"}
            async with db.transaction(db.Base, isolation_level="SERIALIZABLE"):
                level = await db(db.backend.fetch_one(
                    "SELECT current_setting('transaction_isolation') AS level"))
                assert level == {"level": "serializable"}
    finally:
        other.close()
        await close_all(through)


async def test_many_clients_share_a_few_server_sessions(
    through: Callable[..., DB], pgbouncer: PgBouncer, bounced_database: str
) -> None:
    """60 async tasks and 8 threads, each committing transactions, through PgBouncer's 4
    server sessions: every write lands once, none is lost to a shared session."""
    adb, sdb = through("async", pool_size=30), through("sync", pool_size=8)
    try:
        AsyncItem, Item = item_model(adb), item_model(sdb)
        await adb.create(AsyncItem)

        async def writer(n: int) -> None:
            for step in range(3):
                async with AsyncItem.transaction():
                    await AsyncItem(name=f"a{n}-{step}", n=n).save()
                    assert await AsyncItem.query().where(name=f"a{n}-{step}").count() == 1

        def sync_writer(n: int) -> None:
            for step in range(5):
                with Item.transaction():
                    Item(name=f"s{n}-{step}", n=n).save()
                    assert Item.query().where(name=f"s{n}-{step}").count() == 1

        threads = [threading.Thread(target=sync_writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        await asyncio.gather(*(writer(n) for n in range(60)))
        for thread in threads:
            thread.join()
        assert await AsyncItem.query().count() == 60 * 3 + 8 * 5
        with pgbouncer.server.connect() as observer:
            sessions = observer.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", [bounced_database]
            ).fetchone()[0]
        assert sessions <= 4  # PgBouncer's default_pool_size: clients really shared them
    finally:
        await close_all(through)


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_without_the_option_pgbouncer_refuses_the_connection(
    through: Callable[..., DB], kind: str
) -> None:
    # The default config sends TimeZone and the isolation level as `options` at connect,
    # which PgBouncer refuses; the error names the server and PgBouncer's reason.
    db = through(kind, pgbouncer="false")
    try:
        with pytest.raises(ConnectionNotEstablished, match="unsupported startup parameter"):
            await db(db.backend.fetch_one("SELECT 1 AS one"))
    finally:
        await close_all(through)


def test_statement_timeout_is_refused_with_pgbouncer_saying_what_to_do() -> None:
    # A session setting transaction pooling would drop between server sessions: refused
    # when configured, never silently lost (docs/replicas.md says where to set it).
    from twinrecord import ConfigurationError
    from twinrecord.backends.postgres import PostgresConfig

    with pytest.raises(ConfigurationError, match=r"ALTER ROLE .* statement_timeout"):
        PostgresConfig.from_url("postgresql://app@bouncer:6432/app?pgbouncer=true&statement_timeout=5")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_statement_timeout_set_on_the_database_holds_through_pgbouncer(
    pgbouncer: PgBouncer, kind: str
) -> None:
    """What the refusal recommends: the timeout set on the role or database is applied by
    the server to every session PgBouncer lends, so it holds for every statement."""
    from twinrecord import QueryCanceled

    name = f"twinrecord_bt_{secrets.token_hex(4)}"
    pgbouncer.server.create_database(name)
    with pgbouncer.server.connect() as admin:
        admin.execute(f"ALTER DATABASE \"{name}\" SET statement_timeout = '200ms'")
    db = DB("postgres", kind, url=f"{pgbouncer.url(name)}?pgbouncer=true")
    try:
        with pytest.raises(QueryCanceled):
            await db(db.backend.fetch_one("SELECT pg_sleep(2)"))
        with pytest.raises(QueryCanceled):
            async with db.transaction(db.Base):
                await db(db.backend.fetch_one("SELECT pg_sleep(2)"))
        row = await db(db.backend.fetch_one("SELECT current_setting('statement_timeout') AS t"))
        assert row == {"t": "200ms"}
    finally:
        await db.aclose()
        with pgbouncer.server.connect() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
