"""SoftDeleteMixin's filter on joined tables (API.md §17: "joins to the model exclude
deleted rows").

Rule: the filter goes into the join's ON condition (`… AND posts.deleted_at IS NULL`), so
a LEFT JOIN keeps a parent whose children are all deleted, and is added when the
statement is built, so `with_deleted()` called after the join still lifts it. A join is
filtered when the table it reaches belongs to a soft-deleting model: a model joined by
relation, class or `aliased()`, or a table named in SQL (`inner_join('posts', on=...)`,
`join('LEFT JOIN posts p ON ...')`), whose model is found as relations find theirs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NamedTuple

from ..errors import ConfigurationError, StatementInvalid
from ..model._configure import kinds_of
from ..model._registry import all_models
from ..relations._resolve import _closest_base, _latest_run
from ..sql.compiler import JoinShape

if TYPE_CHECKING:
    from ..model._core import RecordCore
    from ..model._meta import ModelMeta

_IDENT = r'(?:[^\W\d]\w*|"(?:[^"]|"")+"|`(?:[^`]|``)+`)'
# One join written as SQL: `[kind] JOIN table [[AS] alias] ON condition`.
_ONE_JOIN = re.compile(
    rf"""\s*(?P<head>(?:NATURAL\s+)?(?:(?:LEFT|RIGHT|FULL)(?:\s+OUTER)?\s+|INNER\s+|CROSS\s+)?JOIN)
    \s+(?P<table>{_IDENT}(?:\.{_IDENT})?)
    (?:\s+(?:AS\s+)?(?!ON\b)(?P<alias>{_IDENT}))?
    \s+ON\s+(?P<on>.*)\Z""",
    re.VERBOSE | re.IGNORECASE | re.DOTALL,
)
_ANOTHER_JOIN = re.compile(r"\bJOIN\b", re.IGNORECASE)


class SoftJoin(NamedTuple):
    """Join number `position` of a query reaches soft-deleting `table` (its name in the
    statement: the alias if any) whose marker column is `column`."""

    position: int
    table: str
    column: str


def model_filter(meta: ModelMeta | None, index: int, name: str) -> tuple[SoftJoin, ...]:
    """The filter for a join reaching a model's table (under `name`), if it soft-deletes."""
    if meta is None or meta.soft_delete is None:
        return ()
    return (SoftJoin(index, name, meta.sql_column(meta.soft_delete)),)


def table_filter(
    owner: type[RecordCore], table: str, index: int, name: str
) -> tuple[SoftJoin, ...]:
    """The filter for a table named in SQL, when a soft-deleting model owns that table."""
    column = soft_column_of_table(owner, _bare(table))
    return (SoftJoin(index, _bare(name), column),) if column else ()


def clause_filter(owner: type[RecordCore], clause: str, index: int) -> tuple[SoftJoin, ...]:
    """The filter for a whole join clause written as SQL. A clause this cannot read as
    one `JOIN table [alias] ON …` is refused when it names a soft-deleting table (the
    filter could not be placed), and passed as written otherwise."""
    match = _ONE_JOIN.match(clause)
    if match and not _ANOTHER_JOIN.search(match["on"]):
        return table_filter(owner, match["table"], index, match["alias"] or match["table"])
    for word in re.findall(r"[^\W\d]\w*", clause):
        if soft_column_of_table(owner, word):
            raise StatementInvalid(
                f"join({clause!r}) reaches the soft-deleting table {word!r}, whose deleted "
                "rows must be left out (API.md §17), but the clause is not one "
                "`JOIN table [alias] ON condition`: write one join per call (or join the "
                "model: inner_join(Model, on=...)). Nothing was sent."
            )
    return ()


def soft_column_of_table(owner: type[RecordCore], table: str) -> str | None:
    """The soft-delete column of the model owning `table`, seen from `owner` (the
    closest relative among models with the owner's kinds), or None."""
    meta = owner._meta()
    key = ("soft-table", table)
    if key in meta._specs:
        return meta._specs[key]  # type: ignore[no-any-return]
    wanted = set(kinds_of(owner))
    candidates = [
        model
        for model in all_models()
        if wanted <= set(kinds_of(model)) and _table_of(model) == table
    ]
    column = None
    for narrow in (_closest_base, _latest_run):
        if candidates:
            candidates = narrow(candidates, owner)
    soft = [m._meta() for m in candidates if m._meta().soft_delete]
    if soft:
        column = soft[-1].sql_column(soft[-1].soft_delete or "")
    meta._specs[key] = column
    return column


def _table_of(model: type[RecordCore]) -> str | None:
    try:
        return str(model._meta().table)
    except ConfigurationError:  # a base class without fields (the record bases)
        return None


def filtered_joins(
    joins: tuple[JoinShape | str, ...], filters: tuple[SoftJoin, ...]
) -> tuple[JoinShape | str, ...]:
    """`joins` with each filtered join's ON condition ANDed with `table.column IS NULL`."""
    if not filters:
        return joins
    changed = list(joins)
    for position, table, column in filters:
        join = changed[position]
        if isinstance(join, JoinShape):
            live = ("null", ("col", table, column), False)
            on = live if join.on is None else ("and", join.on, live)
            changed[position] = join._replace(on=on)
        else:  # SQL text: the condition parenthesised, on lines of its own (a `--` comment)
            match = _ONE_JOIN.match(join)
            if match is None:
                continue
            head = join[: match.start("on")]
            changed[position] = f"{head}(\n{match['on']}\n) AND {table}.{column} IS NULL"
    return tuple(changed)


def _bare(name: str) -> str:
    """A table name as written in SQL, without quotes or schema."""
    last = re.findall(_IDENT, name)[-1] if name else name
    return last[1:-1] if last[:1] in ('"', "`") else last
