"""A small thread-safe pool for sync connections the driver does not pool itself."""

from __future__ import annotations

import threading
from collections.abc import Callable
from time import monotonic
from typing import Generic, TypeVar

from ...errors import ConnectionNotEstablished

C = TypeVar("C")


class SyncPool(Generic[C]):
    """Idle connections reused LIFO; at most `max_size` open; waiters time out clearly."""

    def __init__(
        self,
        connect: Callable[[], C],
        close_connection: Callable[[C], None],
        max_size: int,
        timeout: float,
        name: str,
        *,
        check: Callable[[C], bool] | None = None,
    ) -> None:
        self._connect = connect
        # Pre-ping: is an idle connection still alive? (False: it and every idle one go.)
        self._check = check
        self._close_connection = close_connection
        self._idle: list[C] = []
        self._open = 0
        self._max_size = max_size
        self._timeout = timeout
        self._name = name
        self._freed = threading.Condition(threading.Lock())
        self._closed = False
        self._waiting = 0

    @property
    def size(self) -> int:
        return self._open

    @property
    def idle(self) -> int:
        return len(self._idle)

    def acquire(self) -> C:
        try:
            connection = self._idle.pop()  # list.pop is atomic: the common case takes no lock
        except IndexError:
            pass  # (outside the handler: a connect error must not chain this IndexError)
        else:
            if self._check is None or self._alive(connection):
                return connection
        return self._acquire_slow()

    def _acquire_slow(self) -> C:
        deadline = monotonic() + self._timeout
        while True:
            connection = self._reserve(deadline)
            if connection is None:
                break  # a slot is ours: open a connection in it
            if self._check is None or self._alive(connection):
                return connection
        try:
            return self._connect()
        except BaseException:
            with self._freed:
                self._open -= 1
                self._freed.notify()
            raise

    def _reserve(self, deadline: float) -> C | None:
        """An idle connection, or None once a slot for a new one is reserved."""
        with self._freed:
            while True:
                if self._closed:
                    raise ConnectionNotEstablished(f"{self._name}: the pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._open < self._max_size:
                    self._open += 1
                    return None
                # Short waits: a release that skips notify() (no lock) is seen next round.
                self._waiting += 1
                try:
                    self._freed.wait(0.05)
                finally:
                    self._waiting -= 1
                if monotonic() > deadline:
                    raise ConnectionNotEstablished(
                        f"{self._name}: no connection free within {self._timeout}s "
                        f"(pool_size={self._max_size}); raise pool_size or hold connections "
                        "for less time"
                    )

    def _alive(self, connection: C) -> bool:
        """Pre-ping; a dead connection is closed, and so is every idle one (a restart)."""
        assert self._check is not None
        try:
            alive = self._check(connection)
        except Exception:
            alive = False
        if not alive:
            self.release(connection, discard=True)
            self.discard_idle()
        return alive

    def discard_idle(self) -> None:
        """Close every idle connection: one was found dead, so the server may have
        restarted and the others are suspect too (checked-out ones fail on their own)."""
        self._drain_idle()

    def release(self, connection: C, discard: bool = False) -> None:
        if not (discard or self._closed or self._waiting):
            self._idle.append(connection)
            if self._closed:          # close() ran between the check and the append
                self._drain_idle()
            return
        with self._freed:
            if not (discard or self._closed):
                self._idle.append(connection)
                self._freed.notify()
                return
            self._open -= 1
            self._freed.notify()
        self._close_quietly(connection)

    def close(self) -> None:
        with self._freed:
            self._closed = True
            self._freed.notify_all()
        self._drain_idle()

    def _drain_idle(self) -> None:
        with self._freed:
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            if idle:
                self._freed.notify_all()
        for connection in idle:
            self._close_quietly(connection)

    def _close_quietly(self, connection: C) -> None:
        try:
            self._close_connection(connection)
        except Exception:
            pass
