"""Single-row writes with extra guards and bumps: the statements the mixins (API.md §17)
add to a record's UPDATE and DELETE.

`UPDATE t SET a = ?, v = v + 1 WHERE k = ? AND v = ? AND d IS NULL`: the SET columns
take values, `bump` columns are incremented in SQL, and the WHERE is the key, then each
`match` column compared with a value, then each `unset` column tested for NULL (soft
delete's "not deleted yet"). Nothing here knows a model.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from .dialect import Dialect


class GuardedUpdate(NamedTuple):
    table: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    bump: tuple[str, ...] = ()
    match: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()
    node: str = "guarded_update"


class GuardedDelete(NamedTuple):
    table: str
    key: tuple[str, ...]
    match: tuple[str, ...] = ()
    node: str = "guarded_delete"


def _guards(
    key: tuple[str, ...], match: tuple[str, ...], unset: tuple[str, ...], dialect: Dialect
) -> str:
    tests = [f"{dialect.quote(c)} = ?" for c in (*key, *match)]
    tests += [f"{dialect.quote(c)} IS NULL" for c in unset]
    return " WHERE " + " AND ".join(tests)


@lru_cache(maxsize=1024)
def compile_guarded_update(update: GuardedUpdate, dialect: Dialect) -> str:
    sets = [f"{dialect.quote(c)} = ?" for c in update.columns]
    sets += [f"{dialect.quote(c)} = {dialect.quote(c)} + 1" for c in update.bump]
    sql = f"UPDATE {dialect.quote(update.table)} SET {', '.join(sets)}"
    sql += _guards(update.key, update.match, update.unset, dialect)
    return dialect.prepare(sql)[0]


@lru_cache(maxsize=1024)
def compile_guarded_delete(delete: GuardedDelete, dialect: Dialect) -> str:
    sql = f"DELETE FROM {dialect.quote(delete.table)}"
    sql += _guards(delete.key, delete.match, (), dialect)
    return dialect.prepare(sql)[0]
