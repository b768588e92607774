"""The small sync pool used by the SQLite backend (no database: fake connections)."""

from __future__ import annotations

import threading
import time

import pytest

from twinrecord.backends.pools.sync import SyncPool
from twinrecord.errors import ConnectionNotEstablished


class Fake:
    opened = 0

    def __init__(self) -> None:
        Fake.opened += 1
        self.closed = False

    def close(self) -> None:
        self.closed = True


def make_pool(max_size: int = 2, timeout: float = 0.3) -> SyncPool[Fake]:
    return SyncPool(Fake, Fake.close, max_size, timeout, "test pool")


def test_reuses_the_most_recently_released_connection():
    pool = make_pool()
    first, second = pool.acquire(), pool.acquire()
    pool.release(first)
    pool.release(second)
    assert pool.acquire() is second
    assert pool.size == 2


def test_never_opens_more_than_max_size_under_threads():
    pool = make_pool(max_size=3, timeout=5)
    in_use, peak, lock = [0], [0], threading.Lock()

    def worker() -> None:
        for _ in range(50):
            connection = pool.acquire()
            with lock:
                in_use[0] += 1
                peak[0] = max(peak[0], in_use[0])
            time.sleep(0.0005)
            with lock:
                in_use[0] -= 1
            pool.release(connection)

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak[0] <= 3 and pool.size <= 3 and pool.idle == pool.size


def test_waiting_times_out_with_a_clear_message():
    pool = make_pool(max_size=1, timeout=0.2)
    pool.acquire()
    started = time.monotonic()
    with pytest.raises(ConnectionNotEstablished, match="pool_size=1"):
        pool.acquire()
    assert 0.15 < time.monotonic() - started < 2


def test_waiter_gets_a_released_connection():
    pool = make_pool(max_size=1, timeout=5)
    held = pool.acquire()
    threading.Timer(0.05, pool.release, (held,)).start()
    assert pool.acquire() is held


def test_discard_closes_and_frees_the_slot():
    pool = make_pool(max_size=1)
    connection = pool.acquire()
    pool.release(connection, discard=True)
    assert connection.closed and pool.size == 0
    assert pool.acquire() is not connection


def test_failed_connect_frees_its_slot():
    calls = [0]

    def flaky() -> Fake:
        calls[0] += 1
        if calls[0] == 1:
            raise OSError("refused")
        return Fake()

    pool = SyncPool(flaky, Fake.close, 1, 0.2, "flaky")
    with pytest.raises(OSError):
        pool.acquire()
    assert pool.size == 0
    assert isinstance(pool.acquire(), Fake)


def test_close_closes_idle_and_later_releases_and_refuses_acquire():
    pool = make_pool()
    idle, busy = pool.acquire(), pool.acquire()
    pool.release(idle)
    pool.close()
    assert idle.closed and not busy.closed
    pool.release(busy)
    assert busy.closed
    with pytest.raises(ConnectionNotEstablished, match="closed"):
        pool.acquire()


def test_a_failed_connect_chains_no_pool_internals():
    """The driver's error is the only thing in the chain (no `IndexError: pop from
    empty list` from the pool's fast path)."""

    def refuse() -> Fake:
        raise ConnectionNotEstablished("cannot connect")

    pool = SyncPool(refuse, Fake.close, 2, 0.3, "test pool")
    with pytest.raises(ConnectionNotEstablished) as caught:
        pool.acquire()
    assert caught.value.__context__ is None


class Pinged(Fake):
    def __init__(self) -> None:
        super().__init__()
        self.alive = True


def test_discard_idle_closes_every_idle_connection_and_frees_their_slots():
    pool = SyncPool(Pinged, Pinged.close, 3, 0.3, "test pool")
    held, idle = pool.acquire(), [pool.acquire(), pool.acquire()]
    for connection in idle:
        pool.release(connection)
    pool.discard_idle()
    assert all(c.closed for c in idle) and not held.closed
    assert (pool.size, pool.idle) == (1, 0)
    assert pool.acquire() not in idle            # a new one, in a freed slot


def test_pre_ping_replaces_a_dead_connection_and_drops_the_other_idle_ones():
    pool = SyncPool(Pinged, Pinged.close, 3, 0.3, "test pool", check=lambda c: c.alive)
    connections = [pool.acquire() for _ in range(3)]
    for connection in connections:
        connection.alive = False                 # the server restarted
        pool.release(connection)
    fresh = pool.acquire()
    assert fresh not in connections and fresh.alive
    assert all(c.closed for c in connections)
    assert (pool.size, pool.idle) == (1, 0)
    pool.release(fresh)
    assert pool.acquire() is fresh               # alive: handed out again


def test_a_failing_check_counts_as_dead():
    def check(connection: Pinged) -> bool:
        raise OSError("socket gone")

    pool = SyncPool(Pinged, Pinged.close, 2, 0.3, "test pool", check=check)
    first = pool.acquire()
    pool.release(first)
    second = pool.acquire()              # fresh connections are not checked
    assert second is not first and first.closed and not second.closed
