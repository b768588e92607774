"""PostgreSQL on psycopg 3: `PostgresConfig`, the sync `PostgresBackend` and the async
`AsyncPostgresBackend`, their connection handling and the driver's error table.

This is the public face; the code that knows psycopg lives in `_core.py`
(config, connection arguments, error table, `$1` SQL, sessions), `sync.py`
and `aio.py`. Statement routing, transactions and logging live in
`backends/_core.py` / `backends/_transaction.py`; these modules supply the driver
primitives they call.

Choices, each measured (client and server pinned to one CPU, see
`benchmarks/bench_postgres.py`):
- Pools: the project's own `pools.SyncPool` and `pools.AsyncPool`, not psycopg_pool.
  A checkout plus return costs 0.15 us against 2.2 us (`ConnectionPool`) and 1.1 us
  against 3.4 us (`AsyncConnectionPool`), and a failed connection attempt surfaces at
  once as the driver's own error, where psycopg_pool retries in the background and
  reports only a timeout, hiding "role does not exist" or "connection refused".
- One cursor per pooled connection, reused by every statement: psycopg then keeps its
  adaptation state between runs of the same SQL object (the compiler's cache hands out
  the same string), 19.4 us against 24.6 us for a new cursor per primary-key get.
- Raw cursors with `$1` placeholders (`native_sql`): see there; a 2000-row insert
  takes a third of the time.
- Results in text format, psycopg's default. Binary would save about 0.4 us a
  statement, but psycopg returns bytes for binary values of types it has no loader
  for (citext, enums, PostGIS, ...), so a str field on such a column would break.

Connections run in autocommit mode; transactions are the explicit SQL of
`_transaction.py`. The async pool belongs to the event loop that made it: a
backend used from a new loop (one `asyncio.run()` per test or script) gets a
fresh pool for that loop, and pools of loops that have closed are dropped.
"""

from .._core import pair
from ._core import (
    PostgresConfig,
    connect_arguments,
    native_sql,
    scrubbed_reason,
    translate_error,
)
from .aio import AsyncPostgresBackend
from .sync import PostgresBackend

pair(PostgresBackend, AsyncPostgresBackend)

__all__ = [
    "AsyncPostgresBackend",
    "PostgresBackend",
    "PostgresConfig",
    "connect_arguments",
    "native_sql",
    "scrubbed_reason",
    "translate_error",
]
