"""Property test (API.md §12): random expression trees over a small table return exactly
the rows a plain-Python evaluation of the same predicate keeps, on SQLite and
PostgreSQL, with hostile strings (quotes, backslashes, `?`, `%s`, `$1`, `--`, NUL where
the database allows it). SQL's three-valued logic is evaluated in Python too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .harness import DB, require_server

HOSTILE = ["it's", "back\\slash", "?", "%s", "$1", "-- x", "a%b", "x_y", "", "O'Reilly?", "Ann", "ann", "!"]
ROWS = [  # name, a, b
    ("it's", 1, 2), ("back\\slash", -2, 0), ("?", None, 3), ("%s", 3, -1), ("$1", 0, 0),
    ("-- x", 2, 2), ("a%b", None, -3), ("x_y", 1, 1), ("", -1, 2), (None, 2, -2),
    ("O'Reilly?", 3, 3), ("Ann", -3, 1), ("ann", 0, -1), ("!", 1, 0),
]
NUL_ROW = ("nul\x00byte", 1, 1)  # SQLite keeps NUL in text; PostgreSQL refuses it

Row = tuple[Any, ...]
Eval = Callable[[Row], Optional[bool]]


def _and(x: Optional[bool], y: Optional[bool]) -> Optional[bool]:
    if x is False or y is False:
        return False
    return None if x is None or y is None else True


def _or(x: Optional[bool], y: Optional[bool]) -> Optional[bool]:
    if x is True or y is True:
        return True
    return None if x is None or y is None else False


def _not(x: Optional[bool]) -> Optional[bool]:
    return None if x is None else not x


OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
    "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y,
}


def leaves(model: Any, insensitive_like: bool) -> st.SearchStrategy[tuple[Any, Eval]]:
    c = model.c
    ints = st.integers(-3, 3)
    columns = st.sampled_from([("a", 1), ("b", 2)])

    def compare(column: tuple[str, int], op: str, value: int) -> tuple[Any, Eval]:
        expr = {"==": lambda e: e == value, "!=": lambda e: e != value, "<": lambda e: e < value,
                "<=": lambda e: e <= value, ">": lambda e: e > value, ">=": lambda e: e >= value}[op](getattr(c, column[0]))
        i = column[1]
        return expr, lambda r: None if r[i] is None else OPS[op](r[i], value)

    def arith(op: str, cmp: str, value: int) -> tuple[Any, Eval]:
        left = c.a + c.b if op == "+" else c.a - c.b
        expr = {"==": lambda e: e == value, ">": lambda e: e > value, "<=": lambda e: e <= value}[cmp](left)

        def check(r: Row) -> Optional[bool]:
            if r[1] is None or r[2] is None:
                return None
            total = r[1] + r[2] if op == "+" else r[1] - r[2]
            return OPS[cmp](total, value)

        return expr, check

    def name_equals(value: str, negate: bool) -> tuple[Any, Eval]:
        expr = c.name != value if negate else c.name == value
        return expr, lambda r: None if r[0] is None else ((r[0] != value) if negate else (r[0] == value))

    def pattern(kind: str, text: str) -> tuple[Any, Eval]:
        expr = getattr(c.name, kind)(text)

        def check(r: Row) -> Optional[bool]:
            if r[0] is None:
                return None
            value, wanted = (r[0].lower(), text.lower()) if insensitive_like else (r[0], text)
            return {"startswith": value.startswith, "endswith": value.endswith,
                    "contains": lambda s: s in value}[kind](wanted)

        return expr, check

    def membership(column: tuple[str, int], values: list[int], negate: bool) -> tuple[Any, Eval]:
        col = getattr(c, column[0])
        expr = col.not_in(values) if negate else col.in_(values)
        i = column[1]

        def check(r: Row) -> Optional[bool]:
            if not values:
                return negate
            if r[i] is None:
                return None
            return (r[i] not in values) if negate else (r[i] in values)

        return expr, check

    def null_test(column: tuple[str, int], negate: bool) -> tuple[Any, Eval]:
        col = getattr(c, column[0])
        expr = col.is_not(None) if negate else col.is_(None)
        return expr, lambda r: (r[column[1]] is not None) if negate else (r[column[1]] is None)

    def between(column: tuple[str, int], low: int, high: int) -> tuple[Any, Eval]:
        i = column[1]
        return getattr(c, column[0]).between(low, high), lambda r: None if r[i] is None else low <= r[i] <= high

    return st.one_of(
        st.builds(compare, columns, st.sampled_from(list(OPS)), ints),
        st.builds(arith, st.sampled_from(["+", "-"]), st.sampled_from(["==", ">", "<="]), ints),
        st.builds(name_equals, st.sampled_from(HOSTILE), st.booleans()),
        st.builds(pattern, st.sampled_from(["startswith", "endswith", "contains"]), st.sampled_from(HOSTILE)),
        st.builds(membership, columns, st.lists(ints, max_size=3), st.booleans()),
        st.builds(null_test, st.sampled_from([("a", 1), ("name", 0)]), st.booleans()),
        st.builds(between, columns, ints, ints),
    )


def trees(model: Any, insensitive_like: bool) -> st.SearchStrategy[tuple[Any, Eval]]:
    def extend(children: st.SearchStrategy[tuple[Any, Eval]]) -> st.SearchStrategy[tuple[Any, Eval]]:
        def both(op: str, x: tuple[Any, Eval], y: tuple[Any, Eval]) -> tuple[Any, Eval]:
            if op == "&":
                return x[0] & y[0], lambda r: _and(x[1](r), y[1](r))
            return x[0] | y[0], lambda r: _or(x[1](r), y[1](r))

        def invert(x: tuple[Any, Eval]) -> tuple[Any, Eval]:
            return ~x[0], lambda r: _not(x[1](r))

        return st.one_of(
            st.builds(both, st.sampled_from(["&", "|"]), children, children),
            st.builds(invert, children),
        )

    return st.recursive(leaves(model, insensitive_like), extend, max_leaves=6)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_random_expressions_match_python(backend: str) -> None:
    require_server(backend)
    db = DB(backend, "sync")

    class Thing(db.Base):
        __table_name__ = "things"
        id: Optional[int] = None
        name: Optional[str] = None
        a: Optional[int] = None
        b: int

    rows = ROWS + ([NUL_ROW] if backend == "sqlite" else [])
    try:
        asyncio.run(db.create(Thing))
        saved = [Thing(name=n, a=a, b=b) for n, a, b in rows]
        Thing.insert_many(saved)
        ids = [t.id for t in saved]

        @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(trees(Thing, insensitive_like=backend == "sqlite"))
        def check(tree: tuple[Any, Eval]) -> None:
            expr, evaluate = tree
            found = Thing.query().where(expr).order_by(Thing.c.id).pluck(Thing.c.id)
            assert found == [i for i, r in zip(ids, rows) if evaluate(r) is True], Thing.query().where(expr).to_sql()

        check()
    finally:
        asyncio.run(db.aclose())
