"""Upsert and bulk writes (API.md §15): `insert_many(on_conflict='ignore')`,
`upsert_many`, `update_many`, written once as plans.

Rule: each call validates every record first, runs atomically (one transaction, a
savepoint inside an open one), sizes its statements by the parameter limit, fires no
events and applies the mixins. Rows coming back are matched to records by key values
(the conflict columns, else the primary key, else every column sent), never by
position: RETURNING promises no order.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping
from itertools import chain
from operator import itemgetter
from typing import Any

from ..errors import ConfigurationError, IntegrityError, RecordNotUnique, StaleObjectError
from ..plan import Execute, FetchRows, Insert, InTransaction, Plan, ReadServer
from ..query._items import write_values
from ..sql import features as features_of_server
from ..sql.bulk import (
    ArrayInsert,
    CaseUpdate,
    ColumnValues,
    ConflictInsert,
    array_element_type,
    compile_array_insert,
    compile_case_update,
    compile_conflict_insert,
)
from ..sql.compiler import compile_upsert_sets
from ..sql.ddl import column_type_sql
from ..sql.dialect import Dialect
from ..sql.expressions import Column, Computed, Expr, from_raw
from ..sql.features import Server
from ..sql.fragments import RawSQL
from ..sql.statements import AllOf, ColumnTest, Ident, Select, compile_select
from ._core import _insert_group
from ._mixins import Features, now, stamp_inserts

MAX_ROWS_PER_STATEMENT = 1000
# Plain insert_many where the dialect takes arrays (PostgreSQL): groups of at least
# ARRAY_MIN_ROWS records go as `INSERT ... SELECT * FROM unnest(arrays)`, ARRAY_ROWS
# rows per statement (a bound on the arrays' size, not a parameter limit).
ARRAY_MIN_ROWS = 2
ARRAY_ROWS = 5000
# Concurrent bulk writes over overlapping keys can deadlock: the victim's call is redone.
ROLLBACK_RETRIES = 10
_DUPLICATE_KEY = 1062  # MySQL/MariaDB ER_DUP_ENTRY
# MariaDB's INSERT IGNORE keeps this many warnings (the session's max_error_count is
# 64 by default, fewer than a statement's rows may raise): the most the server allows.
MARIADB_WARNINGS = 65535


def _columns(model: type[Any], names: Any, what: str) -> tuple[str, ...]:
    meta = model._meta()
    columns = (names,) if isinstance(names, str) else tuple(names)
    unknown = [c for c in columns if c not in meta.column_index]
    if unknown or not columns:
        raise ConfigurationError(
            f"{model.__name__}: {what} {names!r} names no column(s) "
            f"{', '.join(map(repr, unknown))}; its columns are: {', '.join(meta.columns)}"
        )
    return columns


def _rows_per_statement(columns: int, dialect: Dialect, extra: int = 0) -> int:
    return max(1, min(MAX_ROWS_PER_STATEMENT, (dialect.max_params - extra) // max(1, columns)))


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _values(record: Any, columns: tuple[str, ...]) -> tuple[Any, ...]:
    data = record.__dict__
    return tuple(data[c] for c in columns)


def _params(meta: Any, records: list[Any], columns: tuple[str, ...], dialect: Dialect) -> list[Any]:
    """The records' values row by row, written: picked a column at a time (C-level
    itemgetter and zip), each writer called on its column's non-null values only."""
    data = [record.__dict__ for record in records]
    values = []
    for column in columns:
        column_values = list(map(itemgetter(column), data))
        writer = meta.writer_for(column, dialect)
        if writer is not None:
            column_values = [v if v is None else writer(v) for v in column_values]
        values.append(column_values)
    return list(chain.from_iterable(zip(*values)))


def _key_groups(meta: Any, records: list[Any]) -> list[tuple[bool, list[Any]]]:
    """Records needing a generated key, and those bringing their own, kept apart."""
    key = meta.auto_key
    needing = [r for r in records if key is not None and r.__dict__[key] is None]
    bringing = [r for r in records if key is None or r.__dict__[key] is not None]
    return [(flag, group) for flag, group in ((True, needing), (False, bringing)) if group]


def _keyer(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], Any]:
    """A record's values of `columns` from its __dict__, as a hashable key (a tuple)."""
    if len(columns) == 1:
        (column,) = columns
        return lambda data: (data[column],)
    return itemgetter(*columns)


def _refuse_batch_duplicates(model: type[Any], records: list[Any], unique: tuple[str, ...]) -> None:
    key = _keyer(unique)
    keys = [key(record.__dict__) for record in records]
    if len(set(keys)) == len(keys):
        return
    seen: dict[tuple[Any, ...], int] = {}
    for position, values in enumerate(keys):
        if values in seen:
            raise RecordNotUnique(
                f"{model.__name__}.upsert_many(): records {seen[values]} and {position} both "
                f"have {dict(zip(unique, values))!r} for unique_by {unique}; nothing was sent "
                "(PostgreSQL refuses such a statement; the others would apply both)"
            )
        seen[values] = position


def _unstamp(records: list[Any], before: list[tuple[Any, Any]], features: Features | None) -> None:
    if features is None or not features.timestamps:
        return
    for record, (created, updated) in zip(records, before):
        record.__dict__["created_at"] = created
        record.__dict__["updated_at"] = updated


def _stamps(records: list[Any], features: Features | None) -> list[tuple[Any, Any]]:
    if features is None or not features.timestamps:
        return []
    return [(r.__dict__["created_at"], r.__dict__["updated_at"]) for r in records]


def _states(records: list[Any]) -> list[tuple[dict[str, Any], Any, Any]]:
    """Each record's values and save state, to put back when an attempt is undone."""
    states = []
    for record in records:
        private = record._private()
        states.append((dict(record.__dict__), private["_snapshot"], private.get("_previously_new")))
    return states


def _put_back(records: list[Any], states: list[tuple[dict[str, Any], Any, Any]]) -> None:
    for record, (values, snapshot, previously_new) in zip(records, states):
        record.__dict__.clear()
        record.__dict__.update(values)
        private = record._private()
        private["_snapshot"] = snapshot
        private["_previously_new"] = previously_new


def _atomic(batch: list[Any], make: Callable[[], Plan[int]]) -> Plan[int]:
    """Run `make()`'s plan in one transaction (a savepoint inside an open one); when the
    server rolls the outermost one back (a deadlock, a serialization failure), run it
    again from the start. Records go back to how the call found them before a retry
    and when the call fails: a rolled-back row leaves no key or clean state behind."""
    states = _states(batch)
    attempts = 0

    def attempt() -> Plan[int]:
        nonlocal attempts
        if attempts:
            _put_back(batch, states)
        attempts += 1
        return make()

    try:
        done: int = yield InTransaction(attempt, retries=ROLLBACK_RETRIES)
    except BaseException:
        _put_back(batch, states)
        raise
    return done


# ---- insert_many(on_conflict='ignore') -------------------------------------------------------
def insert_many_plan(
    model: type[Any],
    records: Iterable[Any],
    on_conflict: str | None,
    unique_by: Any,
    dialect: Dialect,
) -> Plan[int]:
    if on_conflict is None:
        if unique_by is not None:
            raise ConfigurationError(
                f"{model.__name__}.insert_many(unique_by=...) goes with on_conflict='ignore'"
            )
        if dialect.array_insert:
            return array_insert_plan(model, records, dialect)
        return model._insert_many_plan(records, dialect)  # type: ignore[no-any-return]
    if on_conflict != "ignore":
        raise ConfigurationError(
            f"{model.__name__}.insert_many(on_conflict={on_conflict!r}): the only value is "
            "'ignore' (to overwrite colliding rows, use upsert_many)"
        )
    return insert_ignore_plan(model, records, unique_by, dialect)


# ---- insert_many() where the dialect takes arrays ---------------------------------------------
def array_insert_plan(model: type[Any], records: Iterable[Any], dialect: Dialect) -> Plan[int]:
    """Plain insert_many (API.md §3) with one array parameter per column: the statement
    is one shape whatever the row count (parsed, planned and prepared once), and its
    values travel as arrays, not as one parameter each. Generated keys come back by
    RETURNING in the arrays' order. A group of fewer than ARRAY_MIN_ROWS records, a
    column with a declared `sql_type`, or a column whose values are of mixed Python
    types (an int among Decimals) goes the VALUES way instead."""
    meta = model._meta()
    batch = model._validated_batch(records, "insert_many")
    stamp_inserts(batch, model._features_of_model())
    inserted = 0
    for wants_key, group in _key_groups(meta, batch):
        shape = _array_shape(meta, wants_key, dialect) if len(group) >= ARRAY_MIN_ROWS else None
        for chunk in _chunks(group, ARRAY_ROWS) if shape is not None else (group,):
            arrays = _arrays(chunk, shape[1]) if shape is not None else None
            if shape is None or arrays is None:
                inserted += yield from _insert_group(meta, chunk, wants_key, dialect)
                continue
            if wants_key:
                keys = yield Insert(shape[0], arrays, len(chunk))
                if len(keys) != len(chunk):
                    raise IntegrityError(
                        f"{model.__name__}.insert_many(): {len(chunk)} rows sent, "
                        f"{len(keys)} keys came back"
                    )
                _mark_inserted(chunk, meta.auto_key, keys)
            else:
                yield Execute(shape[0], arrays)
                _mark_inserted(chunk, None, ())
            inserted += len(chunk)
    return inserted


def _mark_inserted(chunk: list[Any], key: str | None, keys: Iterable[Any]) -> None:
    """The records take their generated keys (`key` set) and are saved. The cyclic
    collector is paused meanwhile: every snapshot made here stays alive, so its passes
    over them (one per ~700 allocations) would be pure cost."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        if key is not None:
            for record, value in zip(chunk, keys):
                record.__dict__[key] = value
        for record in chunk:
            record._mark_saved()
    finally:
        if paused:
            gc.enable()


def _array_shape(
    meta: Any, wants_key: bool, dialect: Dialect
) -> tuple[str, list[tuple[Any, Any]]] | None:
    """The ArrayInsert SQL of a model's INSERT and, per column, how to read its values
    off a record and write them; None when a column has a declared `sql_type` (its
    array type is not known) or there is no column to send. Worked out once."""
    key = ("array-insert", wants_key, dialect)
    if key in meta.sql_cache:
        return meta.sql_cache[key]  # type: ignore[no-any-return]
    columns, pairs = meta.insert_spec(wants_key, dialect)
    declared = {c.name: c.sql_type for c in meta.table_definition().columns}
    names = meta.sql_names(columns)
    shape: tuple[str, list[tuple[Any, Any]]] | None = None
    if columns and all(declared.get(n) is None for n in names):
        casts = tuple(array_element_type(column_type_sql(meta.types[c], dialect)) for c in columns)
        returning: tuple[str, ...] = ()
        if wants_key:
            returning = meta.sql_names((meta.auto_key,))
        sql = compile_array_insert(ArrayInsert(meta.table, names, casts, returning), dialect)
        shape = (sql, [(itemgetter(c), writer) for c, writer in pairs])
    meta.sql_cache[key] = shape
    return shape


_NONE = type(None)


def _arrays(chunk: list[Any], readers: list[tuple[Any, Any]]) -> list[ColumnValues] | None:
    """One ColumnValues per column, written for the driver; None when a column's values
    are of more than one Python type (the driver types an array by its values)."""
    data = [record.__dict__ for record in chunk]
    arrays = []
    for read, writer in readers:
        values = list(map(read, data))
        if writer is not None:
            values = [v if v is None else writer(v) for v in values]
        kinds = set(map(type, values))
        kinds.discard(_NONE)
        if len(kinds) > 1:
            return None
        arrays.append(ColumnValues(values))
    return arrays


def insert_ignore_plan(
    model: type[Any], records: Iterable[Any], unique_by: Any, dialect: Dialect
) -> Plan[int]:
    batch = model._validated_batch(records, "insert_many")
    unique = _columns(model, unique_by, "unique_by") if unique_by is not None else ()
    features = model._features_of_model()
    before = _stamps(batch, features)
    stamp_inserts(batch, features)

    try:
        inserted = yield from _atomic(
            batch, lambda: _insert_ignore(model, batch, unique, dialect)
        )
    except BaseException:
        _unstamp(batch, before, features)
        raise
    if before:  # skipped records stay as they were
        _unstamp(
            [r for r in batch if r.is_new_record],
            [b for r, b in zip(batch, before) if r.is_new_record],
            features,
        )
    return inserted


def _insert_ignore(
    model: type[Any], batch: list[Any], unique: tuple[str, ...], dialect: Dialect
) -> Plan[int]:
    meta = model._meta()
    mariadb = False
    if dialect.name == "mysql":
        server: Server = (yield ReadServer(dialect)) or features_of_server.newest(dialect)
        if server.flavor != "mariadb":  # MySQL: no RETURNING to learn which rows went in
            return (yield from _insert_ignore_one_by_one(model, batch, unique, dialect))
        mariadb = True
    unique_keys: dict[str, set[str]] | None = None
    inserted = 0
    for wants_key, group in _key_groups(meta, batch):
        columns, _ = meta.insert_spec(wants_key, dialect)
        match = unique or (meta.primary_key if not wants_key else columns)
        statement_rows = _rows_per_statement(len(columns), dialect)
        for chunk in _chunks(group, statement_rows):
            statement = ConflictInsert(
                meta.table,
                meta.sql_names(columns),
                len(chunk),
                "ignore",
                target=meta.sql_names(unique),
                returning=meta.sql_names(meta.columns),
                server_returning=mariadb,
                keep_warnings=MARIADB_WARNINGS if mariadb else 0,
            )
            rows = yield FetchRows(
                compile_conflict_insert(statement, dialect), _params(meta, chunk, columns, dialect)
            )
            if mariadb:
                # INSERT IGNORE turns every refusal into a warning: each one not a
                # duplicate on the conflict key raises what a plain INSERT would have.
                warnings = yield FetchRows("SHOW WARNINGS", [])
                if warnings:
                    if unique and unique_keys is None:
                        unique_keys = yield from _unique_keys(meta)
                    sql_unique = set(meta.sql_names(unique))
                    _raise_for_warnings(model, warnings, sql_unique, unique_keys or {})
            stored = _index(meta.hydrate(rows, dialect), match)
            for record in chunk:
                found = stored.get(_values(record, match))
                if found:
                    row = found.pop(0)
                    if wants_key:
                        record.__dict__[meta.auto_key] = row.__dict__[meta.auto_key]
                    record._mark_saved()
                    inserted += 1
    return inserted


def _index(records: list[Any], columns: tuple[str, ...]) -> dict[tuple[Any, ...], list[Any]]:
    index: dict[tuple[Any, ...], list[Any]] = {}
    for record in records:
        index.setdefault(_values(record, columns), []).append(record)
    return index


def _insert_ignore_one_by_one(
    model: type[Any], batch: list[Any], unique: tuple[str, ...], dialect: Dialect
) -> Plan[int]:
    """MySQL: `INSERT IGNORE`, one statement per record, whose warnings say why a
    row was skipped: a duplicate on the conflict key skips it; a duplicate on another
    key, a foreign key or a check raises what the plain INSERT would have raised.
    (MariaDB sends a batch per statement with RETURNING: `_insert_ignore`.)"""
    meta = model._meta()
    unique_keys: dict[str, set[str]] | None = None
    inserted = 0
    for wants_key, group in _key_groups(meta, batch):
        columns, _ = meta.insert_spec(wants_key, dialect)
        statement = ConflictInsert(meta.table, meta.sql_names(columns), 1, "ignore")
        sql = compile_conflict_insert(statement, dialect)
        for record in group:
            affected = yield Execute(sql, _params(meta, [record], columns, dialect))
            if affected:
                if wants_key:
                    rows = yield FetchRows("SELECT LAST_INSERT_ID()", [])
                    record.__dict__[meta.auto_key] = int(rows[0][0])
                record._mark_saved()
                inserted += 1
                continue
            warnings = yield FetchRows("SHOW WARNINGS", [])
            if unique and unique_keys is None:
                unique_keys = yield from _unique_keys(meta)
            _raise_for_warnings(model, warnings, set(meta.sql_names(unique)), unique_keys or {})
    return inserted


def _unique_keys(meta: Any) -> Plan[dict[str, set[str]]]:
    """The table's unique keys (name -> columns), read once per call."""
    rows = yield FetchRows(
        "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = %s AND NON_UNIQUE = 0",
        [meta.table],
    )
    keys: dict[str, set[str]] = {}
    for name, column in rows:
        keys.setdefault(str(name), set()).add(str(column))
    return keys


def _raise_for_warnings(
    model: type[Any], warnings: list[Any], unique: set[str], keys: dict[str, set[str]]
) -> None:
    for level, code, message in warnings:
        if str(level) == "Note":
            continue
        if int(code) != _DUPLICATE_KEY:
            raise IntegrityError(
                f"{model.__name__}.insert_many(on_conflict='ignore'): the server refused a "
                f"row ({message}); the call was rolled back"
            )
        key = str(message).rsplit("'", 2)[-2].rsplit(".", 1)[-1]
        if unique and keys.get(key) != unique:
            raise RecordNotUnique(
                f"{model.__name__}.insert_many(on_conflict='ignore', unique_by=...): a record "
                f"collides on key {key!r}, not on unique_by ({message}); the call was rolled "
                "back",
                constraint=key,
            )


# ---- upsert_many -------------------------------------------------------------------------------
def upsert_plan(
    model: type[Any], records: Iterable[Any], unique_by: Any, update: Any, dialect: Dialect
) -> Plan[int]:
    meta = model._meta()
    batch = model._validated_batch(records, "upsert_many")
    unique = _columns(model, unique_by if unique_by is not None else meta.primary_key, "unique_by")
    features = model._features_of_model()
    if (
        unique == meta.primary_key
        and meta.auto_key
        and any(r.__dict__[meta.auto_key] is None for r in batch)
    ):
        raise ConfigurationError(
            f"{model.__name__}.upsert_many(): without unique_by the records must carry their "
            f"primary key ({meta.auto_key}); give unique_by=<a unique column>"
        )
    _refuse_batch_duplicates(model, batch, unique)
    overwrite = _update_columns(model, features, unique, update)
    before = _stamps(batch, features)
    stamp_inserts(batch, features)

    try:
        upserted = yield from _atomic(
            batch, lambda: _upsert(model, batch, unique, overwrite, features, dialect)
        )
    except BaseException:
        _unstamp(batch, before, features)
        raise
    return upserted


def _update_columns(
    model: type[Any], features: Features | None, unique: tuple[str, ...], update: Any
) -> tuple[tuple[str, ...], tuple[tuple[str, Expr], ...]]:
    """What the update branch overwrites: columns taking the proposed value, and
    (column, expression) pairs computed by the database (`update={...}`)."""
    meta = model._meta()
    if update is None:
        kept = (
            {*meta.primary_key, *unique, "created_at"}
            if features and features.timestamps
            else {*meta.primary_key, *unique}
        )
        if features:
            kept |= {c for c in (features.deleted, features.lock) if c}
        return tuple(c for c in meta.columns if c not in kept), ()
    if isinstance(update, Mapping):
        if not update:
            raise ConfigurationError(
                f"{model.__name__}.upsert_many(update={{}}): nothing to overwrite on conflict; "
                "use insert_many(records, on_conflict='ignore') to skip colliding rows"
            )
        return (), tuple(_computed(model, key, value) for key, value in update.items())
    columns = tuple(update) if not isinstance(update, str) else (update,)
    if not columns:
        raise ConfigurationError(
            f"{model.__name__}.upsert_many(update=()): nothing to overwrite on conflict; use "
            "insert_many(records, on_conflict='ignore') to skip colliding rows"
        )
    return _columns(model, columns, "update"), ()


def _computed(model: type[Any], key: Any, value: Any) -> tuple[str, Expr]:
    """One `update={column: expression}` entry: the column's field and an expression
    (a plain value is validated as assigning it would be, and bound)."""
    meta = model._meta()
    if isinstance(key, Column):
        if key.table != meta.table:
            raise ConfigurationError(
                f"{model.__name__}.upsert_many(update={{...}}) sets its own columns; "
                f"{key.table}.{key.name} belongs to another table"
            )
        key = key.field
    (field,) = _columns(model, (key,), "update key")
    if isinstance(value, RawSQL):
        value = from_raw(value)
    if not isinstance(value, Expr):
        value = Computed(("?",), ((meta.validated(field, value), meta.types[field]),))
    return field, value


def _upsert(
    model: type[Any],
    batch: list[Any],
    unique: tuple[str, ...],
    overwrite_spec: tuple[tuple[str, ...], tuple[tuple[str, Expr], ...]],
    features: Features | None,
    dialect: Dialect,
) -> Plan[int]:
    meta = model._meta()
    overwrite, computed = overwrite_spec
    server: Server = (yield ReadServer(dialect)) or features_of_server.newest(dialect)
    mysql = dialect.name == "mysql"
    row_alias = server.flavor == "mysql" and server.at_least(8, 0, 19)
    # RETURNING is internal (§13.7): PostgreSQL/SQLite, and MariaDB's INSERT; MySQL
    # reads the rows back by unique_by.
    returns_rows = not mysql or server.flavor == "mariadb"
    fields = {field for field, _ in computed}
    sets_sql, order = compile_upsert_sets(
        tuple(e.shape for _, e in computed), dialect, server, row_alias
    )
    computed_sets = tuple(zip(meta.sql_names([f for f, _ in computed]), sets_sql))
    computed_values = write_values([pair for _, e in computed for pair in e.values], dialect)
    computed_values = [computed_values[i] for i in order]
    stamp = (
        ("updated_at",)
        if features
        and features.timestamps
        and "updated_at" not in overwrite
        and "updated_at" not in fields
        else ()
    )
    bump = (features.lock,) if features and features.lock and features.lock not in fields else ()
    instant = now()
    for wants_key, group in _key_groups(meta, batch):
        columns, _ = meta.insert_spec(wants_key, dialect)
        update = tuple(c for c in overwrite if c in columns)
        if not update and not computed and not stamp and not bump:
            update = tuple(c for c in unique if c in columns)[:1]  # a no-op keeps RETURNING
        # What comes back: the key, unique_by's columns (to match rows to records) and
        # every column the update branch does not set to the value sent (a kept,
        # computed, stamped or bumped column); the others hold what the record sent.
        overwritten = set(update) - set(unique) - set(meta.primary_key)
        returned = tuple(c for c in meta.columns if c not in overwritten)
        extra = 1 + len(computed_values)
        statement_rows = _rows_per_statement(len(columns), dialect, extra=extra)
        for chunk in _chunks(group, statement_rows):
            statement = ConflictInsert(
                meta.table,
                meta.sql_names(columns),
                len(chunk),
                "update",
                target=meta.sql_names(unique),
                update=meta.sql_names(update),
                stamp=meta.sql_names(stamp),
                bump=meta.sql_names(bump),
                returning=meta.sql_names(returned),
                row_alias=row_alias,
                computed=computed_sets,
                server_returning=returns_rows,
            )
            params = _params(meta, chunk, columns, dialect)
            params += computed_values
            params += [meta.write(c, instant, dialect) for c in stamp]
            sql = compile_conflict_insert(statement, dialect)
            if not returns_rows:
                yield Execute(sql, params)
                rows = yield from _select_by(meta, unique, returned, chunk, dialect)
            else:
                rows = yield FetchRows(sql, params)
            _take_rows(model, chunk, rows, returned, unique, dialect)
    return len(batch)


def _select_by(
    meta: Any,
    unique: tuple[str, ...],
    returned: tuple[str, ...],
    chunk: list[Any],
    dialect: Dialect,
) -> Plan[Any]:
    """`returned`'s columns of the rows of `chunk`'s conflict values (MySQL has no
    RETURNING)."""
    if len(unique) == 1:
        test: Any = ColumnTest(meta.sql_column(unique[0]), "in", len(chunk))
        where: Any = (("AND", test),)
        params = [meta.write(unique[0], r.__dict__[unique[0]], dialect) for r in chunk]
    else:
        tests = tuple(ColumnTest(meta.sql_column(c), "eq") for c in unique)
        where = tuple(("OR", AllOf(tests)) for _ in chunk)
        params = [meta.write(c, r.__dict__[c], dialect) for r in chunk for c in unique]
    columns = tuple(Ident(f"{meta.table}.{meta.sql_column(c)}") for c in returned)
    select = Select(table=meta.table, columns=columns, where=where)
    rows = yield FetchRows(compile_select(select, dialect)[0], params)
    return rows


def _take_rows(
    model: type[Any],
    chunk: list[Any],
    rows: list[Any],
    returned: tuple[str, ...],
    unique: tuple[str, ...],
    dialect: Dialect,
) -> None:
    """Every record takes its row's `returned` values as stored, and is saved."""
    meta = model._meta()
    readers = [(i, meta.reader_for(c, dialect)) for i, c in enumerate(returned)]
    readers = [(i, reader) for i, reader in readers if reader is not None]
    if readers:
        rows = [list(row) for row in rows]
        for row in rows:
            for i, reader in readers:
                if row[i] is not None:
                    row[i] = reader(row[i])
    at = [returned.index(c) for c in unique]
    key: Callable[[dict[str, Any]], Any]
    if len(at) == 1:  # the common case: one column, its value the key
        index = {row[at[0]]: row for row in rows}
        key = itemgetter(unique[0])
    else:
        index = {tuple(row[i] for i in at): row for row in rows}
        key = itemgetter(*unique)
    for record in chunk:
        data = record.__dict__
        found = index.get(key(data))
        if found is None:
            raise RecordNotUnique(
                f"{model.__name__}.upsert_many(): the record with "
                f"{dict(zip(unique, _values(record, unique)))!r} collided on a unique key "
                "other than unique_by; the call was rolled back"
            )
        data.update(zip(returned, found))
        record._mark_saved()


# ---- update_many -------------------------------------------------------------------------------
def update_many_plan(
    model: type[Any], records: Iterable[Any], fields: Any, dialect: Dialect
) -> Plan[int]:
    meta = model._meta()
    batch = list(records)
    for record in batch:
        if isinstance(record, model) and record.is_new_record:
            raise ConfigurationError(
                f"{model.__name__}.update_many() takes loaded records; {record!r} is new "
                "(use insert_many)"
            )
    batch = model._validated_batch(batch, "update_many")
    features = model._features_of_model()
    lock = features.lock if features else None
    chosen = _columns(model, fields, "fields") if fields is not None else None
    writes = []
    for record in batch:
        columns = chosen or tuple(c for c in record.dirty_attributes if c != lock)
        columns = tuple(c for c in meta.columns if c in columns and c not in meta.primary_key)
        if columns:
            writes.append((record, columns))
    if not writes:
        return 0

    records = [record for record, _ in writes]
    return (yield from _atomic(records, lambda: _update_many(model, writes, features, dialect)))


def _key_where(meta: Any, keys: int) -> Any:
    """WHERE of `keys` primary keys: `k IN (...)`, or `(k1 = ? AND k2 = ?) OR ...`."""
    columns = meta.sql_names(meta.primary_key)
    if len(columns) == 1:
        return (("AND", ColumnTest(columns[0], "in", keys)),)
    tests = AllOf(tuple(ColumnTest(c, "eq") for c in columns))
    return tuple(("OR", tests) for _ in range(keys))


def _read_keys(meta: Any, rows: list[Any], dialect: Dialect) -> list[tuple[Any, ...]]:
    """The primary keys at the start of each row, as the fields hold them."""
    readers = [meta.reader_for(k, dialect) for k in meta.primary_key]
    return [
        tuple(v if f is None or v is None else f(v) for v, f in zip(row, readers)) for row in rows
    ]


def _update_many(
    model: type[Any],
    writes: list[tuple[Any, tuple[str, ...]]],
    features: Features | None,
    dialect: Dialect,
) -> Plan[int]:
    meta = model._meta()
    primary = meta.primary_key
    lock = features.lock if features else None
    stamp_column = "updated_at" if features and features.timestamps else None
    instant = now()
    matched = 0
    per_record = len(meta.columns) * (len(primary) + 1) + len(primary)
    per_statement = max(1, (dialect.max_params - 1) // per_record)
    for chunk in _chunks(writes, min(per_statement, MAX_ROWS_PER_STATEMENT)):
        keys = [record._stored_key() for record, _ in chunk]
        written_keys = [
            tuple(meta.write(c, v, dialect) for c, v in zip(primary, key)) for key in keys
        ]
        flat_keys = [v for key in written_keys for v in key]
        present: set[Any] | None = None
        if lock or not dialect.supports_returning:
            listed = tuple(Ident(c) for c in meta.sql_names(primary)) + (
                (Ident(meta.sql_column(lock)),) if lock else ()
            )
            select = Select(
                table=meta.table, columns=listed, where=_key_where(meta, len(keys)), for_update=True
            )
            rows = yield FetchRows(compile_select(select, dialect)[0], flat_keys)
            read = _read_keys(meta, rows, dialect)
            versions = {k: (r[len(primary)] if lock else None) for k, r in zip(read, rows)}
            if lock:
                stale = [
                    k if len(k) > 1 else k[0]
                    for (record, _), k in zip(chunk, keys)
                    if versions.get(k, object()) != record.__dict__[lock]
                ]
                if stale:
                    raise StaleObjectError(
                        f"{model.__name__}.update_many(): records with keys {stale!r} were "
                        "changed or deleted by someone else (their lock versions no longer "
                        "match); nothing was written. Reload them and apply the changes again"
                    )
            present = set(versions)
        columns = tuple(c for c in meta.columns if any(c in cols for _, cols in chunk))
        stamp = (stamp_column,) if stamp_column and stamp_column not in columns else ()
        params: list[Any] = []
        cases = []
        for column in columns:
            count = 0
            for (record, cols), written_key in zip(chunk, written_keys):
                if column in cols:
                    params += [*written_key, meta.write(column, record.__dict__[column], dialect)]
                    count += 1
            cases.append(count)
        params += [meta.write(c, instant, dialect) for c in stamp]
        params += flat_keys
        casts = tuple(
            column_type_sql(meta.types[c], dialect) if dialect.name == "postgresql" else ""
            for c in columns
        )
        names = meta.sql_names(primary)
        statement = CaseUpdate(
            meta.table,
            names[0] if len(names) == 1 else names,
            meta.sql_names(columns),
            tuple(cases),
            casts,
            len(keys),
            stamp=meta.sql_names(stamp),
            bump=(meta.sql_column(lock),) if lock else (),
            returning=present is None,
        )
        sql = compile_case_update(statement, dialect)
        if present is None:
            rows = yield FetchRows(sql, params)
            present = set(_read_keys(meta, rows, dialect))
        else:
            yield Execute(sql, params)
        for (record, cols), k in zip(chunk, keys):
            if k not in present:
                continue  # its row vanished: left as save() would leave it
            changes = {c: record.__dict__[c] for c in cols}
            if stamp:
                changes[stamp_column] = instant
            if lock:
                changes[lock] = record.__dict__[lock] + 1
            _clean(record, meta, changes)
            matched += 1
    return matched


def _clean(record: Any, meta: Any, changes: dict[str, Any]) -> None:
    """The record takes `changes`, and they become clean (its other changes stay dirty)."""
    snapshot = list(record._snapshot_values())
    for column, value in changes.items():
        record.__dict__[column] = value
        snapshot[meta.column_index[column]] = value
    record._set_snapshot(tuple(snapshot))
