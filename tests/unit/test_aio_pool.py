"""Unit tests of the driver-agnostic asyncio pool, with fake connections."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from twinrecord.backends.pools.aio import AsyncPool, PoolClosed, PoolTimeout
from twinrecord.errors import DatabaseError


class FakeConn:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False
        self.usable = True
        self.resets = 0

    def __repr__(self) -> str:
        return f"FakeConn({self.number})"


class ConnectFailed(Exception):
    pass


class Server:
    """Makes fake connections and tracks how many are open at once."""

    def __init__(self, connect_delay: float = 0.0) -> None:
        self.connect_delay = connect_delay
        self.made: list[FakeConn] = []
        self.open = 0
        self.max_open = 0
        self.fail_next: list[BaseException] = []
        self.reset_fails = False
        self.close_fails = False
        self.close_delay = 0.0
        self._numbers = itertools.count(1)

    async def connect(self) -> FakeConn:
        # Counted from the moment a connect starts: that is when a server
        # would see the socket, and what max_size has to bound.
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        try:
            if self.connect_delay:
                await asyncio.sleep(self.connect_delay)
            if self.fail_next:
                raise self.fail_next.pop(0)
        except BaseException:
            self.open -= 1
            raise
        conn = FakeConn(next(self._numbers))
        self.made.append(conn)
        return conn

    async def close(self, conn: FakeConn) -> None:
        assert not conn.closed, f"{conn} closed twice"
        if self.close_delay:
            await asyncio.sleep(self.close_delay)
        conn.closed = True
        self.open -= 1
        if self.close_fails:
            raise OSError("socket already gone")

    async def reset(self, conn: FakeConn) -> None:
        conn.resets += 1
        if self.reset_fails:
            raise ConnectFailed("rollback failed")


def make_pool(server: Server, **options: Any) -> AsyncPool[FakeConn]:
    options.setdefault("name", "test")
    return AsyncPool(
        server.connect,
        close_connection=server.close,
        reset=server.reset,
        is_usable=lambda conn: conn.usable,
        **options,
    )


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), timeout=5))


async def settle() -> None:
    """Let every runnable task reach its next real wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def assert_counts(pool: AsyncPool[FakeConn], *, size: int, idle: int, in_use: int) -> None:
    assert (pool.size, pool.idle, pool.in_use) == (size, idle, in_use)


# -- construction --------------------------------------------------------------


def test_pool_is_built_outside_a_loop_and_validates_its_sizes() -> None:
    pool = make_pool(Server(), max_size=3)
    assert pool.max_size == 3
    assert_counts(pool, size=0, idle=0, in_use=0)
    with pytest.raises(ValueError, match="max_size"):
        make_pool(Server(), max_size=0)
    with pytest.raises(ValueError, match="min_size"):
        make_pool(Server(), max_size=2, min_size=3)


def test_an_empty_pool_can_move_to_a_new_loop() -> None:
    server = Server()
    pool = make_pool(server)

    async def use_once() -> None:
        conn = await pool.acquire()
        await pool.release(conn, discard=True)

    asyncio.run(use_once())
    asyncio.run(use_once())
    assert len(server.made) == 2


# -- reuse -----------------------------------------------------------------------


def test_a_released_connection_is_reused_after_reset() -> None:
    server = Server()
    pool = make_pool(server)

    async def body() -> None:
        first = await pool.acquire()
        assert_counts(pool, size=1, idle=0, in_use=1)
        await pool.release(first)
        assert_counts(pool, size=1, idle=1, in_use=0)
        second = await pool.acquire()
        assert second is first
        assert first.resets == 1
        assert len(server.made) == 1

    run(body)


def test_idle_connections_are_reused_most_recent_first() -> None:
    pool = make_pool(Server())

    async def body() -> None:
        a, b, c = [await pool.acquire() for _ in range(3)]
        for conn in (a, b, c):
            await pool.release(conn)
        assert await pool.acquire() is c
        assert await pool.acquire() is b
        assert await pool.acquire() is a

    run(body)


def test_releasing_a_foreign_or_already_released_connection_is_refused() -> None:
    pool = make_pool(Server())

    async def body() -> None:
        conn = await pool.acquire()
        await pool.release(conn)
        with pytest.raises(ValueError, match="not acquired"):
            await pool.release(conn)
        with pytest.raises(ValueError, match="not acquired"):
            await pool.release(FakeConn(99))
        assert_counts(pool, size=1, idle=1, in_use=0)

    run(body)


def test_min_size_opens_spare_connections_on_first_acquire() -> None:
    server = Server()
    pool = make_pool(server, max_size=5, min_size=3)

    async def body() -> None:
        conn = await pool.acquire()
        assert_counts(pool, size=3, idle=2, in_use=1)
        await pool.release(conn)
        assert len(server.made) == 3

    run(body)


# -- limits and fairness ------------------------------------------------------------


def test_max_size_holds_under_200_concurrent_tasks_with_slow_connect() -> None:
    server = Server(connect_delay=0.01)
    pool = make_pool(server, max_size=5)
    seen_sizes: list[int] = []

    async def worker() -> None:
        async with pool.connection() as conn:
            seen_sizes.append(pool.size)
            assert not conn.closed
            await asyncio.sleep(0)

    async def body() -> None:
        await asyncio.gather(*(worker() for _ in range(200)))

    run(body)
    assert len(seen_sizes) == 200
    assert server.max_open == 5  # the limit was reached ...
    assert max(seen_sizes) <= 5  # ... and never exceeded
    assert len(server.made) == 5
    assert_counts(pool, size=5, idle=5, in_use=0)


def test_waiters_are_served_first_come_first_served() -> None:
    pool = make_pool(Server(), max_size=1)
    order: list[int] = []

    async def waiter(number: int) -> None:
        async with pool.connection():
            order.append(number)
            await asyncio.sleep(0)

    async def body() -> None:
        held = await pool.acquire()
        tasks = []
        for number in range(5):
            tasks.append(asyncio.create_task(waiter(number)))
            await settle()  # each queues before the next is created
        await pool.release(held)
        # A newcomer arriving now must queue behind the five.
        tasks.append(asyncio.create_task(waiter(5)))
        await asyncio.gather(*tasks)

    run(body)
    assert order == [0, 1, 2, 3, 4, 5]


def test_acquire_timeout_raises_a_helpful_pool_timeout_and_leaks_nothing() -> None:
    server = Server()
    pool = make_pool(server, max_size=1, acquire_timeout=0.05, name="reports")

    async def body() -> None:
        held = await pool.acquire()
        with pytest.raises(PoolTimeout) as caught:
            await pool.acquire()
        message = str(caught.value)
        assert "'reports'" in message
        assert "max_size=1" in message
        assert "0.05s" in message
        await pool.release(held)
        assert_counts(pool, size=1, idle=1, in_use=0)
        assert await pool.acquire() is held  # no phantom waiter took it

    run(body)
    assert issubclass(PoolTimeout, TimeoutError)
    assert issubclass(PoolTimeout, DatabaseError)
    assert len(server.made) == 1


def test_a_cancelled_waiter_leaks_nothing() -> None:
    server = Server()
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await settle()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await pool.release(held)
        assert_counts(pool, size=1, idle=1, in_use=0)
        assert await pool.acquire() is held

    run(body)
    assert len(server.made) == 1


def test_a_connection_handed_to_a_waiter_as_it_is_cancelled_goes_back_to_the_pool() -> None:
    pool = make_pool(Server(), max_size=1)

    async def body() -> None:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await settle()
        await pool.release(held)  # hands `held` to the waiter ...
        waiter.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert_counts(pool, size=1, idle=1, in_use=0)
        assert await pool.acquire() is held

    run(body)


def test_a_slot_handed_to_a_waiter_as_it_is_cancelled_is_freed() -> None:
    pool = make_pool(Server(), max_size=1)

    async def body() -> None:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await settle()
        await pool.release(held, discard=True)  # hands the free slot to the waiter
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert_counts(pool, size=0, idle=0, in_use=0)
        assert not (await pool.acquire()).closed

    run(body)


# -- failures ------------------------------------------------------------------------


def test_a_failing_connect_propagates_unchanged_and_frees_its_slot() -> None:
    server = Server()
    pool = make_pool(server, max_size=1)
    error = ConnectFailed("server down")
    server.fail_next.append(error)

    async def body() -> None:
        with pytest.raises(ConnectFailed) as caught:
            await pool.acquire()
        assert caught.value is error
        assert_counts(pool, size=0, idle=0, in_use=0)
        conn = await pool.acquire()
        assert_counts(pool, size=1, idle=0, in_use=1)
        assert not conn.closed

    run(body)


def test_a_failed_connect_hands_its_slot_to_a_waiter() -> None:
    server = Server(connect_delay=0.01)
    server.fail_next.append(ConnectFailed("first try fails"))
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        first = asyncio.create_task(pool.acquire())
        await settle()  # `first` holds the only slot, connecting
        second = asyncio.create_task(pool.acquire())
        with pytest.raises(ConnectFailed):
            await first
        conn = await second
        assert_counts(pool, size=1, idle=0, in_use=1)
        assert conn is server.made[0]

    run(body)


def test_cancelling_a_task_while_it_connects_frees_its_slot() -> None:
    server = Server(connect_delay=10)
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        task = asyncio.create_task(pool.acquire())
        await settle()
        assert pool.size == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert_counts(pool, size=0, idle=0, in_use=0)
        assert server.open == 0

    run(body)


def test_an_unusable_connection_is_closed_and_replaced() -> None:
    server = Server()
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        stale = await pool.acquire()
        await pool.release(stale)
        stale.usable = False
        fresh = await pool.acquire()
        assert fresh is not stale
        assert stale.closed
        assert not fresh.closed
        assert_counts(pool, size=1, idle=0, in_use=1)

    run(body)
    assert server.open == 1


def test_a_connection_whose_reset_fails_is_discarded() -> None:
    server = Server()
    pool = make_pool(server)

    async def body() -> None:
        conn = await pool.acquire()
        server.reset_fails = True
        await pool.release(conn)  # the reset error is swallowed
        assert conn.closed
        assert_counts(pool, size=0, idle=0, in_use=0)
        server.reset_fails = False
        assert await pool.acquire() is not conn

    run(body)


def test_release_with_discard_closes_the_connection_and_frees_the_slot() -> None:
    server = Server()
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        conn = await pool.acquire()
        await pool.release(conn, discard=True)
        assert conn.closed
        assert conn.resets == 0  # no point resetting what is thrown away
        assert_counts(pool, size=0, idle=0, in_use=0)

    run(body)
    assert server.open == 0


def test_a_discarded_slot_is_reused_only_once_the_connection_is_closed() -> None:
    server = Server()
    server.close_delay = 0.01
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        held = await pool.acquire()
        releasing = asyncio.create_task(pool.release(held, discard=True))
        await settle()  # the close is under way
        fresh = await pool.acquire()
        await releasing
        assert fresh is not held

    run(body)
    assert server.max_open == 1


def test_errors_while_closing_are_swallowed() -> None:
    server = Server()
    server.close_fails = True
    pool = make_pool(server)

    async def body() -> None:
        conn = await pool.acquire()
        await pool.release(conn, discard=True)
        assert conn.closed
        assert pool.size == 0

    run(body)


# -- close ---------------------------------------------------------------------------


def test_close_closes_idle_connections_and_refuses_new_acquires() -> None:
    server = Server()
    pool = make_pool(server)

    async def body() -> None:
        idle, out = await pool.acquire(), await pool.acquire()
        await pool.release(idle)
        await pool.close()
        assert idle.closed
        assert not out.closed  # still in use: closed when it comes back
        assert_counts(pool, size=1, idle=0, in_use=1)
        with pytest.raises(PoolClosed, match="'test'"):
            await pool.acquire()
        await pool.release(out)
        assert out.closed
        assert_counts(pool, size=0, idle=0, in_use=0)

    run(body)
    assert server.open == 0


def test_close_fails_queued_waiters() -> None:
    pool = make_pool(Server(), max_size=1)

    async def body() -> None:
        held = await pool.acquire()
        waiter = asyncio.create_task(pool.acquire())
        await settle()
        await pool.close()
        with pytest.raises(PoolClosed):
            await waiter
        await pool.release(held)
        assert held.closed
        assert pool.size == 0

    run(body)


# -- the context manager -------------------------------------------------------------


def test_connection_context_manager_returns_the_connection_on_exit() -> None:
    pool = make_pool(Server())

    async def body() -> None:
        async with pool.connection() as conn:
            assert_counts(pool, size=1, idle=0, in_use=1)
        assert_counts(pool, size=1, idle=1, in_use=0)
        with pytest.raises(KeyError):
            async with pool.connection() as again:
                assert again is conn
                raise KeyError("an ordinary error leaves the connection reusable")
        assert not conn.closed
        assert conn.resets == 2
        assert_counts(pool, size=1, idle=1, in_use=0)

    run(body)


def test_connection_context_manager_discards_on_cancellation() -> None:
    server = Server()
    pool = make_pool(server)

    async def body() -> None:
        inside = asyncio.Event()
        used: list[FakeConn] = []

        async def use() -> None:
            async with pool.connection() as conn:
                used.append(conn)
                inside.set()
                await asyncio.sleep(10)

        task = asyncio.create_task(use())
        await inside.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert used[0].closed
        assert used[0].resets == 0
        assert_counts(pool, size=0, idle=0, in_use=0)

    run(body)
    assert server.open == 0


# -- handing idle connections to an owner without a loop -----------------------


def test_drain_idle_hands_over_idle_connections_and_their_slots() -> None:
    server = Server()
    pool = make_pool(server, max_size=3)
    kept: list[FakeConn] = []

    async def body() -> None:
        a, b = await pool.acquire(), await pool.acquire()
        await pool.release(a)
        kept.append(b)

    run(body)
    drained = pool.drain_idle()
    assert [conn.number for conn in drained] == [1] and not drained[0].closed
    assert_counts(pool, size=1, idle=0, in_use=1)   # only the one still out remains

    async def release_rest() -> None:
        await pool.release(kept[0])

    run(release_rest)
    assert_counts(pool, size=1, idle=1, in_use=0)


# -- the await-free fast path ------------------------------------------------------


def test_acquire_nowait_takes_an_idle_usable_connection_or_gives_none() -> None:
    server = Server()
    pool = AsyncPool(server.connect, close_connection=server.close,
                     is_usable=lambda conn: conn.usable, name="fast")

    async def body() -> None:
        assert pool.acquire_nowait() is None            # nothing idle: await acquire()
        conn = await pool.acquire()
        assert pool.release_nowait(conn) is True        # no reset hook: given back at once
        assert_counts(pool, size=1, idle=1, in_use=0)
        assert pool.acquire_nowait() is conn
        assert_counts(pool, size=1, idle=0, in_use=1)
        conn.usable = False
        assert pool.release_nowait(conn)
        assert pool.acquire_nowait() is None            # unusable: left for acquire() to replace
        replacement = await pool.acquire()
        assert replacement is not conn and conn.closed
        with pytest.raises(ValueError):
            pool.release_nowait(conn)

    run(body)


def test_release_nowait_defers_to_release_when_a_reset_is_needed_or_a_waiter_queues() -> None:
    server = Server()
    pool = make_pool(server, max_size=1)

    async def body() -> None:
        conn = await pool.acquire()
        assert pool.release_nowait(conn) is False        # a reset hook must be awaited
        assert_counts(pool, size=1, idle=0, in_use=1)
        await pool.release(conn)
        fast = AsyncPool(server.connect, close_connection=server.close, max_size=1, name="f")
        held = await fast.acquire()
        waiter = asyncio.ensure_future(fast.acquire())
        await settle()
        assert fast.acquire_nowait() is None             # FIFO: the waiter queues first
        assert fast.release_nowait(held) is True
        assert await waiter is held                      # handed straight to the waiter

    run(body)


# -- healing: pre-ping and discarding idle connections ----------------------------------
def test_discard_idle_closes_every_idle_connection_and_frees_their_slots() -> None:
    async def test() -> None:
        server = Server()
        pool = make_pool(server, max_size=3)
        held = await pool.acquire()
        idle = [await pool.acquire(), await pool.acquire()]
        for conn in idle:
            await pool.release(conn)
        await pool.discard_idle()
        assert all(conn.closed for conn in idle) and not held.closed
        assert_counts(pool, size=1, idle=0, in_use=1)
        assert await pool.acquire() not in idle

    run(test)


def test_pre_ping_replaces_a_dead_connection_and_drops_the_other_idle_ones() -> None:
    async def test() -> None:
        server = Server()
        alive: set[int] = set()

        async def check(conn: FakeConn) -> bool:
            return conn.number in alive

        pool = make_pool(server, max_size=3, check=check)
        conns = [await pool.acquire() for _ in range(3)]
        for conn in conns:
            await pool.release(conn)     # none is in `alive`: the server restarted
        assert pool.acquire_nowait() is None   # a check needs an await
        fresh = await pool.acquire()
        assert fresh not in conns and all(conn.closed for conn in conns)
        assert_counts(pool, size=1, idle=0, in_use=1)
        alive.add(fresh.number)
        await pool.release(fresh)
        assert await pool.acquire() is fresh

    run(test)
