"""The stream plan (API.md §14) driven by a scripted fake backend: the requests every way
out of a stream sends, per database, with no I/O."""

from __future__ import annotations

from collections.abc import Generator
from contextvars import ContextVar
from typing import Any

import pytest

from twinrecord.backends._stream import stream_plan
from twinrecord.backends._transaction import TransactionState
from twinrecord.errors import ConnectionNotEstablished, StatementInvalid, TransactionError
from twinrecord.plan import Plan, stream
from twinrecord.sql.dialect import MYSQL, POSTGRES, SQLITE, Dialect


class Fake:
    """Records what the plan asks for; fetches answer from `batches` (a list of row lists,
    or an exception to raise)."""

    is_async = False

    def __init__(self, dialect: Dialect, batches: list[Any]) -> None:
        self.dialect = dialect
        self.batches = list(batches)
        self.sent: list[str] = []
        self._tx: ContextVar[TransactionState | None] = ContextVar("tx", default=None)

    def acquire(self) -> str:
        self.sent.append("acquire")
        return "conn"

    def release(self, connection: Any, discard: bool = False) -> None:
        self.sent.append("discard" if discard else "release")

    def control(self, connection: Any, sql: str) -> None:
        self.sent.append(sql)

    def run_stream(self, op: Any, lease: Any, sql: str, params: Any) -> Any:
        return op(lease.connection, sql, params, lease)

    def _perform(self, op: Any, connection: Any, sql: str, params: Any, lease: Any) -> Any:
        return op(connection, sql, params, lease)

    def _open_cursor(self, connection: Any, sql: str, params: Any, lease: Any) -> None:
        self.sent.append("open")
        lease.cursor = True

    def _fetch_batch(self, connection: Any, sql: str, params: Any, lease: Any) -> Any:
        self.sent.append("fetch")
        batch = self.batches.pop(0)
        if isinstance(batch, BaseException):
            raise batch
        if len(batch) < lease.batch_size:
            lease.exhausted = True
        return batch

    def _close_cursor(self, connection: Any, sql: str, params: Any, lease: Any) -> None:
        self.sent.append("close")


def records(names: list[str], rows: list[Any]) -> Plan[list[Any]]:
    return [row * 10 for row in rows]
    yield  # a plan that sends nothing


def plan(fake: Fake) -> Generator[Any, Any, None]:
    return stream_plan(fake.dialect, "SELECT n FROM t", [], 2, records)


@pytest.mark.parametrize(
    ("dialect", "opening", "closing"),
    [
        (POSTGRES, ["acquire", "BEGIN READ ONLY", "open"], ["close", "COMMIT", "release"]),
        (MYSQL, ["acquire", "open"], ["close", "release"]),
        (SQLITE, ["acquire", "open"], ["close", "release"]),
    ],
    ids=["postgres", "mysql", "sqlite"],
)
def test_read_to_the_end_closes_before_the_last_batch(dialect, opening, closing):
    fake = Fake(dialect, [[1, 2], [3, 4], [5]])
    driver = stream(plan(fake), fake)
    assert driver.next_batch() == [10, 20]
    assert fake.sent == [*opening, "fetch"]
    assert driver.next_batch() == [30, 40]
    assert driver.next_batch() == [50]
    assert fake.sent == [*opening, "fetch", "fetch", "fetch", *closing]  # before the last
    assert driver.next_batch() is None and driver.done


@pytest.mark.parametrize(
    ("dialect", "closing"),
    [
        (POSTGRES, ["close", "COMMIT", "release"]),
        (MYSQL, ["discard"]),  # never drain millions of rows: the server ends the session
        (SQLITE, ["close", "release"]),
    ],
    ids=["postgres", "mysql", "sqlite"],
)
def test_closed_early(dialect, closing):
    fake = Fake(dialect, [[1, 2], [3, 4]])
    driver = stream(plan(fake), fake)
    driver.next_batch()
    before = len(fake.sent)
    driver.close()
    assert fake.sent[before:] == closing
    assert driver.done and driver.next_batch() is None
    driver.close()  # idempotent
    assert fake.sent[before:] == closing


def test_never_started_stream_sends_nothing():
    fake = Fake(POSTGRES, [])
    stream(plan(fake), fake).close()
    assert fake.sent == []


def test_a_failed_fetch_rolls_back_and_propagates():
    fake = Fake(POSTGRES, [[1, 2], StatementInvalid("division by zero")])
    driver = stream(plan(fake), fake)
    driver.next_batch()
    with pytest.raises(StatementInvalid):
        driver.next_batch()
    assert fake.sent[-2:] == ["ROLLBACK", "release"]


def test_interrupted_fetch_discards():
    fake = Fake(POSTGRES, [KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        stream(plan(fake), fake).next_batch()
    assert fake.sent[-1] == "discard"


def test_mysql_transaction_blocks_statements_until_read_and_drains_when_left():
    fake = Fake(MYSQL, [[1, 2], [3, 4]])
    state = TransactionState("tx-conn", lock=None)
    fake._tx.set(state)
    driver = stream(plan(fake), fake)
    driver.next_batch()
    assert fake.sent == ["open", "fetch"]  # the transaction's connection: no acquire
    with pytest.raises(TransactionError, match="read the stream to the end"):
        state.check_open()
    driver.close()
    assert fake.sent[-1] == "close"  # the rest read and dropped; nothing released
    state.check_open()  # free again


def test_mysql_refuses_eager_loading_inside_a_transaction_before_sending():
    fake = Fake(MYSQL, [])
    fake._tx.set(TransactionState("tx-conn", lock=None))
    eager = stream_plan(MYSQL, "SELECT n FROM t", [], 2, records, needs_statements=True)
    with pytest.raises(TransactionError, match="with_"):
        stream(eager, fake).next_batch()
    assert fake.sent == []


# ---- read replicas (API.md §18) ------------------------------------------------------------
class Replica(Fake):
    """A replica's backend: `acquire_error` is raised when the stream takes a connection."""

    def __init__(self, name: str, dialect: Dialect, batches: list[Any],
                 acquire_error: BaseException | None = None) -> None:
        super().__init__(dialect, batches)
        self.name = name
        self.acquire_error = acquire_error

    def acquire(self) -> str:
        if self.acquire_error is not None:
            raise self.acquire_error
        return super().acquire()


class Down:
    """The replica set's part the stream uses: which replicas it marked down."""

    def __init__(self) -> None:
        self.marked: list[str] = []

    def mark_down(self, replica: Replica, error: BaseException) -> None:
        self.marked.append(replica.name)


class Route:
    """What a read plan runs against with replicas: `read_targets()` and the primary's
    transaction variable."""

    is_async = False

    def __init__(self, primary: Fake, replicas: list[Replica]) -> None:
        self.primary, self.replicas, self.down = primary, replicas, Down()
        self.dialect = primary.dialect
        self._tx = primary._tx

    def read_targets(self) -> tuple[Any, Any, list[Any]]:
        return self.primary, self.down, list(self.replicas)


def unreachable_error() -> ConnectionNotEstablished:
    error = ConnectionNotEstablished("cannot connect")
    error.__cause__ = OSError("connection refused")  # the driver's error
    return error


def test_a_stream_opens_on_the_first_replica_that_answers_and_stays_there():
    primary = Fake(POSTGRES, [])
    down = Replica("r1", POSTGRES, [], acquire_error=unreachable_error())
    up = Replica("r2", POSTGRES, [[1, 2], [3]])
    route = Route(primary, [down, up])
    driver = stream(plan(primary), route)
    assert driver.next_batch() == [10, 20]
    assert driver.next_batch() == [30]
    assert up.sent == ["acquire", "BEGIN READ ONLY", "open", "fetch", "fetch", "close",
                       "COMMIT", "release"]
    assert primary.sent == [] and route.down.marked == ["r1"]


def test_a_busy_replica_pool_fails_the_stream_without_marking_it_down():
    primary = Fake(MYSQL, [[1]])
    busy = Replica("r1", MYSQL, [], acquire_error=ConnectionNotEstablished("no connection free"))
    route = Route(primary, [busy, Replica("r2", MYSQL, [[1]])])
    with pytest.raises(ConnectionNotEstablished, match="no connection free"):
        stream(plan(primary), route).next_batch()
    assert route.down.marked == [] and primary.sent == [] and route.replicas[1].sent == []


def test_a_replica_lost_mid_stream_fails_it_and_is_marked_down():
    primary = Fake(POSTGRES, [[1]])
    replica = Replica("r1", POSTGRES, [[1, 2], unreachable_error()])
    route = Route(primary, [replica])
    driver = stream(plan(primary), route)
    assert driver.next_batch() == [10, 20]
    with pytest.raises(ConnectionNotEstablished):
        driver.next_batch()
    assert replica.sent[-2:] == ["ROLLBACK", "release"]
    assert route.down.marked == ["r1"] and primary.sent == []  # no switch to the primary


def test_for_update_is_refused_outside_a_transaction_before_anything_is_sent():
    for dialect in (POSTGRES, MYSQL):
        fake = Fake(dialect, [[1]])
        locking = stream_plan(dialect, "SELECT n FROM t FOR UPDATE", [], 2, records,
                              locks_rows=True)
        with pytest.raises(TransactionError, match="transaction"):
            stream(locking, fake).next_batch()
        assert fake.sent == []
    fake = Fake(POSTGRES, [[1]])
    fake._tx.set(TransactionState("tx-conn", lock=None))
    locking = stream_plan(POSTGRES, "SELECT n FROM t FOR UPDATE", [], 2, records,
                          locks_rows=True)
    assert stream(locking, fake).next_batch() == [10]
    assert fake.sent == ["open", "fetch", "close"]
