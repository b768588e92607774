"""What the sync and async MySQL backends share: `MySQLConfig`, driver options and TLS
policy, facts read from the server, and the session wrapper each pool holds.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import math
import os
from collections.abc import Callable, Generator, Sequence
from time import monotonic
from typing import Any, Literal, NoReturn

from ...errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    statement_invalid,
)
from ...plan import Request
from .._config import ServerConfig, mask_url, parse_server_url

try:
    import mysql.connector as _connector
    from mysql.connector.constants import ClientFlag, ServerFlag
except ImportError as _missing:  # pragma: no cover - depends on the environment
    raise ConfigurationError(
        "MySQL support needs mysql-connector-python: pip install 'twinrecord[mysql]'"
    ) from _missing

log = logging.getLogger("twinrecord.mysql")

TLSPolicy = Literal["disabled", "preferred", "required"]

# Connection options twinrecord owns: a user overriding them would break transactions

# (autocommit), rows-affected semantics (client_flags) or the C extension (use_pure).
_MANAGED_OPTIONS = frozenset(
    {
        "autocommit",
        "client_flags",
        "use_pure",
        "host",
        "port",
        "user",
        "password",
        "database",
        "charset",
        "collation",
        "connection_timeout",
        "connect_timeout",
        "pool_name",
        "pool_size",
        "buffered",
        "raw",
        "consume_results",
    }
)
# Rows matched, not changed (FOUND_ROWS); never several statements in one string: with
# the driver's default MULTI_STATEMENTS, "SELECT 1; SELECT 2" would leave the second
# result queued on the pooled connection for whatever statement comes next (§4).
_CLIENT_FLAGS = (ClientFlag.get_default() & ~ClientFlag.MULTI_STATEMENTS) | ClientFlag.FOUND_ROWS
_NO_BACKSLASH = ServerFlag.STATUS_NO_BACKSLASH_ESCAPES
_SERVER_FACTS_SQL = (
    "SELECT @@session.auto_increment_increment, @@innodb_autoinc_lock_mode, VERSION(), "
    "@@session.max_allowed_packet"
)
_TLS_STATUS_SQL = "SHOW SESSION STATUS LIKE 'Ssl_cipher'"
# What sending a statement led to (the sync backend's `_send`); _SKIPPED is a rollback
# on a dropped connection, which the async backend answers with _SKIPPED_REPLY.
_DONE, _ROWS, _SKIPPED = 0, 1, 2
# What the server accepts when it does not say (its default since MariaDB 10.2 / MySQL 8
# is larger), and the bytes a packet needs beside the statement text.
_DEFAULT_MAX_PACKET = 16 * 1024 * 1024
_PACKET_HEADROOM = 1024
_SKIPPED_REPLY: dict[str, Any] = {"affected_rows": 0, "insert_id": 0}


# ---- configuration ----------------------------------------------------------------------


@dataclasses.dataclass(kw_only=True, repr=False)
class MySQLConfig(ServerConfig):
    """Where and how to connect. `repr()` masks the password.

    TLS: `ssl_disabled=None` (the default) uses TLS when the server offers it and plain
    TCP otherwise; `ssl_disabled=True` never uses TLS; `ssl_disabled=False` or any
    `ssl_*` option requires TLS and refuses a server without it.
    """

    host: str = "127.0.0.1"
    port: int = 3306
    database: str | None = None
    user: str = "root"
    password: str = ""
    unix_socket: str | None = None
    charset: str = "utf8mb4"
    collation: str | None = None
    # A connection idle longer than this is pinged before reuse, so one the server
    # dropped meanwhile (wait_timeout, a restart) is replaced instead of failing.
    ping_after: float = 60.0
    ssl_disabled: bool | None = None
    ssl_ca: str | None = None
    ssl_cert: str | None = None
    ssl_key: str | None = None
    ssl_verify_cert: bool = False
    ssl_verify_identity: bool = False
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = self.server_option_problems()
        if not 0 < self.port < 65536:
            problems.append(f"port must be 1..65535, got {self.port}")
        managed = sorted(_MANAGED_OPTIONS & set(self.options))
        if managed:
            problems.append(
                f"options may not set {', '.join(managed)}: twinrecord manages them "
                "(use the config's own fields where there is one)"
            )
        if self.ssl_disabled is True and self._tls_requested():
            problems.append("ssl_disabled=True contradicts the ssl_* options given")
        if problems:
            raise ConfigurationError(f"{self!r}: " + "; ".join(problems))

    @classmethod
    def from_url(cls, url: str) -> MySQLConfig:
        """mysql://user:password@host:port/database?pool_size=5 (also mariadb://)."""
        scheme = url.split(":", 1)[0].lower().split("+", 1)[0]
        if scheme not in ("mysql", "mariadb"):
            raise ConfigurationError(f"not a mysql:// or mariadb:// URL: {mask_url(url)!r}")
        options = parse_server_url(url)
        if "options" in options:
            raise ConfigurationError(
                f"'options' cannot be set in a URL ({mask_url(url)!r}); pass "
                "MySQLConfig(options={...})"
            )
        return cls.from_options(options, repr(mask_url(url)))

    def _tls_requested(self) -> bool:
        return bool(
            self.ssl_ca
            or self.ssl_cert
            or self.ssl_key
            or self.ssl_verify_cert
            or self.ssl_verify_identity
        )

    @property
    def tls_policy(self) -> TLSPolicy:
        if self.ssl_disabled is True:
            return "disabled"
        if self.ssl_disabled is False or self._tls_requested():
            return "required"
        return "preferred"

    @property
    def location(self) -> str:
        """host:port and database, for messages (never the password)."""
        where = self.unix_socket or f"{self.host}:{self.port}"
        return f"MySQL server {where}, database {self.database!r}, user {self.user!r}"


def driver_kwargs(config: MySQLConfig, *, is_async: bool) -> dict[str, Any]:
    """The keyword arguments the driver's connection class is built with."""
    kwargs: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "user": config.user,
        "password": config.password,
        "charset": config.charset,
        "autocommit": True,  # transactions are explicit SQL (_transaction.py)
        "client_flags": _CLIENT_FLAGS,
        # The C client takes whole seconds; never round a small timeout down to "none".
        "connection_timeout": max(1, math.ceil(config.connect_timeout)),
    }
    optional = {
        "database": config.database,
        "unix_socket": config.unix_socket,
        "collation": config.collation,
    }
    kwargs.update({key: value for key, value in optional.items() if value})
    kwargs.update(_tls_kwargs(config))
    if not is_async:
        kwargs["use_pure"] = False
    kwargs.update(config.options)
    return kwargs


def _tls_kwargs(config: MySQLConfig) -> dict[str, Any]:
    policy = config.tls_policy
    if policy == "disabled":
        return {"ssl_disabled": True}
    given = {
        "ssl_ca": config.ssl_ca,
        "ssl_cert": config.ssl_cert,
        "ssl_key": config.ssl_key,
        "ssl_verify_cert": config.ssl_verify_cert,
        "ssl_verify_identity": config.ssl_verify_identity,
    }
    kwargs: dict[str, Any] = {key: value for key, value in given.items() if value}
    kwargs["ssl_disabled"] = False
    return kwargs


_NO_TLS = (
    "TLS is required (ssl_disabled=False or an ssl_* option) but the server does not "
    "offer it; enable TLS on the server or set ssl_disabled=True"
)


def _no_tls_error(config: MySQLConfig) -> ConnectionNotEstablished:
    return ConnectionNotEstablished(f"cannot connect to {config.location}: {_NO_TLS}")


# ---- server facts -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ServerFacts:
    """What a new connection learns once, in one query."""

    version: str
    id_step: int | None  # auto-increment step when a multi-row INSERT gets consecutive ids
    max_packet: int = _DEFAULT_MAX_PACKET  # the server's max_allowed_packet, in bytes

    @property
    def is_mariadb(self) -> bool:
        return "mariadb" in self.version.lower()

    @property
    def statement_budget(self) -> int:
        """The longest statement text that fits in one packet the server accepts."""
        return max(1, self.max_packet - _PACKET_HEADROOM)


def server_facts(row: Sequence[Any]) -> ServerFacts:
    """From (auto_increment_increment, innodb_autoinc_lock_mode, VERSION(),
    max_allowed_packet)."""
    increment, lock_mode, version, max_packet = row
    # Lock modes 0 ('traditional') and 1 ('consecutive', MariaDB's default) give every
    # simple multi-row INSERT consecutive ids; mode 2 ('interleaved', MySQL 8's default)
    # documents no such guarantee, so those INSERTs fall back to one row per statement.
    consecutive = lock_mode is not None and int(lock_mode) in (0, 1)
    packet = int(max_packet) if max_packet else _DEFAULT_MAX_PACKET
    return ServerFacts(str(version), int(increment) if consecutive else None, packet)


def session_settings(config: MySQLConfig, facts: ServerFacts) -> list[str]:
    """The SET statements every new connection runs: the config's default isolation
    level (§5: READ COMMITTED unless configured otherwise) and statement timeout."""
    statements = [f"SET SESSION TRANSACTION ISOLATION LEVEL {config.isolation_level}"]
    timeout = config.statement_timeout
    if timeout is not None:
        if facts.is_mariadb:  # seconds, fractions allowed
            statements.append(f"SET SESSION max_statement_time = {float(timeout)!r}")
        else:  # MySQL: milliseconds, SELECT statements only
            statements.append(f"SET SESSION max_execution_time = {max(1, round(timeout * 1000))}")
    return statements


def _first_row(rows: Sequence[Any]) -> Sequence[Any]:
    return tuple(rows[0]) if rows else ()


# ---- sessions ---------------------------------------------------------------------------


class Session:
    """A pooled connection plus what twinrecord tracks about it.

    `busy` is set while a statement runs; a session released while still busy was
    interrupted mid-statement (cancellation, KeyboardInterrupt) and is never reused.
    `dead` marks a connection the server or network dropped.
    """

    __slots__ = (
        "busy",
        "connection",
        "dead",
        "driver",
        "facts",
        "generation",
        "no_backslash",
        "pool",
        "released_at",
        "thread_id",
    )

    def __init__(self, connection: Any, pool: Any = None) -> None:
        self.connection = connection
        # The C extension's MySQL object, which the sync backend drives directly.
        self.driver: Any = getattr(connection, "_cmysql", None)
        self.pool = pool
        self.busy = False
        self.dead = False
        self.no_backslash = False
        self.facts = ServerFacts("", None)
        self.thread_id: int | None = connection.connection_id
        self.released_at: float | None = None  # None: never used, so surely alive
        self.generation = _process_generation[0]

    @property
    def reusable(self) -> bool:
        return not (self.busy or self.dead)

    @property
    def inherited(self) -> bool:
        """Opened by the parent of this (forked) process: never to be used nor closed."""
        return self.generation != _process_generation[0]


# ---- fork -------------------------------------------------------------------------------
# How many forks separate this process from the one that imported twinrecord: a session
# opened before a fork belongs to the parent, whose socket the child shares.
_process_generation = [0]
_on_fork: list[Callable[[], None]] = []


def at_fork_in_child(forget: Callable[[], None]) -> None:
    """Call `forget` in every forked child (a backend module registers its backends')."""
    _on_fork.append(forget)


def _after_fork_in_child() -> None:
    _process_generation[0] += 1
    for forget in _on_fork:
        forget()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


def keep_forever(thing: Any) -> None:
    """In a forked child, never free `thing` (the parent's pools and connections): the
    C extension's connection sends COM_QUIT when freed, which would end the parent's
    session on the socket both processes share. A reference never given back keeps it
    alive through interpreter shutdown too; the process's exit releases the memory."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(thing))


def _needs_ping(session: Session, config: MySQLConfig) -> bool:
    """Whether a session taken from the pool is checked before use: always with
    `pool_pre_ping`, else when it sat idle long enough that the server may have
    dropped it. A connection opened for this very statement never is."""
    released = session.released_at
    if released is None:
        return False
    return config.pool_pre_ping or monotonic() - released >= config.ping_after


def _is_rollback(sql: str) -> bool:
    head = sql.lstrip()[:18].upper()
    return head.startswith("ROLLBACK") or head.startswith("RELEASE SAVEPOINT")


def _refuse_broken(sql: str, config: MySQLConfig) -> bool:
    """For a session whose connection is unusable: True to skip a rollback, else raise.

    A connection dropped mid-transaction has rolled back on the server already, so
    the ROLLBACK a failing `transaction()` block sends is a no-op; anything else
    (COMMIT included) must fail loudly.
    """
    if _is_rollback(sql):
        return True
    raise ConnectionNotEstablished(
        f"the connection to {config.location} was lost, or a statement on it was "
        "interrupted; the server has rolled back its transaction"
    )


def _raise_as_driver_error(error: Exception) -> NoReturn:
    """Re-raise the C extension's bare error as the driver's documented exception class
    (what `cmd_query` would raise), so users find a `mysql.connector.Error` as cause."""
    errno = getattr(error, "errno", None)
    if isinstance(error, _connector.Error) or not isinstance(errno, int):
        raise error
    raise _connector.errors.get_mysql_exception(
        errno, msg=getattr(error, "msg", None), sqlstate=getattr(error, "sqlstate", None)
    ) from error


# ---- generated keys without RETURNING, and INSERTs too large for one packet ----------------
def consecutive_keys(first: int, row_count: int, step: int | None) -> list[int]:
    """The keys of a multi-row INSERT whose server hands out consecutive ids."""
    return list(range(first, first + row_count * (step or 1), step or 1))


_VALUES = " VALUES "


@dataclasses.dataclass(frozen=True)
class InsertShape:
    """A multi-row `INSERT ... VALUES (%s, ...), (%s, ...)` as the compiler writes it."""

    head: str  # everything up to and including " VALUES "
    row: str  # one row's placeholders: "(%s, %s)"
    width: int  # values per row
    row_count: int

    def sql(self, row_count: int) -> str:
        return self.head + ", ".join([self.row] * row_count)


def insert_shape(sql: str, param_count: int) -> InsertShape | None:
    """The shape of `sql` if it is a compiled multi-row INSERT of `param_count` values,
    else None (any other statement, which is never split)."""
    at = sql.find(_VALUES)
    if at < 0 or sql[:6].upper() != "INSERT":
        return None
    head = sql[: at + len(_VALUES)]
    end = sql.find(")", len(head))
    row = sql[len(head) : end + 1]
    width = row.count("%s")
    if end < 0 or not row.startswith("(") or width == 0 or param_count % width:
        return None
    shape = InsertShape(head, row, width, param_count // width)
    return shape if sql == shape.sql(shape.row_count) else None


def single_row_sql(sql: str, width: int, row_count: int) -> str:
    """The one-row form of a multi-row `INSERT ... VALUES (...), (...)` from the compiler."""
    shape = insert_shape(sql, width * row_count)
    if shape is None or shape.width != width:
        raise ConfigurationError(
            "cannot split this multi-row INSERT into single rows (unexpected shape); "
            f"SQL: {sql[:200]}"
        )
    return shape.sql(1)


def packet_parts(shape: InsertShape, literal_sizes: Sequence[int], budget: int) -> list[int]:
    """Row counts of consecutive parts of an INSERT, each statement at most `budget`
    bytes long given each value's size as SQL text. A row that alone exceeds the budget
    gets a part of its own (which the server will refuse, and the backend before it)."""
    width = shape.width
    head = len(shape.head.encode())
    # "(" + ")" and the ", " between values, and the ", " before every row but the first
    row_frame = len(shape.row.encode()) - 2 * width + 2
    parts: list[int] = []
    rows, size = 0, head
    for start in range(0, len(literal_sizes), width):
        cost = sum(literal_sizes[start : start + width]) + row_frame
        if rows and size + cost > budget:
            parts.append(rows)
            rows, size = 0, head
        rows += 1
        size += cost
    if rows:
        parts.append(rows)
    return parts


def too_large(size: int, facts: ServerFacts, sql: str, params: Sequence[Any]) -> DatabaseError:
    """Refused before sending: the server would drop the connection on such a packet."""
    return statement_invalid(
        f"this statement is {size} bytes long, more than the server's max_allowed_packet "
        f"({facts.max_packet} bytes) allows; nothing was sent. Send smaller values or "
        "raise max_allowed_packet on the server",
        sql,
        params,
    )


class OnSession(Request):
    """Run one statement on a given session: the result is its LAST_INSERT_ID, or its
    rows affected when `want_id` is false."""

    __slots__ = ("params", "session", "sql", "want_id")

    def __init__(
        self, session: Session, sql: str, params: Sequence[Any], want_id: bool = True
    ) -> None:
        self.session = session
        self.sql = sql
        self.params = params
        self.want_id = want_id

    def perform(self, backend: Any) -> Any:
        if self.want_id:
            return backend._statement_id(self.session, self.sql, self.params)
        return backend._execute(self.session, self.sql, self.params)


def parts_plan(
    session: Session,
    sql: str,
    params: Sequence[Any],
    literal_sizes: Callable[[], list[int]],
    want_keys: bool,
) -> Generator[Request, Any, Any] | None:
    """The plan that sends a multi-row INSERT in parts: when it is too long for one
    packet, or wants keys the server does not promise to make consecutive. None when
    `sql` is no multi-row INSERT (it is then sent whole, or refused as too long)."""
    shape = insert_shape(sql, len(params))
    step = session.facts.id_step
    if shape is None or shape.row_count < 2:
        if want_keys and step is None and len(params) > 0 and shape is None:
            raise ConfigurationError(
                "cannot split this multi-row INSERT into single rows (unexpected shape); "
                f"SQL: {sql[:200]}"
            )
        return None
    parts = packet_parts(shape, literal_sizes(), session.facts.statement_budget)
    return insert_in_parts_plan(session, shape, params, parts, step, want_keys)


def insert_in_parts_plan(
    session: Session,
    shape: InsertShape,
    params: Sequence[Any],
    parts: Sequence[int],
    step: int | None,
    want_keys: bool,
) -> Generator[Request, Any, Any]:
    """One multi-row INSERT sent as several (`parts` rows each; one row per statement
    when keys are wanted but the server does not promise consecutive ids, as MySQL 8's
    innodb_autoinc_lock_mode=2), atomic like the statement it replaces. The result is
    the keys (`want_keys`) or the rows affected. Written once; each backend drives it
    with `run` or `arun`."""
    if want_keys and step is None:
        parts = [1] * shape.row_count
    own_transaction = not session.connection.in_transaction
    if own_transaction:
        yield OnSession(session, "START TRANSACTION", ())
    try:
        keys: list[int] = []
        affected = 0
        start = 0
        for rows in parts:
            end = start + rows * shape.width
            chunk = params[start:end]
            start = end
            if want_keys:
                first = yield OnSession(session, shape.sql(rows), chunk)
                keys.extend(consecutive_keys(first, rows, step))
            else:
                affected += yield OnSession(session, shape.sql(rows), chunk, want_id=False)
    except Exception:
        if own_transaction and session.reusable:
            yield OnSession(session, "ROLLBACK", ())
        raise
    if own_transaction:
        yield OnSession(session, "COMMIT", ())
    return keys if want_keys else affected
