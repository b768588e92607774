"""The exception hierarchy users catch (API.md §9); nothing here knows a driver.

Names follow Rails' ActiveRecord so users of the pattern know them on sight.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class DatabaseError(Exception):
    """Base of every error twinrecord raises."""


class ConfigurationError(DatabaseError):
    """A backend, URL, option or model declaration is wrong."""


class ConnectionNotEstablished(DatabaseError):
    """The server could not be reached or refused the credentials."""


class RecordInvalid(DatabaseError):
    """Validation failed before anything was written."""

    def __init__(self, message: str, validation_errors: Sequence[object] = ()) -> None:
        super().__init__(message)
        self._errors = list(validation_errors)

    def errors(self) -> list[Any]:
        """Pydantic's error list, as `ValidationError.errors()` gives it."""
        return list(self._errors)


class RecordNotFound(DatabaseError):
    """A `*_or_fail` lookup matched nothing."""


class IntegrityError(DatabaseError):
    """A foreign key, not null or check constraint was violated."""

    def __init__(self, message: str, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class RecordNotUnique(IntegrityError):
    """A unique or primary key constraint was violated."""


class RelationNotFound(DatabaseError):
    """A relation name is not declared on the model."""


class StaleObjectError(DatabaseError):
    """An optimistic lock found the row changed by someone else."""


class TransactionError(DatabaseError):
    """A transaction was used the wrong way (wrong task, already finished, ...)."""


class StatementInvalid(DatabaseError):
    """The database rejected a statement; `.sql` holds it, values never appear."""

    def __init__(self, message: str, sql: str = "", param_types: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.sql = sql
        self.param_types = list(param_types)


class TransactionRollbackError(StatementInvalid):
    """The server rolled back the whole transaction; running it again may succeed."""


class Deadlocked(TransactionRollbackError):
    """The server chose this transaction as a deadlock victim (40P01, MySQL 1213)."""


class SerializationFailure(TransactionRollbackError):
    """A SERIALIZABLE (or REPEATABLE READ) transaction could not be serialised (40001)."""


class LockWaitTimeout(StatementInvalid):
    """A statement waited too long for a row lock (MySQL 1205, PostgreSQL 55P03)."""


class QueryCanceled(StatementInvalid):
    """The statement ran past `statement_timeout` (or was cancelled by the server)."""


class FeatureNotSupported(StatementInvalid):
    """This database or server version lacks a feature; refused before sending."""


class BlockingCallInEventLoop(ConfigurationError):
    """A sync call on a server backend from a task that holds an async transaction:
    it could not see that transaction's writes and could wait forever on its locks."""


class BlockingCallWarning(RuntimeWarning):
    """A sync call on a server backend blocks the running event loop (API.md §2)."""


# What error messages show in place of a parameter's value: nothing SQL would contain
# (a "?" reads like a placeholder).
HIDDEN_VALUE = "<value hidden>"


def param_type_names(params: Sequence[object] | None) -> list[str]:
    """Type names of parameters: what error messages may show instead of values."""
    return [type(value).__name__ for value in params or ()]


def statement_invalid(reason: str, sql: str, params: Sequence[object] | None) -> StatementInvalid:
    """Build a StatementInvalid whose message shows the SQL but none of the values."""
    types = param_type_names(params)
    message = f"{reason}\n  SQL: {sql}\n  parameter types: {types}"
    return StatementInvalid(message, sql, types)
