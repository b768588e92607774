"""The PostgreSQL backends against a real server (never mocked): types as the server
stores them, error translation, connection failures, pools, transactions owned by
tasks, cancellation safety and concurrency.

The shared scenarios (test_crud.py, ...) cover behaviour common to every database;
this file covers what is specific to psycopg and PostgreSQL. Every test uses its own
`application_name`, so `pg_stat_activity` shows exactly the sessions it opened.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional, TypeVar, cast
from urllib.parse import urlsplit

import psycopg
import pytest
from pydantic import AwareDatetime

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
from twinrecord.backends._blocking import WARNED_SITES
from twinrecord.backends.postgres import (
    AsyncPostgresBackend,
    PostgresBackend,
    PostgresConfig,
)
from twinrecord.errors import (
    BlockingCallInEventLoop,
    BlockingCallWarning,
    ConnectionNotEstablished,
    Deadlocked,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordNotUnique,
    SerializationFailure,
    StatementInvalid,
    TransactionError,
    TransactionRollbackError,
)

from .harness import POSTGRES_URL, EitherTransaction, Factory, require_server

T = TypeVar("T")
KINDS = ["sync", "async"]


class PG:
    """One test's models on PostgreSQL, in either kind, with its own application_name."""

    def __init__(self, kind: str = "async", **options: Any) -> None:
        require_server("postgres")
        self.kind = kind
        self.is_async = kind == "async"
        self.token = uuid.uuid4().hex[:12]
        self.app = f"twinrecord-test-{self.token}"
        self.config = PostgresConfig.from_url(POSTGRES_URL)
        self.config.application_name = self.app
        for name, value in options.items():
            setattr(self.config, name, value)
        self.config.__post_init__()
        root: Any = AsyncBaseActiveRecord if self.is_async else BaseActiveRecord
        self.Base: Any = cast(Any, type(f"PgBase_{kind}", (root,), {"__module__": __name__}))
        self.Base.configure(self.config, AsyncPostgresBackend if self.is_async else PostgresBackend)
        self._tables: list[Any] = []
        self.dropped_tables: list[str] = []  # raw tables a test made, dropped at the end
        self._monitor: psycopg.Connection[Any] | None = None

    async def __call__(self, value: Awaitable[T] | T) -> T:
        if self.is_async:
            return await value  # type: ignore[misc,no-any-return]
        return value  # type: ignore[return-value]

    @property
    def backend(self) -> Any:
        return self.Base.backend()

    def name(self, base: str) -> str:
        """A table or constraint name of this test's own (several runs may share a database)."""
        return f"{base}_{self.token}"

    def transaction(self, isolation_level: str | None = None) -> Any:
        return EitherTransaction(self.Base.transaction(isolation_level))

    async def create(self, *models: Any) -> None:
        for model in models:
            await self(model.drop_table())
            await self(model.create_table())
            self._tables.append(model)

    # ---- watching the server from outside ---------------------------------------------
    def monitor(self) -> psycopg.Connection[Any]:
        if self._monitor is None or self._monitor.closed:
            self._monitor = psycopg.connect(_libpq_url(), autocommit=True)
        return self._monitor

    def sessions(self) -> list[tuple[int, str | None]]:
        """(pid, state) of every server session this test's backend has open."""
        return self.monitor().execute(
            "SELECT pid, state FROM pg_stat_activity WHERE application_name = %s",
            (self.app,),
        ).fetchall()

    async def settled_sessions(self, timeout: float = 5.0) -> list[tuple[int, str | None]]:
        """Poll until no session of ours is busy or inside a transaction; return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sessions()
            if all(state == "idle" for _, state in found) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.05)

    def stats(self) -> dict[str, int]:
        return self.backend.pool_stats()  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        try:
            for model in reversed(self._tables):
                await self(model.drop_table())
            for table in self.dropped_tables:
                self.monitor().execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            await self(self.backend.close())
            if self._monitor is not None:
                self._monitor.close()



def _libpq_url() -> str:
    return POSTGRES_URL.split("?", 1)[0]


def account_model(pg: PG) -> Any:
    class Account(pg.Base):  # type: ignore[name-defined,misc]
        __table_name__ = pg.name("pg_accounts")
        id: Optional[int] = None
        owner: str
        balance: Decimal

        @classmethod
        def table(cls) -> str:
            return str(cls.__table_name__)

    return Account



@pytest.fixture(params=KINDS)
def pg(request: pytest.FixtureRequest) -> PG:
    return PG(request.param)


@pytest.fixture(params=KINDS)
def make_pg(request: pytest.FixtureRequest) -> Factory[PG]:
    return Factory(functools.partial(PG, request.param))


@pytest.fixture
def apg() -> PG:
    return PG("async")


@pytest.fixture
def make_apg() -> Factory[PG]:
    return Factory(functools.partial(PG, "async"))


# ---- types as the server stores them -------------------------------------------------
async def test_column_types_are_the_native_postgres_ones(pg: PG) -> None:
    class Typed(pg.Base):  # type: ignore[name-defined,misc]
        __table_name__ = pg.name("pg_typed")
        id: Optional[int] = None
        data: dict[str, Any]
        items: list[Any]
        at: AwareDatetime
        money: Decimal
        ident: uuid.UUID
        blob: bytes

    await pg.create(Typed)
    rows = pg.monitor().execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s", (pg.name("pg_typed"),)
    ).fetchall()
    assert dict(rows) == {
        "id": "bigint", "data": "jsonb", "items": "jsonb",
        "at": "timestamp with time zone", "money": "numeric", "ident": "uuid", "blob": "bytea",
    }
    moment = datetime(2024, 3, 1, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    record = Typed(
        data={"k": [1, {"x": None}]}, items=[1, "two"], at=moment,
        money=Decimal("-98765432109876543210.00000000012345"), ident=uuid.uuid4(),
        blob=bytes(range(256)),
    )
    await pg(record.save())
    # What the server holds: real jsonb (operators work), the instant in UTC.
    stored = pg.monitor().execute(
        "SELECT data -> 'k' -> 1 ->> 'x' IS NULL, jsonb_typeof(items), "
        f"at AT TIME ZONE 'UTC', money::text FROM {pg.name('pg_typed')}"
    ).fetchone()
    assert stored == (True, "array", datetime(2024, 3, 1, 14, 30, 0, 123456),
                      "-98765432109876543210.00000000012345")
    back = await pg(Typed.find_one(record.id))
    assert back.model_dump() == record.model_dump()
    assert back.at.utcoffset() == timedelta(0) and back.at == moment
    assert isinstance(back.blob, bytes) and isinstance(back.ident, uuid.UUID)


async def test_json_parameters_work_with_jsonb_operators(pg: PG) -> None:
    class Doc(pg.Base):  # type: ignore[name-defined,misc]
        __table_name__ = pg.name("pg_docs")
        id: Optional[int] = None
        data: dict[str, Any]

    await pg.create(Doc)
    await pg(Doc.insert_many([Doc(data={"tag": "a", "n": 1}), Doc(data={"tag": "b", "n": 2})]))
    found = await pg(Doc.query().where("data @> ?", ({"tag": "b"},)).all())
    assert [d.data for d in found] == [{"tag": "b", "n": 2}]
    raw = await pg(pg.backend.fetch_one("SELECT '100%' AS pct, ?::jsonb -> 'n' AS n", ({"n": 5},)))
    assert raw == {"pct": "100%", "n": 5}


async def test_insert_many_returns_keys_in_row_order(pg: PG) -> None:
    Account = account_model(pg)
    await pg.create(Account)
    records = [Account(owner=f"o{i}", balance=Decimal(i)) for i in range(2500)]
    assert await pg(Account.insert_many(records)) == 2500
    ids = [r.id for r in records]
    assert ids == sorted(ids) and len(set(ids)) == 2500
    stored = await pg(pg.backend.fetch_all(f"SELECT id, owner FROM {Account.table()}"))
    assert {row["id"]: row["owner"] for row in stored} == {r.id: r.owner for r in records}


# ---- errors --------------------------------------------------------------------------
async def test_unique_violation_names_constraint_and_hides_the_value(pg: PG) -> None:
    Account = account_model(pg)
    await pg.create(Account)
    index = pg.name("pg_owner_uq")
    await pg(pg.backend.execute(f"CREATE UNIQUE INDEX {index} ON {Account.table()} (owner)"))
    await pg(Account(owner="secret@example.com", balance=Decimal(1)).save())
    with pytest.raises(RecordNotUnique) as caught:
        await pg(Account(owner="secret@example.com", balance=Decimal(2)).save())
    assert caught.value.constraint == index
    assert "secret@example.com" not in str(caught.value)
    assert "DETAIL" in str(caught.value.__cause__)      # the original stays as the cause


async def test_integrity_errors_carry_constraint_names(pg: PG) -> None:
    Account = account_model(pg)
    await pg.create(Account)
    await pg(pg.backend.execute(
        f"ALTER TABLE {Account.table()} ADD CONSTRAINT {pg.name('pg_positive')} "
        "CHECK (balance >= 0)"
    ))
    with pytest.raises(IntegrityError) as caught:
        await pg(Account(owner="hidden-owner", balance=Decimal(-1)).save())
    assert not isinstance(caught.value, RecordNotUnique)
    assert caught.value.constraint == pg.name("pg_positive")
    assert "hidden-owner" not in str(caught.value)     # DETAIL: Failing row contains (...)


async def test_bad_values_and_bad_sql_are_statement_invalid_without_values(pg: PG) -> None:
    with pytest.raises(StatementInvalid) as caught:
        await pg(pg.backend.fetch_one("SELECT ?::int AS n", ("not-a-number-secret",)))
    assert "not-a-number-secret" not in str(caught.value)
    assert caught.value.param_types == ["str"] and "SELECT %s::int" in caught.value.sql
    with pytest.raises(StatementInvalid) as caught:
        await pg(pg.backend.fetch_all("SELEKT 1"))
    assert "syntax error" in str(caught.value) and "42601" in str(caught.value)
    # The connection that saw the errors is healthy again.
    assert await pg(pg.backend.fetch_one("SELECT 1 AS one")) == {"one": 1}


@pytest.mark.parametrize("kind", KINDS)
async def test_refused_connection_names_server_not_password(kind: str) -> None:
    config = PostgresConfig(
        host="127.0.0.1", port=1, database="nowhere_db", user="u", password="hunter2"
    )
    message = await _first_use_error(kind, config)
    assert "hunter2" not in message
    assert "127.0.0.1:1" in message and "nowhere_db" in message


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_role_is_connection_not_established(kind: str) -> None:
    require_server("postgres")
    parts = urlsplit(POSTGRES_URL)
    config = PostgresConfig(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        database=parts.path.lstrip("/"), user="no_such_role_x", password="hunter2",
    )
    message = await _first_use_error(kind, config)
    assert "no_such_role_x" in message and "hunter2" not in message


@pytest.mark.parametrize("kind", KINDS)
async def test_silent_server_fails_within_connect_timeout(kind: str) -> None:
    # A socket that accepts connections and never answers: libpq waits for the
    # server's reply until connect_timeout (2 s, libpq's minimum) runs out.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        config = PostgresConfig(port=port, database="db", password="hunter2", connect_timeout=2)
        started = time.monotonic()
        message = await _first_use_error(kind, config)
        elapsed = time.monotonic() - started
    assert 1.5 < elapsed < 3.5       # once connect_timeout, not once per attempt
    assert f"127.0.0.1:{port}" in message and "'db'" in message and "hunter2" not in message
    assert "timeout" in message


async def _first_use_error(kind: str, config: PostgresConfig) -> str:
    if kind == "sync":
        backend: Any = PostgresBackend(config)
        with pytest.raises(ConnectionNotEstablished) as caught:
            backend.fetch_one("SELECT 1")
        backend.close()
    else:
        backend = AsyncPostgresBackend(config)
        with pytest.raises(ConnectionNotEstablished) as caught:
            await backend.fetch_one("SELECT 1")
        await backend.close()
    return str(caught.value)


async def test_killed_session_is_reported_then_replaced(make_pg: Factory[PG]) -> None:
    pg = make_pg(pool_size=1)
    pid = (await pg(pg.backend.fetch_one("SELECT pg_backend_pid() AS pid")))["pid"]
    pg.monitor().execute("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(ConnectionNotEstablished) as caught:
        await pg(pg.backend.fetch_one("SELECT 1"))
    assert pg.config.database in str(caught.value)
    again = await pg(pg.backend.fetch_one("SELECT pg_backend_pid() AS pid"))
    assert again["pid"] != pid
    assert pg.stats()["in_use"] == 0


async def test_statement_timeout_cancels_and_keeps_the_connection(make_pg: Factory[PG]) -> None:
    pg = make_pg(statement_timeout=0.2)     # seconds, as everywhere
    started = time.monotonic()
    with pytest.raises(QueryCanceled, match="statement timeout"):
        await pg(pg.backend.execute("SELECT pg_sleep(3)"))
    assert time.monotonic() - started < 2
    assert await pg(pg.backend.fetch_one("SELECT 2 AS two")) == {"two": 2}


async def test_session_settings_reach_the_server(make_pg: Factory[PG]) -> None:
    pg = make_pg(
        server_settings={"search_path": "pg_catalog, public"},
        options={"options": "-c work_mem=8MB"},
    )
    row = await pg(pg.backend.fetch_one(
        "SELECT current_setting('application_name') AS app, "
        "current_setting('work_mem') AS mem, current_setting('search_path') AS path"
    ))
    assert row == {"app": pg.app, "mem": "8MB", "path": "pg_catalog, public"}


@pytest.mark.parametrize(("threshold", "prepared"), [(5, 1), (None, 0)])
async def test_prepare_threshold(make_pg: Factory[PG], threshold: int | None, prepared: int) -> None:
    pg = make_pg(prepare_threshold=threshold, pool_size=1)
    for n in range(8):
        await pg(pg.backend.fetch_one("SELECT ? + 1 AS n", (n,)))
    row = await pg(pg.backend.fetch_one(
        "SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1 + 1%'"
    ))
    assert row == {"n": prepared}


async def test_prepared_statements_survive_a_column_type_change(make_pg: Factory[PG]) -> None:
    pg = make_pg(pool_size=1, prepare_threshold=2)
    Account = account_model(pg)
    await pg.create(Account)
    await pg(Account(owner="a", balance=Decimal(1)).save())
    for _ in range(4):      # prepared now, on the one pooled connection
        await pg(Account.find_one({"owner": "a"}))
    # Another session changes a column's type: the prepared plan's result type is stale.
    pg.monitor().execute(f"ALTER TABLE {Account.table()} ALTER COLUMN owner TYPE varchar(100)")
    for _ in range(4):      # replanned once, then prepared anew
        again = await pg(Account.find_one({"owner": "a"}))
        assert again is not None and (again.owner, again.balance) == ("a", Decimal(1))
    # Inside a transaction the failed statement has aborted it: no retry, an error.
    pg.monitor().execute(f"ALTER TABLE {Account.table()} ALTER COLUMN owner TYPE text")
    with pytest.raises(StatementInvalid, match="cached plan"):
        async with pg.transaction():
            await pg(Account.find_one({"owner": "a"}))
    assert (await pg(Account.find_one({"owner": "a"}))) is not None   # ROLLBACK reset it


async def test_a_transaction_left_open_by_raw_sql_is_rolled_back_on_release(
    make_pg: Factory[PG],
) -> None:
    pg = make_pg(pool_size=1)
    Account = account_model(pg)
    await pg.create(Account)
    await pg(pg.backend.execute("BEGIN"))
    assert [state for _, state in pg.sessions()] == ["idle"]
    # The next statement autocommits: another session sees its row at once.
    await pg(pg.backend.execute(
        f"INSERT INTO {Account.table()} (owner, balance) VALUES ('seen', 1)"
    ))
    seen = pg.monitor().execute(f"SELECT owner FROM {Account.table()}").fetchall()
    assert seen == [("seen",)]


# ---- transactions --------------------------------------------------------------------
@pytest.mark.parametrize(
    "level", ["READ UNCOMMITTED", "read committed", "Repeatable Read", "SERIALIZABLE"]
)
async def test_isolation_level_is_set_inside_the_transaction(pg: PG, level: str) -> None:
    # now() is the transaction's start: two statements in one block see the same one.
    async def two_nows() -> bool:
        first = await pg(pg.backend.fetch_one("SELECT now() AS t"))
        await asyncio.sleep(0.002)
        return first == await pg(pg.backend.fetch_one("SELECT now() AS t"))

    async with pg.transaction(level):
        row = await pg(pg.backend.fetch_one("SHOW transaction_isolation"))
        inside = await two_nows()
    assert row == {"transaction_isolation": level.lower()}
    assert inside is True
    assert await two_nows() is False
    after = await pg(pg.backend.fetch_one("SHOW transaction_isolation"))
    assert after == {"transaction_isolation": "read committed"}


async def test_commit_rollback_and_nested_savepoints(pg: PG) -> None:
    Account = account_model(pg)
    await pg.create(Account)
    async with pg.transaction():
        await pg(Account(owner="kept", balance=Decimal(1)).save())
        with pytest.raises(RuntimeError):
            async with pg.transaction():
                await pg(Account(owner="inner-undone", balance=Decimal(2)).save())
                async with pg.transaction():
                    await pg(Account(owner="innermost", balance=Decimal(3)).save())
                raise RuntimeError
        async with pg.transaction():
            await pg(Account(owner="inner-kept", balance=Decimal(4)).save())
    with pytest.raises(ValueError):
        async with pg.transaction():
            await pg(Account(owner="outer-undone", balance=Decimal(5)).save())
            raise ValueError
    owners = sorted(a.owner for a in await pg(Account.find_all()))
    assert owners == ["inner-kept", "kept"]
    assert [state for _, state in pg.sessions()] == ["idle"]


async def test_savepoint_recovers_from_a_failed_statement(pg: PG) -> None:
    """On PostgreSQL an error aborts the whole transaction unless a savepoint catches it."""
    Account = account_model(pg)
    await pg.create(Account)
    await pg(pg.backend.execute(
        f"CREATE UNIQUE INDEX {pg.name('pg_owner_uq')} ON {Account.table()} (owner)"
    ))
    async with pg.transaction():
        await pg(Account(owner="first", balance=Decimal(1)).save())
        with pytest.raises(RecordNotUnique):
            async with pg.transaction():
                await pg(Account(owner="first", balance=Decimal(2)).save())
        await pg(Account(owner="second", balance=Decimal(3)).save())
    assert sorted(a.owner for a in await pg(Account.find_all())) == ["first", "second"]
    # Without a savepoint the failed statement dooms the transaction (§5): the next
    # statement is refused before sending (PostgreSQL would answer 25P02).
    with pytest.raises(TransactionError, match="doomed"):
        async with pg.transaction():
            with pytest.raises(RecordNotUnique):
                await pg(Account(owner="first", balance=Decimal(4)).save())
            await pg(Account(owner="third", balance=Decimal(5)).save())
    assert await pg(Account.query().count()) == 2
    assert [state for _, state in pg.sessions()] == ["idle"]


async def test_many_parameters_and_percent_signs(pg: PG) -> None:
    Account = account_model(pg)
    await pg.create(Account)
    records = [Account(owner=f"{i}% 'quoted' ?", balance=Decimal(i)) for i in range(300)]
    await pg(Account.insert_many(records))
    wanted = [r.id for r in records[::3]]
    found = await pg(Account.find_all({"id": wanted}))
    assert sorted(a.id for a in found) == sorted(wanted)
    like = await pg(Account.query().where("owner LIKE ? AND owner <> '?'", ("1%",)).count())
    assert like == 1 + 10 + 100    # 1, 10-19, 100-199


async def test_transaction_pins_one_connection(pg: PG) -> None:
    pid = "SELECT pg_backend_pid() AS pid"
    async with pg.transaction():
        pids = {(await pg(pg.backend.fetch_one(pid)))["pid"] for _ in range(5)}
        async with pg.transaction():
            pids.add((await pg(pg.backend.fetch_one(pid)))["pid"])
    assert len(pids) == 1


async def test_sync_transaction_is_invisible_to_another_thread() -> None:
    pg = PG("sync")
    try:
        Account = account_model(pg)
        await pg.create(Account)
        seen: list[Any] = []

        def outsider() -> None:
            row = pg.backend.fetch_one(
                f"SELECT count(*) AS n, pg_backend_pid() AS pid FROM {Account.table()}"
            )
            seen.append(row)

        with pg.Base.transaction():
            Account(owner="x", balance=Decimal(1)).save()
            mine = pg.backend.fetch_one("SELECT pg_backend_pid() AS pid")["pid"]
            thread = threading.Thread(target=outsider)
            thread.start()
            thread.join()
        assert seen[0]["n"] == 0 and seen[0]["pid"] != mine
    finally:
        await pg.aclose()


async def test_a_concurrent_task_never_joins_the_transaction(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)
    inside = asyncio.Event()
    release = asyncio.Event()

    async def owner() -> int:
        async with Account.transaction():
            await Account(owner="uncommitted", balance=Decimal(1)).save()
            row = await apg.backend.fetch_one("SELECT pg_backend_pid() AS pid")
            inside.set()
            await release.wait()
            return int(row["pid"])

    async def neighbour() -> tuple[int, int]:
        await inside.wait()
        count = await Account.query().count()
        row = await apg.backend.fetch_one("SELECT pg_backend_pid() AS pid")
        release.set()
        return count, int(row["pid"])

    # Both started outside any transaction: the neighbour must not see or join it.
    owner_pid, (count, neighbour_pid) = await asyncio.gather(owner(), neighbour())
    assert count == 0 and neighbour_pid != owner_pid
    assert await Account.query().count() == 1


async def test_child_tasks_share_the_connection_one_statement_at_a_time(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)

    async def child(i: int) -> int:
        await Account(owner=f"c{i}", balance=Decimal(i)).save()
        # Each child must get its own row back: interleaved statements on the
        # connection's one cursor would hand one child another's result.
        row = await apg.backend.fetch_one(
            "SELECT pg_backend_pid() AS pid, ? AS mine, pg_sleep(0.005)::text AS slept", (i,)
        )
        assert row["mine"] == i
        found = await Account.find_one({"owner": f"c{i}"})
        assert found is not None and found.balance == i
        return int(row["pid"])

    async with Account.transaction():
        mine = (await apg.backend.fetch_one("SELECT pg_backend_pid() AS pid"))["pid"]
        gathered = await asyncio.gather(*(child(i) for i in range(10)))
        async with asyncio.TaskGroup() as group:
            grouped = [group.create_task(child(i)) for i in range(10, 20)]
        pids = set(gathered) | {task.result() for task in grouped}
    assert pids == {mine}
    assert await Account.query().count() == 20


async def test_child_tasks_roll_back_with_their_parent(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)
    with pytest.raises(RuntimeError):
        async with Account.transaction():
            await asyncio.gather(*(Account(owner=f"c{i}", balance=1).save() for i in range(5)))
            raise RuntimeError
    assert await Account.query().count() == 0


async def test_child_task_cannot_open_a_nested_transaction(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)

    async def child() -> None:
        async with Account.transaction():
            await Account(owner="child", balance=Decimal(1)).save()

    async with Account.transaction():
        with pytest.raises(TransactionError, match="nested transaction"):
            await asyncio.gather(child())
        # The parent's transaction is intact and still usable.
        await Account(owner="parent", balance=Decimal(1)).save()
    assert [a.owner for a in await Account.find_all()] == ["parent"]


async def test_child_task_outliving_the_transaction_is_refused(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)
    go = asyncio.Event()

    async def late_child() -> None:
        await go.wait()
        await Account(owner="late", balance=Decimal(1)).save()

    async with Account.transaction():
        task = asyncio.create_task(late_child())
    go.set()
    with pytest.raises(TransactionError, match="finished"):
        await task
    assert await Account.query().count() == 0
    assert apg.stats()["in_use"] == 0


# ---- cancellation --------------------------------------------------------------------
async def _assert_clean(pg: PG) -> None:
    """No connection checked out, no session busy or idle in transaction, pool serves."""
    assert pg.stats()["in_use"] == 0
    sessions = await pg.settled_sessions()
    assert all(state == "idle" for _, state in sessions), sessions
    assert await pg.backend.fetch_one("SELECT 1 AS ok") == {"ok": 1}
    assert pg.stats()["in_use"] == 0


async def test_cancelled_mid_statement_leaves_nothing_behind(apg: PG) -> None:
    task = asyncio.create_task(apg.backend.execute("SELECT pg_sleep(5)"))
    await _until_active(apg)
    task.cancel()
    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 2
    await _assert_clean(apg)


async def test_timeout_mid_statement_leaves_nothing_behind(apg: PG) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await apg.backend.execute("SELECT pg_sleep(5)")
    await _assert_clean(apg)


async def test_cancelled_mid_statement_inside_a_transaction(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)

    async def work() -> None:
        async with Account.transaction():
            await Account(owner="never", balance=Decimal(1)).save()
            await apg.backend.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(work())
    await _until_active(apg)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _assert_clean(apg)
    assert await Account.query().count() == 0


async def test_cancelled_while_idle_inside_a_transaction(apg: PG) -> None:
    Account = account_model(apg)
    await apg.create(Account)
    inside = asyncio.Event()

    async def work() -> None:
        async with Account.transaction():
            await Account(owner="never", balance=Decimal(1)).save()
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await inside.wait()
    assert "idle in transaction" in {state for _, state in apg.sessions()}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _assert_clean(apg)
    assert await Account.query().count() == 0


async def test_cancelled_while_waiting_for_a_connection(make_apg: Factory[PG]) -> None:
    apg = make_apg(pool_size=1)
    holder = asyncio.create_task(apg.backend.execute("SELECT pg_sleep(0.3)"))
    await _until_active(apg)
    waiter = asyncio.create_task(apg.backend.execute("SELECT 1"))
    await asyncio.sleep(0.05)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await holder == 1
    await _assert_clean(apg)


async def _until_active(pg: PG, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while "active" not in {state for _, state in pg.sessions()}:
        assert time.monotonic() < deadline, "the statement never started"
        await asyncio.sleep(0.02)


# ---- pools, loops, concurrency ---------------------------------------------------------
async def test_pool_never_opens_more_than_pool_size(make_pg: Factory[PG]) -> None:
    pg = make_pg(pool_size=3)
    if pg.is_async:
        await asyncio.gather(*(pg.backend.execute("SELECT pg_sleep(0.05)") for _ in range(12)))
    else:
        threads = [
            threading.Thread(target=pg.backend.execute, args=("SELECT pg_sleep(0.05)",))
            for _ in range(12)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert pg.stats() == {"size": 3, "idle": 3, "in_use": 0}
    assert len(pg.sessions()) == 3


async def test_exhausted_pool_times_out_with_connection_not_established(
    make_pg: Factory[PG],
) -> None:
    pg = make_pg(pool_size=1, pool_timeout=0.2)
    async with pg.transaction():
        await pg(pg.backend.execute("SELECT 1"))
        if pg.is_async:
            outsider = asyncio.create_task(
                pg.backend.execute("SELECT 1"), context=contextvars.Context()
            )
            with pytest.raises(ConnectionNotEstablished, match="no connection free"):
                await outsider
        else:
            errors: list[BaseException] = []
            thread = threading.Thread(target=_catching(errors, pg.backend.execute, "SELECT 1"))
            thread.start()
            thread.join()
            assert isinstance(errors[0], ConnectionNotEstablished)


def _catching(errors: list[BaseException], func: Callable[..., Any], *args: Any) -> Callable[[], None]:
    def call() -> None:
        try:
            func(*args)
        except BaseException as error:
            errors.append(error)

    return call


async def test_pool_min_size_connections_open_at_first_use(make_pg: Factory[PG]) -> None:
    pg = make_pg(pool_min_size=3)
    assert pg.sessions() == []      # configure() opened nothing
    await pg(pg.backend.execute("SELECT 1"))
    assert len(pg.sessions()) == 3


def test_async_backend_follows_the_running_loop() -> None:
    """One asyncio.run() per script or test: each loop gets its own pool, and the
    pools of loops that have finished are closed."""
    pg = PG("async")
    async def use() -> set[int]:
        pids = set()
        for _ in range(3):
            pids.add((await pg.backend.fetch_one("SELECT pg_backend_pid() AS pid"))["pid"])
        return pids

    first = asyncio.run(use())
    second = asyncio.run(use())
    assert first.isdisjoint(second)        # a fresh connection on the new loop
    assert {pid for pid, _ in pg.sessions()} == second     # the old loop's one is closed
    asyncio.run(pg.aclose())
    assert pg.sessions() == []
    pg.monitor().close()


def test_event_loops_in_two_threads_get_a_pool_each() -> None:
    pg = PG("async")
    results: dict[str, set[int]] = {}
    errors: list[BaseException] = []
    both_running = threading.Barrier(2)

    async def use(name: str) -> None:
        pids = set()
        for n in range(20):
            row = await pg.backend.fetch_one("SELECT pg_backend_pid() AS pid, pg_sleep(0.005)")
            pids.add(row["pid"])
            if n == 0:
                await asyncio.to_thread(both_running.wait, 5)
        results[name] = pids

    def thread(name: str) -> None:
        try:
            asyncio.run(use(name))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=thread, args=(name,)) for name in ("a", "b")]
    for worker in threads:
        worker.start()
    for worker in threads:
        worker.join()
    assert errors == []
    assert len(results["a"]) == len(results["b"]) == 1 and results["a"] != results["b"]
    asyncio.run(pg.aclose())
    assert _poll(lambda: pg.sessions() == [])
    pg.monitor().close()


def test_close_unawaited_closes_sessions_of_finished_loops() -> None:
    pg = PG("async")
    asyncio.run(pg.backend.execute("SELECT 1"))
    assert len(pg.sessions()) == 1
    pg.Base.configure(pg.config, AsyncPostgresBackend)   # replaces (and closes) the old backend
    assert _poll(lambda: pg.sessions() == [])
    pg.monitor().close()


def _poll(check: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


async def test_closed_backend_refuses_work(pg: PG) -> None:
    await pg(pg.backend.execute("SELECT 1"))
    backend = pg.backend
    await pg(backend.close())
    with pytest.raises(ConnectionNotEstablished, match="closed"):
        await pg(backend.execute("SELECT 1"))
    pg.Base.configure(pg.config, AsyncPostgresBackend if pg.is_async else PostgresBackend)


async def test_200_tasks_times_50_operations_on_a_pool_of_10(make_apg: Factory[PG]) -> None:
    apg = make_apg(pool_size=10)
    Account = account_model(apg)
    await apg.create(Account)
    seeded = [Account(owner=f"seed{i}", balance=Decimal(0)) for i in range(50)]
    await Account.insert_many(seeded)
    ids = [a.id for a in seeded]

    async def worker(n: int) -> int:
        saved = 0
        for op in range(50):
            if op % 5 == 4:
                await Account(owner=f"w{n}-{op}", balance=Decimal(op)).save()
                saved += 1
            elif op % 5 == 3:
                found = await Account.find_one(ids[(n + op) % len(ids)])
                assert found is not None
                found.balance += 1
                await found.save()
            else:
                found = await Account.find_one(ids[(n * op) % len(ids)])
                assert found is not None and found.owner.startswith("seed")
        return saved

    saved = await asyncio.gather(*(worker(n) for n in range(200)))
    assert sum(saved) == 200 * 10
    assert await Account.query().count() == 50 + 2000
    stats = apg.stats()
    assert stats["in_use"] == 0 and stats["size"] == stats["idle"] <= 10
    assert all(state == "idle" for _, state in await apg.settled_sessions())


# ---- one statement per call (§4) -------------------------------------------------------
async def test_a_string_with_two_statements_runs_nothing(make_pg: Factory[PG]) -> None:
    """psycopg sends a statement without parameters over the simple protocol, which
    runs every statement in the string: the backend sends them all extended."""
    pg = make_pg(pool_size=1)
    canary = pg.name("canary")
    await pg(pg.backend.execute(f"CREATE TABLE {canary} (id int)"))
    try:
        # The public calls (the SQL layer may refuse these before sending) ...
        with pytest.raises(StatementInvalid):
            await pg(pg.backend.fetch_all("SELECT 1 AS x; SELECT 2 AS y"))
        with pytest.raises(StatementInvalid):
            await pg(pg.backend.execute(f"SELECT 1; DROP TABLE {canary}"))
        # ... and the backend's own statement path, which the server guards (42601).
        with pytest.raises(StatementInvalid, match="more than one statement"):
            await pg(pg.backend.run_fetch_table("SELECT 1 AS x; SELECT 2 AS y", []))
        with pytest.raises(StatementInvalid, match="more than one statement"):
            await pg(pg.backend.run_execute(f"SELECT 1; DROP TABLE {canary}", []))
        with pytest.raises(StatementInvalid):
            await pg(pg.backend.run_execute(
                f"INSERT INTO {canary} VALUES (%s); DROP TABLE {canary}", [1]
            ))
        # The table survived, and the one connection still answers in step.
        assert await pg(pg.backend.fetch_one(f"SELECT count(*) AS n FROM {canary}")) == {"n": 0}
        assert await pg(pg.backend.fetch_one("SELECT 3 AS v")) == {"v": 3}
        async with pg.transaction():          # transaction control still works
            await pg(pg.backend.execute(f"INSERT INTO {canary} VALUES (1)"))
        assert await pg(pg.backend.fetch_one(f"SELECT count(*) AS n FROM {canary}")) == {"n": 1}
    finally:
        await pg(pg.backend.execute(f"DROP TABLE IF EXISTS {canary}"))


# ---- errors with classes of their own (§9) ---------------------------------------------
async def _two_rows(pg: PG) -> str:
    table = pg.name("pg_rows")
    await pg(pg.backend.execute(f"DROP TABLE IF EXISTS {table}"))
    await pg(pg.backend.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, v int)"))
    await pg(pg.backend.execute(f"INSERT INTO {table} VALUES (1, 0), (2, 0)"))
    pg.dropped_tables.append(table)
    return table


async def _side_by_side(pg: PG, work: Callable[[int, Any], Any]) -> list[BaseException | None]:
    """Run `work(0, wait)` and `work(1, wait)` at once, each in its own task (async kind)
    or thread (sync kind); `wait()` is a barrier the two meet at. Their errors, in order."""
    if pg.is_async:
        barrier = asyncio.Barrier(2)

        async def one(i: int) -> BaseException | None:
            try:
                await work(i, barrier.wait)
            except BaseException as error:
                return error
            return None

        tasks = [asyncio.create_task(one(i), context=contextvars.Context()) for i in (0, 1)]
        return list(await asyncio.wait_for(asyncio.gather(*tasks), 30))
    thread_barrier = threading.Barrier(2, timeout=30)
    errors: list[BaseException | None] = [None, None]

    def run(i: int) -> None:
        async def wait() -> None:
            thread_barrier.wait()

        try:
            asyncio.run(work(i, wait))
        except BaseException as error:
            errors[i] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


async def test_a_deadlock_inside_a_nested_transaction_is_reported_as_itself(
    make_pg: Factory[PG],
) -> None:
    """Two transactions, two rows: each updates its own row, then the other's inside a
    nested transaction(). The victim gets Deadlocked out of both blocks, not the failure
    of a ROLLBACK TO SAVEPOINT; the other commits."""
    pg = make_pg(pool_size=4, server_settings={"deadlock_timeout": "100ms"})
    table = await _two_rows(pg)
    update = f"UPDATE {table} SET v = v + 1 WHERE id = ?"

    async def work(i: int, wait: Callable[[], Awaitable[Any]]) -> None:
        call = pg.backend.execute
        async with EitherTransaction(pg.Base.transaction()):
            await pg(call(update, (i + 1,)))
            await wait()
            async with EitherTransaction(pg.Base.transaction()):
                await pg(call(update, (2 - i,)))

    errors = await _side_by_side(pg, work)
    victims = [e for e in errors if e is not None]
    assert len(victims) == 1, errors
    victim = victims[0]
    assert isinstance(victim, Deadlocked) and isinstance(victim, TransactionRollbackError)
    assert "40P01" in str(victim)
    chain = [victim.__context__, victim.__cause__]
    assert not any(isinstance(e, StatementInvalid) for e in chain)
    rows = await pg(pg.backend.fetch_all(f"SELECT v FROM {table} ORDER BY id"))
    assert rows == [{"v": 1}, {"v": 1}]          # the survivor's two updates, nothing else
    assert all(state == "idle" for _, state in await pg.settled_sessions())


async def test_a_serialization_failure_is_its_own_error(pg: PG) -> None:
    table = await _two_rows(pg)
    with pytest.raises(SerializationFailure, match="40001"):
        async with pg.transaction("SERIALIZABLE"):
            await pg(pg.backend.fetch_one(f"SELECT v FROM {table} WHERE id = 1"))
            pg.monitor().execute(f"UPDATE {table} SET v = 5 WHERE id = 1")  # commits
            await pg(pg.backend.execute(f"UPDATE {table} SET v = v + 1 WHERE id = 1"))
    assert await pg(pg.backend.fetch_one(f"SELECT v FROM {table} WHERE id = 1")) == {"v": 5}


async def test_lock_timeout_is_lock_wait_timeout(make_pg: Factory[PG]) -> None:
    pg = make_pg(server_settings={"lock_timeout": "200ms"})
    table = await _two_rows(pg)
    monitor = pg.monitor()
    with monitor.transaction():
        monitor.execute(f"SELECT v FROM {table} WHERE id = 1 FOR UPDATE")
        started = time.monotonic()
        with pytest.raises(LockWaitTimeout, match="55P03"):
            await pg(pg.backend.execute(f"UPDATE {table} SET v = 1 WHERE id = 1"))
        assert time.monotonic() - started < 2
    assert await pg(pg.backend.execute(f"UPDATE {table} SET v = 1 WHERE id = 1")) == 1


# ---- the session never shifts an instant (§8) ------------------------------------------
async def test_values_keep_their_instant_in_a_berlin_session(make_pg: Factory[PG]) -> None:
    pg = make_pg(server_settings={"TimeZone": "Europe/Berlin"})
    assert await pg(pg.backend.fetch_one("SHOW TimeZone")) == {"TimeZone": "Europe/Berlin"}

    class Moment(pg.Base):  # type: ignore[name-defined,misc]
        __table_name__ = pg.name("pg_moments")
        id: Optional[int] = None
        plain: datetime
        aware: AwareDatetime

    await pg.create(Moment)
    moment = Moment(plain=datetime(2026, 6, 1, 10, 0),
                    aware=datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2))))
    await pg(moment.save())
    loaded = await pg(Moment.find_one(moment.id))
    assert loaded.plain == datetime(2026, 6, 1, 10, 0)             # naive, as written
    assert loaded.aware == datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    assert loaded.aware.utcoffset() == timedelta(0)                # aware, in UTC
    # What the server holds, read as UTC text by another session.
    stored = pg.monitor().execute(
        f"SELECT plain::text, (aware AT TIME ZONE 'UTC')::text FROM {Moment.__table_name__}"
    ).fetchone()
    assert stored == ("2026-06-01 10:00:00", "2026-06-01 10:00:00")
    # An aware value for a plain field is stored converted to UTC, not through Berlin.
    moment.plain = datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    await pg(moment.save())
    assert (await pg(Moment.find_one(moment.id))).plain == datetime(2026, 6, 1, 10, 0)
    stored_plain = pg.monitor().execute(f"SELECT plain::text FROM {Moment.__table_name__}")
    assert stored_plain.fetchone() == ("2026-06-01 10:00:00",)
    types = pg.monitor().execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = %s AND column_name IN ('plain', 'aware') ORDER BY column_name",
        (Moment.__table_name__,),
    ).fetchall()
    assert types == [("aware", "timestamp with time zone"), ("plain", "timestamp without time zone")]


@pytest.fixture
def berlin_role() -> Any:
    """A login role whose defaults are Europe/Berlin and REPEATABLE READ (dropped after)."""
    require_server("postgres")
    name = f"twinrecord_berlin_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(_libpq_url(), autocommit=True)
    admin.execute(f"CREATE ROLE {name} LOGIN")
    admin.execute(f"ALTER ROLE {name} SET TimeZone = 'Europe/Berlin'")
    admin.execute(f"ALTER ROLE {name} SET default_transaction_isolation = 'repeatable read'")
    try:
        yield name
    finally:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (name,)
        )
        admin.execute(f"DROP ROLE IF EXISTS {name}")
        admin.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_role_default_time_zone_and_isolation_never_apply(
    berlin_role: str, kind: str
) -> None:
    pg = PG(kind, user=berlin_role)
    try:
        await _check_utc_and_read_committed(pg)
    finally:
        await pg.aclose()


async def _check_utc_and_read_committed(pg: PG) -> None:
    row = await pg(pg.backend.fetch_one(
        "SELECT current_setting('TimeZone') AS zone, "
        "TIMESTAMPTZ '2026-01-01 12:00:00+00' AS noon"
    ))
    assert row["zone"] == "UTC"
    assert row["noon"] == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert row["noon"].utcoffset() == timedelta(0)
    async with pg.transaction():
        level = await pg(pg.backend.fetch_one("SHOW transaction_isolation"))
    assert level == {"transaction_isolation": "read committed"}


async def test_transactions_run_at_the_configured_isolation_level(make_pg: Factory[PG]) -> None:
    pg = make_pg(isolation_level="serializable")
    async with pg.transaction():
        inside = await pg(pg.backend.fetch_one("SHOW transaction_isolation"))
    assert inside == {"transaction_isolation": "serializable"}
    async with pg.transaction("READ COMMITTED"):           # an explicit level wins
        explicit = await pg(pg.backend.fetch_one("SHOW transaction_isolation"))
    assert explicit == {"transaction_isolation": "read committed"}


# ---- connect errors (§2) ---------------------------------------------------------------
async def _first_use_exception(kind: str, config: PostgresConfig) -> BaseException:
    backend: Any = (PostgresBackend if kind == "sync" else AsyncPostgresBackend)(config)
    try:
        with pytest.raises(ConnectionNotEstablished) as caught:
            await _maybe_await(backend.fetch_one("SELECT 1"))
    finally:
        await _maybe_await(backend.close())
    return caught.value


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


@pytest.mark.parametrize("kind", KINDS)
async def test_a_connect_error_chains_the_driver_error_and_nothing_else(kind: str) -> None:
    config = PostgresConfig(port=1, database="nowhere_db", password="hunter2")
    error = await _first_use_exception(kind, config)
    assert isinstance(error.__cause__, psycopg.OperationalError)
    chain, link = [], error.__context__
    while link is not None:
        chain.append(type(link))
        link = link.__context__
    assert chain == [psycopg.OperationalError]      # no pool internals (IndexError) between
    assert "hunter2" not in str(error) and "127.0.0.1:1" in str(error)


# ---- pools heal (§2) -------------------------------------------------------------------
@pytest.mark.parametrize(("pre_ping", "failures"), [(False, 1), (True, 0)])
async def test_killed_idle_connections_cost_at_most_one_failure(
    make_pg: Factory[PG], pre_ping: bool, failures: int
) -> None:
    pg = make_pg(pool_size=4, pool_min_size=4, pool_pre_ping=pre_ping)
    await pg(pg.backend.execute("SELECT 1"))
    assert pg.stats() == {"size": 4, "idle": 4, "in_use": 0}
    killed = pg.monitor().execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
        (pg.app,),
    ).fetchall()
    assert len(killed) == 4
    deadline = time.monotonic() + 5
    while pg.sessions() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    failed = 0
    for n in range(8):
        try:
            assert await pg(pg.backend.fetch_one("SELECT ? AS n", (n,))) == {"n": n}
        except ConnectionNotEstablished as error:
            assert pg.config.database in str(error)
            failed += 1
    assert failed == failures
    assert pg.stats()["in_use"] == 0


# ---- fork (§2) -------------------------------------------------------------------------
def _in_child(work: Callable[[], None]) -> int:
    """Fork; the child runs `work` and exits 0 (1 on any error). Returns the child's pid."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)
    return pid


def _exit_code(pid: int, timeout: float = 30) -> int | None:
    """The child's exit code, or None (and the child killed) if it hangs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@pytest.fixture
def sync_pg() -> Any:
    pg = PG("sync", pool_size=2, prepare_threshold=1)
    yield pg
    asyncio.run(pg.aclose())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_connections_of_its_own(sync_pg: PG) -> None:
    backend = sync_pg.backend
    query = "SELECT ? + 1 AS n"
    parent_pid = backend.fetch_one("SELECT pg_backend_pid() AS pid")["pid"]
    read_end, write_end = os.pipe()

    def child() -> None:
        for n in range(5):   # prepared on the child's session (prepare_threshold=1)
            assert backend.fetch_one(query, (n,)) == {"n": n + 1}
        pid = backend.fetch_one("SELECT pg_backend_pid() AS pid")["pid"]
        os.write(write_end, str(pid).encode())
        backend.close()      # closes the child's own pool only

    child_pid = _in_child(child)
    os.close(write_end)
    assert _exit_code(child_pid) == 0
    child_session = int(os.read(read_end, 100))
    os.close(read_end)
    assert child_session != parent_pid
    # The parent's session was neither used (no "prepared statement already exists")
    # nor closed by the child.
    for n in range(5):
        assert backend.fetch_one(query, (n,)) == {"n": n + 1}
    assert backend.fetch_one("SELECT pg_backend_pid() AS pid")["pid"] == parent_pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_parent_and_forked_child_query_at_once(sync_pg: PG) -> None:
    backend = sync_pg.backend
    backend.fetch_one("SELECT 1 AS one")   # the parent's pool holds a connection

    def hammer() -> None:
        for n in range(300):
            assert backend.fetch_one("SELECT ? * 2 AS n", (n,)) == {"n": n * 2}

    children = [_in_child(hammer) for _ in range(2)]
    hammer()
    assert [_exit_code(pid) for pid in children] == [0, 0]
    hammer()


# ---- the blocking-call rule (§2) -------------------------------------------------------
def _blocking_warnings(caught: list[warnings.WarningMessage]) -> list[warnings.WarningMessage]:
    return [w for w in caught if issubclass(w.category, BlockingCallWarning)]


async def test_a_sync_call_in_a_running_loop_warns_once_per_call_site(make_apg: Factory[PG]) -> None:
    pg = PG("sync")
    make_apg.made.append(pg)
    WARNED_SITES.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            pg.backend.fetch_one("SELECT 1 AS one")          # one call site, three calls
        pg.backend.fetch_one("SELECT 2 AS two")              # another call site
    found = _blocking_warnings(caught)
    assert len(found) == 2
    assert found[0].filename == __file__                     # points at the caller
    assert "asyncio.to_thread" in str(found[0].message) and ".aio." in str(found[0].message)
    assert issubclass(BlockingCallWarning, RuntimeWarning)
    # From a worker thread (no loop running there) nothing is said.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        WARNED_SITES.clear()
        await asyncio.to_thread(pg.backend.fetch_one, "SELECT 3 AS three")
    assert _blocking_warnings(caught) == []


def test_no_warning_without_a_running_loop() -> None:
    pg = PG("sync")
    try:
        WARNED_SITES.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert pg.backend.fetch_one("SELECT 1 AS one") == {"one": 1}
        assert _blocking_warnings(caught) == []
    finally:
        pg.backend.close()


async def test_sync_in_event_loop_raise_and_allow(make_apg: Factory[PG]) -> None:
    strict = PG("sync", sync_in_event_loop="raise")
    relaxed = PG("sync", sync_in_event_loop="allow")
    make_apg.made.extend([strict, relaxed])
    WARNED_SITES.clear()
    with pytest.raises(BlockingCallInEventLoop, match="blocks the running asyncio event loop"):
        strict.backend.fetch_one("SELECT 1 AS one")
    assert strict.sessions() == []                           # refused before connecting
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert relaxed.backend.fetch_one("SELECT 1 AS one") == {"one": 1}
    assert _blocking_warnings(caught) == []


@pytest.mark.parametrize("mode", ["warn", "allow"])
async def test_a_sync_call_inside_the_tasks_async_transaction_raises(
    make_apg: Factory[PG], mode: str
) -> None:
    """Before: a sync save of a row the task's own async transaction locked hung forever."""
    apg = make_apg()
    spg = PG("sync", sync_in_event_loop=mode)
    make_apg.made.append(spg)
    table = await _two_rows(apg)
    async with apg.transaction():
        await apg(apg.backend.execute(f"UPDATE {table} SET v = 1 WHERE id = 1"))
        started = time.monotonic()
        with pytest.raises(BlockingCallInEventLoop, match="holds an async transaction"):
            spg.backend.execute(f"UPDATE {table} SET v = 2 WHERE id = 1")
        with pytest.raises(BlockingCallInEventLoop), spg.Base.transaction():
            pass
        assert time.monotonic() - started < 1
    # The transaction is over: the sync call runs (and only the warning rule applies).
    assert spg.backend.execute(f"UPDATE {table} SET v = 2 WHERE id = 1") == 1
    assert await apg(apg.backend.fetch_one(f"SELECT v FROM {table} WHERE id = 1")) == {"v": 2}


async def test_sqlite_never_warns(tmp_path: Any) -> None:
    from twinrecord.backends.sqlite import SQLiteBackend, SQLiteConfig

    backend = SQLiteBackend(SQLiteConfig(database=str(tmp_path / "x.db")))
    WARNED_SITES.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert backend.fetch_one("SELECT 1 AS one") == {"one": 1}
    backend.close()
    assert _blocking_warnings(caught) == []
