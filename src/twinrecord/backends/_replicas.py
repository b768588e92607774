"""Read replicas (API.md §18): which server a read goes to, and where it goes when a
replica is unreachable.

A primary backend given replicas holds a `ReplicaSet`: the replicas (backends of its own
class, each with pools of its own), the round-robin position, the replicas marked down
until a time, and two context variables (so they follow asyncio tasks and threads): reads
pinned to the primary (`Model.using('primary')`) and the time until which reads stay on
the primary after a write (`sticky_seconds`).

A read plan runs against a `ReadRoute` instead of the backend: each read statement goes
to the first of `targets()` that answers; a replica that raises
`ConnectionNotEstablished` because it could not be reached is marked down for
`replica_retry_seconds` (with a warning on the `twinrecord` logger) and the statement
moves on to the next one, then to the primary. A replica whose pool had no free
connection within `pool_timeout` is not down: the read raises that error and the
replica stays in the rotation. Everything else a plan asks of the backend is the
primary's. Written once as a plan, driven by `run` or `arun`. A stream (`_stream.py`)
asks `read_targets()` once and opens its cursor the same way.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Generator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar, Token
from time import monotonic
from typing import Any, ClassVar

from ..errors import ConfigurationError, ConnectionNotEstablished
from ..plan import Request, arun, run
from ..sql.dialect import Dialect
from .pools.aio import PoolClosed, PoolTimeout

log = logging.getLogger("twinrecord")
ROLES = ("primary",)


def check_role(role: str) -> None:
    """`using()` takes 'primary' (the one role a read can be pinned to)."""
    if role not in ROLES:
        raise ConfigurationError(
            f"using({role!r}): the role must be 'primary' (reads go to a replica unless "
            "pinned to the primary)"
        )


def describe(backend: Any) -> str:
    config = backend.config
    return f"{config.host}:{config.port}/{config.database}"


class ReplicaSet:
    """A primary's replicas and the state that routes reads among them."""

    def __init__(self, primary: Any, replicas: Sequence[Any]) -> None:
        self.primary = primary
        self.replicas = tuple(replicas)
        config = primary.config
        self.sticky_seconds = float(config.sticky_seconds)
        self.retry_seconds = float(config.replica_retry_seconds)
        self._turn = itertools.count()
        self._down_until: dict[int, float] = {}
        key = id(primary)
        self.pinned: ContextVar[bool] = ContextVar(f"twinrecord_pinned_{key}", default=False)
        self.sticky_until: ContextVar[float] = ContextVar(f"twinrecord_sticky_{key}", default=0.0)
        route_class = AsyncReadRoute if primary.is_async else SyncReadRoute
        self.route = route_class(primary, self, pinned=False)
        self.primary_route = route_class(primary, self, pinned=True)

    def targets(self) -> list[Any]:
        """The replicas to try for a read now, in turn; empty when the primary answers:
        a transaction is open in this task or thread, reads are pinned, or a write in
        this task or thread was less than `sticky_seconds` ago."""
        if self.primary._tx.get() is not None or self.pinned.get():
            return []
        now = monotonic()
        if self.sticky_until.get() > now:
            return []
        count = len(self.replicas)
        start = next(self._turn) % count
        chosen = []
        for offset in range(count):
            index = (start + offset) % count
            until = self._down_until.get(index)
            if until is not None:
                if until > now:
                    continue
                # Its time is up: try it again (pop: two threads may get here at once).
                self._down_until.pop(index, None)
            chosen.append(self.replicas[index])
        return chosen

    def mark_down(self, replica: Any, error: ConnectionNotEstablished) -> None:
        index = self.replicas.index(replica)
        self._down_until[index] = monotonic() + self.retry_seconds
        log.warning(
            "read replica %s is unreachable, so reads skip it for %g s "
            "(replica_retry_seconds) and go to the next replica or the primary: %s",
            describe(replica), self.retry_seconds, error,
        )

    def note_write(self) -> None:
        """A write was sent: reads in this task or thread stay on the primary a while."""
        if self.sticky_seconds > 0:
            self.sticky_until.set(monotonic() + self.sticky_seconds)

    def pin(self) -> Token[bool]:
        return self.pinned.set(True)


def unreachable(error: ConnectionNotEstablished) -> bool:
    """A server that could not be reached or dropped the connection (the driver's error
    is the cause), not a pool that had no free connection in time or was closed (no
    cause on the sync kind, the pool's own error on the async kind): an exhausted
    replica pool is load, not failure, so the read fails with it as it would without
    replicas, and the replica stays in the rotation."""
    cause = error.__cause__
    return cause is not None and not isinstance(cause, (PoolTimeout, PoolClosed))


class ReadOn(Request):
    """A read statement on a given backend: its `op` (`_fetch`, ...) through its routing."""

    __slots__ = ("op", "params", "sql", "target")

    def __init__(self, target: Any, op: str, sql: str, params: Sequence[Any]) -> None:
        self.target = target
        self.op = op
        self.sql = sql
        self.params = params

    def perform(self, backend: Any) -> Any:
        target = self.target
        return target._route(getattr(target, self.op), self.sql, self.params)


def read_plan(
    replicas: Sequence[Any], replica_set: ReplicaSet, op: str, sql: str, params: Sequence[Any]
) -> Generator[Request, Any, Any]:
    """The read on the first replica that answers, else on the primary."""
    for replica in replicas:
        try:
            return (yield ReadOn(replica, op, sql, params))
        except ConnectionNotEstablished as error:
            if not unreachable(error):
                raise
            replica_set.mark_down(replica, error)
    return (yield ReadOn(replica_set.primary, op, sql, params))


class ReadRoute:
    """What a read plan runs against on a backend with replicas: read statements are
    routed (`pinned`: always to the primary, for `using('primary')` and `for_update()`),
    everything else is the primary's."""

    is_async: ClassVar[bool]
    dialect: Dialect

    def __init__(self, primary: Any, replica_set: ReplicaSet, pinned: bool) -> None:
        self._primary = primary
        self._replica_set = replica_set
        self._pinned = pinned
        self.dialect = primary.dialect

    def __repr__(self) -> str:
        return f"<reads of {self._primary!r}{' (pinned to the primary)' if self._pinned else ''}>"

    def __getattr__(self, name: str) -> Any:
        return getattr(self._primary, name)

    def read_targets(self) -> tuple[Any, ReplicaSet, list[Any]]:
        """(the primary, the replica set, the replicas a read tries first, in turn): a
        stream opens its cursor on the first that answers (`_stream.py`)."""
        replicas = [] if self._pinned else self._replica_set.targets()
        return self._primary, self._replica_set, replicas

    def _read(self, op: str, sql: str, params: Sequence[Any]) -> Any:
        primary = self._primary
        replicas = [] if self._pinned else self._replica_set.targets()
        if not replicas:
            return primary._route(getattr(primary, op), sql, params)
        plan = read_plan(replicas, self._replica_set, op, sql, params)
        return arun(plan, primary) if self.is_async else run(plan, primary)

    def run_fetch(self, sql: str, params: Sequence[Any]) -> Any:
        return self._read("_fetch", sql, params)

    def run_fetch_table(self, sql: str, params: Sequence[Any]) -> Any:
        return self._read("_fetch_table", sql, params)

    def run_fetch_warned(self, sql: str, params: Sequence[Any]) -> Any:
        return self._read("_fetch_warned", sql, params)

    # A read plan sends no writes; if one did, it would go to the primary as a write.
    def run_execute(self, sql: str, params: Sequence[Any]) -> Any:
        return self._primary.run_execute(sql, params)

    def run_insert(self, sql: str, params: Sequence[Any], row_count: int) -> Any:
        return self._primary.run_insert(sql, params, row_count)

    def transaction(self, isolation_level: str | None = None) -> Any:
        return self._primary.transaction(isolation_level)


class SyncReadRoute(ReadRoute):
    is_async: ClassVar[bool] = False


class AsyncReadRoute(ReadRoute):
    is_async: ClassVar[bool] = True


class PinPrimary(AbstractContextManager[None]):
    """`with Model.using('primary'):` reads of this task or thread go to the primary of
    each given backend (plain `with` on both kinds: no I/O)."""

    def __init__(self, backends: Sequence[Any]) -> None:
        self._sets = [b.replica_set for b in backends if b.replica_set is not None]
        self._tokens: list[list[Token[bool]]] = []

    def __enter__(self) -> None:
        self._tokens.append([replica_set.pin() for replica_set in self._sets])

    def __exit__(self, *exc: object) -> None:
        for replica_set, token in zip(self._sets, self._tokens.pop()):
            replica_set.pinned.reset(token)
