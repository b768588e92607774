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
    ) -> None:
        self._connect = connect
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
            return self._idle.pop()  # list.pop is atomic: the common case takes no lock
        except IndexError:
            pass
        # Outside the handler: a connect error must not chain this IndexError (§2).
        return self._acquire_slow()

    def _acquire_slow(self) -> C:
        deadline = monotonic() + self._timeout
        with self._freed:
            while True:
                if self._closed:
                    raise ConnectionNotEstablished(f"{self._name}: the pool is closed")
                if self._idle:
                    return self._idle.pop()
                if self._open < self._max_size:
                    self._open += 1
                    break
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
        try:
            return self._connect()
        except BaseException:
            with self._freed:
                self._open -= 1
                self._freed.notify()
            raise

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
        for connection in idle:
            self._close_quietly(connection)

    def _close_quietly(self, connection: C) -> None:
        try:
            self._close_connection(connection)
        except Exception:
            pass
