"""Whether a query aggregates, as the type checkers track it (nothing here runs).

`count()`/`sum()`/`avg()`/`min()`/`max()` without an alias run at once on a plain
query but chain on a query with `group_by()` or another aggregate (API.md §4). The
query types carry that state as a second parameter, `Ungrouped` by default, so
`ActiveQuery[User]` is the plain query and `ActiveQuery[User, Grouped]` the one
whose aggregates chain; `group_by()` and an aggregate with an alias return the latter.
"""

from __future__ import annotations

from typing import final

from typing_extensions import TypeVar


@final
class Ungrouped:
    """A plain query: an aggregate without an alias runs and returns the value."""


@final
class Grouped:
    """A query with group_by() or an aggregate: every aggregate chains; aggregate() runs."""


G = TypeVar("G", default=Ungrouped)
