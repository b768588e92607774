"""The MySQL / MariaDB backends against a real server (never mocked): the C extension,
types as the server stores them, generated keys, savepoints, isolation levels, error
translation, connection failures, TLS policy, cancellation safety and concurrency.

The shared scenarios (test_crud.py, ...) cover behaviour common to every database;
this file covers what is specific to mysql-connector and MySQL. Tables carry a
per-test suffix, and server-side checks look only at sessions a test opened, so
other test runs against the same server do not disturb these.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import itertools
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta, timezone
from datetime import time as clock
from decimal import Decimal
from typing import Any, Optional, TypeVar, cast

import mysql.connector
import pytest
from pydantic import AwareDatetime, Field

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord
from twinrecord.backends.mysql import AsyncMySQLBackend, MySQLBackend, MySQLConfig, ServerFacts
from twinrecord.backends.mysql import aio as _mysql_aio
from twinrecord.backends.mysql import sync as _mysql_sync
from twinrecord.errors import (
    ConnectionNotEstablished,
    Deadlocked,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordNotUnique,
    SerializationFailure,
    StatementInvalid,
    TransactionRollbackError,
)

from .harness import MYSQL_URL, EitherTransaction, Factory, require_server

T = TypeVar("T")
KINDS = ["sync", "async"]
LEVELS = ["READ UNCOMMITTED", "READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"]


class My:
    """One test's models on MySQL in either kind, with its own table names."""

    def __init__(self, kind: str = "async", **options: Any) -> None:
        require_server("mysql")
        self.kind = kind
        self.is_async = kind == "async"
        self.config = MySQLConfig.from_url(MYSQL_URL)
        for name, value in options.items():
            setattr(self.config, name, value)
        self.config.__post_init__()
        root: Any = AsyncBaseActiveRecord if self.is_async else BaseActiveRecord
        self.Base: Any = type(f"MyBase_{kind}", (root,), {"__module__": __name__})
        self.Base.configure(self.config, AsyncMySQLBackend if self.is_async else MySQLBackend)
        self.suffix = uuid.uuid4().hex[:10]
        self.tables: list[str] = []
        self._admin: Any = None

    async def __call__(self, value: Awaitable[T] | T) -> T:
        if self.is_async:
            return await cast(Awaitable[T], value)
        return cast(T, value)

    def table(self, name: str) -> str:
        full = f"{name}_{self.suffix}"
        self.tables.append(full)
        return full

    @property
    def backend(self) -> Any:
        return self.Base.backend()

    def transaction(self, model: Any, isolation_level: str | None = None) -> Any:
        return EitherTransaction(model.transaction(isolation_level))

    async def create(self, *models: Any) -> None:
        for model in models:
            await self(model.drop_table())
            await self(model.create_table())

    # ---- watching the server from outside ---------------------------------------------
    def admin(self) -> Any:
        """A plain driver connection of the test's own, for inspecting the server."""
        if self._admin is None:
            self._admin = mysql.connector.connect(
                host=self.config.host, port=self.config.port, user=self.config.user,
                password=self.config.password, database=self.config.database,
                autocommit=True, use_pure=False,
            )
        return self._admin

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cursor = self.admin().cursor()
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.with_rows else []
        cursor.close()
        return cast(list[tuple[Any, ...]], rows)

    def server_offers_tls(self) -> bool:
        """The admin connection uses the C client's default (TLS when offered)."""
        return bool(self.query("SHOW SESSION STATUS LIKE 'Ssl_cipher'")[0][1])

    def thread_alive(self, thread_id: int) -> bool:
        return bool(self.query("SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %s",
                               (thread_id,)))

    def open_transaction(self, thread_id: int) -> bool:
        return bool(self.query(
            "SELECT 1 FROM information_schema.INNODB_TRX WHERE trx_mysql_thread_id = %s",
            (thread_id,),
        ))

    def running(self, marker: str) -> list[tuple[Any, ...]]:
        """(id, info) of sessions whose current statement carries `marker`."""
        return self.query(
            "SELECT ID, INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE %s "
            "AND ID <> CONNECTION_ID()",
            (f"%{marker}%",),
        )

    async def wait_running(self, marker: str, timeout: float = 5.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.running(marker)
            if found:
                return int(found[0][0])
            await asyncio.sleep(0.02)
        raise AssertionError(f"no statement with {marker!r} started")

    async def settled(self, check: Any, timeout: float = 3.0) -> bool:
        """Poll until `check()` is false (the server caught up), or time out.

        Slowly: InnoDB refreshes what INNODB_TRX shows only after 0.1 s without a
        reader, so polling faster would keep reading the same stale snapshot.
        """
        deadline = time.monotonic() + timeout
        while check():
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.15)
        return True

    def stats(self) -> dict[str, int]:
        return cast(dict[str, int], self.backend.pool_stats())

    async def aclose(self) -> None:
        try:
            for table in reversed(self.tables):
                self.query(f"DROP TABLE IF EXISTS `{table}`")
        finally:
            await self(self.backend.close())
            if self._admin is not None:
                self._admin.close()




@pytest.fixture(params=KINDS)
def my(request: pytest.FixtureRequest) -> My:
    return My(request.param)


@pytest.fixture(params=KINDS)
def make_my(request: pytest.FixtureRequest) -> Factory[My]:
    return Factory(functools.partial(My, request.param))


@pytest.fixture
def amy() -> My:
    return My("async")


@pytest.fixture
def make_amy() -> Factory[My]:
    return Factory(functools.partial(My, "async"))


def account_model(my: My) -> Any:
    class Account(my.Base):  # type: ignore[name-defined,misc]
        __table_name__ = my.table("accounts")
        id: Optional[int] = None
        owner: str = Field(max_length=100)
        balance: Decimal = Field(max_digits=12, decimal_places=2)

    return Account


# ---- the driver ----------------------------------------------------------------------------
def test_sync_backend_runs_on_the_c_extension() -> None:
    require_server("mysql")
    from mysql.connector.connection_cext import CMySQLConnection

    backend = MySQLBackend(MySQLConfig.from_url(MYSQL_URL))
    try:
        session = backend.acquire()
        # Fails if mysql-connector fell back to its pure-Python connection.
        assert type(session.connection) is CMySQLConnection
        assert type(session.driver).__module__ == "_mysql_connector"
        backend.release(session)
    finally:
        backend.close()


async def test_default_tls_is_used_when_offered_and_plain_tcp_otherwise(my: My) -> None:
    # Against a server without TLS the raw async driver fails unless told ssl_disabled.
    offers_tls = my.server_offers_tls()
    row = await my(my.backend.fetch_one("SHOW SESSION STATUS LIKE 'Ssl_cipher'"))
    assert bool(row["Value"]) is offers_tls


async def test_required_tls_refuses_a_server_without_it(make_my: Factory[My]) -> None:
    if make_my().server_offers_tls():
        pytest.skip("this server offers TLS")
    with pytest.raises(ConnectionNotEstablished, match="TLS is required"):
        strict = make_my(ssl_disabled=False)
        await strict(strict.backend.fetch_all("SELECT 1"))


# ---- types as the server stores them ----------------------------------------------------------
class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


async def test_values_round_trip_exactly(my: My) -> None:
    class Typed(my.Base):  # type: ignore[name-defined,misc]
        __table_name__ = my.table("typed")
        id: Optional[int] = None
        flag: bool
        at: datetime
        aware: AwareDatetime
        day: date
        moment: clock
        exact: Decimal
        money: Decimal = Field(max_digits=10, decimal_places=2)
        data: dict[str, Any]
        items: list[Any]
        ident: uuid.UUID
        blob: bytes
        text: str
        ratio: float
        color: Color
        level: Level

    await my.create(Typed)
    eastern = timezone(timedelta(hours=-5))
    record = Typed(
        flag=True, at=datetime(2024, 2, 29, 23, 59, 58, 123456),
        aware=datetime(2024, 3, 1, 1, 2, 3, 999999, tzinfo=eastern), day=date(2024, 2, 29),
        moment=clock(13, 14, 15, 16), exact=Decimal("12345678901234567890.0123456789"),
        money=Decimal("10.50"), data={"a": [1, 2, {"b": None}], "é": "ü"}, items=[1, "two", 3.5],
        ident=uuid.uuid4(), blob=b"\x00\xff'\"\\%?", text="it's a \\ 100% ? 🎉 test",
        ratio=0.1, color=Color.GREEN, level=Level.HIGH,
    )
    await my(record.save())
    found = await my(Typed.find_one(record.id))
    assert found.model_dump() == record.model_dump() | {"aware": record.aware.astimezone(UTC)}
    assert found.aware.tzinfo is not None and found.aware.utcoffset() == timedelta(0)
    assert type(found.flag) is bool and isinstance(found.moment, clock)
    assert str(found.exact) == "12345678901234567890.0123456789" and str(found.money) == "10.50"
    assert found.color is Color.GREEN and found.level is Level.HIGH
    # Aware datetimes are stored as UTC wall time.
    stored = my.query(f"SELECT aware FROM `{Typed.__table_name__}`")[0][0]
    assert stored == datetime(2024, 3, 1, 6, 2, 3, 999999)


async def test_column_types_are_the_expected_mysql_ones(my: My) -> None:
    class Shaped(my.Base):  # type: ignore[name-defined,misc]
        __table_name__ = my.table("shaped")
        id: Optional[int] = None
        flag: bool
        at: datetime
        moment: clock
        exact: Decimal
        ident: uuid.UUID
        name: str = Field(max_length=40)

    await my.create(Shaped)
    columns = dict(my.query(
        "SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s", (Shaped.__table_name__,)
    ))
    assert columns == {
        "id": "bigint(20)" if "bigint(20)" in columns.values() else "bigint",
        "flag": "tinyint(1)", "at": "datetime(6)", "moment": "time(6)",
        "exact": "decimal(38,10)", "ident": "char(36)", "name": "varchar(40)",
    }


async def test_update_reports_rows_matched_not_changed(my: My) -> None:
    Account = account_model(my)
    await my.create(Account)
    account = Account(owner="ann", balance=Decimal("1.00"))
    await my(account.save())
    table = Account.__table_name__
    sql = f"UPDATE `{table}` SET owner = ? WHERE id = ?"
    assert await my(my.backend.execute(sql, ("ann", account.id))) == 1
    assert await my(my.backend.execute(sql, ("bob", account.id))) == 1
    assert await my(my.backend.execute(sql, ("bob", -1))) == 0


async def test_literal_percent_and_question_marks_reach_the_server_unchanged(my: My) -> None:
    row = await my(my.backend.fetch_one(
        "SELECT '100%' AS p, ? AS q, 'a?b' AS r, '%%' AS d", ("x%?",)
    ))
    assert row == {"p": "100%", "q": "x%?", "r": "a?b", "d": "%%"}


async def test_values_are_escaped_for_the_sessions_sql_mode(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)           # the SET below and the SELECTs share a session
    tricky = "back\\slash 'quote' \"dq\" \n\r\x00\x1a %s ? é🎉"
    assert (await my(my.backend.fetch_one("SELECT ? AS v", (tricky,))))["v"] == tricky
    await my(my.backend.execute(
        "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')"
    ))
    # A backslash is now an ordinary character: escaping it would change the value,
    # and not doubling quotes would let the value end the literal.
    assert (await my(my.backend.fetch_one("SELECT ? AS v", (tricky,))))["v"] == tricky


# ---- generated keys -----------------------------------------------------------------------------
async def test_concurrent_insert_many_keys_match_their_rows(amy: My) -> None:
    Account = account_model(amy)
    await amy.create(Account)

    async def insert(task: int) -> list[Any]:
        batch = [Account(owner=f"t{task}-{i}", balance=Decimal(i)) for i in range(60)]
        assert await Account.insert_many(batch) == 60
        return batch

    batches = await asyncio.gather(*(insert(task) for task in range(15)))
    stored = dict(amy.query(f"SELECT id, owner FROM `{Account.__table_name__}`"))
    assert len(stored) == 15 * 60
    for batch in batches:
        for record in batch:
            assert stored[record.id] == record.owner


def test_threaded_insert_many_keys_match_their_rows() -> None:
    my = My("sync")
    try:
        Account = account_model(my)
        asyncio.run(my.create(Account))
        batches: list[list[Any]] = []

        def insert(task: int) -> None:
            batch = [Account(owner=f"t{task}-{i}", balance=Decimal(i)) for i in range(50)]
            Account.insert_many(batch)
            batches.append(batch)

        threads = [threading.Thread(target=insert, args=(task,)) for task in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        stored = dict(my.query(f"SELECT id, owner FROM `{Account.__table_name__}`"))
        assert sorted(stored.values()) == sorted(r.owner for b in batches for r in b)
        assert all(stored[r.id] == r.owner for b in batches for r in b)
    finally:
        asyncio.run(my.aclose())


async def test_auto_increment_increment_is_honoured(make_my: Factory[My]) -> None:
    my = make_my(options={"init_command": "SET SESSION auto_increment_increment = 3"})
    Account = account_model(my)
    await my.create(Account)
    batch = [Account(owner=f"o{i}", balance=Decimal(i)) for i in range(5)]
    await my(Account.insert_many(batch))
    ids = [record.id for record in batch]
    assert [b - a for a, b in itertools.pairwise(ids)] == [3, 3, 3, 3]
    stored = dict(my.query(f"SELECT id, owner FROM `{Account.__table_name__}`"))
    assert all(stored[record.id] == record.owner for record in batch)


async def test_one_row_per_statement_when_ids_may_interleave(
    make_my: Factory[My], monkeypatch: pytest.MonkeyPatch
) -> None:
    # MySQL 8's default innodb_autoinc_lock_mode=2 promises no consecutive ids; the
    # backend then inserts row by row inside the statement's own transaction.
    def interleaving(row: Any) -> ServerFacts:
        return ServerFacts(str(row[2]), None)

    for module in (_mysql_sync, _mysql_aio):
        monkeypatch.setattr(module, "server_facts", interleaving)
    my = make_my()
    Account = account_model(my)
    await my.create(Account)
    my.query(f"CREATE UNIQUE INDEX uq_owner ON `{Account.__table_name__}` (owner)")
    batch = [Account(owner=f"o{i}", balance=Decimal(i)) for i in range(4)]
    await my(Account.insert_many(batch))
    stored = dict(my.query(f"SELECT id, owner FROM `{Account.__table_name__}`"))
    assert {r.id: r.owner for r in batch} == stored
    clash = [Account(owner="new", balance=Decimal(1)), Account(owner="o1", balance=Decimal(1))]
    with pytest.raises(RecordNotUnique):
        await my(Account.insert_many(clash))
    # Atomic like one statement: the first row of the failed batch is not there.
    assert my.query(f"SELECT COUNT(*) FROM `{Account.__table_name__}`")[0][0] == 4
    assert my.stats()["in_use"] == 0


# ---- transactions ----------------------------------------------------------------------------------
async def test_savepoints_roll_back_only_the_inner_block(my: My) -> None:
    Account = account_model(my)
    await my.create(Account)
    async with my.transaction(Account):
        await my(Account(owner="outer", balance=Decimal(1)).save())
        with pytest.raises(ZeroDivisionError):
            async with my.transaction(Account):
                await my(Account(owner="inner", balance=Decimal(2)).save())
                raise ZeroDivisionError
        async with my.transaction(Account):
            await my(Account(owner="kept", balance=Decimal(3)).save())
    owners = sorted(r[0] for r in my.query(f"SELECT owner FROM `{Account.__table_name__}`"))
    assert owners == ["kept", "outer"]


async def isolation_behaves_as(my: My, Account: Any, level: str) -> bool:
    """Inside a `level` transaction: do reads behave as `level` defines?"""
    table = Account.__table_name__
    read = f"SELECT owner FROM `{table}` WHERE id = 1"
    admin = my.admin()
    cursor = admin.cursor()
    if level == "SERIALIZABLE":
        await my(my.backend.fetch_all(read))          # takes a shared lock under SERIALIZABLE
        cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        try:
            cursor.execute(f"UPDATE `{table}` SET owner = 'x' WHERE id = 1")
        except mysql.connector.Error as error:
            return error.errno == 1205
        finally:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
        return False
    before = (await my(my.backend.fetch_one(read)))["owner"]
    changed = before + "+"
    cursor.execute("START TRANSACTION")
    cursor.execute(f"UPDATE `{table}` SET owner = %s WHERE id = 1", (changed,))
    uncommitted = (await my(my.backend.fetch_one(read)))["owner"]
    cursor.execute("COMMIT")
    committed = (await my(my.backend.fetch_one(read)))["owner"]
    expected = {
        "READ UNCOMMITTED": (changed, changed),
        "READ COMMITTED": (before, changed),
        "REPEATABLE READ": (before, before),
    }[level]
    return (uncommitted, committed) == expected


async def test_isolation_levels_behave_as_defined_and_do_not_leak(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)          # one connection: a leaked level would show
    Account = account_model(my)
    await my.create(Account)
    await my(Account(owner="ann", balance=Decimal(1)).save())
    variable = isolation_variable(my)
    for level in LEVELS:
        async with my.transaction(Account, level.lower()):
            assert await isolation_behaves_as(my, Account, level), level
            shown = (await my(my.backend.fetch_one(f"SELECT {variable} AS level")))["level"]
            # MySQL shows the one-shot level here; MariaDB applies it but keeps showing
            # the session's level, so the behaviour above is the real check.
            assert shown.replace("-", " ") in (level, "READ COMMITTED")
        async with my.transaction(Account):  # back to the config's level (§5)
            assert await isolation_behaves_as(my, Account, "READ COMMITTED"), level


def isolation_variable(my: My) -> str:
    """@@transaction_isolation (MySQL 8, MariaDB 11.1+) or @@tx_isolation (older)."""
    found = my.query("SHOW VARIABLES LIKE 'transaction_isolation'")
    return "@@transaction_isolation" if found else "@@tx_isolation"


async def test_transaction_opened_by_raw_sql_is_not_lent_on(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)
    Account = account_model(my)
    await my.create(Account)
    thread_id = (await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    await my(my.backend.execute("START TRANSACTION"))
    assert not my.open_transaction(thread_id)
    await my(my.backend.execute(f"INSERT INTO `{Account.__table_name__}` (owner, balance) "
                                "VALUES ('a', 1)"))
    assert my.query(f"SELECT COUNT(*) FROM `{Account.__table_name__}`")[0][0] == 1


# ---- errors ---------------------------------------------------------------------------------------
async def test_server_errors_are_translated_without_values(my: My) -> None:
    Account = account_model(my)
    await my.create(Account)
    table = Account.__table_name__
    my.query(f"CREATE UNIQUE INDEX uq_owner ON `{table}` (owner)")
    await my(Account(owner="secret@x.org", balance=Decimal(1)).save())
    with pytest.raises(RecordNotUnique) as duplicate:
        await my(Account(owner="secret@x.org", balance=Decimal(2)).save())
    assert duplicate.value.constraint == "uq_owner" and "secret@x.org" not in str(duplicate.value)
    assert isinstance(duplicate.value.__cause__, mysql.connector.Error)

    with pytest.raises(IntegrityError) as null:
        await my(my.backend.execute(f"INSERT INTO `{table}` (owner, balance) VALUES (?, NULL)",
                                    ("n",)))
    assert type(null.value) is IntegrityError

    with pytest.raises(StatementInvalid) as syntax:
        await my(my.backend.fetch_all("SELEC ?", ("topsecret",)))
    assert "topsecret" not in str(syntax.value) and syntax.value.param_types == ["str"]

    with pytest.raises(StatementInvalid) as value:
        await my(my.backend.execute(f"UPDATE `{table}` SET balance = ?", ("hunter2-value",)))
    assert "hunter2-value" not in str(value.value) and "UPDATE" in str(value.value)


async def test_foreign_key_and_check_violations(my: My) -> None:
    parent, child = my.table("parents"), my.table("children")
    my.query(f"CREATE TABLE `{parent}` (id BIGINT PRIMARY KEY)")
    my.query(
        f"CREATE TABLE `{child}` (id BIGINT PRIMARY KEY, parent_id BIGINT, age INT, "
        f"CONSTRAINT fk_parent FOREIGN KEY (parent_id) REFERENCES `{parent}` (id), "
        "CONSTRAINT chk_age CHECK (age >= 0))"
    )
    with pytest.raises(IntegrityError) as missing_parent:
        await my(my.backend.execute(f"INSERT INTO `{child}` VALUES (?, ?, ?)", (1, 99, 1)))
    assert missing_parent.value.constraint == "fk_parent"
    await my(my.backend.execute(f"INSERT INTO `{parent}` VALUES (?)", (1,)))
    await my(my.backend.execute(f"INSERT INTO `{child}` VALUES (?, ?, ?)", (1, 1, 1)))
    with pytest.raises(IntegrityError) as referenced:
        await my(my.backend.execute(f"DELETE FROM `{parent}` WHERE id = ?", (1,)))
    assert referenced.value.constraint == "fk_parent"
    with pytest.raises(IntegrityError) as check:
        await my(my.backend.execute(f"INSERT INTO `{child}` VALUES (?, ?, ?)", (2, 1, -5)))
    assert check.value.constraint == "chk_age" and not isinstance(check.value, RecordNotUnique)


async def test_wrong_password_names_the_server_but_not_the_password(make_my: Factory[My]) -> None:
    secret = "definitely-wrong-" + uuid.uuid4().hex[:6]
    with pytest.raises(ConnectionNotEstablished) as caught:
        my = make_my(password=secret, user="twinrecord_nobody")
        await my(my.backend.fetch_all("SELECT 1"))
    text = str(caught.value)
    config = MySQLConfig.from_url(MYSQL_URL)
    assert f"{config.host}:{config.port}" in text and repr(config.database) in text
    assert secret not in text and secret not in repr(caught.value.__cause__ or "")


async def test_refused_port_fails_fast(make_my: Factory[My]) -> None:
    started = time.monotonic()
    with pytest.raises(ConnectionNotEstablished, match=":1,"):
        my = make_my(port=1, connect_timeout=3)
        await my(my.backend.fetch_all("SELECT 1"))
    assert time.monotonic() - started < 3


async def test_dropped_connection_is_reported_then_replaced(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1, ping_after=3600)
    thread_id = (await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    my.query(f"KILL CONNECTION {int(thread_id)}")
    with pytest.raises(ConnectionNotEstablished) as caught:
        await my(my.backend.fetch_one("SELECT 1 AS one"))
    assert str(MySQLConfig.from_url(MYSQL_URL).port) in str(caught.value)
    again = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
    assert again["id"] != thread_id and my.stats()["size"] == 1


async def test_idle_connection_dropped_by_the_server_is_replaced_silently(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1, ping_after=0)
    thread_id = (await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    my.query(f"KILL CONNECTION {int(thread_id)}")
    again = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
    assert again["id"] != thread_id


# ---- cancellation --------------------------------------------------------------------------------
async def test_cancelled_statement_leaves_nothing_running_or_checked_out(amy: My) -> None:
    marker = f"cancel-{amy.suffix}"
    task = asyncio.create_task(amy.backend.fetch_all(f"SELECT SLEEP(5) AS `{marker}`"))
    thread_id = await amy.wait_running(marker)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert amy.stats()["in_use"] == 0
    assert await amy.settled(lambda: amy.thread_alive(thread_id))
    assert time.monotonic() - started < 2, "the server kept running the cancelled statement"
    assert (await amy.backend.fetch_one("SELECT 1 AS one")) == {"one": 1}


async def test_cancelled_transaction_is_rolled_back_on_the_server(amy: My) -> None:
    Account = account_model(amy)
    await amy.create(Account)
    marker = f"cancel-tx-{amy.suffix}"

    async def work() -> None:
        async with Account.transaction():
            await Account(owner="doomed", balance=Decimal(1)).save()
            await Account.backend().fetch_all(f"SELECT SLEEP(5) AS `{marker}`")

    task = asyncio.create_task(work())
    thread_id = await amy.wait_running(marker)
    assert amy.open_transaction(thread_id)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert amy.stats()["in_use"] == 0
    assert await amy.settled(lambda: amy.open_transaction(thread_id))
    assert await amy.settled(lambda: amy.thread_alive(thread_id))
    assert amy.query(f"SELECT COUNT(*) FROM `{Account.__table_name__}`")[0][0] == 0


async def test_cancelled_between_statements_rolls_back_and_keeps_the_connection(
    amy: My,
) -> None:
    Account = account_model(amy)
    await amy.create(Account)
    inside = asyncio.Event()
    thread: dict[str, int] = {}

    async def work() -> None:
        async with Account.transaction():
            await Account(owner="doomed", balance=Decimal(1)).save()
            row = await Account.backend().fetch_one("SELECT CONNECTION_ID() AS id")
            thread["id"] = row["id"]
            inside.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(work())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not amy.open_transaction(thread["id"]) and amy.thread_alive(thread["id"])
    assert amy.stats() == {"size": 1, "idle": 1, "in_use": 0}
    assert amy.query(f"SELECT COUNT(*) FROM `{Account.__table_name__}`")[0][0] == 0


# ---- pools and loops -----------------------------------------------------------------------------
async def test_two_hundred_tasks_share_a_pool_of_ten(make_amy: Factory[My]) -> None:
    my = make_amy(pool_size=10)
    Account = account_model(my)
    await my.create(Account)
    errors: list[BaseException] = []

    async def client(number: int) -> None:
        try:
            for step in range(50):
                await one_operation(Account, number, step)
        except BaseException as error:
            errors.append(error)
            raise

    await asyncio.gather(*(client(n) for n in range(200)), return_exceptions=True)
    assert errors == []
    stats = my.stats()
    assert stats["in_use"] == 0 and stats["idle"] == stats["size"] and stats["size"] <= 10
    rows = my.query(f"SELECT COUNT(*), SUM(balance) FROM `{Account.__table_name__}`")[0]
    assert rows[0] == 200 * 10 and rows[1] == 200 * 10 * 2


async def one_operation(Account: Any, number: int, step: int) -> None:
    """One of five operations, by step: insert, read, update, transaction, count."""
    kind = step % 5
    owner = f"c{number}-{step // 5}"
    if kind == 0:
        await Account(owner=owner, balance=Decimal(0)).save()
    elif kind == 1:
        assert await Account.find_one({"owner": owner}) is not None
    elif kind == 2:
        assert await Account.query().where({"owner": owner}).update({"balance": 1}) == 1
    elif kind == 3:
        async with Account.transaction():
            record = await Account.find_one({"owner": owner})
            record.balance += 1
            assert await record.save() == 1
    else:
        assert await Account.query().where({"owner": owner}).count() == 1


def test_threads_share_a_pool_of_ten() -> None:
    my = My("sync", pool_size=10)
    try:
        Account = account_model(my)
        asyncio.run(my.create(Account))
        errors: list[BaseException] = []

        def client(number: int) -> None:
            try:
                for step in range(5):
                    Account(owner=f"t{number}-{step}", balance=Decimal(1)).save()
                    with Account.transaction():
                        found = Account.find_one({"owner": f"t{number}-{step}"})
                        found.balance += 1
                        found.save()
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(40)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        stats = my.stats()
        assert stats["in_use"] == 0 and stats["size"] <= 10
        assert my.query(f"SELECT SUM(balance) FROM `{Account.__table_name__}`")[0][0] == 400
    finally:
        asyncio.run(my.aclose())


def test_async_backend_follows_the_running_loop() -> None:
    my = My("async", pool_size=2)
    try:
        for _ in range(3):
            # A fresh loop each time (as with asyncio.run per test or script).
            row = asyncio.run(my.backend.fetch_one("SELECT 41 + 1 AS answer"))
            assert row == {"answer": 42}
    finally:
        asyncio.run(my.aclose())


def test_reconfiguring_outside_a_loop_ends_the_old_pools_sessions() -> None:
    my = My("async", pool_size=2)
    try:
        old = my.backend
        row = asyncio.run(old.fetch_one("SELECT CONNECTION_ID() AS id"))
        assert my.thread_alive(row["id"])       # idle in the pool of a finished loop
        my.Base.configure(my.config, AsyncMySQLBackend)
        assert asyncio.run(my.settled(lambda: my.thread_alive(row["id"])))
        with pytest.raises(ConnectionNotEstablished, match="closed"):
            asyncio.run(old.fetch_all("SELECT 1"))
    finally:
        asyncio.run(my.aclose())


async def test_waiting_for_a_connection_times_out_clearly(make_amy: Factory[My]) -> None:
    my = make_amy(pool_size=1, pool_timeout=0.3)
    Account = account_model(my)
    await my.create(Account)
    holding, done = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with Account.transaction():
            holding.set()
            await done.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    # This task is not inside the holder's transaction, so it needs the one connection.
    with pytest.raises(ConnectionNotEstablished, match="no connection free"):
        await my.backend.fetch_all("SELECT 1")
    done.set()
    await task
    assert my.stats() == {"size": 1, "idle": 1, "in_use": 0}


async def test_closed_backend_refuses_new_work(my: My) -> None:
    await my(my.backend.fetch_all("SELECT 1"))
    await my(my.backend.close())
    with pytest.raises(ConnectionNotEstablished):
        await my(my.backend.fetch_all("SELECT 1"))


# ---- issue 8: one statement per call --------------------------------------------------------------
async def test_two_statements_in_one_string_are_refused_and_the_connection_stays_usable(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1)  # one connection: a queued second result would show
    canary = my.table("canary")
    my.query(f"CREATE TABLE `{canary}` (id INT)")
    backend = my.backend
    before = (await my(backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    stacked = [
        "SELECT 1 AS x; SELECT 2 AS y",
        f"SELECT 1 AS x; DROP TABLE `{canary}`",
        "SELECT 1 AS x; SELECT 2 AS y;",
    ]
    for sql in stacked:
        for call in (backend.fetch_all, backend.fetch_one, backend.execute):
            with pytest.raises(StatementInvalid):
                await my(call(sql))
            assert await my(backend.fetch_one("SELECT 3 AS v")) == {"v": 3}
        # The driver-level API too, which skips any check the SQL layer makes first.
        with pytest.raises(StatementInvalid):
            await my(backend.run_fetch_table(sql, []))
        assert await my(backend.fetch_all("SELECT 4 AS w")) == [{"w": 4}]
        with pytest.raises(StatementInvalid):
            await my(backend.run_execute(sql, []))
        assert await my(backend.fetch_all("SELECT 5 AS u")) == [{"u": 5}]
    assert my.query(f"SHOW TABLES LIKE '{canary}'"), "the stacked DROP TABLE ran"
    after = (await my(backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    assert after == before, "the connection had to be replaced"
    # A single statement with a trailing semicolon is still one statement.
    assert await my(backend.fetch_one("SELECT 6 AS t;")) == {"t": 6}


async def test_a_procedures_extra_results_never_reach_the_next_statement(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1)
    procedure = my.table("two_results")
    my.query(f"DROP PROCEDURE IF EXISTS `{procedure}`")
    my.query(f"CREATE PROCEDURE `{procedure}`() BEGIN SELECT 1 AS a; SELECT 2 AS b; END")
    try:
        backend = my.backend
        before = (await my(backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
        # The first result set is the answer; the rest (and CALL's own status) are read
        # and dropped, so the connection is in step for the next statement.
        assert await my(backend.fetch_all(f"CALL `{procedure}`()")) == [{"a": 1}]
        assert await my(backend.fetch_one("SELECT 3 AS c")) == {"c": 3}
        assert await my(backend.execute(f"CALL `{procedure}`()")) == 0
        assert await my(backend.fetch_all("SELECT 4 AS d")) == [{"d": 4}]
        after = (await my(backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
        assert after == before
    finally:
        my.query(f"DROP PROCEDURE IF EXISTS `{procedure}`")


# ---- issue 8: opening connections -----------------------------------------------------------------
def server_sessions(database: str | None) -> set[int]:
    """Ids of the server's sessions on `database`, seen from a connection of their own."""
    config = MySQLConfig.from_url(MYSQL_URL)
    probe = mysql.connector.connect(
        host=config.host, port=config.port, user=config.user, password=config.password,
        autocommit=True, use_pure=False,
    )
    try:
        cursor = probe.cursor()
        cursor.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
            (database,),
        )
        return {int(row[0]) for row in cursor.fetchall()}
    finally:
        probe.close()


async def test_configure_opens_nothing_and_pool_min_size_is_kept_open(
    make_my: Factory[My],
) -> None:
    database = MySQLConfig.from_url(MYSQL_URL).database
    require_server("mysql")
    before = server_sessions(database)
    my = make_my(pool_size=5, pool_min_size=3)
    assert server_sessions(database) - before == set(), "configure() opened a connection"
    await my(my.backend.fetch_one("SELECT 1 AS one"))
    opened = server_sessions(database) - before
    assert len(opened) == 3, opened
    assert my.stats() == {"size": 3, "idle": 3, "in_use": 0}
    # Still three after more use, and the statements ran on them.
    for _ in range(5):
        row = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
        assert row["id"] in opened
    assert server_sessions(database) - before == opened


def chain(error: BaseException) -> list[BaseException]:
    """The error and every exception linked to it by __cause__ or __context__."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


async def test_unreachable_server_fails_at_first_use_with_only_the_driver_error_chained(
    make_my: Factory[My],
) -> None:
    secret = "pw-" + uuid.uuid4().hex[:8]
    my = make_my(port=1, password=secret, connect_timeout=3)  # configure() must not raise
    with pytest.raises(ConnectionNotEstablished) as caught:
        await my(my.backend.fetch_all("SELECT 1"))
    error = caught.value
    config = MySQLConfig.from_url(MYSQL_URL)
    assert f"{config.host}:1" in str(error) and repr(config.database) in str(error)
    # What the driver raised: its own error class (sync), or the socket's (async).
    assert isinstance(error.__cause__, (mysql.connector.Error, OSError))
    assert error.__context__ is error.__cause__, "something was raised in between"
    linked = chain(error)
    assert all(secret not in str(e) and secret not in repr(e) for e in linked)
    # Only ours, then the driver's own (its C extension's under it, or the OS error).
    assert all(
        isinstance(e, (ConnectionNotEstablished, mysql.connector.Error, OSError))
        or type(e).__module__ == "_mysql_connector"
        for e in linked
    ), [type(e).__name__ for e in linked]
    # Also on the next attempt, when the pool has been used (and failed) once.
    with pytest.raises(ConnectionNotEstablished) as again:
        await my(my.backend.fetch_all("SELECT 1"))
    assert not any(isinstance(e, (IndexError, LookupError)) for e in chain(again.value))


async def test_a_server_that_never_answers_costs_connect_timeout_once(
    make_my: Factory[My],
) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts TCP connections (the kernel does) and never says a word
    try:
        my = make_my(host="127.0.0.1", port=silent.getsockname()[1], connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(ConnectionNotEstablished) as caught:
            await my(my.backend.fetch_all("SELECT 1"))
        waited = time.monotonic() - started
        assert 0.8 <= waited < 1.85, f"waited {waited:.2f}s for connect_timeout=1"
        assert "connect" in str(caught.value)
    finally:
        silent.close()


def test_two_event_loops_in_threads_share_one_async_backend() -> None:
    my = My("async", pool_size=3, pool_min_size=2)
    try:
        Account = account_model(my)
        asyncio.run(my.create(Account))
        outcomes: list[str] = []

        def worker(run: int, side: int) -> None:
            async def work() -> None:
                for step in range(3):
                    owner = f"r{run}-s{side}-{step}"
                    async with Account.transaction():
                        await Account(owner=owner, balance=Decimal(step)).save()
                    found = await Account.find_one({"owner": owner})
                    assert found is not None and found.balance == step
                    row = await Account.backend().fetch_one("SELECT ? AS n", (owner,))
                    assert row == {"n": owner}

            try:
                asyncio.run(work())
                outcomes.append("ok")
            except BaseException as error:
                outcomes.append(f"{type(error).__name__}: {error}")

        for run in range(15):
            threads = [threading.Thread(target=worker, args=(run, side)) for side in (0, 1)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert outcomes == ["ok"] * 30
        assert my.query(f"SELECT COUNT(*) FROM `{Account.__table_name__}`")[0][0] == 90
    finally:
        asyncio.run(my.aclose())


FORK_SCRIPT = r"""
import asyncio, os, sys
from twinrecord.backends.mysql import AsyncMySQLBackend, MySQLBackend, MySQLConfig

config = MySQLConfig.from_url(sys.argv[1])
config.pool_size = 2


def ids(backend, rounds):
    return {backend.fetch_one("SELECT CONNECTION_ID() AS id")["id"] for _ in range(rounds)}


async def aids(backend, rounds):
    found = set()
    for _ in range(rounds):
        found.add((await backend.fetch_one("SELECT CONNECTION_ID() AS id"))["id"])
    return found


def sync_kind():
    backend = MySQLBackend(config)
    before = ids(backend, 1)
    pid = os.fork()
    if pid == 0:  # the child, at the same time as the parent, then a normal exit
        mine = ids(backend, 30)
        sys.exit(0 if mine.isdisjoint(before) else 3)
    during = ids(backend, 30)
    _, status = os.waitpid(pid, 0)
    after = ids(backend, 5)
    assert os.waitstatus_to_exitcode(status) == 0, "the child used the parent's connection"
    assert during == before and after == before, (before, during, after)


def alive(thread_id):
    probe = MySQLBackend(config)
    try:
        return bool(probe.fetch_one("SELECT 1 AS x FROM information_schema.PROCESSLIST "
                                    "WHERE ID = ?", (thread_id,)))
    finally:
        probe.close()


def async_kind():
    # asyncio refuses a loop carried across fork(), so the fork is between loops, and
    # the parent's first connection sits in the pool of its finished loop meanwhile.
    backend = AsyncMySQLBackend(config)
    before = asyncio.run(aids(backend, 1))
    pid = os.fork()
    if pid == 0:  # the child, at the same time as the parent, then a normal exit
        mine = asyncio.run(aids(backend, 30))
        sys.exit(0 if mine.isdisjoint(before) else 3)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child used the parent's connection"
    assert alive(next(iter(before))), "the child ended the parent's connection"
    after = asyncio.run(aids(backend, 5))  # a new loop, a new pool (the old one dropped)
    assert after.isdisjoint(before)


if sys.argv[2] == "sync":
    sync_kind()
else:
    async_kind()
print("fork ok")
"""


def test_a_forked_child_opens_connections_of_its_own(kind: str, tmp_path: Any) -> None:
    require_server("mysql")
    script = tmp_path / "fork_check.py"
    script.write_text(FORK_SCRIPT)
    for _ in range(3):
        result = subprocess.run(
            [sys.executable, str(script), MYSQL_URL, kind],
            capture_output=True, text=True, timeout=120,
        )
        assert result.returncode == 0 and "fork ok" in result.stdout, result.stderr[-2000:]


# ---- issue 8: pool options ------------------------------------------------------------------------
async def test_pool_timeout_from_the_url_bounds_the_wait_for_a_connection(kind: str) -> None:
    require_server("mysql")
    root: Any = AsyncBaseActiveRecord if kind == "async" else BaseActiveRecord
    Base: Any = type(f"TimeoutBase_{kind}", (root,), {"__module__": __name__})
    Base.configure(MYSQL_URL + "?pool_size=1&pool_timeout=0.4")
    backend = Base.backend()
    assert backend.config.pool_timeout == 0.4
    try:
        if kind == "async":
            held = await backend.acquire()
            started = time.monotonic()
            with pytest.raises(ConnectionNotEstablished, match="no connection free"):
                await backend.fetch_all("SELECT 1")
            await backend.release(held)
            assert await backend.fetch_one("SELECT 1 AS one") == {"one": 1}
        else:
            held = backend.acquire()
            started = time.monotonic()
            with pytest.raises(ConnectionNotEstablished, match="no connection free"):
                backend.fetch_all("SELECT 1")
            backend.release(held)
            assert backend.fetch_one("SELECT 1 AS one") == {"one": 1}
        assert 0.3 <= time.monotonic() - started < 2
    finally:
        if kind == "async":
            await backend.close()
        else:
            backend.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


async def test_pool_pre_ping_replaces_a_killed_idle_connection_without_an_error(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1, ping_after=3600, pool_pre_ping=True)
    thread_id = (await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id")))["id"]
    my.query(f"KILL CONNECTION {int(thread_id)}")
    again = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
    assert again["id"] != thread_id
    assert my.stats()["size"] == 1


@pytest.mark.parametrize("pre_ping", [False, True])
async def test_killed_idle_connections_cost_at_most_one_failure(
    make_my: Factory[My], pre_ping: bool
) -> None:
    database = MySQLConfig.from_url(MYSQL_URL).database
    before = server_sessions(database)
    my = make_my(pool_size=4, pool_min_size=4, ping_after=3600, pool_pre_ping=pre_ping)
    await my(my.backend.fetch_one("SELECT 1 AS one"))
    idle = server_sessions(database) - before
    assert len(idle) == 4 and my.stats()["idle"] == 4
    for thread_id in idle:  # what a server restart does to an idle pool
        my.query(f"KILL CONNECTION {int(thread_id)}")
    failures = 0
    for _ in range(8):
        try:
            row = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
        except ConnectionNotEstablished:
            failures += 1
        else:
            assert row["id"] not in idle
    # The first dead connection makes the pool drop every idle one (§2); pre-ping
    # finds the dead ones before any statement is sent on them.
    assert failures == (0 if pre_ping else 1)


# ---- issue 8: errors with classes of their own ---------------------------------------------------
def run_side_by_side(my: My, work: Any) -> Awaitable[list[Any]]:
    """Run `work(side, barrier)` for sides 0 and 1 at once: as two tasks on the async
    kind, as two threads (no event loop, plain sync calls) on the sync kind. Each
    outcome is "ok" or the exception the side raised."""

    async def both() -> list[Any]:
        if my.is_async:
            barrier: Any = asyncio.Barrier(2)

            async def side(number: int) -> Any:
                try:
                    await work(number, barrier)
                except Exception as error:
                    return error
                return "ok"

            return list(await asyncio.gather(side(0), side(1)))
        outcomes: list[Any] = [None, None]
        thread_barrier = threading.Barrier(2, timeout=10)

        def thread(number: int) -> None:
            try:
                work(number, thread_barrier)
                outcomes[number] = "ok"
            except Exception as error:
                outcomes[number] = error

        threads = [threading.Thread(target=thread, args=(n,)) for n in (0, 1)]
        for started in threads:
            started.start()
        for started in threads:
            started.join()
        return outcomes

    return both()


def crossing_updates(my: My, Account: Any, ids: list[int], nested: bool) -> Any:
    """Each side updates its own row, waits for the other, then updates the other's
    (inside a nested transaction() when `nested`): a deadlock InnoDB must break."""
    sql = f"UPDATE `{Account.__table_name__}` SET balance = balance + 1 WHERE id = ?"
    backend = my.backend

    if my.is_async:
        async def work(side: int, barrier: Any) -> None:
            async with Account.transaction():
                await backend.execute(sql, (ids[side],))
                await barrier.wait()
                if nested:
                    async with Account.transaction():
                        await backend.execute(sql, (ids[1 - side],))
                else:
                    await backend.execute(sql, (ids[1 - side],))
        return work

    def sync_work(side: int, barrier: Any) -> None:
        with Account.transaction():
            backend.execute(sql, (ids[side],))
            barrier.wait()
            if nested:
                with Account.transaction():
                    backend.execute(sql, (ids[1 - side],))
            else:
                backend.execute(sql, (ids[1 - side],))
    return sync_work


async def two_accounts(my: My) -> tuple[Any, list[int]]:
    Account = account_model(my)
    await my.create(Account)
    records = [Account(owner=f"o{n}", balance=Decimal(0)) for n in (0, 1)]
    for record in records:
        await my(record.save())
    return Account, [record.id for record in records]


async def test_a_real_deadlock_is_reported_as_deadlocked(make_my: Factory[My]) -> None:
    my = make_my(pool_size=4)
    Account, ids = await two_accounts(my)
    outcomes = await run_side_by_side(my, crossing_updates(my, Account, ids, nested=False))
    victims = [o for o in outcomes if o != "ok"]
    assert len(victims) == 1 and outcomes.count("ok") == 1, outcomes
    victim = victims[0]
    assert isinstance(victim, Deadlocked) and isinstance(victim, TransactionRollbackError)
    assert getattr(victim.__cause__, "errno", None) == 1213
    # The survivor's transaction committed both its updates; the victim's none.
    balances = sorted(r[0] for r in my.query(f"SELECT balance FROM `{Account.__table_name__}`"))
    assert balances == [1, 1]


async def test_lock_wait_timeout_is_reported_as_such(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)  # the session setting below stays on the one connection
    Account, ids = await two_accounts(my)
    table = Account.__table_name__
    holder = my.admin().cursor()
    holder.execute("START TRANSACTION")
    holder.execute(f"UPDATE `{table}` SET balance = 7 WHERE id = %s", (ids[0],))
    try:
        await my(my.backend.execute("SET SESSION innodb_lock_wait_timeout = 1"))
        started = time.monotonic()
        with pytest.raises(LockWaitTimeout) as caught:
            await my(my.backend.execute(f"UPDATE `{table}` SET balance = 1 WHERE id = ?",
                                        (ids[0],)))
        assert time.monotonic() - started < 3
        assert getattr(caught.value.__cause__, "errno", None) == 1205
        assert not isinstance(caught.value, TransactionRollbackError)
    finally:
        holder.execute("ROLLBACK")
    assert await my(my.backend.fetch_one("SELECT 1 AS one")) == {"one": 1}


def is_mariadb(my: My) -> bool:
    return "mariadb" in str(my.query("SELECT VERSION()")[0][0]).lower()


async def test_statement_timeout_cancels_a_long_statement(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1, statement_timeout=0.4)
    if is_mariadb(my):
        shown = await my(my.backend.fetch_one("SELECT @@max_statement_time AS t"))
        assert float(shown["t"]) == pytest.approx(0.4)
        sleeper = "SELECT SLEEP(3) AS s"
    else:
        shown = await my(my.backend.fetch_one("SELECT @@max_execution_time AS t"))
        assert int(shown["t"]) == 400
        # MySQL's SLEEP() alone returns 1 when interrupted instead of failing.
        sleeper = "SELECT SLEEP(3) AS s FROM information_schema.TABLES LIMIT 1"
    started = time.monotonic()
    with pytest.raises(QueryCanceled) as caught:
        await my(my.backend.fetch_one(sleeper))
    assert time.monotonic() - started < 2
    assert getattr(caught.value.__cause__, "errno", None) in (1969, 3024)
    assert await my(my.backend.fetch_one("SELECT 1 AS one")) == {"one": 1}


async def test_a_write_conflict_under_snapshot_isolation_is_a_serialization_failure(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1)
    if not my.query("SHOW VARIABLES LIKE 'innodb_snapshot_isolation'"):
        pytest.skip("this server has no innodb_snapshot_isolation (MariaDB 10.6.18+/11.x)")
    Account, ids = await two_accounts(my)
    table = Account.__table_name__
    await my(my.backend.execute("SET SESSION innodb_snapshot_isolation = ON"))
    with pytest.raises(SerializationFailure) as caught:
        async with my.transaction(Account, "REPEATABLE READ"):
            await my(my.backend.fetch_all(f"SELECT balance FROM `{table}` WHERE id = ?",
                                          (ids[0],)))
            my.query(f"UPDATE `{table}` SET balance = 5 WHERE id = %s", (ids[0],))
            await my(my.backend.execute(f"UPDATE `{table}` SET balance = balance + 1 "
                                        "WHERE id = ?", (ids[0],)))
    assert isinstance(caught.value, TransactionRollbackError)
    assert getattr(caught.value.__cause__, "errno", None) == 1020
    assert my.query(f"SELECT balance FROM `{table}` WHERE id = %s", (ids[0],))[0][0] == 5


# ---- issue 8: isolation level by default ----------------------------------------------------------
async def test_transactions_run_at_the_configured_isolation_level(make_my: Factory[My]) -> None:
    for configured, shown in (("READ COMMITTED", "READ-COMMITTED"), (None, "READ-COMMITTED"),
                              ("repeatable read", "REPEATABLE-READ")):
        options = {} if configured is None else {"isolation_level": configured}
        my = make_my(pool_size=2, **options)
        Account = account_model(my)
        await my.create(Account)
        variable = isolation_variable(my)
        async with my.transaction(Account):
            row = await my(my.backend.fetch_one(f"SELECT {variable} AS level"))
            assert row["level"] == shown
        # Statements outside a transaction() and every pooled connection: the same.
        assert (await my(my.backend.fetch_one(f"SELECT {variable} AS level")))["level"] == shown


def get_or_create_race(my: My, Tag: Any) -> Any:
    """Both sides look the tag up (nothing), side 0 creates it and commits, then side 1
    tries to create it too, catches RecordNotUnique around a nested transaction() and
    looks again: what does it find? Returns each side's tag id (or None)."""
    found: list[Any] = [None, None]

    if my.is_async:
        async def work(side: int, barrier: Any) -> None:
            async with Tag.transaction():
                assert await Tag.find_one({"name": "python"}) is None
                await barrier.wait()  # both have looked
                if side == 0:
                    tag = Tag(name="python")
                    await tag.save()
                    found[0] = tag.id
                else:
                    await barrier.wait()  # the winner has committed
                    try:
                        async with Tag.transaction():
                            await Tag(name="python").save()
                    except RecordNotUnique:
                        again = await Tag.find_one({"name": "python"})
                        found[1] = again.id if again is not None else None
            if side == 0:
                await barrier.wait()
        return work, found

    def sync_work(side: int, barrier: Any) -> None:
        with Tag.transaction():
            assert Tag.find_one({"name": "python"}) is None
            barrier.wait()
            if side == 0:
                tag = Tag(name="python")
                tag.save()
                found[0] = tag.id
            else:
                barrier.wait()
                try:
                    with Tag.transaction():
                        Tag(name="python").save()
                except RecordNotUnique:
                    again = Tag.find_one({"name": "python"})
                    found[1] = again.id if again is not None else None
        if side == 0:
            barrier.wait()
    return sync_work, found


@pytest.mark.parametrize("level, loser_sees_winner", [
    ("READ COMMITTED", True), ("REPEATABLE READ", False),
])
async def test_get_or_create_race_loser_sees_the_winners_row_at_read_committed(
    make_my: Factory[My], level: str, loser_sees_winner: bool
) -> None:
    my = make_my(pool_size=4, isolation_level=level)

    class Tag(my.Base):  # type: ignore[name-defined,misc]
        __table_name__ = my.table("tags")
        id: Optional[int] = None
        name: str = Field(max_length=50)

    await my.create(Tag)
    my.query(f"CREATE UNIQUE INDEX uq_tag_name ON `{Tag.__table_name__}` (name)")
    work, found = get_or_create_race(my, Tag)
    outcomes = await run_side_by_side(my, work)
    assert outcomes == ["ok", "ok"], outcomes
    assert found[0] is not None
    # At READ COMMITTED (the default) the loser's second look sees the winner's row;
    # at REPEATABLE READ its snapshot from the first look hides it (issue 8, item 22).
    assert (found[1] == found[0]) is loser_sees_winner, found


# ---- issue 8: INSERTs longer than max_allowed_packet ------------------------------------------------
async def believe_max_packet(my: My, size: int) -> int:
    """Make the pool's one connection believe the server takes `size`-byte packets;
    returns the connection's id."""
    backend = my.backend
    session = await my(backend.acquire())
    session.facts = dataclasses.replace(session.facts, max_packet=size)
    await my(backend.release(session))
    return int(session.thread_id)


def blob_model(my: My) -> Any:
    class Doc(my.Base):  # type: ignore[name-defined,misc]
        __table_name__ = my.table("docs")
        id: Optional[int] = None
        name: str = Field(max_length=40)
        body: str
        data: bytes

    return Doc


async def test_insert_many_splits_by_the_servers_packet_size(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)
    Doc = blob_model(my)
    await my.create(Doc)
    my.query(f"CREATE UNIQUE INDEX uq_doc_name ON `{Doc.__table_name__}` (name)")
    limit = 64 * 1024
    thread_id = await believe_max_packet(my, limit)
    inserts = "SHOW SESSION STATUS LIKE 'Com_insert'"
    before = int((await my(my.backend.fetch_one(inserts)))["Value"])
    # 40 rows of ~12 KB (text with quotes to escape, bytes in every value): ~500 KB.
    docs = [Doc(name=f"d{n}", body=("it's " * 1200) + str(n), data=bytes(range(256)) * 24)
            for n in range(40)]
    assert await my(Doc.insert_many(docs)) == 40
    statements = int((await my(my.backend.fetch_one(inserts)))["Value"]) - before
    assert statements >= 500_000 // limit, statements
    stored = {row[0]: row[1:] for row in my.query(
        f"SELECT id, name, body, data FROM `{Doc.__table_name__}`")}
    assert {d.id: (d.name, d.body, d.data) for d in docs} == stored
    # Keyless rows (their own ids) take the same path.
    more = [Doc(id=1000 + n, name=f"k{n}", body="x" * 20_000, data=b"\x00'\\" * 10)
            for n in range(10)]
    assert await my(Doc.insert_many(more)) == 10
    assert my.query(f"SELECT COUNT(*) FROM `{Doc.__table_name__}` WHERE id >= 1000")[0][0] == 10
    # Atomic like one statement: a duplicate in the last part leaves no row of the batch.
    clash = [Doc(name=f"c{n}", body="y" * 20_000, data=b"") for n in range(9)] + [
        Doc(name="d3", body="dup", data=b"")]
    with pytest.raises(RecordNotUnique):
        await my(Doc.insert_many(clash))
    assert my.query(f"SELECT COUNT(*) FROM `{Doc.__table_name__}` WHERE name LIKE 'c%%'"
                    )[0][0] == 0
    # The same connection all along: nothing was sent that the server would refuse.
    row = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
    assert row["id"] == thread_id


async def test_a_single_value_too_long_for_a_packet_is_refused_before_sending(
    make_my: Factory[My],
) -> None:
    my = make_my(pool_size=1)
    Doc = blob_model(my)
    await my.create(Doc)
    thread_id = await believe_max_packet(my, 16 * 1024)
    with pytest.raises(StatementInvalid, match="max_allowed_packet") as caught:
        await my(Doc(name="big", body="z" * 40_000, data=b"").save())
    assert "zzzz" not in str(caught.value)
    assert my.query(f"SELECT COUNT(*) FROM `{Doc.__table_name__}`")[0][0] == 0
    row = await my(my.backend.fetch_one("SELECT CONNECTION_ID() AS id"))
    assert row["id"] == thread_id, "the connection was lost"


async def test_insert_many_larger_than_the_real_max_allowed_packet(make_my: Factory[My]) -> None:
    my = make_my(pool_size=1)
    Doc = blob_model(my)
    await my.create(Doc)
    packet = int(my.query("SELECT @@max_allowed_packet")[0][0])
    if packet > 64 * 1024 * 1024:
        pytest.skip(f"max_allowed_packet is {packet} bytes; this test sends ~1.5 times it")
    piece = packet // 8
    docs = [Doc(name=f"big{n}", body="", data=bytes([n]) * piece) for n in range(12)]
    assert await my(Doc.insert_many(docs)) == 12
    rows = my.query(f"SELECT id, LENGTH(data), ORD(data) FROM `{Doc.__table_name__}`")
    assert sorted(rows) == sorted((d.id, piece, n) for n, d in enumerate(docs))



async def test_a_deadlock_inside_a_nested_transaction_propagates_as_deadlocked(
    make_my: Factory[My],
) -> None:
    # InnoDB rolls the whole transaction back, savepoints included, so the nested
    # block's ROLLBACK TO SAVEPOINT fails with 1305; that must not replace the deadlock.
    my = make_my(pool_size=4)
    Account, ids = await two_accounts(my)
    outcomes = await run_side_by_side(my, crossing_updates(my, Account, ids, nested=True))
    victims = [o for o in outcomes if o != "ok"]
    assert len(victims) == 1 and outcomes.count("ok") == 1, outcomes
    victim = victims[0]
    assert isinstance(victim, Deadlocked), repr(victim)
    assert not any("1305" in str(e) or getattr(e, "errno", None) == 1305 for e in chain(victim))
    balances = sorted(r[0] for r in my.query(f"SELECT balance FROM `{Account.__table_name__}`"))
    assert balances == [1, 1]
    assert my.stats()["in_use"] == 0
