"""`raw(sql, params)`: SQL the programmer wrote, usable where the builder otherwise
takes only a column reference (order_by, group_by) or a value (update)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import StatementInvalid
from .placeholders import prepare

if TYPE_CHECKING:
    from .expressions import Condition


class RawSQL:
    """A `?` SQL fragment with its values; checked once, when made."""

    __slots__ = ("params", "sql")

    def __init__(self, sql: str, params: object = None) -> None:
        if not isinstance(sql, str):
            raise StatementInvalid(f"raw() takes SQL text; got {sql!r}")
        values = _as_tuple(params)
        expected = prepare(sql, "qmark")[1]  # also refuses a second statement
        if expected != len(values):
            raise StatementInvalid(
                f"raw({sql!r}, ...): {expected} `?` placeholder(s) but {len(values)} "
                "parameter(s)",
                sql,
                [type(v).__name__ for v in values],
            )
        self.sql = sql
        self.params = values

    def __repr__(self) -> str:
        return f"raw({self.sql!r}{', ...' if self.params else ''})"

    # Usable where an expression is (API.md §12): `raw('a > ?', (1,)) | (User.c.b == 2)`.
    def _expression(self) -> Condition:
        from .expressions import from_raw

        return from_raw(self)

    def __and__(self, other: object) -> Condition:
        return self._expression() & other

    def __rand__(self, other: object) -> Condition:
        return other & self._expression()

    def __or__(self, other: object) -> Condition:
        return self._expression() | other

    def __ror__(self, other: object) -> Condition:
        return other | self._expression()

    def __invert__(self) -> Condition:
        return ~self._expression()


def raw(sql: str, params: object = None) -> RawSQL:
    """SQL written by the programmer (with `?` placeholders and their values), e.g.
    `order_by(raw('LOWER(name)'))`. Never build its text from user input."""
    return RawSQL(sql, params)


def _as_tuple(params: object) -> tuple[object, ...]:
    if params is None:
        return ()
    if isinstance(params, (list, tuple)):
        return tuple(params)
    return (params,)
