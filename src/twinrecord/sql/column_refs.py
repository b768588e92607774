"""Column references for ORDER BY and GROUP BY: parsed, so that nothing but a column
(or select alias) gets in.

A sort key is often taken from a request (`?sort=-created_at`), so `order_by()` and
`group_by()` accept a reference to a column, optionally table-qualified and quoted,
with `ASC`/`DESC`, `NULLS FIRST`/`NULLS LAST` or a leading `-` (descending); several
may be given in one string, separated by commas. Anything else is refused: SQL goes
through `raw()` (Rails refuses other order arguments the same way).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from ..errors import StatementInvalid

# One identifier: unquoted, "double quoted" or `backticked` (either is rewritten to the
# database's own quoting when compiled).
_PART = r'(?:[^\W\d]\w*|"(?:[^"]|"")+"|`(?:[^`]|``)+`)'
_SORT_KEY = re.compile(
    rf"""\s*(?P<minus>-)?(?P<ref>{_PART}(?:\.{_PART})?)
    (?:\s+(?P<direction>ASC|DESC))?(?:\s+NULLS\s+(?P<nulls>FIRST|LAST))?\s*(?P<end>,|\Z)""",
    re.VERBOSE | re.IGNORECASE,
)
_GROUP_KEY = re.compile(rf"\s*(?P<ref>{_PART}(?:\.{_PART})?)\s*(?P<end>,|\Z)")
_PARTS = re.compile(_PART)


class ColumnRef(NamedTuple):
    """A column or alias as written: its parts (`table`, `column`), quoted ones kept in
    their "double quoted" form."""

    parts: tuple[str, ...]
    node: str = "column_ref"


class SortKey(NamedTuple):
    column: ColumnRef
    direction: str | None = None  # 'ASC', 'DESC' or None (the database's default, ASC)
    nulls: str | None = None  # 'FIRST', 'LAST' or None
    node: str = "sort_key"

    @property
    def descending(self) -> bool:
        return self.direction == "DESC"


def parse_sort_keys(text: str) -> tuple[SortKey, ...]:
    """`'-created_at, name ASC NULLS LAST'` -> sort keys, or StatementInvalid."""
    keys = []
    for match in _whole(text, _SORT_KEY, "order_by"):
        direction = match["direction"].upper() if match["direction"] else None
        if match["minus"]:
            if direction:
                raise _refused(text, "order_by", "a leading `-` already means DESC")
            direction = "DESC"
        nulls = match["nulls"].upper() if match["nulls"] else None
        keys.append(SortKey(_column(match["ref"]), direction, nulls))
    return tuple(keys)


def parse_group_keys(text: str) -> tuple[ColumnRef, ...]:
    """`'department, users.city'` -> column references, or StatementInvalid."""
    return tuple(_column(match["ref"]) for match in _whole(text, _GROUP_KEY, "group_by"))


def _whole(text: str, pattern: re.Pattern[str], method: str) -> list[re.Match[str]]:
    if not isinstance(text, str):
        raise StatementInvalid(
            f"{method}() takes column names as strings (or raw(...)); got {text!r}"
        )
    matches = []
    position = 0
    while True:
        match = pattern.match(text, position)
        if match is None or match.end() == position:
            raise _refused(text, method)
        matches.append(match)
        position = match.end()
        if not match["end"]:  # end of text
            return matches


def _column(ref: str) -> ColumnRef:
    parts = []
    for part in _PARTS.findall(ref):
        if part.startswith("`"):
            part = '"' + part[1:-1].replace("``", "`").replace('"', '""') + '"'
        parts.append(part)
    return ColumnRef(tuple(parts))


def render_column(column: ColumnRef, quote: str) -> str:
    """The reference in a database's SQL: unquoted parts as written, quoted ones requoted."""
    rendered = []
    for part in column.parts:
        if part.startswith('"'):
            name = part[1:-1].replace('""', '"')
            part = quote + name.replace(quote, quote * 2) + quote
        rendered.append(part)
    return ".".join(rendered)


def render_sort_key(key: SortKey, quote: str, native_nulls: bool) -> str:
    """`column [ASC|DESC] [NULLS FIRST|LAST]`; without native NULLS ordering (MySQL),
    an `IS NULL` key first puts the NULLs where asked."""
    column = render_column(key.column, quote)
    sql = column + (f" {key.direction}" if key.direction else "")
    if key.nulls is None:
        return sql
    if native_nulls:
        return f"{sql} NULLS {key.nulls}"
    return f"{column} IS NULL{' DESC' if key.nulls == 'FIRST' else ''}, {sql}"


def _refused(text: str, method: str, why: str = "") -> StatementInvalid:
    detail = f" ({why})" if why else ""
    if method == "order_by":
        takes = "with ASC/DESC, NULLS FIRST/LAST or a leading '-' for DESC, e.g. "
        example = "order_by('-created_at', 'name')"
    else:
        takes = "e.g. "
        example = "group_by('department')"
    return StatementInvalid(
        f"{method}({text!r}) is not a list of column references{detail}: {method}() takes "
        f"column or alias names, optionally table-qualified, {takes}{example}. To "
        f"{method.replace('_by', '')} by an expression, wrap SQL in raw(): "
        f"{method}(raw('LOWER(name)')). Nothing was sent.",
        text,
    )
