"""MySQL / MariaDB error codes -> twinrecord exceptions, in one table, and the scrubbing
that keeps parameter values out of every message.

mysql-connector interpolates values into the SQL text on the client, so the server
sees them as literals and some of its messages quote them ("Duplicate entry
'secret@x' for key 'email'"). Every message built here is scrubbed of the values
sent with the statement; connection messages never carry the password.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ...errors import (
    ConnectionNotEstablished,
    DatabaseError,
    Deadlocked,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordNotUnique,
    SerializationFailure,
    StatementInvalid,
    statement_invalid,
)
from ...sql.ddl import fit_name, statement_table

# Unique and primary key violations.
DUPLICATE_KEY = frozenset({1022, 1062, 1169, 1586})
# Foreign key (1216/1217 older servers, 1451/1452), not null (1048; 1364 a NOT NULL
# column left out in strict mode; 1263 NULL given in a multi-row insert) and check
# constraints (3819 MySQL 8, 4025 MariaDB).
INTEGRITY = frozenset({1216, 1217, 1451, 1452, 1048, 1263, 1364, 3819, 4025})
# The server cannot be reached, refuses us, or cannot serve this login.
CANNOT_CONNECT = frozenset(
    {1040, 1044, 1045, 1049, 1129, 1130, 1251, 2002, 2003, 2005, 2026, 2059, 2061}
)
# The connection went away (or is out of step) and cannot be used again: 2006 gone
# away, 2013 lost during query, 2014 commands out of sync, 2027 malformed packet, 2055
# lost with a system error, 1053 server shutdown, 1927 MariaDB killed, 4031 MySQL 8
# disconnected for inactivity.
LOST_CONNECTION = frozenset({1053, 1927, 2006, 2013, 2014, 2027, 2055, 4031})
# Refusals with a class of their own (API.md §9). InnoDB rolls back the whole
# transaction on a deadlock (1213) and, with MariaDB's innodb_snapshot_isolation, on a
# write conflict (1020); a lock wait timeout (1205) undoes the statement only. 1969 is
# MariaDB's max_statement_time, 3024 MySQL's max_execution_time, 1317 a KILL QUERY.
_CLASSIFIED: dict[int, type[StatementInvalid]] = {
    1213: Deadlocked,
    1020: SerializationFailure,
    1205: LockWaitTimeout,
    1969: QueryCanceled,
    3024: QueryCanceled,
    1317: QueryCanceled,
}
_SERIALIZATION_SQLSTATE = "40001"

_HIDDEN = "<value hidden>"
_VALUE_PATTERNS = [
    # Duplicate entry 'a-b' for key 'k': composite keys join their values with '-',
    # so no single parameter matches; hide everything up to the last "for key".
    (re.compile(r"(Duplicate entry )'.*'( for key )", re.DOTALL), rf"\1{_HIDDEN}\2"),
    # Incorrect integer value: 'abc' for column ..., Truncated incorrect DOUBLE value: 'x'
    (
        re.compile(r"(value(?: of)?:? )'.*?'(?= for | at row|$)", re.DOTALL),
        rf"\1{_HIDDEN}",
    ),
    # Syntax errors quote the statement as the server saw it: values included.
    (re.compile(r"(near )'.*'( at line \d+)", re.DOTALL), rf"\1{_HIDDEN}\2"),
]
# The last "for key '...'": an earlier one could sit inside the quoted value.
_DUPLICATE_KEY_NAME = re.compile(r".*for key '(.+)'\s*$", re.DOTALL)
_CONSTRAINT_NAMES = [
    re.compile(r"CONSTRAINT `((?:[^`]|``)+)` FOREIGN KEY"),
    re.compile(r"CONSTRAINT `((?:[^`]|``)+)` failed"),
    re.compile(r"[Cc]heck constraint '(.+?)' is violated"),
]


class _Located(Protocol):
    """What error messages may say about a config: never its password."""

    @property
    def location(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def connect_timeout(self) -> float: ...


def error_code(error: BaseException) -> int | None:
    errno = getattr(error, "errno", None)
    return errno if isinstance(errno, int) and errno > 0 else None


def driver_message(error: BaseException) -> str:
    """The server's or driver's message without the code prefix the driver adds."""
    message = getattr(error, "msg", None)
    return str(message) if message else (str(error) or type(error).__name__)


def is_lost_connection(error: BaseException) -> bool:
    """Whether the connection a statement raised this on is unusable from now on."""
    code = error_code(error)
    if code is not None:
        return code in LOST_CONNECTION
    # The async driver lets some socket-level failures through unwrapped.
    return isinstance(error, (OSError, EOFError))


def scrub(message: str, params: Sequence[object]) -> str:
    """`message` with the statement's parameter values hidden."""
    if not params:
        return message  # no values were sent: whatever the message quotes is SQL text
    for pattern, replacement in _VALUE_PATTERNS:
        message = pattern.sub(replacement, message)
    for value in params:
        text = _as_text(value)
        if not text:
            continue
        message = message.replace(f"'{text}'", f"'{_HIDDEN}'")
        if len(text) >= 3:  # shorter ones would mangle ordinary words and numbers
            message = message.replace(text, _HIDDEN)
    return message


def _as_text(value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) or value is None:
        return ""  # numbers occur in messages for other reasons (row numbers, codes)
    return str(value)


def _without_password(message: str, password: str) -> str:
    return message.replace(password, "***") if password else message


def connect_error(config: _Located, error: BaseException) -> ConnectionNotEstablished:
    """Any failure while opening a connection: names host, port and database only."""
    if isinstance(error, ConnectionNotEstablished):
        return error
    if isinstance(error, TimeoutError) and error_code(error) is None:
        reason = f"no answer within connect_timeout={config.connect_timeout:g}s"
    else:
        reason = _without_password(driver_message(error), config.password)
    return ConnectionNotEstablished(f"cannot connect to {config.location}: {reason}")


def translate_error(
    error: BaseException, sql: str, params: Sequence[object], config: _Located
) -> DatabaseError:
    """A driver exception from running `sql` -> the twinrecord exception users catch."""
    code = error_code(error)
    raw = driver_message(error)
    message = _without_password(scrub(raw, params), config.password)
    if code in DUPLICATE_KEY:
        return RecordNotUnique(message, _duplicate_key_name(raw, sql))
    if code in INTEGRITY:
        return IntegrityError(message, _constraint_name(raw))
    if is_lost_connection(error):
        return ConnectionNotEstablished(
            f"lost the connection to {config.location}: {message}\n  SQL: {sql}"
        )
    reason = f"MySQL error {code}: {message}" if code else message
    invalid = statement_invalid(reason, sql, params)
    kind = _CLASSIFIED.get(code or 0)
    if kind is None and getattr(error, "sqlstate", None) == _SERIALIZATION_SQLSTATE:
        kind = SerializationFailure
    if kind is None:
        return invalid
    return kind(str(invalid), invalid.sql, invalid.param_types)


def _duplicate_key_name(message: str, sql: str) -> str | None:
    match = _DUPLICATE_KEY_NAME.match(message)
    if match is None:
        return None
    name = match.group(1)
    # MySQL 8 qualifies the key with its table ('users.email'); MariaDB does not.
    table, dot, key = name.partition(".")
    if dot and f"`{table}`" in sql:
        name = key
    if name == "PRIMARY":  # MySQL names every primary key so; report the name §19 gives
        written = statement_table(sql)
        return None if written is None else fit_name(f"pk_{written}", "mysql")
    return name


def _constraint_name(message: str) -> str | None:
    for pattern in _CONSTRAINT_NAMES:
        match = pattern.search(message)
        if match is not None:
            return match.group(1).replace("``", "`")
    return None
