"""Reliability: what a database library's own test suite does to it (issue 8).

Connections killed while idle and mid-transaction, server restarts, 1,000 tasks on a
pool of 10 with the server's session count watched, a cancellation storm, fork, two
event loops, and hypothesis fuzzing of values, `order_by`/`group_by` arguments and
multi-statement strings. API.md §2 (pools heal, one pool per loop, fork), §4 (one
statement per call, column references only), §5 (transactions), §8 (round trips).

Everything that stops, kills or floods a server runs against private servers of this
test session (servers.py), never the machine's own. Each test gets a database of its
own there, so the server's session lists (`pg_stat_activity`, the processlist) show
exactly the sessions that test opened. The fuzz tests use the shared harness (every
backend, SQLite included). `slow` marks the heavy tests; the README's command runs
them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import random
import re
import secrets
import signal
import threading
import time
from collections.abc import Awaitable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Optional, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
from twinrecord.backends.mysql import AsyncMySQLBackend, MySQLBackend, MySQLConfig
from twinrecord.backends.postgres import AsyncPostgresBackend, PostgresBackend, PostgresConfig
from twinrecord.errors import (
    ConnectionNotEstablished,
    DatabaseError,
    StatementInvalid,
    TransactionError,
)

from .harness import COMBINATIONS, DB, combination_id, require_server
from .servers import PostgresServer, private_mariadb, private_postgres

__all__ = ["private_mariadb", "private_postgres"]  # the session fixtures, used by name

T = TypeVar("T")
SERVERS = ["postgres", "mysql"]
KINDS = ["sync", "async"]
SERVER_COMBINATIONS = [(backend, kind) for backend in SERVERS for kind in KINDS]
SERVER_IDS = [f"{backend}-{kind}" for backend, kind in SERVER_COMBINATIONS]


# ---- one backend on a private server, watched from outside -------------------------------


class Target:
    """A fresh database on a private server, a model base configured on it in one kind,
    and an outside observer (a raw driver connection) that sees the server's sessions."""

    def __init__(self, server: Any, backend: str, kind: str, **options: Any) -> None:
        self.server = server
        self.backend_name = backend
        self.kind = kind
        self.is_async = kind == "async"
        token = secrets.token_hex(5)
        self.database = f"rel_{token}"
        url = server.create_database(self.database)
        config: Any
        if backend == "postgres":
            config = PostgresConfig.from_url(url)
            config.application_name = f"rel-{token}"
            backend_class: Any = AsyncPostgresBackend if self.is_async else PostgresBackend
        else:
            config = MySQLConfig.from_url(url)
            backend_class = AsyncMySQLBackend if self.is_async else MySQLBackend
        for name, value in options.items():
            setattr(config, name, value)
        config.__post_init__()
        self.config = config
        root: Any = AsyncBaseActiveRecord if self.is_async else BaseActiveRecord
        self.Base: Any = type(f"Rel_{backend}_{kind}", (root,), {"__module__": __name__})
        self.Base.configure(config, backend_class)

    def __repr__(self) -> str:
        return f"<Target {self.backend_name}/{self.kind} {self.database}>"

    async def __call__(self, value: Awaitable[T] | T) -> T:
        """Await an async call's result; pass a sync call's result through."""
        if self.is_async:
            return await value  # type: ignore[misc,no-any-return]
        return value  # type: ignore[return-value]

    @property
    def backend(self) -> Any:
        return self.Base.backend()

    def transaction(self) -> Any:
        manager = self.Base.transaction()
        return manager if self.is_async else _AsAsync(manager)

    def sleep_sql(self, seconds: float) -> str:
        if self.backend_name == "postgres":
            return f"SELECT pg_sleep({seconds}) IS NULL AS slept"
        return f"SELECT SLEEP({seconds}) AS slept"

    async def create(self, *models: Any) -> None:
        for model in models:
            await self(model.create_table())

    async def aclose(self) -> None:
        await self(self.backend.close())

    # -- the outside observer (a new connection each time: it survives restarts) --
    def observe(self, sql: str, params: tuple[Any, ...] = (), database: bool = False) -> list[Any]:
        connection = self.server.connect(self.database if database else None) \
            if self.backend_name == "mysql" else self.server.connect(
                self.database if database else "postgres")
        try:
            cursor = connection.cursor()
            cursor.execute(sql, params)
            return list(cursor.fetchall()) if cursor.description else []
        finally:
            connection.close()

    def sessions_sql(self) -> tuple[str, tuple[Any, ...]]:
        if self.backend_name == "postgres":
            return ("SELECT pid, coalesce(state, '') FROM pg_stat_activity "
                    "WHERE application_name = %s", (self.config.application_name,))
        return ("SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE DB = %s",
                (self.database,))

    def sessions(self) -> list[tuple[int, str]]:
        """(id, state) of each server session our backend has open."""
        sql, params = self.sessions_sql()
        return [(int(row[0]), str(row[1])) for row in self.observe(sql, params)]

    def open_transactions(self) -> int:
        """Our sessions inside a transaction (idle in transaction, or an InnoDB trx)."""
        if self.backend_name == "postgres":
            rows = self.observe(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND (xact_start IS NOT NULL OR state LIKE 'idle in transaction%%')",
                (self.config.application_name,))
        else:
            rows = self.observe(
                "SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
                "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                "WHERE p.DB = %s", (self.database,))
        return int(rows[0][0])

    def kill(self, session_id: int) -> None:
        if self.backend_name == "postgres":
            self.observe("SELECT pg_terminate_backend(%s)", (session_id,))
        else:
            self.observe(f"KILL CONNECTION {int(session_id)}")
        deadline = time.monotonic() + 10
        while any(found == session_id for found, _ in self.sessions()):
            assert time.monotonic() < deadline, f"session {session_id} outlived its kill"
            time.sleep(0.02)

    def scalar(self, sql: str) -> Any:
        """One value read by the observer from this target's database."""
        return self.observe(sql, database=True)[0][0]

    async def warm(self, connections: int) -> None:
        """Make the pool hold `connections` open connections, all idle afterwards."""
        sql = self.sleep_sql(0.3)
        if self.is_async:
            await asyncio.gather(*(self.backend.fetch_one(sql) for _ in range(connections)))
        else:
            with ThreadPoolExecutor(connections) as pool:
                list(pool.map(lambda _: self.backend.fetch_one(sql), range(connections)))
        # The server may show a session busy for a moment after its reply was sent.
        idle = "idle" if self.backend_name == "postgres" else "Sleep"
        deadline = time.monotonic() + 5
        while True:
            states = [state for _, state in self.sessions()]
            if states.count(idle) == connections == len(states):
                return
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.02)


class _AsAsync:
    """`async with` over a sync transaction manager."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def __aenter__(self) -> None:
        self.manager.__enter__()

    async def __aexit__(self, *exc: Any) -> bool:
        return bool(self.manager.__exit__(*exc))


class Targets:
    """Makes targets for one (server, kind) combination and closes them after the test."""

    def __init__(self, server: Any, backend: str, kind: str) -> None:
        self.server, self.backend_name, self.kind = server, backend, kind
        self.made: list[Target] = []

    def __call__(self, **options: Any) -> Target:
        self.made.append(Target(self.server, self.backend_name, self.kind, **options))
        return self.made[-1]

    async def aclose(self) -> None:
        for target in self.made:
            with contextlib.suppress(DatabaseError):
                await target.aclose()


def _server(request: pytest.FixtureRequest, backend: str) -> Any:
    return request.getfixturevalue("private_postgres" if backend == "postgres" else "private_mariadb")


@pytest.fixture(params=SERVER_COMBINATIONS, ids=SERVER_IDS)
def targets(request: pytest.FixtureRequest) -> Targets:
    backend, kind = request.param
    return Targets(_server(request, backend), backend, kind)


@pytest.fixture(params=SERVERS)
def async_targets(request: pytest.FixtureRequest) -> Targets:
    return Targets(_server(request, request.param), request.param, "async")


def item_model(target: Target) -> Any:
    class Item(target.Base):
        __table_name__ = "rel_items"
        id: Optional[int] = None
        n: int

    return Item


async def failed_operations(target: Target, operations: int = 6) -> int:
    """Run operations one after the other; count those that fail because a connection
    died. Any other error fails the test; each success must return the right row."""
    failed = 0
    for n in range(operations):
        try:
            row = await target(target.backend.fetch_one("SELECT ? AS n", (n,)))
        except ConnectionNotEstablished:
            failed += 1
        else:
            assert row == {"n": n}
    return failed


# ---- connections killed -------------------------------------------------------------------


@pytest.mark.parametrize("pre_ping", [False, True], ids=["plain", "pre_ping"])
async def test_connections_killed_while_idle_cost_at_most_one_operation(
    targets: Targets, pre_ping: bool
) -> None:
    """§2: the first sign of death discards every idle connection (item 10)."""
    target = targets(pool_size=3, pool_pre_ping=pre_ping)
    await target.warm(3)
    for session_id, _ in target.sessions():
        target.kill(session_id)
    failed = await failed_operations(target)
    assert failed <= (0 if pre_ping else 1)
    assert target.backend.pool_stats()["in_use"] == 0


@pytest.mark.parametrize("moment", ["next_statement", "commit"])
async def test_connection_killed_mid_transaction_commits_nothing(
    targets: Targets, moment: str
) -> None:
    """The transaction fails with a library error, nothing is half-committed, and the
    pool goes on working (§2, §5)."""
    target = targets(pool_size=2)
    Item = item_model(target)
    await target.create(Item)
    id_sql = "SELECT pg_backend_pid() AS id" if target.backend_name == "postgres" \
        else "SELECT CONNECTION_ID() AS id"
    with pytest.raises((ConnectionNotEstablished, TransactionError)):
        async with target.transaction():
            await target(Item(n=1).save())
            row = await target(target.backend.fetch_one(id_sql))  # joins the transaction
            target.kill(int(row["id"]))
            if moment == "next_statement":
                await target(Item(n=2).save())
    assert target.scalar("SELECT COUNT(*) FROM rel_items") == 0
    assert target.backend.pool_stats()["in_use"] == 0
    await target(Item(n=3).save())                       # the pool recovered
    assert target.scalar("SELECT COUNT(*) FROM rel_items") == 1
    assert target.open_transactions() == 0


# ---- server restart ------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pre_ping", [False, True], ids=["plain", "pre_ping"])
@pytest.mark.parametrize("used_while_down", [False, True], ids=["restart", "used_while_down"])
async def test_server_restart_costs_at_most_one_operation(
    targets: Targets, pre_ping: bool, used_while_down: bool
) -> None:
    """A restart with 4 idle pooled connections: at most one failed operation per pool
    overall, none after the restart with pool_pre_ping (§2, item 10)."""
    target = targets(pool_size=4, pool_pre_ping=pre_ping, connect_timeout=3)
    await target.warm(4)
    failed = 0
    if used_while_down:
        target.server.stop()
        try:
            with pytest.raises(ConnectionNotEstablished):
                await target(target.backend.fetch_one("SELECT 1 AS one"))
            failed += 1
        finally:
            target.server.start()
    else:
        target.server.restart()
    failed += await failed_operations(target, operations=8)
    if pre_ping and not used_while_down:
        assert failed == 0
    else:
        assert failed <= 1
    assert target.backend.pool_stats()["in_use"] == 0


# ---- many tasks, cancellation ----------------------------------------------------------------


class SessionSampler:
    """A thread counting our server sessions while the test runs; keeps the maximum."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.maximum = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        sql, params = self.target.sessions_sql()
        database = None if self.target.backend_name == "mysql" else "postgres"
        connection = self.target.server.connect(database)
        try:
            cursor = connection.cursor()
            while not self._stop.is_set():
                cursor.execute(sql, params)
                self.maximum = max(self.maximum, len(cursor.fetchall()))
                self.samples += 1
                time.sleep(0.005)
        finally:
            connection.close()

    def __enter__(self) -> SessionSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.mark.slow
async def test_a_thousand_tasks_on_a_pool_of_ten(async_targets: Targets) -> None:
    """All succeed, and the server never sees more than 10 sessions of ours."""
    target = async_targets(pool_size=10)
    Item = item_model(target)
    await target.create(Item)

    async def work(n: int) -> int:
        if n % 10 == 0:
            async with target.Base.transaction():
                item = Item(n=n)
                await item.save()
        else:
            item = Item(n=n)
            await item.save()
        found = await Item.find_one(item.id)
        assert found is not None
        return int(found.n)

    with SessionSampler(target) as sampler:
        results = await asyncio.gather(*(work(n) for n in range(1000)))
    assert results == list(range(1000))
    assert target.scalar("SELECT COUNT(*) FROM rel_items") == 1000
    assert sampler.samples > 0 and 1 <= sampler.maximum <= 10, sampler.maximum
    assert target.backend.pool_stats()["in_use"] == 0


@pytest.mark.slow
async def test_cancellation_storm_leaves_no_transaction_open(async_targets: Targets) -> None:
    """200 transfers, about half cancelled at random moments (waiting for a connection,
    mid-statement, mid-transaction): afterwards nothing is checked out or open on the
    server, the pool works at full size, and every transfer happened whole or not at
    all (§5)."""
    target = async_targets(pool_size=10)
    rng = random.Random(8)

    class Account(target.Base):
        __table_name__ = "rel_accounts"
        id: Optional[int] = None
        balance: int

    class Transfer(target.Base):
        __table_name__ = "rel_transfers"
        id: Optional[int] = None
        task: int
        source: int
        target: int
        amount: int

    await target.create(Account, Transfer)
    accounts = [Account(balance=1000) for _ in range(10)]
    for account in accounts:
        await account.save()
    ids = [int(account.id) for account in accounts]
    move = "UPDATE rel_accounts SET balance = balance + ? WHERE id = ?"

    async def transfer(task: int) -> None:
        source, destination = rng.sample(ids, 2)
        amount = rng.randint(1, 50)
        # Rows locked in id order: the storm may not deadlock on its own.
        first, second = sorted([(source, -amount), (destination, amount)])
        async with target.Base.transaction():
            await target.backend.execute(move, (first[1], first[0]))
            await target.backend.fetch_one(target.sleep_sql(0.01))
            await target.backend.execute(move, (second[1], second[0]))
            await Transfer(task=task, source=source, target=destination, amount=amount).save()

    tasks = [asyncio.create_task(transfer(n)) for n in range(200)]

    async def cancel_later(task: asyncio.Task[None]) -> None:
        await asyncio.sleep(rng.uniform(0, 0.6))
        task.cancel()

    await asyncio.gather(*(cancel_later(task) for task in rng.sample(tasks, 100)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    unexpected = [r for r in results if r is not None and not isinstance(r, asyncio.CancelledError)]
    assert not unexpected, unexpected[:3]
    cancelled = sum(isinstance(r, asyncio.CancelledError) for r in results)
    assert 20 <= cancelled <= 100, cancelled   # the storm did cancel things mid-way

    deadline = time.monotonic() + 10
    while target.backend.pool_stats()["in_use"] or target.open_transactions():
        assert time.monotonic() < deadline, (target.backend.pool_stats(), target.sessions())
        await asyncio.sleep(0.05)
    assert len(target.sessions()) <= 10

    balances = dict(target.observe("SELECT id, balance FROM rel_accounts", database=True))
    expected = dict.fromkeys(ids, 1000)
    for source, destination, amount in target.observe(
        "SELECT source, target, amount FROM rel_transfers", database=True
    ):
        expected[source] -= amount
        expected[destination] += amount
    assert {int(k): int(v) for k, v in balances.items()} == expected
    assert sum(expected.values()) == 10_000
    # Every transfer that returned is committed; one cancelled while its COMMIT was on
    # the wire may be committed too (in doubt, as with a lost connection) - but whole.
    committed = {int(row[0]) for row in target.observe("SELECT task FROM rel_transfers",
                                                       database=True)}
    returned = {n for n, result in enumerate(results) if result is None}
    assert returned <= committed and len(committed - returned) <= 10, committed - returned

    # The pool is whole again: ten statements at once, each on its own connection.
    rows = await asyncio.gather(*(target.backend.fetch_one(target.sleep_sql(0.2))
                                  for _ in range(10)))
    assert len(rows) == 10
    assert target.backend.pool_stats()["in_use"] == 0 and len(target.sessions()) <= 10


# ---- fork ----------------------------------------------------------------------------------


def _fork_scenario(url: str, together: bool) -> None:
    """Runs in a process of its own (spawned), so a hang in it is bounded by the test:
    use a sync PostgreSQL pool, fork four times; each child uses the pool, the parent
    too (after the child, or at the same time); every step must work."""
    config = PostgresConfig.from_url(url)
    config.pool_size = 3
    Base: Any = type("ForkBase", (BaseActiveRecord,), {"__module__": __name__})
    Base.configure(config, PostgresBackend)

    class Item(Base):
        __table_name__ = "rel_items"
        id: Optional[int] = None
        n: int

    def use_pool(label: int) -> None:
        for n in range(12):     # past prepare_threshold: prepared statements exist
            item = Item(n=label * 100 + n)
            item.save()
            found = Item.find_one(item.id)
            assert found is not None and found.n == label * 100 + n
        # SQL of this label's own, run until psycopg prepares it: a child and a parent
        # naming their new prepared statements alike on one shared session collide.
        own_sql = f"SELECT COUNT(*) AS c FROM rel_items WHERE n >= ? AND {label} = {label}"
        for _ in range(6):
            assert Base.backend().fetch_one(own_sql, (0,))["c"] >= 12

    Item.create_table()
    use_pool(0)
    for round_number in range(1, 5):
        reader, writer = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report through the pipe, never return
            status = 1
            try:
                os.close(reader)
                use_pool(round_number * 10)
                status = 0
            except BaseException as error:
                os.write(writer, repr(error).encode()[:2000])
            finally:
                os._exit(status)
        os.close(writer)
        if together:
            use_pool(round_number * 10 + 1)
        status = _child_exit_status(pid, timeout=30)
        with os.fdopen(reader, "rb") as pipe:
            message = pipe.read().decode(errors="replace")
        assert status == 0, f"round {round_number}: the child failed: {message}"
        use_pool(round_number * 10 + 2)        # the parent's next queries work
    Base.backend().close()


def _child_exit_status(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise AssertionError(f"the forked child hung for {timeout}s")


@pytest.mark.slow
@pytest.mark.parametrize("together", [False, True], ids=["child_then_parent", "concurrently"])
def test_fork_with_the_postgres_sync_backend(private_postgres: PostgresServer, together: bool) -> None:
    """§2: after os.fork() the child opens its own connections; the parent's keep
    working, also while the child runs (item 14). The scenario runs in a spawned
    process, killed after 60 s: a hang fails the test instead of stalling the run."""
    database = f"rel_{secrets.token_hex(5)}"
    url = private_postgres.create_database(database)
    worker = multiprocessing.get_context("spawn").Process(
        target=_fork_scenario, args=(url, together))
    worker.start()
    worker.join(60)
    if worker.is_alive():
        worker.kill()
        worker.join()
        pytest.fail("the fork scenario hung for 60s")
    assert worker.exitcode == 0, "the fork scenario failed (its traceback is in the output)"
    with private_postgres.connect(database) as connection:
        rows = connection.execute("SELECT COUNT(*) FROM rel_items").fetchone()[0]
    assert rows == 12 * (1 + 4 * (3 if together else 2))


# ---- two event loops -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("backend", SERVERS)
def test_two_event_loops_in_two_threads(request: pytest.FixtureRequest, backend: str) -> None:
    """§2: an async backend keeps one pool per running event loop (item 13)."""
    target = Target(_server(request, backend), backend, "async", pool_size=3)
    Item = item_model(target)
    asyncio.run(target.create(Item))

    async def work(label: int) -> None:
        for n in range(3):
            item = Item(n=label * 10 + n)
            await item.save()
            async with target.Base.transaction():
                found = await Item.find_one(item.id)
                assert found is not None and found.n == label * 10 + n
        await asyncio.gather(*(Item.query().count() for _ in range(4)))

    errors: list[BaseException] = []

    def thread_main(label: int) -> None:
        try:
            asyncio.run(work(label))
        except BaseException as error:
            errors.append(error)

    try:
        for run in range(30):
            threads = [threading.Thread(target=thread_main, args=(run * 2 + k,)) for k in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
                assert not thread.is_alive(), "a loop's thread hung"
        assert not errors, f"{len(errors)} of 60 loops failed, e.g. {errors[0]!r}"
        assert target.scalar("SELECT COUNT(*) FROM rel_items") == 30 * 2 * 3
    finally:
        asyncio.run(target.aclose())


# ---- hypothesis fuzz (every backend of the harness, SQLite included) -----------------------


@pytest.fixture(params=COMBINATIONS, ids=combination_id)
def fuzz_db(request: pytest.FixtureRequest) -> Iterator[tuple[DB, asyncio.AbstractEventLoop]]:
    """A harness combination and an event loop of the test's own to drive it: hypothesis
    calls a plain function once per example, which runs the async steps on this loop."""
    backend, kind = request.param
    require_server(backend)
    db = DB(backend, kind)
    loop = asyncio.new_event_loop()
    try:
        yield db, loop
    finally:
        try:
            loop.run_until_complete(db.aclose())
        finally:
            loop.close()


def fuzz_settings(examples: int) -> settings:
    """No deadline (a shared 2-core machine), no example database left in the work tree,
    and a fixed sequence under CI so a red run can be repeated."""
    return settings(
        max_examples=examples, deadline=None, database=None,
        derandomize=bool(os.environ.get("CI")), suppress_health_check=[HealthCheck.too_slow],
    )
# Characters that mean something to a placeholder rewriter, a lexer or a driver.
HOSTILE_TEXT = ["'", "''", '"', "\\", "\\'", "?", "%s", "%", "%%", "$1", "--", "/*", "*/",
                ";", "`", ":name", "{0}", "\n", "\r\n", "\t", "é", "\U0001d518", "😀", "\u200b", "NULL"]


def _texts(nul: bool) -> st.SearchStrategy[str]:
    excluded = "" if nul else "\x00"
    plain = st.text(st.characters(exclude_categories=("Cs",), exclude_characters=excluded),
                    max_size=40)
    pieces = st.lists(st.sampled_from(HOSTILE_TEXT + ["a", " ", "x"] + (["\x00"] if nul else [])),
                      max_size=12).map("".join)
    return plain | pieces


INT64 = st.integers(-(2**63), 2**63 - 1) | st.sampled_from(
    [-(2**63), -(2**63) + 1, -1, 0, 1, 2**31, -(2**31) - 1, 2**63 - 2, 2**63 - 1])
# What DECIMAL(38,10) on MySQL holds: up to 28 digits before the point, 10 after.
DECIMALS = st.integers(0, 10).flatmap(lambda places: st.decimals(
    min_value=Decimal(-(10**20)), max_value=Decimal(10**20), places=places,
    allow_nan=False, allow_infinity=False))
NAIVE = st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 12, 30))
OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)),
                           timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(hours=14))])
AWARE = st.datetimes(min_value=datetime(1001, 1, 1), max_value=datetime(9998, 12, 30),
                     timezones=OFFSETS)


def _nul_allowed(backend: str) -> bool:
    return backend != "postgres"   # PostgreSQL text cannot hold NUL


@pytest.mark.slow
def test_fuzz_values_round_trip_exactly(fuzz_db: tuple[DB, asyncio.AbstractEventLoop]) -> None:
    """§8: strings full of SQL and placeholder syntax, 64-bit edge ints, Decimals and
    datetimes with microseconds (naive, aware, and aware given to a plain datetime field:
    naive UTC, item 4) round-trip exactly through save / find / where / update / raw SQL."""
    db, loop = fuzz_db

    class Value(db.Base):
        __table_name__ = "fuzz_values"
        id: Optional[int] = None
        text: str
        number: int
        amount: Decimal
        moment: datetime
        instant: AwareDatetime
        local: datetime       # given an aware value: stored and read back as naive UTC

    loop.run_until_complete(db.create(Value))
    texts = _texts(_nul_allowed(db.backend_name))

    async def round_trip(text: str, other: str, number: int, amount: Decimal,
                         moment: datetime, instant: datetime) -> None:
        record = Value(text=text, number=number, amount=amount, moment=moment,
                       instant=instant, local=instant)
        await db(record.save())
        found = await db(Value.find_one(record.id))
        assert found is not None
        assert (found.text, found.number, found.amount, found.moment) == (text, number, amount, moment)
        assert found.instant == instant and found.instant.utcoffset() == timedelta(0)
        assert found.local == instant.astimezone(UTC).replace(tzinfo=None)
        matches = Value.query().where("text = ?", (text,)).where({"id": record.id})
        assert await db(matches.count()) == 1
        assert await db(db.backend.fetch_one("SELECT ? AS v", (text,))) == {"v": text}
        changed = Value.query().where({"id": record.id}).update({"text": other})
        assert await db(changed) == 1
        again = await db(Value.find_one(record.id))
        assert again is not None and again.text == other and again.number == number

    @fuzz_settings(60)
    @given(text=texts, other=texts, number=INT64, amount=DECIMALS, moment=NAIVE, instant=AWARE)
    def check(text: str, other: str, number: int, amount: Decimal,
              moment: datetime, instant: datetime) -> None:
        loop.run_until_complete(round_trip(text, other, number, amount, moment, instant))

    check()


# A column reference as §4 defines it (bare or qualified, ASC/DESC, NULLS FIRST/LAST, or a
# leading '-'), identifiers possibly quoted; a list of them separated by commas.
_IDENT = r'(?:\w+|"(?:[^"]|"")+"|`(?:[^`]|``)+`)'  # quotes doubled inside quotes
_REF = (rf"-?\s*(?:{_IDENT}\.)?{_IDENT}(?:\s+(?:ASC|DESC))?(?:\s+NULLS\s+(?:FIRST|LAST))?")
COLUMN_REFERENCE = re.compile(rf"\s*{_REF}\s*(?:,\s*{_REF}\s*)*", re.IGNORECASE)
ORDER_PIECES = ["id", "name", "rank", "fuzz_sortable", ".", " ", "-", " ASC", " DESC",
                " NULLS FIRST", " NULLS LAST", ",", ";", " DROP TABLE fuzz_canary",
                "DELETE FROM fuzz_canary", "--", "/*", "*/", "'", '"', "`", "(", ")", "SELECT",
                " 1", "CASE WHEN 1=1 THEN id END", "?", "%s", "$1", "\\", "\n", "é",
                "pg_sleep(0)", "SLEEP(0)", " OR 1=1", " UNION SELECT 1", "#", "\t"]
HOSTILE_ORDER = (
    st.lists(st.sampled_from(ORDER_PIECES), min_size=1, max_size=7).map("".join)
    | st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=25)
    | st.sampled_from(["id; DROP TABLE fuzz_canary; -- ", "name; DELETE FROM fuzz_canary",
                       "id DESC; DROP TABLE fuzz_canary", "(SELECT 1); DROP TABLE fuzz_canary"])
)


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextlib.contextmanager
def counting_statements() -> Iterator[_Counter]:
    """Count what reaches the `twinrecord.sql` log (every statement sent, §2)."""
    logger = logging.getLogger("twinrecord.sql")
    counter, level = _Counter(), logger.level
    logger.addHandler(counter)
    logger.setLevel(logging.DEBUG)
    try:
        yield counter
    finally:
        logger.removeHandler(counter)
        logger.setLevel(level)


def canary_models(db: DB) -> tuple[Any, Any]:
    class Canary(db.Base):
        __table_name__ = "fuzz_canary"
        id: Optional[int] = None
        note: str

    class Sortable(db.Base):
        __table_name__ = "fuzz_sortable"
        id: Optional[int] = None
        name: str
        rank: int

    return Canary, Sortable


@pytest.mark.slow
def test_fuzz_order_by_and_group_by_take_only_column_references(
    fuzz_db: tuple[DB, asyncio.AbstractEventLoop]
) -> None:
    """§4: a hostile `order_by` / `group_by` argument is refused with StatementInvalid
    before anything is sent, or is a column reference; the canary table survives and
    the connection stays usable (item 2)."""
    db, loop = fuzz_db
    Canary, Sortable = canary_models(db)

    async def setup() -> None:
        await db.create(Canary, Sortable)
        await db(Canary(note="alive").save())
        for rank, name in enumerate(["b", "a", "c"]):
            await db(Sortable(name=name, rank=rank).save())

    loop.run_until_complete(setup())

    async def attempt(argument: str, clause: str, bound: bool) -> None:
        query = Sortable.query()
        if bound:   # PostgreSQL ran stacked SQL only without parameters: try both
            query = query.where("rank >= ?", (0,))
        with counting_statements() as sent:
            try:
                if clause == "order_by":
                    rows = await db(query.order_by(argument).all())
                    assert len(rows) == 3
                else:
                    await db(query.group_by(argument).count("*", "n").aggregate())
            except StatementInvalid:
                pass
        if sent.count and argument.strip():  # a blank argument may simply add nothing
            assert COLUMN_REFERENCE.fullmatch(argument), f"sent {argument!r} to the server"
        assert await db(Canary.query().count()) == 1
        assert await db(db.backend.fetch_one("SELECT 7 AS seven")) == {"seven": 7}

    @fuzz_settings(200)
    @given(argument=HOSTILE_ORDER, clause=st.sampled_from(["order_by", "group_by"]),
           bound=st.booleans())
    def check(argument: str, clause: str, bound: bool) -> None:
        loop.run_until_complete(attempt(argument, clause, bound))

    check()


FIRST_STATEMENTS = ["SELECT 1 AS x", "SELECT 'a;b' AS x", "SELECT ? AS x",
                    "UPDATE fuzz_canary SET note = note", "SELECT note FROM fuzz_canary"]
SEPARATORS = [";", " ;", ";\n", "; ", ";/* c */", ";\t", " ; "]
SECOND_STATEMENTS = ["DROP TABLE fuzz_canary", "DELETE FROM fuzz_canary", "SELECT 2 AS y",
                     "INSERT INTO fuzz_canary (note) VALUES ('extra')", "SELECT ? AS y"]


@pytest.mark.slow
def test_fuzz_multi_statement_strings_are_refused(
    fuzz_db: tuple[DB, asyncio.AbstractEventLoop]
) -> None:
    """§4: no call ever runs two statements; raw SQL holding two raises StatementInvalid
    on every database and kind, and the next results are the right ones (item 1)."""
    db, loop = fuzz_db
    Canary, _ = canary_models(db)

    async def setup() -> None:
        await db.create(Canary)
        await db(Canary(note="alive").save())

    loop.run_until_complete(setup())

    async def attempt(first: str, separator: str, second: str, trailer: str, method: str) -> None:
        sql = first + separator + second + trailer
        params = tuple(range(sql.count("?"))) or None
        with pytest.raises(StatementInvalid):
            await db(getattr(db.backend, method)(sql, params))
        assert await db(db.backend.fetch_one("SELECT 3 AS v")) == {"v": 3}
        assert await db(db.backend.fetch_all("SELECT 4 AS w")) == [{"w": 4}]
        assert await db(db.backend.fetch_all("SELECT note FROM fuzz_canary")) == [{"note": "alive"}]

    @fuzz_settings(60)
    @given(first=st.sampled_from(FIRST_STATEMENTS), separator=st.sampled_from(SEPARATORS),
           second=st.sampled_from(SECOND_STATEMENTS), trailer=st.sampled_from(["", ";", " "]),
           method=st.sampled_from(["execute", "fetch_all", "fetch_one"]))
    def check(first: str, separator: str, second: str, trailer: str, method: str) -> None:
        loop.run_until_complete(attempt(first, separator, second, trailer, method))

    check()

    async def single_statements() -> None:
        # A ';' inside a string literal or a comment is not a second statement.
        text = "x; DROP TABLE fuzz_canary"
        assert await db(db.backend.fetch_one(f"SELECT '{text}' AS v")) == {"v": text}
        assert await db(db.backend.fetch_one("SELECT 5 AS v /* ; DROP TABLE t */")) == {"v": 5}
        assert await db(db.backend.fetch_one("SELECT ? AS v", (text,))) == {"v": text}

    loop.run_until_complete(single_statements())
