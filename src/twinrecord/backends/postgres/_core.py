"""What the sync and async PostgreSQL backends share: `PostgresConfig`, connection
arguments, the error table, SQL in PostgreSQL's own placeholders, and the pooled
session with its statement runners.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import pq

from ...errors import (
    HIDDEN_VALUE,
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    Deadlocked,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordNotUnique,
    SerializationFailure,
    StatementInvalid,
    TransactionRollbackError,
    statement_invalid,
)
from .._config import ServerConfig, mask_url, parse_server_url
from . import _arrays  # noqa: F401  # sends ColumnValues in binary

SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# The server parameters PgBouncer keeps per client and sets again on whichever server
# connection the client's next transaction gets: the only session state that survives
# transaction pooling.
PGBOUNCER_TRACKED = ("client_encoding", "datestyle", "timezone",
                     "standard_conforming_strings", "application_name")
# psycopg's C implementation reports the status as a plain int: compare by value.
_IDLE = int(pq.TransactionStatus.IDLE)
_RECOVERABLE = frozenset({int(pq.TransactionStatus.INTRANS), int(pq.TransactionStatus.INERROR)})


# ---- configuration ---------------------------------------------------------------------
@dataclasses.dataclass(kw_only=True, repr=False)
class PostgresConfig(ServerConfig):
    """Where the server is and how to talk to it; URL query parameters set the same names.

    `options` passes any other libpq connection parameter (`{'target_session_attrs':
    'read-write'}`); `server_settings` sets server parameters on every connection
    (`{'search_path': 'app', 'synchronous_commit': 'off'}`). Timeouts are seconds.

    `pgbouncer=True`: safe behind PgBouncer's transaction pooling, where each
    transaction (and each statement outside one) may run on another server session.
    Nothing is prepared (`prepare_threshold` None); no `options` startup parameter
    (PgBouncer refuses it); TimeZone is set with `set_config()`, which PgBouncer tracks
    per client; transactions name their isolation level in BEGIN instead of relying on
    the session's default. Settings PgBouncer cannot carry are refused here.
    """

    host: str = "127.0.0.1"
    port: int = 5432
    database: str
    user: str | None = None
    password: str | None = None
    application_name: str = "twinrecord"
    sslmode: str | None = None
    prepare_threshold: int | None = 5  # psycopg prepares a statement on its 5th run; None: never
    pgbouncer: bool = False  # behind PgBouncer's transaction pooling (see above)
    server_settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    options: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = self.server_option_problems()
        if problems:
            raise ConfigurationError(f"{type(self).__name__}: " + "; ".join(problems))
        if self.sslmode is not None and self.sslmode not in SSL_MODES:
            raise ConfigurationError(
                f"sslmode {self.sslmode!r} is not one of {', '.join(SSL_MODES)}"
            )
        if self.pgbouncer:
            self._check_pgbouncer()

    def _check_pgbouncer(self) -> None:
        """Refuse what transaction pooling would silently lose; never prepare."""
        self.prepare_threshold = None  # a prepared statement lives in one server session
        problems = []
        if self.statement_timeout is not None:
            problems.append(
                "statement_timeout is a session setting PgBouncer does not carry between "
                "server connections: set it on the role (ALTER ROLE app SET "
                "statement_timeout = '5s') or use PgBouncer's query_timeout"
            )
        lost = [name for name in self.server_settings if name.lower() not in PGBOUNCER_TRACKED]
        if lost:
            problems.append(
                f"server_settings {', '.join(map(repr, lost))}: PgBouncer carries only "
                f"{', '.join(PGBOUNCER_TRACKED)} between server connections; set the others "
                "on the role or database (ALTER ROLE app SET search_path = ...)"
            )
        if "options" in self.options:
            problems.append("PgBouncer refuses the `options` startup parameter")
        if problems:
            raise ConfigurationError("PostgresConfig(pgbouncer=True): " + "; ".join(problems))

    def __repr__(self) -> str:
        text = super().__repr__()
        secret = {k: v for k, v in self.options.items() if "password" in k.lower() and v}
        for key, value in secret.items():  # e.g. sslpassword in libpq options
            text = text.replace(f"{key!r}: {value!r}", f"{key!r}: '***'")
        return text

    @property
    def where(self) -> str:
        """Host, port, database and user for messages: never the password."""
        user = f" as user {self.user!r}" if self.user else ""
        return f"PostgreSQL server {self.host}:{self.port}, database {self.database!r}{user}"

    @classmethod
    def from_url(cls, url: str) -> PostgresConfig:
        """postgresql://user:password@host:port/database?pool_size=5&sslmode=disable.

        `?options=...` is libpq's own `options` parameter (server command-line options).
        """
        scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
        source = f"the URL {mask_url(url)!r}"
        if scheme not in ("postgresql", "postgres"):
            raise ConfigurationError(f"{source} is not a postgresql:// URL")
        values: dict[str, Any] = dict(parse_server_url(url))
        libpq_options = values.pop("options", None)
        if str(values.get("prepare_threshold", "")).lower() == "none":
            values["prepare_threshold"] = None  # never prepare (e.g. behind PgBouncer)
        if "database" not in values:
            raise ConfigurationError(f"{source} names no database (postgresql://host/dbname)")
        config = cls.from_options(values, source)
        if libpq_options is not None:
            config.options["options"] = libpq_options
        return config


def connect_arguments(config: PostgresConfig) -> dict[str, Any]:
    """libpq keyword arguments for one connection (psycopg builds the conninfo)."""
    arguments: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "dbname": config.database,
        # libpq counts whole seconds, and treats anything below 2 as 2.
        "connect_timeout": max(2, math.ceil(config.connect_timeout)),
        "application_name": config.application_name,
    }
    if config.user is not None:
        arguments["user"] = config.user
    if config.password is not None:
        arguments["password"] = config.password
    if config.sslmode is not None:
        arguments["sslmode"] = config.sslmode
    arguments.update(config.options)
    if config.pgbouncer:
        return arguments  # settings are sent by `pgbouncer_setup` after connecting
    settings = session_settings(config)
    if config.statement_timeout is not None:
        settings["statement_timeout"] = f"{round(config.statement_timeout * 1000)}ms"
    if settings:
        flags = " ".join(f"-c {name}={_escape_option(value)}" for name, value in settings.items())
        given = arguments.get("options")
        arguments["options"] = f"{given} {flags}" if given else flags
    return arguments


def session_settings(config: PostgresConfig) -> dict[str, Any]:
    """Server parameters set on every connection: the config's defaults, then the user's.

    TimeZone is UTC unless `server_settings` says otherwise, so no value the library
    reads or writes (nor `now()` in raw SQL) goes through a role's or server's zone;
    transactions without an explicit level run at the config's `isolation_level` (§5).
    """
    settings: dict[str, Any] = {
        "TimeZone": "UTC",
        "default_transaction_isolation": config.isolation_level.lower(),
    }
    for name, value in config.server_settings.items():
        for known in list(settings):
            if known.lower() == name.lower():  # server parameter names ignore case
                del settings[known]
        settings[name] = value
    return settings


def pgbouncer_setup(config: PostgresConfig) -> tuple[str, list[str]] | None:
    """Behind PgBouncer: the statement setting the session's parameters on a new
    connection (only those PgBouncer tracks per client, checked by the config)."""
    if not config.pgbouncer:
        return None
    settings = {
        name: value for name, value in session_settings(config).items()
        if name.lower() in PGBOUNCER_TRACKED
    }
    calls = ", ".join("set_config(%s, %s, false)" for _ in settings)
    params = [str(part) for item in settings.items() for part in item]
    return f"SELECT {calls}", params


def _escape_option(value: object) -> str:
    # libpq splits `options` on spaces; a backslash keeps one inside a value.
    return str(value).replace("\\", "\\\\").replace(" ", "\\ ")


# ---- error translation -----------------------------------------------------------------
_QUOTED = re.compile(r'"(?:[^"]|"")*"')
# Server states that mean the session is gone or never started: too many connections,
# connection exceptions, authentication, unknown database, server shutting down.
_CONNECTION_STATES = ("08", "28", "3D000", "53300", "57P01", "57P02", "57P03")


def translate_error(
    error: Exception, sql: str, params: Sequence[object], config: PostgresConfig
) -> DatabaseError:
    """psycopg exception -> twinrecord exception, its message free of parameter values."""
    state = getattr(error, "sqlstate", None) or ""
    diag = getattr(error, "diag", None)
    constraint = diag.constraint_name if diag is not None else None
    if is_connection_error(error):
        return ConnectionNotEstablished(connection_message(error, config))
    reason = scrubbed_reason(error, params)
    if state == "42601" and "multiple commands" in reason:
        reason = (
            "the SQL holds more than one statement; a call runs exactly one (send them "
            f"one call at a time), so nothing was run [{reason}]"
        )
    if state == "23505":  # unique_violation (primary keys included)
        return RecordNotUnique(reason, constraint)
    if state.startswith("23"):
        return IntegrityError(reason, constraint)
    kind = _STATEMENT_ERRORS.get(state)
    if kind is None and state.startswith("40"):
        kind = TransactionRollbackError  # the server rolled the transaction back
    general = statement_invalid(reason, sql, params)
    if kind is None:
        return general
    return kind(str(general), general.sql, general.param_types)


# SQLSTATEs with an error class of their own (§9).
_STATEMENT_ERRORS: dict[str, type[StatementInvalid]] = {
    "40P01": Deadlocked,  # deadlock_detected
    "40001": SerializationFailure,  # serialization_failure
    "55P03": LockWaitTimeout,  # lock_not_available (lock_timeout, NOWAIT)
    "57014": QueryCanceled,  # query_canceled (statement_timeout, pg_cancel_backend)
}


def is_connection_error(error: Exception) -> bool:
    if isinstance(error, psycopg.InterfaceError):
        return True  # e.g. "the connection is closed"
    if not isinstance(error, psycopg.OperationalError):
        return False
    state = error.sqlstate
    # No SQLSTATE: the client lost the connection (server gone, socket closed).
    return state is None or state.startswith(_CONNECTION_STATES)


def connection_message(
    error: BaseException, config: PostgresConfig, connecting: bool = False
) -> str:
    """Names host, port, database and user; libpq's reason, any password in it masked."""
    reason = str(error).strip()
    if config.password:
        reason = reason.replace(config.password, "***")
    if connecting:
        return f"cannot connect to the {config.where}: {reason}"
    return f"the connection to the {config.where} failed: {reason}"


def scrubbed_reason(error: Exception, params: Sequence[object]) -> str:
    """The server's primary message and SQLSTATE, without DETAIL (it quotes row values).

    In data exceptions (class 22) every quoted part of the message is the offending
    value; elsewhere quoted parts are identifiers, hidden only if they equal a value.
    """
    diag = getattr(error, "diag", None)
    primary = diag.message_primary if diag is not None else None
    state: str = getattr(error, "sqlstate", None) or ""
    if not primary:
        primary = str(error).split("\n", 1)[0]
    is_data_error = state.startswith("22")
    values = {str(v) for v in params if isinstance(v, (str, int, float, bytes))}

    def hide(match: re.Match[str]) -> str:
        inner = match.group(0)[1:-1].replace('""', '"')
        return f'"{HIDDEN_VALUE}"' if is_data_error or inner in values else match.group(0)

    message = _QUOTED.sub(hide, primary)
    hint = diag.message_hint if diag is not None else None
    if hint and not is_data_error:
        message += f" (hint: {_QUOTED.sub(hide, hint)})"
    return f"{message} [SQLSTATE {state}]" if state else message


# ---- SQL in PostgreSQL's own placeholders ----------------------------------------------
_PLACEHOLDER = re.compile(r"%[s%]")
_NATIVE: dict[str, bytes] = {}
_NATIVE_LIMIT = 4096


def native_sql(sql: str) -> bytes:
    """Driver SQL (`%s` placeholders, `%%` for `%`) in PostgreSQL's `$1, $2` form, encoded.

    Statements run on psycopg's raw cursors, which send SQL as given: psycopg parses
    `%s` SQL on every run once it is longer than 4096 characters or has more than 50
    parameters (25 ms for a 2000-row insert, 70% of its time). The dialect emits only
    `%s` and `%%`, so this translation is exact; it is done once per SQL string.
    """
    found = _NATIVE.get(sql)
    if found is not None:
        return found
    counter = iter(range(1, 1 << 30))

    def replace(match: re.Match[str]) -> str:
        return "%" if match.group(0) == "%%" else f"${next(counter)}"

    found = _PLACEHOLDER.sub(replace, sql).encode()
    if len(_NATIVE) >= _NATIVE_LIMIT:
        _NATIVE.clear()  # a bound, not an LRU: compiled SQL is a small, stable set
    _NATIVE[sql] = found
    return found


# ---- the pooled connection -------------------------------------------------------------
# psycopg sends a statement without parameters over the simple query protocol, which
# runs every statement in the string ("SELECT 1; DROP TABLE t"). These cursors send
# each one over the extended protocol, which refuses a second statement (42601) before
# running anything (§4). `_execute_send` is psycopg's single place that chooses.
class _OneStatementCursor(psycopg.RawCursor[Any]):
    def _execute_send(
        self, query: Any, *, force_extended: bool = False, binary: bool | None = None
    ) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)


class _AsyncOneStatementCursor(psycopg.AsyncRawCursor[Any]):
    def _execute_send(
        self, query: Any, *, force_extended: bool = False, binary: bool | None = None
    ) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)


class _Session:
    """A pooled connection and the one raw cursor every statement on it reuses."""

    __slots__ = ("connection", "cursor", "pool")

    def __init__(self, connection: Any, pool: Any = None) -> None:
        self.connection = connection
        raw_cursor = _AsyncOneStatementCursor if pool is not None else _OneStatementCursor
        self.cursor: Any = raw_cursor(connection)
        self.pool = pool  # async only: the loop's pool this session belongs to

    def __repr__(self) -> str:
        if self.connection.closed:  # psycopg raises on most reads of a closed one
            return "<postgres session (closed)>"
        pgconn = self.connection.pgconn
        status = pq.TransactionStatus(pgconn.transaction_status).name
        return f"<postgres session pid={pgconn.backend_pid} status={status}>"

    @property
    def status(self) -> int:
        """libpq's transaction status: IDLE, ACTIVE, INTRANS, INERROR or UNKNOWN."""
        return self.connection.pgconn.transaction_status  # type: ignore[no-any-return]


def ping(session: _Session) -> bool:
    """`pool_pre_ping`: whether the session still answers (an empty query, one round trip)."""
    try:
        session.connection.execute("")
    except psycopg.Error:
        return False
    return True


async def aping(session: _Session) -> bool:
    """`ping` for an async session."""
    try:
        await session.connection.execute("")
    except psycopg.Error:
        return False
    return True


def _rowcount(cursor: Any) -> int:
    count: int = cursor.rowcount
    return count if count > 0 else 0


def _columns(cursor: Any) -> list[str]:
    description = cursor.description
    return [] if description is None else [column.name for column in description]


# A prepared statement whose table changed shape (ALTER COLUMN ... TYPE, or dropped and
# recreated) fails with "cached plan must not change result type" on every later run in
# that session; psycopg forgets its prepared statements only on the session that ran
# the DDL. The failure happens before anything executes, so outside a transaction the
# statement is safe to run again after DEALLOCATE ALL (which psycopg also notices).
def _stale_plan(error: psycopg.Error, session: _Session) -> bool:
    return (
        error.sqlstate == "0A000"
        and "cached plan" in str(error)
        and session.connection.pgconn.transaction_status == _IDLE
    )


def _run(session: _Session, sql: str, params: Sequence[object]) -> Any:
    """Execute on the session's cursor (replanning once if DDL made its plan stale)."""
    query = _NATIVE.get(sql) or native_sql(sql)  # the cache hit inline, a call on a miss
    try:
        return session.cursor.execute(query, params)
    except psycopg.errors.FeatureNotSupported as error:
        if not _stale_plan(error, session):
            raise
    session.cursor.execute("DEALLOCATE ALL")
    return session.cursor.execute(query, params)


async def _arun(session: _Session, sql: str, params: Sequence[object]) -> Any:
    """`_run` for an async session."""
    query = _NATIVE.get(sql) or native_sql(sql)
    try:
        return await session.cursor.execute(query, params)
    except psycopg.errors.FeatureNotSupported as error:
        if not _stale_plan(error, session):
            raise
    await session.cursor.execute("DEALLOCATE ALL")
    return await session.cursor.execute(query, params)


# ---- streams: named cursors (API.md §14) -------------------------------------------------
# Sent unprepared: each stream's cursor has a name of its own, so preparing its FETCH
# would fill the session's prepared statements with one-use entries.
def declare_statement(lease: Any, sql: str) -> bytes:
    """DECLARE the stream's cursor (WITHOUT HOLD: it lives in the current transaction);
    `sql` is the query (the DECLARE around it, as logged, is rebuilt here so the query's
    translation to `$n` placeholders stays cached)."""
    head = f'DECLARE "{lease.name}" NO SCROLL CURSOR WITHOUT HOLD FOR '.encode()
    lease.fetch_sql = f'FETCH FORWARD {int(lease.batch_size)} FROM "{lease.name}"'
    lease.close_sql = f'CLOSE "{lease.name}"'
    return head + (_NATIVE.get(lease.sql) or native_sql(lease.sql))


def fetch_statement(lease: Any) -> bytes:
    return str(lease.fetch_sql).encode()


def close_statement(lease: Any) -> bytes:
    return str(lease.close_sql).encode()
