"""A small asyncio connection pool that knows no driver: it is handed callables.

Used where a driver ships no waiting async pool (mysql-connector-python's `aio`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, Literal, TypeAlias, TypeVar

from twinrecord.errors import DatabaseError

__all__ = ["AsyncPool", "PoolClosed", "PoolTimeout"]

C = TypeVar("C")

_log = logging.getLogger(__name__)


class PoolTimeout(DatabaseError, TimeoutError):
    """No connection became free within the pool's acquire timeout."""


class PoolClosed(DatabaseError):
    """The pool was closed; it hands out no more connections."""


class _Token(enum.Enum):
    # What a waiter receives instead of a connection: "a slot is yours, open one".
    SLOT = enum.auto()


# A waiter is handed either a connection or the right to open one.
_Grant: TypeAlias = C | Literal[_Token.SLOT]


class AsyncPool(Generic[C]):
    """A bounded, FIFO-fair pool of connections made by `connect`.

    Every connection open or being opened holds one of `max_size` slots. A slot
    or connection freed while tasks wait is handed straight to the oldest
    waiter, so a newcomer can never overtake a task that is already queued.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[C]],
        *,
        max_size: int = 10,
        min_size: int = 0,
        acquire_timeout: float = 30.0,
        reset: Callable[[C], Awaitable[None]] | None = None,
        is_usable: Callable[[C], bool] | None = None,
        check: Callable[[C], Awaitable[bool]] | None = None,
        close_connection: Callable[[C], Awaitable[None]],
        name: str = "pool",
    ) -> None:
        if max_size < 1:
            raise ValueError(f"pool {name!r}: max_size must be at least 1, got {max_size}")
        if not 0 <= min_size <= max_size:
            raise ValueError(
                f"pool {name!r}: min_size must be between 0 and max_size ({max_size}), "
                f"got {min_size}"
            )
        if acquire_timeout <= 0:
            raise ValueError(f"pool {name!r}: acquire_timeout must be positive")
        self._connect = connect
        self._max_size = max_size
        self._min_size = min_size
        self._acquire_timeout = acquire_timeout
        self._reset = reset
        self._is_usable = is_usable
        # Pre-ping: is an idle connection still alive? (False: it and every idle one go.)
        self._check = check
        self._close_connection = close_connection
        self._name = name
        self._idle: list[C] = []  # a stack: the end is the most recently used
        self._out: dict[int, C] = {}  # checked out, by id(); holding them keeps ids unique
        self._slots = 0  # idle + checked out + being opened, closed or handed over
        self._waiters: deque[asyncio.Future[_Grant[C]]] = deque()
        self._closed = False
        # Bound on first acquire, so the pool can be built before any loop runs.
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- introspection -------------------------------------------------------

    @property
    def size(self) -> int:
        """Connections open (idle + in use), counting any being opened right now."""
        return self._slots

    @property
    def idle(self) -> int:
        """Connections open and waiting in the pool."""
        return len(self._idle)

    @property
    def in_use(self) -> int:
        """Connections acquired and not yet released."""
        return len(self._out)

    @property
    def max_size(self) -> int:
        """The most connections this pool ever has open at once."""
        return self._max_size

    @property
    def name(self) -> str:
        """The name error messages use for this pool."""
        return self._name

    @property
    def closed(self) -> bool:
        """Whether `close()` was called."""
        return self._closed

    def __repr__(self) -> str:
        return (
            f"<AsyncPool {self._name!r} size={self.size} idle={self.idle} "
            f"in_use={self.in_use} max_size={self._max_size}>"
        )

    # -- public API ----------------------------------------------------------

    async def acquire(self) -> C:
        """Check out a connection, waiting up to `acquire_timeout` for a free slot."""
        self._bind_loop()
        if self._closed:
            raise self._closed_error()
        if self._slots < self._min_size:
            await self._warm_up()
        grant = self._take_nowait()
        if grant is None:
            grant = await self._wait()
        conn = await self._ready(grant)
        self._out[id(conn)] = conn
        return conn

    async def release(self, conn: C, *, discard: bool = False) -> None:
        """Give `conn` back; with `discard=True` (or a failing reset) close it instead."""
        if self._out.pop(id(conn), None) is None:
            raise ValueError(
                f"pool {self._name!r}: connection was not acquired from this pool "
                "or was already released"
            )
        if discard or self._closed:
            await self._discard(conn)
            return
        if await self._reset_ok(conn):
            await self._check_in(conn)

    def acquire_nowait(self) -> C | None:
        """An idle, usable connection at once (no await), or None: then `await acquire()`.

        The statement hot path tries this first: an await-free checkout saves the
        coroutine hops of `acquire()` when the pool simply has a connection idle.
        """
        if self._closed or self._waiters or not self._idle or self._check is not None:
            return None
        if self._loop is not asyncio.get_running_loop():
            return None
        conn = self._idle.pop()
        if not self._usable(conn):
            self._idle.append(conn)  # acquire() replaces it, with the awaits that needs
            return None
        self._out[id(conn)] = conn
        return conn

    def release_nowait(self, conn: C) -> bool:
        """Give `conn` back at once when nothing needs awaiting (no reset hook, pool
        open); False leaves it checked out for `await release(...)`."""
        if self._reset is not None or self._closed:
            return False
        if self._out.pop(id(conn), None) is None:
            raise ValueError(
                f"pool {self._name!r}: connection was not acquired from this pool "
                "or was already released"
            )
        waiter = self._next_waiter()
        if waiter is None:
            self._idle.append(conn)
        else:
            waiter.set_result(conn)
        return True

    def forget(self, conn: C) -> None:
        """Take a checked-out connection off the books without closing it (no await):
        its owner has closed it already, e.g. at garbage collection, maybe off the loop.
        Its slot is freed on the pool's loop."""
        if self._out.pop(id(conn), None) is None:
            return
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._free_slot()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._free_slot)

    def connection(self) -> AbstractAsyncContextManager[C]:
        """`async with pool.connection() as conn:` acquires and releases `conn`.

        If the body is interrupted by a BaseException that is not an Exception
        (cancellation, KeyboardInterrupt) the connection may be mid-statement,
        so it is discarded rather than returned.
        """
        return _Lease(self)

    async def close(self) -> None:
        """Close idle connections and refuse new acquires; ones still out close on release."""
        self._closed = True
        self._fail_waiters()
        idle, self._idle = self._idle, []
        self._slots -= len(idle)
        await asyncio.gather(*(self._close_quietly(conn) for conn in idle))

    async def discard_idle(self) -> None:
        """Close every idle connection: one was found dead, so the server may have
        restarted and the others are suspect too (checked-out ones fail on their own)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self._discard(conn) for conn in idle))

    def drain_idle(self) -> list[C]:
        """Take every idle connection out of the pool without closing it (no I/O).

        For an owner that must dispose of connections without awaiting, e.g. when
        the event loop they belong to has ended; the caller closes them.
        """
        idle, self._idle = self._idle, []
        self._slots -= len(idle)
        return idle

    # -- acquiring -----------------------------------------------------------

    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        # Connections and waiters belong to the loop that made them; an empty
        # pool may move (e.g. one asyncio.run per test), a populated one may not.
        if self._slots:
            raise RuntimeError(f"pool {self._name!r} is in use by another event loop")
        self._loop = loop

    def _take_nowait(self) -> _Grant[C] | None:
        """An idle connection or a fresh slot if one is free and nobody queues before us."""
        if self._closed:
            raise self._closed_error()
        self._prune_waiters()
        if self._waiters:
            return None  # FIFO: whatever frees up next is theirs, not ours
        if self._idle:
            return self._idle.pop()
        if self._slots < self._max_size:
            self._slots += 1
            return _Token.SLOT
        return None

    async def _wait(self) -> _Grant[C]:
        """Queue until a connection or slot is handed to us, or time out."""
        assert self._loop is not None  # bound by acquire()
        fut: asyncio.Future[_Grant[C]] = self._loop.create_future()
        self._waiters.append(fut)
        try:
            async with asyncio.timeout(self._acquire_timeout):
                return await fut
        except TimeoutError:
            await self._abandon(fut)
            raise self._timeout_error() from None
        except BaseException:
            await self._abandon(fut)
            raise

    async def _abandon(self, fut: asyncio.Future[_Grant[C]]) -> None:
        """Leave the queue; give back anything handed to us as we were interrupted."""
        if not fut.done():
            fut.cancel()
        if fut.cancelled():
            # It may already be gone, popped by a hand-over that skipped it.
            with contextlib.suppress(ValueError):
                self._waiters.remove(fut)
            return
        if fut.exception() is not None:
            return  # the pool closed: nothing was handed over
        # The race: a grant arrived and we were cancelled before we could run.
        grant = fut.result()
        if grant is _Token.SLOT:
            self._free_slot()
        else:
            await self._check_in(grant)

    async def _ready(self, grant: _Grant[C]) -> C:
        """Turn a grant into a usable connection, replacing a stale one in its slot."""
        if grant is not _Token.SLOT:
            if not self._closed and self._usable(grant) and await self._alive(grant):
                return grant
            try:
                await self._close_quietly(grant)
            except BaseException:
                self._free_slot()
                raise
        return await self._connect_in_slot()

    async def _alive(self, conn: C) -> bool:
        """Pre-ping; when it fails, every idle connection goes too (a server restart)."""
        if self._check is None:
            return True
        try:
            alive = await self._check(conn)
        except Exception:
            alive = False
        if not alive:
            await self.discard_idle()
        return alive

    async def _connect_in_slot(self) -> C:
        """Open a connection in a slot we hold; on any failure the slot is freed."""
        try:
            if self._closed:
                raise self._closed_error()
            conn = await self._connect()
        except BaseException:
            self._free_slot()
            raise
        if self._closed:  # closed while we were connecting
            await self._discard(conn)
            raise self._closed_error()
        return conn

    def _usable(self, conn: C) -> bool:
        if self._is_usable is None:
            return True
        try:
            return self._is_usable(conn)
        except Exception:
            # A check that cannot decide leaves the connection suspect.
            _log.debug("pool %r: is_usable raised; discarding", self._name, exc_info=True)
            return False

    async def _warm_up(self) -> None:
        """Open connections up to min_size side by side, leaving them idle."""
        missing = self._min_size - self._slots
        self._slots += missing
        await asyncio.gather(*(self._open_spare() for _ in range(missing)))

    async def _open_spare(self) -> None:
        try:
            conn = await self._connect_in_slot()
        except Exception:
            # Left to the acquire that follows, which retries and reports it.
            return
        await self._check_in(conn)

    # -- returning -----------------------------------------------------------

    async def _reset_ok(self, conn: C) -> bool:
        """Run the reset hook; if it fails the connection is discarded."""
        if self._reset is None:
            return True
        try:
            await self._reset(conn)
        except BaseException as exc:
            await self._discard(conn)
            if not isinstance(exc, Exception):
                raise
            _log.debug("pool %r: reset failed; discarding", self._name, exc_info=True)
            return False
        return True

    async def _check_in(self, conn: C) -> None:
        """Hand `conn` to the oldest waiter, else push it idle; close it if the pool is."""
        if self._closed:
            await self._discard(conn)
            return
        waiter = self._next_waiter()
        if waiter is None:
            self._idle.append(conn)
        else:
            waiter.set_result(conn)

    async def _discard(self, conn: C) -> None:
        """Close `conn`, then free its slot (after, so max_size holds for open ones)."""
        try:
            await self._close_quietly(conn)
        finally:
            self._free_slot()

    async def _close_quietly(self, conn: C) -> None:
        try:
            await self._close_connection(conn)
        except Exception:
            # The connection is gone either way; a failing close must not hide
            # the error or the release that led here.
            _log.debug("pool %r: error closing a connection", self._name, exc_info=True)

    def _free_slot(self) -> None:
        """Give a slot to the oldest waiter (who will open a connection), else drop it."""
        waiter = None if self._closed else self._next_waiter()
        if waiter is None:
            self._slots -= 1
        else:
            waiter.set_result(_Token.SLOT)

    # -- the queue -----------------------------------------------------------

    def _prune_waiters(self) -> None:
        # Cancelled waiters may linger until their task runs its cleanup.
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()

    def _next_waiter(self) -> asyncio.Future[_Grant[C]] | None:
        self._prune_waiters()
        return self._waiters.popleft() if self._waiters else None

    def _fail_waiters(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_exception(self._closed_error())

    # -- errors --------------------------------------------------------------

    def _timeout_error(self) -> PoolTimeout:
        return PoolTimeout(
            f"pool {self._name!r}: no connection free after {self._acquire_timeout:g}s; "
            f"all max_size={self._max_size} connections are in use. Release connections "
            "sooner (use `async with pool.connection()`) or raise max_size."
        )

    def _closed_error(self) -> PoolClosed:
        return PoolClosed(f"pool {self._name!r} is closed")


class _Lease(AbstractAsyncContextManager[C]):
    """What `AsyncPool.connection()` returns."""

    _conn: C

    def __init__(self, pool: AsyncPool[C]) -> None:
        self._pool = pool

    async def __aenter__(self) -> C:
        self._conn = await self._pool.acquire()
        return self._conn

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An Exception leaves the connection in a known state (the reset hook
        # cleans up); cancellation may have cut a statement in half.
        unknown_state = exc is not None and not isinstance(exc, Exception)
        await self._pool.release(self._conn, discard=unknown_state)
