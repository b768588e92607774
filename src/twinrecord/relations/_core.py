"""Relation loading, written once as plans: explicit loads, eager loading (`with_()`),
the per-record cache and `inverse_of`.

Rule: every query a relation sends is built here. An explicit `post.author()` is
the eager plan run for one record, so the two can never disagree; sync and async
shells (`_access.py`) only drive these plans.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..plan import FetchRows, Plan
from ..sql.dialect import Dialect
from ..sql.expressions import ColumnExpr
from ..sql.statements import ColumnTest, Ident, compile_select
from ._declare import Link, Relation, relation_named

if TYPE_CHECKING:
    from ..model._core import RecordCore

Modifier = Callable[[Any], Any]
Specs = Iterable[tuple[str, Modifier | None]]
Groups = dict[object, list["RecordCore"]]  # key -> the targets loaded for it
Rows = list[Sequence[object]]
MISSING: Any = object()  # "not cached": None is a cached BelongsTo result


def cache_of(record: RecordCore) -> dict[str, tuple[object, Any]]:
    """A record's loaded relations: name -> (the key they were loaded for, the value)."""
    private = record._private()
    cache: dict[str, tuple[object, Any]] | None = private["_relations"]
    if cache is None:
        cache = private["_relations"] = {}
    return cache


def cached(link: Link, record: RecordCore) -> Any:
    """The cached value, or MISSING when never loaded or loaded for another key
    (a BelongsTo whose foreign key changed, a HasMany whose owner was saved since)."""
    cache = record._private()["_relations"]
    entry = cache.get(link.name) if cache is not None else None
    if entry is None or entry[0] != record.__dict__[link.owner_column]:
        return MISSING
    return entry[1]


# ---- one record -----------------------------------------------------------------------
def record_plan(link: Link, record: RecordCore, dialect: Dialect) -> Plan[Any]:
    """Load one record's relation (the eager plan for a single parent) and return it."""
    yield from load_plan(link, [record], None, dialect)
    return cache_of(record)[link.name][1]


# ---- eager loading --------------------------------------------------------------------
@dataclass
class EagerNode:
    """One relation to load for the records of a level, and what to load below it."""

    relation: Relation[Any, Any]
    modifier: Modifier | None = None
    children: dict[str, EagerNode] = field(default_factory=dict)


def eager_tree(model: type[RecordCore], specs: Specs) -> dict[str, EagerNode]:
    """`with_()` paths as a tree: 'posts' and 'posts.comments' share the 'posts' node.

    Unknown names raise RelationNotFound listing the model's relations.
    """
    root: dict[str, EagerNode] = {}
    for path, modifier in specs:
        if not isinstance(path, str) or not path:
            raise ConfigurationError(
                f"with_() takes relation names or (name, modifier) pairs; got {path!r}"
            )
        level, current = root, model
        parts = path.split(".")
        for depth, part in enumerate(parts):
            relation = relation_named(current, part, f" (in with_({path!r}))")
            node = level.setdefault(part, EagerNode(relation))
            if depth == len(parts) - 1 and modifier is not None:
                _set_modifier(node, modifier, path)
            current = relation.link().target
            level = node.children
    return root


def _set_modifier(node: EagerNode, modifier: Modifier, path: str) -> None:
    if not callable(modifier):
        raise ConfigurationError(f"with_(({path!r}, ...)): the modifier must be callable")
    if node.modifier is not None and node.modifier is not modifier:
        raise ConfigurationError(f"with_(): {path!r} is given two different modifiers")
    node.modifier = modifier


def eager_load_plan(
    model: type[RecordCore], records: list[Any], specs: Specs, dialect: Dialect
) -> Plan[None]:
    """Load every requested relation for `records`: one query per relation level
    (per chunk of keys), whatever the number of records."""
    yield from _load_level(eager_tree(model, specs), records, dialect)


def _load_level(
    level: dict[str, EagerNode], records: list[RecordCore], dialect: Dialect) -> Plan[None]:
    for node in level.values():
        targets = yield from load_plan(node.relation.link(), records, node.modifier, dialect)
        if node.children and targets:
            yield from _load_level(node.children, targets, dialect)


def load_plan(
    link: Link, records: list[RecordCore], modifier: Modifier | None, dialect: Dialect
) -> Plan[list[RecordCore]]:
    """Load `link` for every record, cache it on each (and its inverse on each target).

    Returns the distinct target records, the parents of the next level.
    """
    column = link.owner_column
    owner_keys = [r.__dict__[column] for r in records]
    distinct = dict.fromkeys(owner_keys)
    distinct.pop(None, None)
    groups: Groups = {}
    targets: list[RecordCore] = []
    if distinct:
        query = _modified_query(link, modifier)
        targets, groups = yield from _fetch_groups(link, query, list(distinct), dialect)
    if link.many:
        shared = len(distinct) < len(owner_keys)  # one row loaded as several records
        _fill_many(link.name, records, owner_keys, groups, shared)
    else:
        _fill_one(link.name, records, owner_keys, groups)
    if link.inverse is not None and targets:
        _fill_inverse(link, records, groups)
    return targets


def _modified_query(link: Link, modifier: Modifier | None) -> object:
    # `query()` is each kind's (the shells'), so it is not known statically here.
    target: Any = link.target
    query = target.query()
    if modifier is None:
        return query
    changed = modifier(query)
    if getattr(changed, "_model", None) is not link.target:
        raise ConfigurationError(
            f"the with_() modifier for {link.name!r} must return the query it is given "
            f"(refined with where/order_by/...); it returned {changed!r}"
        )
    if changed._columns or changed._aggregates or changed._group_by:
        raise ConfigurationError(
            f"the with_() modifier for {link.name!r} may filter and order, but not "
            "select(), group_by() or aggregate: eager-loaded records need every column"
        )
    return changed


# ---- fetching: keys as bound IN lists, chunked to the dialect's parameter limit ------------
def _fetch_groups(
    link: Link, query: Any, keys: list[object], dialect: Dialect
) -> Plan[tuple[list[RecordCore], Groups]]:
    keyed_meta = (link.through or link.target)._meta()
    if getattr(query, "_modern", False):  # the modifier used expressions (API.md §12)
        found = yield from _fetch_modern(link, query, keys, dialect)
        if link.through is None:
            return _group_direct(link, found, dialect)
        return _group_through(link, found, dialect)
    writer = keyed_meta.writer_for(link.match_column, dialect)
    values = keys if writer is None else [writer(k) for k in keys]
    before = query._where_values(dialect)
    after = query._values(dialect)[len(before) :]  # having, limit, offset
    size = max(1, dialect.max_params - len(before) - len(after))
    rows: Rows = []
    for start in range(0, len(values), size):
        chunk = _padded(values[start : start + size], size)
        sql = _keyed_sql(query, link, len(chunk), dialect)
        rows += yield FetchRows(sql, [*before, *chunk, *after])
    if link.through is None:
        return _group_direct(link, rows, dialect)
    return _group_through(link, rows, dialect)


def _fetch_modern(link: Link, query: Any, keys: list[object], dialect: Dialect) -> Plan[Rows]:
    """The related rows of a query built with expressions: the key test and the join to
    a through model added as expressions, the keys in chunks the dialect can bind."""
    meta = link.target._meta()
    columns: list[ColumnExpr] = [
        ColumnExpr(meta.table, meta.sql_column(f), meta.types[f], f) for f in meta.columns
    ]
    keyed_meta, keyed_table = meta, meta.table
    if link.through is not None:
        keyed_meta = link.through._meta()
        keyed_table = keyed_meta.table
        on = ColumnExpr(
            keyed_table, keyed_meta.sql_column(link.join_column or ""), None
        ) == ColumnExpr(meta.table, meta.sql_column(link.target_key or ""), None)
        query = query.inner_join(link.through, on=on)
        columns.append(
            ColumnExpr(keyed_table, keyed_meta.sql_column(link.match_column), None, "_key")
        )
    key = ColumnExpr(
        keyed_table, keyed_meta.sql_column(link.match_column), keyed_meta.types[link.match_column]
    )
    query = query.select(*columns)
    size = max(1, dialect.max_params // 2)
    rows: Rows = []
    for start in range(0, len(keys), size):
        chunk = _padded(keys[start : start + size], size)
        rows += yield FetchRows(*query.where(key.in_(chunk))._to_sql(dialect))
    return rows


def _padded(keys: list[object], limit: int) -> list[object]:
    """`keys` padded to a power of two (at most `limit`) by repeating the last one.

    Repeated keys match nothing more, and a relation then sends a handful of
    statement shapes instead of one per number of parents, so statement caches
    (ours, the driver's, the server's prepared statements) keep hitting. Hibernate's
    `in_clause_parameter_padding` does the same.
    """
    size = min(limit, 1 << (len(keys) - 1).bit_length())
    return keys + [keys[-1]] * (size - len(keys))


def _keyed_sql(query: Any, link: Link, count: int, dialect: Dialect) -> str:
    meta = link.target._meta()
    columns = meta.select_columns
    joins: tuple[str, ...] = ()
    keyed_table = meta.table
    if link.through is not None:
        keyed_table = link.through._meta().table
        q = dialect.quote
        joins = (
            f"INNER JOIN {q(keyed_table)} ON {q(f'{keyed_table}.{link.join_column}')} = "
            f"{q(f'{meta.table}.{link.target_key}')}",
        )
        columns = (*columns, Ident(f"{keyed_table}.{link.match_column}"))
    select = query._select(columns)
    test = ColumnTest(f"{keyed_table}.{link.match_column}", "in", count)
    # ANDed last: the user's own where/or_where stay grouped before it.
    select = select._replace(joins=select.joins + joins, where=(*select.where, ("AND", test)))
    return compile_select(select, dialect)[0]


def _group_direct(
    link: Link, rows: Rows, dialect: Dialect
) -> tuple[list[RecordCore], Groups]:
    meta = link.target._meta()
    targets = meta.hydrate(rows, dialect)
    column = link.match_column
    # Group on the row's value when the driver's value is already the Python one:
    # indexing a tuple is cheaper than reading each record's field.
    if meta.reader_for(column, dialect) is None:
        keys: Iterable[object] = map(itemgetter(meta.column_index[column]), rows)
    else:
        keys = [target.__dict__[column] for target in targets]
    groups: Groups = {}
    get = groups.get
    for key, target in zip(keys, targets):
        group = get(key)
        if group is None:
            groups[key] = [target]
        else:
            group.append(target)
    return targets, groups


def _group_through(
    link: Link, rows: Rows, dialect: Dialect
) -> tuple[list[RecordCore], Groups]:
    """Rows are target columns plus the owner key; a target linked to several owners
    is one record shared by them."""
    meta = link.target._meta()
    width = len(meta.columns)
    key_index = meta.column_index[link.target_key or ""]
    read_owner = link.through._meta().reader_for(link.match_column, dialect)  # type: ignore[union-attr]
    unique: dict[object, Sequence[object]] = {}
    pairs: list[tuple[object, object]] = []
    for row in rows:
        target_key = row[key_index]
        if target_key not in unique:
            unique[target_key] = row[:width]
        owner_key = row[width]
        pairs.append((owner_key if read_owner is None else read_owner(owner_key), target_key))
    targets = meta.hydrate(list(unique.values()), dialect)
    by_key = dict(zip(unique, targets, strict=True))
    groups: Groups = {}
    for owner_key, target_key in pairs:
        groups.setdefault(owner_key, []).append(by_key[target_key])
    return targets, groups


# ---- caching the results --------------------------------------------------------------
# `cache_of` is written out inline in these two loops: they run once per parent record.
def _fill_many(
    name: str, records: list[RecordCore], keys: list[object], groups: Groups, shared: bool
) -> None:
    get = groups.get
    for record, key in zip(records, keys):
        group = get(key)
        if group is None:
            group = []
        elif shared:
            group = list(group)  # records of one row must not share one mutable list
        private = record._private()
        cache = private["_relations"]
        if cache is None:
            private["_relations"] = {name: (key, group)}
        else:
            cache[name] = (key, group)


def _fill_one(
    name: str, records: list[RecordCore], keys: list[object], groups: Groups
) -> None:
    get = groups.get
    for record, key in zip(records, keys):
        group = get(key)
        value = group[0] if group else None
        private = record._private()
        cache = private["_relations"]
        if cache is None:
            private["_relations"] = {name: (key, value)}
        else:
            cache[name] = (key, value)


def _fill_inverse(link: Link, records: list[RecordCore], groups: Groups) -> None:
    """Each target's back-reference is the record it was loaded for: no query.

    A BelongsTo's inverse is filled only when it is a HasOne: one owner is not a
    HasMany's whole collection.
    """
    inverse = relation_named(link.target, link.inverse or "").link()
    if inverse.many:
        return
    name, column = inverse.name, inverse.owner_column
    for record in records:
        for target in groups.get(record.__dict__[link.owner_column], ()):
            cache_of(target)[name] = (target.__dict__[column], record)
