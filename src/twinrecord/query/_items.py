"""Select items, values and result reading for the query language (API.md §12 to §13.2).

Rule: how a select item is keyed and read back (`to_dicts()`, `pluck()`, `extras`) and
how a value is written for the driver is decided here, once for every terminal method.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from ..errors import StatementInvalid
from ..sql import types as t
from ..sql.dialect import Dialect
from ..sql.expressions import ColumnRef, Expr, Labeled, as_subquery, from_raw
from ..sql.fragments import RawSQL
from ..sql.statements import Raw

Pair = tuple[Any, Any]  # (value, ColumnType | None)
Reader = Callable[[Any], Any] | None


class Item(NamedTuple):
    """One select item: its shape, its key in dicts (None: unknown until the driver
    names it), how it reads back, and which model column it is (None: not one)."""

    shape: Any
    key: str | None
    reads: tuple[t.ColumnType, bool] | None
    column: tuple[str, str] | None = None  # (table, column) of a plain column


def item_of(value: object) -> tuple[Item, tuple[Pair, ...], Expr | None]:
    """A select() argument: a SQL string, an expression, or a labelled subquery."""
    if isinstance(value, str):
        return Item(Raw(value), None, None), (), None
    if isinstance(value, RawSQL):
        value = from_raw(value)
    expr = value if isinstance(value, Expr) else as_subquery(value)
    if expr is None:
        raise StatementInvalid(
            f"select() takes column names, SQL, expressions or queries; got {value!r}"
        )
    if isinstance(expr, Labeled):
        inner = expr.expr
        column = (inner.table, inner.field) if isinstance(inner, ColumnRef) else None
        return Item(expr.shape, expr.label, expr.reads, column), expr.values, expr
    if isinstance(expr, ColumnRef):
        return Item(expr.shape, expr.field, expr.reads, (expr.table, expr.field)), (), expr
    return Item(expr.shape, None, expr.reads), expr.values, expr


def write_values(pairs: Sequence[Pair], dialect: Dialect) -> list[Any]:
    """Each value as the driver takes it: written as its column writes it, or adapted
    by its Python type when no column goes with it."""
    out = []
    for value, column_type in pairs:
        if column_type is None:
            out.append(dialect.adapt_param(value))
        elif value is None:
            out.append(None)
        else:
            writer = dialect.writer(column_type)
            out.append(value if writer is None else writer(value))
    return out


def _exact_decimal(value: object) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


_COERCE: dict[str, Callable[[Any], Any]] = {
    t.INT: int,
    t.FLOAT: float,
    t.DECIMAL: _exact_decimal,
    t.BOOL: bool,
}


def reader_of(reads: tuple[t.ColumnType, bool] | None, dialect: Dialect) -> Reader:
    """The driver value -> Python value function for an item (None: as returned)."""
    if reads is None:
        return None
    column_type, coerce = reads
    base = dialect.reader(column_type)
    numeric = _COERCE.get(column_type.kind) if coerce else None
    if numeric is None:
        return base
    if base is None or (column_type.kind == t.DECIMAL and column_type.decimal_places is None):
        return numeric
    return base


def read_rows(rows: Sequence[Sequence[object]], readers: Sequence[Reader]) -> list[list[Any]]:
    if not any(readers):
        return [list(row) for row in rows]
    return [[v if f is None or v is None else f(v) for v, f in zip(row, readers)] for row in rows]


def check_keys(keys: Sequence[str]) -> None:
    """Two items with one key would overwrite each other in a dict: refused, naming both."""
    seen: dict[str, int] = {}
    for position, key in enumerate(keys):
        if key in seen:
            raise StatementInvalid(
                f"select items {seen[key] + 1} and {position + 1} both come back as {key!r}; "
                "label one with .alias('other_name')"
            )
        seen[key] = position


def reverse_order(item: object) -> Any:
    """An order_by item in the opposite direction (for last())."""
    from ..sql.expressions import Ordering

    if isinstance(item, Ordering):
        return item.reversed()
    if isinstance(item, Expr):
        return item.desc()
    if isinstance(item, str):
        return _reverse_text(item)
    raise StatementInvalid(f"last() cannot reverse the order item {item!r}")


_FLIP = {"ASC": "DESC", "DESC": "ASC", "FIRST": "LAST", "LAST": "FIRST"}


def _reverse_text(text: str) -> str:
    words = text.split()
    if not words:
        return text
    name = words[0]
    rest = [w.upper() for w in words[1:]]
    if name.startswith("-"):
        name, rest = name[1:], ["DESC", *rest]
    if not rest or rest[0] not in ("ASC", "DESC"):
        rest = ["ASC", *rest]
    known = {"ASC", "DESC", "NULLS", "FIRST", "LAST"}
    if any(word not in known for word in rest) or len(words[0].split(",")) > 1:
        raise StatementInvalid(
            f"last() cannot reverse the order_by text {text!r}: write it as column names "
            "or expressions (User.c.name.desc())"
        )
    return " ".join([name, *(_FLIP.get(word, word) for word in rest)])
