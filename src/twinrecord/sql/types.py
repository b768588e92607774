"""Column types as the SQL layer sees them: a kind plus the facets DDL needs.

The model layer derives these from annotations; dialects map them to DDL and to
the converters between Python values and driver values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INT = "int"
STR = "str"
BOOL = "bool"
FLOAT = "float"
DECIMAL = "decimal"
DATETIME = "datetime"  # naive
DATETIME_TZ = "datetime_tz"  # aware, stored and returned in UTC
DATE = "date"
TIME = "time"
UUID = "uuid"
BYTES = "bytes"
JSON = "json"  # dict / list
ENUM = "enum"  # python_type is the Enum class

KINDS = frozenset(
    {INT, STR, BOOL, FLOAT, DECIMAL, DATETIME, DATETIME_TZ, DATE, TIME, UUID, BYTES, JSON, ENUM}
)


@dataclass(frozen=True, slots=True)
class ColumnType:
    kind: str
    max_length: int | None = None
    max_digits: int | None = None
    decimal_places: int | None = None
    python_type: Any = None

    @property
    def enum_is_int(self) -> bool:
        """Whether an enum's values are all ints (stored as integers, else as text)."""
        members = list(self.python_type) if self.python_type is not None else []
        return bool(members) and all(isinstance(m.value, int) for m in members)

    @property
    def enum_max_length(self) -> int:
        return max((len(str(m.value)) for m in self.python_type), default=1)


# Enum columns are at least this wide, so values added to the enum later fit (API.md §19).
ENUM_MIN_LENGTH = 64


class SqlDefault:
    """A server default written as SQL (`raw('CURRENT_TIMESTAMP')`), used verbatim."""

    __slots__ = ("sql",)

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SqlDefault) and other.sql == self.sql

    def __hash__(self) -> int:
        return hash(("SqlDefault", self.sql))

    def __repr__(self) -> str:
        return f"SqlDefault({self.sql!r})"


@dataclass(frozen=True, slots=True)
class ColumnDef:
    """One column of a CREATE TABLE.

    `default` is the server default: a Python value of the field's type (rendered as a
    literal per dialect), a SqlDefault, or None for none. `sql_type` replaces the type
    the column's kind would get.
    """

    name: str
    type: ColumnType
    nullable: bool
    auto_increment: bool = False
    default: Any = None
    comment: str | None = None
    sql_type: str | None = None
