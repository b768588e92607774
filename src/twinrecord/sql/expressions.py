"""Column expressions (API.md §12): immutable nodes built with Python operators.

Rule: a node holds its *shape* (a hashable tuple saying which SQL it compiles to,
values left out, so compiled SQL is cached per shape) and its *values* beside it,
each paired with the column type whose writer sends it. Nothing here knows a model:
a column is a table name, a column name and a `ColumnType`.

Shapes are plain tuples tagged by their first item; `sql/compiler.py` turns them
into SQL. Values appear in `values` in the order a walk of the shape meets them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from uuid import UUID

from ..errors import StatementInvalid
from . import types as t
from .fragments import RawSQL

Shape = tuple[Any, ...]
E = TypeVar("E", bound="Expr")
Bound = tuple[Any, "t.ColumnType | None"]  # a value and the column type that writes it

BOOL_MESSAGE = (
    "a SQL condition has no truth value: use &, |, ~ and parenthesise each comparison "
    "(`(User.c.age >= 18) & (User.c.age < 65)`), never `and`, `or`, `not`, `if` or a "
    "chained comparison"
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ESCAPE = "!"  # LIKE escape character: no backslash, which MySQL strings also escape
# Functions whose result reads back as their first argument's type (API.md §12).
_SAME_TYPE = frozenset({"lower", "upper", "trim", "coalesce", "abs"})
AGGREGATE_FUNCTIONS = frozenset({"count", "sum", "avg", "min", "max"})
_PYTHON_KINDS: dict[type, str] = {
    bool: t.BOOL,
    int: t.INT,
    float: t.FLOAT,
    Decimal: t.DECIMAL,
    str: t.STR,
    datetime: t.DATETIME,
    date: t.DATE,
    time: t.TIME,
    UUID: t.UUID,
    bytes: t.BYTES,
}
_VALUE = ("?",)
_INT = t.ColumnType(t.INT)
_FLOAT = t.ColumnType(t.FLOAT)
_DECIMAL = t.ColumnType(t.DECIMAL)


class Expr:
    """A SQL expression. Operators build new expressions; none has a truth value.

    `type`: the column type the value has in SQL (decides `+` as concatenation,
    integer division, the writer of compared values); `reads`: how a selected value is
    read back — (column type, coerce) or None for "as the driver returns it".
    """

    __slots__ = ("ctes", "reads", "shape", "type", "values", "window")

    def __init__(
        self,
        shape: Shape,
        values: tuple[Bound, ...] = (),
        type: t.ColumnType | None = None,
        reads: tuple[t.ColumnType, bool] | None = None,
        ctes: tuple[Any, ...] = (),
        window: bool = False,
    ) -> None:
        self.shape = shape
        self.values = values
        self.type = type
        self.reads = reads
        self.ctes = ctes
        self.window = window

    # ---- no truth value --------------------------------------------------------------
    def __bool__(self) -> bool:
        raise TypeError(BOOL_MESSAGE)

    def __hash__(self) -> int:
        return hash(self.shape)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.shape!r}>"

    # ---- comparisons -------------------------------------------------------------------
    def _compare(self, op: str, other: object) -> Condition:
        if other is None:
            if op in ("=", "<>"):
                return self._null_test(op == "<>")
            raise StatementInvalid(f"a comparison `{op} None` matches nothing; use is_(None)")
        if isinstance(other, (list, set, frozenset, dict)):
            raise StatementInvalid(
                f"comparing a column with a {type(other).__name__} is refused: use in_(values)"
            )
        if type(other) in _PYTHON_KINDS:  # the common case: a plain value, bound
            return Condition(
                ("cmp", op, self.shape, _VALUE),
                (*self.values, (other, self.type)),
                None,
                None,
                self.ctes,
                self.window,
            )
        right = operand(other, self.type)
        shape = ("cmp", op, self.shape, right.shape)
        return _combine(Condition, shape, self, right)

    def __eq__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("=", other)

    def __ne__(self, other: object) -> Condition:  # type: ignore[override]
        return self._compare("<>", other)

    def __lt__(self, other: object) -> Condition:
        return self._compare("<", other)

    def __le__(self, other: object) -> Condition:
        return self._compare("<=", other)

    def __gt__(self, other: object) -> Condition:
        return self._compare(">", other)

    def __ge__(self, other: object) -> Condition:
        return self._compare(">=", other)

    def _null_test(self, negate: bool) -> Condition:
        return _combine(Condition, ("null", self.shape, negate), self)

    def is_(self, value: None) -> Condition:
        if value is not None:
            raise StatementInvalid("is_() takes None (IS NULL); compare values with ==")
        return self._null_test(False)

    def is_not(self, value: None) -> Condition:
        if value is not None:
            raise StatementInvalid("is_not() takes None (IS NOT NULL); compare values with !=")
        return self._null_test(True)

    def in_(self, values: object) -> Condition:
        return self._membership(values, negate=False)

    def not_in(self, values: object) -> Condition:
        return self._membership(values, negate=True)

    def _membership(self, values: object, negate: bool) -> Condition:
        subquery = as_subquery(values)
        if subquery is not None:
            shape = ("in_query", self.shape, subquery.shape[1], negate)
            return _combine(Condition, shape, self, subquery)
        if not isinstance(values, (list, tuple, set, frozenset)):
            raise StatementInvalid(
                f"in_() takes a list, tuple, set or query; got {type(values).__name__}"
            )
        items = tuple((v, self.type) for v in values)
        return Condition(
            ("in", self.shape, len(items), negate),
            self.values + items,
            ctes=self.ctes,
            window=self.window,
        )

    def between(self, low: object, high: object) -> Condition:
        lo, hi = operand(low, self.type), operand(high, self.type)
        shape = ("between", self.shape, lo.shape, hi.shape)
        return _combine(Condition, shape, self, lo, hi)

    # ---- patterns ----------------------------------------------------------------------
    def like(self, pattern: object) -> Condition:
        right = operand(pattern, None)
        return _combine(Condition, ("like", "like", self.shape, right.shape, False), self, right)

    def ilike(self, pattern: object) -> Condition:
        right = operand(pattern, None)
        return _combine(Condition, ("like", "ilike", self.shape, right.shape, False), self, right)

    def _escaped(self, text: str, before: str, after: str) -> Condition:
        if not isinstance(text, str):
            raise StatementInvalid(f"startswith/endswith/contains take a str; got {text!r}")
        escaped = (
            text.replace(_ESCAPE, _ESCAPE * 2)
            .replace("%", _ESCAPE + "%")
            .replace("_", _ESCAPE + "_")
        )
        right = Computed(("?",), ((before + escaped + after, None),))
        return _combine(Condition, ("like", "like", self.shape, right.shape, True), self, right)

    def startswith(self, text: str) -> Condition:
        return self._escaped(text, "", "%")

    def endswith(self, text: str) -> Condition:
        return self._escaped(text, "%", "")

    def contains(self, text: str) -> Condition:
        return self._escaped(text, "%", "%")

    # ---- arithmetic --------------------------------------------------------------------
    def _arith(self, op: str, other: object, reflected: bool = False) -> Expr:
        right = operand(other, self.type)
        left, right = (right, self) if reflected else (self, right)
        kinds = {left.type.kind if left.type else None, right.type.kind if right.type else None}
        if op == "+" and t.STR in kinds:
            return _combine(Computed, ("concat", left.shape, right.shape), left, right, type=_STR)
        if op == "/":
            exact = bool(kinds & {t.DECIMAL, t.FLOAT})
            quotient = _DECIMAL if t.DECIMAL in kinds else _FLOAT
            return _combine(
                Computed,
                ("arith", "/", left.shape, right.shape, not exact),
                left,
                right,
                type=quotient,
            )
        kind: t.ColumnType | None
        if t.DECIMAL in kinds:
            kind = _DECIMAL
        elif t.FLOAT in kinds:
            kind = _FLOAT
        elif kinds <= {t.INT, t.BOOL}:
            kind = _INT
        else:
            kind = None
        return _combine(
            Computed, ("arith", op, left.shape, right.shape, False), left, right, type=kind
        )

    def __add__(self, other: object) -> Expr:
        return self._arith("+", other)

    def __radd__(self, other: object) -> Expr:
        return self._arith("+", other, reflected=True)

    def __sub__(self, other: object) -> Expr:
        return self._arith("-", other)

    def __rsub__(self, other: object) -> Expr:
        return self._arith("-", other, reflected=True)

    def __mul__(self, other: object) -> Expr:
        return self._arith("*", other)

    def __rmul__(self, other: object) -> Expr:
        return self._arith("*", other, reflected=True)

    def __truediv__(self, other: object) -> Expr:
        return self._arith("/", other)

    def __rtruediv__(self, other: object) -> Expr:
        return self._arith("/", other, reflected=True)

    def __mod__(self, other: object) -> Expr:
        return self._arith("%", other)

    def __rmod__(self, other: object) -> Expr:
        return self._arith("%", other, reflected=True)

    def __neg__(self) -> Expr:
        return Computed(("neg", self.shape), self.values, self.type, None, self.ctes, self.window)

    # ---- boolean connectives (conditions only, see Condition) ---------------------------
    def __and__(self, other: object) -> Condition:
        return _connect("and", self, other)

    def __rand__(self, other: object) -> Condition:
        return _connect("and", other, self)

    def __or__(self, other: object) -> Condition:
        return _connect("or", self, other)

    def __ror__(self, other: object) -> Condition:
        return _connect("or", other, self)

    def __invert__(self) -> Condition:
        return Condition(("not", self.shape), self.values, ctes=self.ctes, window=self.window)

    # ---- conversions and labels --------------------------------------------------------
    def cast(self, python_type: type) -> Expr:
        column_type = column_type_of(python_type)
        return Computed(
            ("cast", self.shape, column_type),
            self.values,
            column_type,
            (column_type, True),
            self.ctes,
            self.window,
        )

    def alias(self, name: str) -> Labeled:
        if not isinstance(name, str) or not name:
            raise StatementInvalid(f"alias() takes a non-empty name; got {name!r}")
        return Labeled(self, name)

    def asc(self, nulls: str | None = None) -> Ordering:
        return Ordering(self, "ASC", nulls)

    def desc(self, nulls: str | None = None) -> Ordering:
        return Ordering(self, "DESC", nulls)


_STR = t.ColumnType(t.STR)


class Computed(Expr):
    """A computed value (arithmetic, a function, a bound value, a subquery).

    Every concrete node class derives from Expr as a sibling: Python tries a right
    operand's reflected comparison first when its class subclasses the left one's,
    which would write `b = a` for `a == b`.
    """

    __slots__ = ()


class Condition(Expr):
    """An expression whose value is true, false or NULL: what where() and having() take."""

    __slots__ = ()


class ColumnRef(Expr):
    """A column by table (or alias, CTE, derived table) and name. Never built itself:
    `ColumnExpr` and `SourceColumn` are siblings, so comparing them keeps operand order."""

    __slots__ = ("field", "name", "table")

    def __init__(
        self, table: str, name: str, column_type: t.ColumnType | None, field: str | None = None
    ) -> None:
        reads = (column_type, False) if column_type is not None else None
        super().__init__(("col", table, name), (), column_type, reads)
        self.table = table
        self.name = name  # the database column
        self.field = field or name  # the model field it belongs to (its key in dicts)


class ColumnExpr(ColumnRef):
    """A model table's (or aliased model's) column: `User.c.age` (API.md §21's name;
    comparisons give a `Condition`)."""

    __slots__ = ()


# The layer's short name for it (model schema's `twinrecord.Column` is another class).
Column = ColumnExpr


class SourceColumn(ColumnRef):
    """A column of a CTE or derived table: carries its source, so a query using it
    also declares the CTE, and `in_(cte.c.col)` reads `SELECT col FROM cte`."""

    __slots__ = ("source",)

    def __init__(self, source: Any, name: str, column_type: t.ColumnType | None) -> None:
        super().__init__(source.name, name, column_type)
        self.source = source
        self.ctes = source.referenced_ctes


class Labeled(Expr):
    """`expr.alias('n')`: a select item with a label."""

    __slots__ = ("expr", "label")

    def __init__(self, expr: Expr, label: str) -> None:
        super().__init__(
            ("label", expr.shape, label), expr.values, expr.type, expr.reads, expr.ctes, expr.window
        )
        self.expr = expr
        self.label = label


class Ordering(Expr):
    """`expr.desc(nulls='last')`: an order_by item."""

    __slots__ = ("direction", "expr", "nulls")

    def __init__(self, expr: Expr, direction: str, nulls: str | None) -> None:
        if nulls not in (None, "first", "last"):
            raise StatementInvalid(f"nulls= takes 'first' or 'last'; got {nulls!r}")
        super().__init__(
            ("order", expr.shape, direction, nulls), expr.values, ctes=expr.ctes, window=expr.window
        )
        self.expr = expr
        self.direction = direction
        self.nulls = nulls

    def reversed(self) -> Ordering:
        flipped = {None: None, "first": "last", "last": "first"}[self.nulls]
        return Ordering(self.expr, "ASC" if self.direction == "DESC" else "DESC", flipped)


class Function(Expr):
    """`func.name(...)`: any SQL function; aggregates and window functions take over()."""

    __slots__ = ("name",)

    def __init__(self, shape: Shape, values: tuple[Bound, ...], name: str, **kwargs: Any) -> None:
        super().__init__(shape, values, **kwargs)
        self.name = name

    def over(
        self,
        partition_by: object = None,
        order_by: object = None,
        rows: tuple[int | None, int | None] | None = None,
        range: tuple[int | None, int | None] | None = None,
    ) -> Expr:
        if rows is not None and range is not None:
            raise StatementInvalid("over() takes rows= or range=, not both")
        partitions = tuple(operand(p, None) for p in _as_list(partition_by))
        orders = tuple(_as_ordering(o) for o in _as_list(order_by))
        frame = None
        if rows is not None or range is not None:
            unit, bounds = ("ROWS", rows) if rows is not None else ("RANGE", range)
            frame = (unit, *_frame_bounds(bounds or (None, None)))
        parts = (self, *partitions, *orders)
        return Computed(
            (
                "over",
                self.shape,
                tuple(p.shape for p in partitions),
                tuple(o.shape for o in orders),
                frame,
            ),
            sum((p.values for p in parts), ()),
            self.type,
            self.reads,
            _merged_ctes(parts),
            window=True,
        )


class FunctionCall(Protocol):
    """`func.<name>`: call it with the function's arguments (values are bound)."""

    def __call__(self, *args: object, distinct: bool = False) -> Function: ...


class _FunctionFactory:
    """`func.lower(x)`, `func.count()`, `func.sum(x, distinct=True)`, ..."""

    def __getattr__(self, name: str) -> FunctionCall:
        if name.startswith("__") or not _IDENTIFIER.match(name):
            raise AttributeError(f"func.{name}: a SQL function name must be an identifier")

        def call(*args: object, distinct: bool = False) -> Function:
            return make_function(name, args, distinct)

        call.__name__ = name
        return call


func = _FunctionFactory()


def make_function(name: str, args: Iterable[object], distinct: bool = False) -> Function:
    operands = tuple(operand(a, None) for a in args)
    lower = name.lower()
    first = operands[0].type if operands else None
    reads: tuple[t.ColumnType, bool] | None = None
    decimal = False
    if lower == "count":
        reads = (_INT, True)
    elif lower in AGGREGATE_FUNCTIONS and first is not None:
        decimal = first.kind == t.DECIMAL
        reads = (aggregate_result_type(lower, first), True)
    elif lower in _SAME_TYPE and first is not None:
        reads = (first, True)
    if distinct and lower not in AGGREGATE_FUNCTIONS:
        raise StatementInvalid(f"distinct=True is for aggregates; func.{name}() is not one")
    if lower == "count" and not operands:
        shape: Shape = ("count_all",)
    else:
        shape = (
            "func",
            lower if lower in ("length", *AGGREGATE_FUNCTIONS) else name,
            tuple(o.shape for o in operands),
            distinct,
            decimal,
        )
    return Function(
        shape,
        sum((o.values for o in operands), ()),
        name,
        type=reads[0] if reads else None,
        reads=reads,
        ctes=_merged_ctes(operands),
        window=any(o.window for o in operands),
    )


def aggregate_result_type(func_name: str, argument: t.ColumnType) -> t.ColumnType:
    """What an aggregate over a column of `argument`'s type reads back as (API.md §4)."""
    if func_name == "count":
        return _INT
    if func_name in ("min", "max"):
        return argument
    if argument.kind == t.DECIMAL:
        return _DECIMAL
    if func_name == "sum" and argument.kind in (t.INT, t.BOOL):
        return _INT
    return _FLOAT


def excluded(column: Any) -> Computed:
    """The value proposed for a row's `column` in `upsert_many(update={...})` (API.md
    §15): `EXCLUDED.c` on PostgreSQL/SQLite, `new.c` on MySQL 8.0.19+, `VALUES(c)` on
    MariaDB. `column` is a model column (`Page.c.hits`) or a column name; anywhere
    else than an upsert's update it is refused when compiled."""
    if isinstance(column, Column):
        return Computed(("excluded", column.name), (), column.type, column.reads)
    if isinstance(column, str) and column.isidentifier():
        return Computed(("excluded", column))
    raise StatementInvalid(
        f"excluded() takes a model column (Page.c.hits) or a column name; got {column!r}"
    )


def from_raw(fragment: RawSQL) -> Condition:
    """`raw(sql, params)` where an expression goes: its values bound, in order."""
    return Condition(("raw", fragment.sql), tuple((v, None) for v in fragment.params))


# ---- helpers ---------------------------------------------------------------------------
def column_type_of(python_type: Any) -> t.ColumnType:
    kind = _PYTHON_KINDS.get(python_type)
    if kind is None:
        raise StatementInvalid(
            f"cast() takes one of {', '.join(k.__name__ for k in _PYTHON_KINDS)}; "
            f"got {python_type!r}"
        )
    return t.ColumnType(kind, python_type=python_type)


def as_subquery(value: object) -> Expr | None:
    """A query (or a CTE/derived column) used as a value: its one-column subquery."""
    make = getattr(type(value), "__twinrecord_subquery__", None)
    if make is not None:
        return make(value)  # type: ignore[no-any-return]
    if isinstance(value, SourceColumn):
        return value.source.column_subquery(value.name)  # type: ignore[no-any-return]
    return None


def operand(value: object, like: t.ColumnType | None) -> Expr:
    """Any value an operator takes, as an expression: a bound value (written as a column of
    type `like` would write it), or a query used as a scalar subquery."""
    if isinstance(value, Expr):
        return value
    if isinstance(value, RawSQL):
        return from_raw(value)
    subquery = as_subquery(value)
    if subquery is not None:
        return subquery
    kind = _PYTHON_KINDS.get(type(value))
    value_type = like if like is not None else (t.ColumnType(kind) if kind else None)
    return Computed(("?",), ((value, like),), value_type)


def _merged_ctes(parts: Iterable[Expr]) -> tuple[Any, ...]:
    found: list[Any] = []
    for part in parts:
        for item in part.ctes:
            if not any(item is known for known in found):
                found.append(item)
    return tuple(found)


def _combine(kind: type[E], shape: Shape, *parts: Expr, type: t.ColumnType | None = None) -> E:
    return kind(
        shape,
        sum((p.values for p in parts), ()),
        type,
        None,
        _merged_ctes(parts),
        any(p.window for p in parts),
    )


def _connect(op: str, left: object, right: object) -> Condition:
    left = from_raw(left) if isinstance(left, RawSQL) else left
    right = from_raw(right) if isinstance(right, RawSQL) else right
    if not isinstance(left, Expr) or not isinstance(right, Expr):
        raise TypeError(BOOL_MESSAGE)
    return _combine(Condition, (op, left.shape, right.shape), left, right)


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_ordering(value: object) -> Expr:
    if isinstance(value, Ordering):
        return value
    return Ordering(operand(value, None), "ASC", None)


def _frame_bounds(bounds: tuple[int | None, int | None]) -> tuple[Any, Any]:
    if not isinstance(bounds, tuple) or len(bounds) != 2:
        raise StatementInvalid(f"a window frame is (start, end); got {bounds!r}")
    for bound in bounds:
        if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
            raise StatementInvalid(f"a frame bound is None, 0 or an int; got {bound!r}")
    return bounds[0], bounds[1]
