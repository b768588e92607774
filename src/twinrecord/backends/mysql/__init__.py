"""MySQL and MariaDB on mysql-connector-python: `MySQLConfig`, `MySQLBackend` (sync, the
driver's C extension) and `AsyncMySQLBackend` (`mysql.connector.aio` on `AsyncPool`).

The public face of the MySQL support; the code lives in `_core.py` (config, TLS
policy, server facts, sessions), `sync.py`, `aio.py` and
`_errors.py` (the error table).

Statements bypass the driver's cursors: the SQL arrives in driver form (`%s`, `%%`),
values are quoted by the driver's own converters and interpolated with `%`, and the
connection runs it (the sync kind through the C extension's MySQL object, the async
kind through `cmd_query`). Cursors re-scan every statement for `;` and never undouble
`%%`; skipping them is both faster and correct.
"""

from .._core import pair
from ._core import MySQLConfig, ServerFacts, driver_kwargs, server_facts, single_row_sql
from .aio import AsyncMySQLBackend
from .sync import MySQLBackend

pair(MySQLBackend, AsyncMySQLBackend)

__all__ = [
    "AsyncMySQLBackend",
    "MySQLBackend",
    "MySQLConfig",
    "ServerFacts",
    "driver_kwargs",
    "server_facts",
    "single_row_sql",
]
