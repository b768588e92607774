"""The work the database benchmarks do, and twinrecord's side of it, in both kinds.

What belongs here: the benchmark model (sync and async twins), the rows written, the
sizes and per-run state both contenders keep alike, the table of operations (label,
operations per run, whether each run starts from an empty table), twinrecord's loop
for each operation (the sync ones called, the async ones awaited) and the runners that
time the operations in a table. What stays in a script is what differs between
databases: the raw driver's loop for each operation and the database setup.

A raw side is a `Side` subclass with the same method names as `SyncOrm` (or `AsyncOrm`):
`measure` and `ameasure` find both contenders' work for an operation by its name.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, NamedTuple, Optional, TypeVar

from _common import Rows, aduel, best_rate, duel

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord

ROWS = 5000  # rows seeded for the reads, updates and deletes
BATCH = 2000  # rows per run of the transaction and insert_many operations
CATEGORIES = 250  # values of the indexed column: ROWS / CATEGORIES = 20 rows per query


def row(i: int) -> tuple[str, str, int, float, bool]:
    """Row i as the raw drivers bind it (name, email, category, score, active)."""
    return (f"user{i}", f"user{i}@example.com", i % CATEGORIES, i * 0.5, i % 2 == 0)


# A script whose table is not bench_users subclasses these to name its own.
class BenchUser(BaseActiveRecord):
    __table_name__ = "bench_users"
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool


class AsyncBenchUser(AsyncBaseActiveRecord):
    __table_name__ = "bench_users"
    id: Optional[int] = None
    name: str
    email: str
    category: int
    score: float
    active: bool


AnyUser = TypeVar("AnyUser", BenchUser, AsyncBenchUser)


def new_user(model: type[AnyUser], i: int) -> AnyUser:
    """Row i as a new, unsaved record. Keyword arguments written out, as an application
    would: a dict built and unpacked per record adds 0.1-0.3 us to twinrecord's side,
    a few percent of an insert_many row on SQLite."""
    return model(name=f"user{i}", email=f"user{i}@example.com", category=i % CATEGORIES,
                 score=i * 0.5, active=i % 2 == 0)


@dataclass(frozen=True)
class Sizes:
    repeats: int  # runs of each contender per operation; each keeps its best
    inserts: int  # rows inserted one by one, autocommitted, per run
    lookups: int  # gets, load-change-saves and updates per run
    queries: int  # indexed-column queries per run
    deletes: int  # per run, each run a fresh slice of the ROWS seeded: ROWS // (repeats + 1) at most
    tasks: int = 0  # concurrent gets: threads or tasks at once
    per_task: int = 0  # gets each of them does
    spread: int = 0  # key offset between one task's first get and the next task's
    # Each run of "update one column by pk" writes new values, for both contenders: an
    # update that changes nothing is cheaper on every database (MySQL skips it, SQLite
    # leaves its pages), which is not the work an application asks for.
    fresh_updates: bool = True


class Side:
    """What each contender keeps the same way: the sizes, the keys of its seeded rows
    (set after seeding), the run number new values are made from and the slice of keys
    its next delete run takes."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.ids: list[int] = []
        self._runs = itertools.count(1)
        self._delete_runs = 0

    def empty(self) -> None:
        """Empty this side's table (untimed, before each run of an insert operation)."""
        raise NotImplementedError

    def next_run(self) -> int:
        """A number no earlier run had: scores made from it differ from every stored
        one, so each save writes (a save of unchanged fields sends nothing)."""
        return next(self._runs)

    def update_base(self) -> int:
        """What this run of "update one column by pk" adds to every score it writes."""
        return self.next_run() if self.sizes.fresh_updates else 0

    def next_slice(self) -> list[int]:
        """Keys that no earlier delete run has deleted."""
        start = self._delete_runs * self.sizes.deletes
        self._delete_runs += 1
        return self.ids[start:start + self.sizes.deletes]


class Operation(NamedTuple):
    label: str
    name: str  # the method each side implements
    count: Callable[[Sizes], int]  # operations in one run
    from_empty: bool = False  # each run starts from an empty table


WRITES = (
    Operation("insert one (autocommit, id back)", "insert_one", lambda s: s.inserts, True),
    Operation(f"insert {BATCH} in one transaction", "insert_in_transaction", lambda s: BATCH, True),
    Operation(f"insert_many {BATCH}", "insert_many", lambda s: BATCH, True),
)
READS = (
    Operation("get by primary key", "get_by_pk", lambda s: s.lookups),
    Operation(f"fetch {ROWS} rows as models", "fetch_all", lambda s: ROWS),
    Operation(f"{ROWS // CATEGORIES} rows by indexed column", "by_index", lambda s: s.queries),
)
UPDATES = (
    Operation("load, change one field, save", "load_change_save", lambda s: s.lookups),
    Operation("update one column by pk (query)", "update_by_pk", lambda s: s.lookups),
    Operation("delete by primary key (query)", "delete_by_pk", lambda s: s.deletes),
)


def measure(
    operations: tuple[Operation, ...], raw: Side, ours: Side,
    alternate: bool = True, before: Callable[[], Any] | None = None,
) -> Rows:
    """One row per operation. `alternate`: the contenders take turns run by run (`duel`);
    otherwise all of raw's runs come first, then all of twinrecord's."""
    rows: Rows = []
    for op in operations:
        raw_work, our_work = getattr(raw, op.name), getattr(ours, op.name)
        raw_setup, our_setup = (raw.empty, ours.empty) if op.from_empty else (None, None)
        count, repeats = op.count(raw.sizes), raw.sizes.repeats
        if alternate:
            rates = duel(raw_work, our_work, count, repeats, raw_setup, our_setup, before)
        else:
            rates = (best_rate(raw_work, count, repeats, raw_setup),
                     best_rate(our_work, count, repeats, our_setup))
        rows.append((op.label, *rates))
    return rows


async def ameasure(
    operations: tuple[Operation, ...], raw: Side, ours: Side,
    before: Callable[[], Any] | None = None,
) -> Rows:
    """`measure` for async sides, always alternating."""
    rows: Rows = []
    for op in operations:
        raw_setup, our_setup = (raw.empty, ours.empty) if op.from_empty else (None, None)
        rates = await aduel(getattr(raw, op.name), getattr(ours, op.name), op.count(raw.sizes),
                            raw.sizes.repeats, raw_setup, our_setup, before)
        rows.append((op.label, *rates))
    return rows


def in_threads(worker: Callable[[int], Any], sizes: Sizes) -> None:
    """`worker(t * spread)` in each of `tasks` threads at once; returns when all are done."""
    threads = [threading.Thread(target=worker, args=(t * sizes.spread,)) for t in range(sizes.tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


async def gathered(task: Callable[[int], Awaitable[Any]], sizes: Sizes) -> None:
    """`task(t * spread)` for each of `tasks` tasks at once; returns when all are done."""
    await asyncio.gather(*(task(t * sizes.spread) for t in range(sizes.tasks)))


# ---- twinrecord's side ----------------------------------------------------------------
# The two classes mirror each other line for line (one calls, the other awaits): a change
# to one belongs in the other. Each loop copies what it uses into locals, as the raw
# loops do, so neither side pays attribute lookups the other does not.
class SyncOrm(Side):
    def __init__(self, model: type[BenchUser], sizes: Sizes, empty: Callable[[], Any]) -> None:
        super().__init__(sizes)
        self.model = model
        self._empty = empty

    def empty(self) -> None:
        self._empty()

    def insert_one(self) -> None:
        model = self.model
        for i in range(self.sizes.inserts):
            user = new_user(model, i)
            user.save()
            assert user.id

    def insert_in_transaction(self) -> None:
        model = self.model
        with model.transaction():
            for i in range(BATCH):
                new_user(model, i).save()

    def insert_many(self) -> None:
        model = self.model
        model.insert_many([new_user(model, i) for i in range(BATCH)])

    def get_by_pk(self) -> None:
        model, ids = self.model, self.ids
        for k in range(self.sizes.lookups):
            model.find_one(ids[k % ROWS])

    def fetch_all(self) -> None:
        self.model.query().all()

    def by_index(self) -> None:
        model = self.model
        for k in range(self.sizes.queries):
            model.query().where({"category": k % CATEGORIES}).all()

    def load_change_save(self) -> None:
        model, ids, run = self.model, self.ids, self.next_run()
        for k in range(self.sizes.lookups):
            user = model.find_one(ids[k % ROWS])
            assert user is not None
            user.score = run + k * 1.5
            assert user.save() == 1

    def update_by_pk(self) -> None:
        model, ids, base = self.model, self.ids, self.update_base()
        for k in range(self.sizes.lookups):
            model.query().where({"id": ids[k % ROWS]}).update({"score": base + k * 2.5})

    def delete_by_pk(self) -> None:
        model = self.model
        for key in self.next_slice():
            model.query().where({"id": key}).delete()

    def gets_from(self, offset: int) -> None:
        """One thread's share of the concurrent gets."""
        model, ids = self.model, self.ids
        for k in range(self.sizes.per_task):
            model.find_one(ids[(offset + k) % ROWS])

    def concurrent_gets(self) -> None:
        in_threads(self.gets_from, self.sizes)


class AsyncOrm(Side):
    def __init__(self, model: type[AsyncBenchUser], sizes: Sizes, empty: Callable[[], Any]) -> None:
        super().__init__(sizes)
        self.model = model
        self._empty = empty

    def empty(self) -> None:
        self._empty()

    async def insert_one(self) -> None:
        model = self.model
        for i in range(self.sizes.inserts):
            user = new_user(model, i)
            await user.save()
            assert user.id

    async def insert_in_transaction(self) -> None:
        model = self.model
        async with model.transaction():
            for i in range(BATCH):
                await new_user(model, i).save()

    async def insert_many(self) -> None:
        model = self.model
        await model.insert_many([new_user(model, i) for i in range(BATCH)])

    async def get_by_pk(self) -> None:
        model, ids = self.model, self.ids
        for k in range(self.sizes.lookups):
            await model.find_one(ids[k % ROWS])

    async def fetch_all(self) -> None:
        await self.model.query().all()

    async def by_index(self) -> None:
        model = self.model
        for k in range(self.sizes.queries):
            await model.query().where({"category": k % CATEGORIES}).all()

    async def load_change_save(self) -> None:
        model, ids, run = self.model, self.ids, self.next_run()
        for k in range(self.sizes.lookups):
            user = await model.find_one(ids[k % ROWS])
            assert user is not None
            user.score = run + k * 1.5
            assert await user.save() == 1

    async def update_by_pk(self) -> None:
        model, ids, base = self.model, self.ids, self.update_base()
        for k in range(self.sizes.lookups):
            await model.query().where({"id": ids[k % ROWS]}).update({"score": base + k * 2.5})

    async def delete_by_pk(self) -> None:
        model = self.model
        for key in self.next_slice():
            await model.query().where({"id": key}).delete()

    async def gets_from(self, offset: int) -> None:
        """One task's share of the concurrent gets."""
        model, ids = self.model, self.ids
        for k in range(self.sizes.per_task):
            await model.find_one(ids[(offset + k) % ROWS])

    async def concurrent_gets(self) -> None:
        await gathered(self.gets_from, self.sizes)
