"""MySQL and MariaDB on mysql-connector-python: `MySQLConfig`, `MySQLBackend` (sync, the
driver's C extension) and `AsyncMySQLBackend` (`mysql.connector.aio` on `AsyncPool`).

The public face of the MySQL support; the code lives in `_mysql_core.py` (config, TLS
policy, server facts, sessions), `_mysql_sync.py`, `_mysql_aio.py` and
`_mysql_errors.py` (the error table).

Statements bypass the driver's cursors: the SQL arrives in driver form (`%s`, `%%`),
values are quoted by the driver's own converters and interpolated with `%`, and the
connection runs it (the sync kind through the C extension's MySQL object, the async
kind through `cmd_query`). Cursors re-scan every statement for `;` and never undouble
`%%`; skipping them is both faster and correct.
"""

from ._mysql_aio import AsyncMySQLBackend
from ._mysql_core import MySQLConfig, ServerFacts, driver_kwargs, server_facts, single_row_sql
from ._mysql_sync import MySQLBackend

__all__ = [
    "AsyncMySQLBackend",
    "MySQLBackend",
    "MySQLConfig",
    "ServerFacts",
    "driver_kwargs",
    "server_facts",
    "single_row_sql",
]
