"""The record core: everything a model does, written once as plans (no I/O).

Rule: any logic about saving, loading, deleting or validating a record lives in
this file; `sync.py` and `aio.py` only pick `run` or `arun` and a backend.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from itertools import chain
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ConfigurationError, RecordInvalid, RecordNotFound
from ..plan import Execute, FetchRows, FetchTable, Insert, Plan, RememberTable
from ..query._core import QueryCore
from ..sql.ddl import create_table_statements, drop_table_sql, rules
from ..sql.dialect import Dialect
from ..sql.statements import (
    ColumnTest,
    Delete,
    Update,
    compile_delete,
    compile_insert,
    compile_update,
)
from ..sql.statements import Insert as InsertStatement
from . import _events, _mixins
from ._configure import configure as configure_model
from ._configure import pin_primary
from ._dup import duplicate
from ._meta import ModelMeta
from ._registry import register
from ._schema import check_declarations

_NO_EXTRAS: Mapping[str, object] = MappingProxyType({})
# Names every model answers itself (API.md §6, §12, §22): a field cannot take them.
RESERVED_NAMES = frozenset(
    {
        "c",
        "aio",
        "sync",
        "extras",
        "touch",
        "restore",
        "hard_delete",
        "dup",
        "is_deleted",
        "previously_new_record",
    }
)
MAX_ROWS_PER_INSERT = 5000


class RecordCore(BaseModel):
    """Shared base of the sync and async record classes: state, validation, plans."""

    model_config = ConfigDict(validate_assignment=True)

    # The other kind's methods for a combined model (set in twinrecord.model).
    aio: ClassVar[Any]
    sync: ClassVar[Any]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: object) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        clash = RESERVED_NAMES & set(cls.model_fields)
        if clash:
            raise ConfigurationError(
                f"{cls.__name__}: field name(s) {', '.join(sorted(clash))} reserved on every "
                f"model (the reserved names are {', '.join(sorted(RESERVED_NAMES))}: the "
                "model's own methods and views); rename the field"
            )
        _events.check_declared_handlers(cls)
        check_declarations(cls)
        register(cls)

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any:
            # Hydration sets only `__dict__` (the slots cost a quarter of loading a row);
            # Pydantic's three other slots are answered here. Two have fixed values on
            # a loaded record: no extra fields, every field set.
            if name == "__pydantic_extra__":
                return None
            if name == "__pydantic_fields_set__":
                return type(self)._meta().all_fields_set
            if name == "__pydantic_private__":
                return self._loaded_private()
            return super().__getattr__(name)

        def __setattr__(self, name: str, value: object) -> None:
            # Reading the private state creates it (the snapshot) on a loaded record
            # before its first change; on any other record it is a plain slot read.
            self.__pydantic_private__  # noqa: B018
            try:
                super().__setattr__(name, value)
            except BaseException:
                # A refused assignment may have left its value behind (Pydantic keeps it
                # when an `after` model validator raises): save() validates in full.
                self._private()["_unvalidated"] = True
                raise

    def _private(self) -> dict[str, Any]:
        """The record's private state: `_snapshot` (None for a new record) and
        `_relations`. A new record starts without one (Pydantic leaves None, or a dict
        of the model's own PrivateAttrs): created here, on first use."""
        private = self.__pydantic_private__  # a loaded record's is made in __getattr__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        if "_snapshot" not in private:
            private["_snapshot"] = None
            private["_relations"] = None
        return private

    def _loaded_private(self) -> dict[str, Any]:
        """The private state of a record that loading left without one: the values as
        they are now (unchanged since loading, as every change goes through
        `__setattr__` or a plan, which create it first) are its snapshot."""
        meta = self._meta()
        private = {"_snapshot": meta.snapshot(self.__dict__), "_relations": None}
        if meta.private_attributes:
            private = {**meta.private_defaults(self.__dict__), **private}
        object.__setattr__(self, "__pydantic_private__", private)
        return private

    def __eq__(self, other: object) -> bool:
        """Same class, same field values; load state and relation caches do not count."""
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable records are unhashable, as in Pydantic

    def __copy__(self) -> Self:
        copied = super().__copy__()
        private = copied._private()
        if private.get("_relations") is not None:
            private["_relations"] = dict(private["_relations"])  # loading one must not touch both
        # model_copy(update=...) writes its values unvalidated: save() validates copies.
        private["_unvalidated"] = True
        return copied

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> Self:
        copied = super().__deepcopy__(memo)
        copied._private()["_unvalidated"] = True  # as in __copy__
        return copied

    @classmethod
    def model_construct(  # type: ignore[override]  # the pydantic plugin renames the arguments
        cls, _fields_set: set[str] | None = None, **values: Any
    ) -> Self:
        """Pydantic's unvalidated construction; save() validates such a record in full."""
        record = super().model_construct(_fields_set, **values)
        record._private()["_unvalidated"] = True
        return record

    @classmethod
    def configure(cls, config: Any, backend_class: Any = None, *, replicas: Any = ()) -> None:
        """Give this model (and every subclass not configured itself) a database.

        `config` is a URL ('sqlite:///app.db', 'postgresql://...', 'mysql://...') or a
        backend config with its backend class. A model with both kinds gets both.
        `replicas`: URLs or configs of read replicas (API.md §18); reads outside
        transactions go to them in turn.
        """
        configure_model(cls, config, backend_class, replicas)

    @classmethod
    def using(cls, role: str) -> AbstractContextManager[None]:
        """`with Model.using('primary'):` pins the reads of this task or thread to the
        primary (plain `with` on both kinds: no I/O)."""
        return pin_primary(cls, role)

    @classmethod
    def on(cls, event: str, handler: Any = None) -> Any:
        """Register `handler(record)` for `event` (one of the ten names of
        `twinrecord.ModelEvent`); without `handler`, a decorator doing the same."""
        return _events.register(cls, event, handler)

    @classmethod
    def off(cls, event: str, handler: Any) -> None:
        """Remove a handler registered on this model with `on()`."""
        _events.unregister(cls, event, handler)

    @classmethod
    def _lifecycle(cls) -> _events.Lifecycle | bool:
        """Handlers and mixins (False for a model with neither: the plain plans)."""
        life = cls.__dict__.get("__twinrecord_lifecycle__")
        return _events.lifecycle_of(cls) if life is None else life

    @classmethod
    def _handlers(cls) -> _events.Handlers:
        life = cls._lifecycle()
        return life.handlers if isinstance(life, _events.Lifecycle) else {}

    @classmethod
    def _meta(cls) -> ModelMeta:
        meta = cls.__dict__.get("__twinrecord_meta__")
        if meta is None:
            meta = ModelMeta(cls)
            type.__setattr__(cls, "__twinrecord_meta__", meta)
        return meta

    # ---- record state -----------------------------------------------------------------
    @property
    def is_new_record(self) -> bool:
        return self._private()["_snapshot"] is None

    @property
    def dirty_attributes(self) -> set[str]:
        snapshot = self._snapshot_values()
        meta = self._meta()
        if snapshot is None:
            return set(meta.columns)
        data = self.__dict__
        return {c for c, old in zip(meta.columns, snapshot) if data[c] != old}

    @property
    def is_dirty(self) -> bool:
        return bool(self.dirty_attributes)

    @property
    def is_deleted(self) -> bool:
        """True for a soft-deleted record (SoftDeleteMixin); False on other models."""
        column = getattr(self._features(), "deleted", None)
        return column is not None and self.__dict__[column] is not None

    @property
    def previously_new_record(self) -> bool:
        """True after a save that inserted the record, until its next save, delete or
        refresh (Rails' `previously_new_record?`)."""
        return bool(self._private().get("_previously_new"))

    def dup(self) -> Self:
        """A new, unsaved copy without the primary key (nothing is sent; not awaited).

        Key fields get their default (a fresh UUID with UUIDMixin) or None; mutable
        values are copied, so changing the copy leaves this record alone.
        """
        return cast(Self, duplicate(self))

    @property
    def extras(self) -> Mapping[str, object]:
        """Labelled computed columns the query selected beside the model's own
        (API.md §13.2): read-only, not a field, not dumped, never saved."""
        found: Mapping[str, object] | None = self._private().get("_extras")
        return found if found is not None else _NO_EXTRAS

    def clear_relation_cache(self) -> None:
        """Forget every loaded relation: the next call of each one queries again."""
        self._private()["_relations"] = None

    def primary_key_value(self) -> Any:
        """The key as stored (a tuple for composite keys)."""
        values = tuple(self.__dict__[k] for k in self._meta().primary_key)
        return values[0] if len(values) == 1 else values

    def _stored_key(self) -> tuple[Any, ...]:
        """The key the row has in the database (before any unsaved change to it)."""
        meta = self._meta()
        snapshot = self._snapshot_values()
        source = snapshot if snapshot is not None else tuple(self.__dict__[c] for c in meta.columns)
        return tuple(source[i] for i in meta.key_indexes)

    def _snapshot_values(self) -> tuple[Any, ...] | None:
        """The values as loaded or last saved (None for a new record)."""
        return self._private()["_snapshot"]  # type: ignore[no-any-return]

    def _set_snapshot(self, snapshot: tuple[Any, ...] | None) -> None:
        self._private()["_snapshot"] = snapshot

    def _mark_saved(self) -> None:
        meta = type(self).__dict__.get("__twinrecord_meta__") or self._meta()
        self._private()["_snapshot"] = meta.snapshot(self.__dict__)

    def _validated_values(self, full: bool = False) -> dict[str, Any]:
        """Validate the record again (model validators included), in place; unless
        `full`, skipped when that cannot change the outcome (API.md §3): every value
        came through validated construction or assignment, or was loaded
        (`trusts_assignment`), and nothing marked the record `_unvalidated`
        (model_construct(), a copy, a refused assignment)."""
        private = self.__pydantic_private__
        if not full and (private is None or not private.get("_unvalidated")):
            meta = type(self).__dict__.get("__twinrecord_meta__") or self._meta()
            if meta.trusts_assignment:
                return self.__dict__
        try:
            # The validator reads the current dict and installs a new one; it also
            # starts the private state afresh, so the record's own is put back.
            self.__pydantic_validator__.validate_python(self.__dict__, self_instance=self)
        except ValidationError as error:
            raise _invalid(type(self).__name__, error) from error
        finally:
            object.__setattr__(self, "__pydantic_private__", private)
        if private is not None and private.get("_unvalidated"):
            private["_unvalidated"] = False
        return self.__dict__

    # ---- plans ------------------------------------------------------------------------
    def _save_plan(self, dialect: Dialect) -> Plan[int]:
        # Picks the plan rather than delegating to it: one generator less per save.
        cls = type(self)
        life = cls.__dict__.get("__twinrecord_lifecycle__")
        if life is None:
            life = _events.lifecycle_of(cls)
        if life:
            return _events.save_plan(self, life, dialect)  # type: ignore[arg-type]
        if self._private()["_snapshot"] is None:
            return self._insert_plan(dialect)
        return self._update_plan(dialect)

    def _insert_plan(self, dialect: Dialect, validate: bool = True) -> Plan[int]:
        meta = type(self).__dict__.get("__twinrecord_meta__") or self._meta()
        data = self._validated_values() if validate else self.__dict__
        wants_key = meta.auto_key is not None and data[meta.auto_key] is None
        sql, writers = _single_insert(meta, wants_key, dialect)
        params = [data[c] if w is None or data[c] is None else w(data[c]) for c, w in writers]
        if wants_key:
            keys = yield Insert(sql, params, 1)
            data[meta.auto_key] = keys[0]  # type: ignore[index]
        else:
            yield Execute(sql, params)
        private = self._private()
        private["_snapshot"] = meta.snapshot(data)
        private["_previously_new"] = True
        return 1

    def _update_plan(self, dialect: Dialect, validate: bool = True) -> Plan[int]:
        meta = self._meta()
        snapshot = self._snapshot_values()
        data = self.__dict__
        names = meta.columns
        dirty = [i for i, old in enumerate(snapshot) if data[names[i]] != old]  # type: ignore[arg-type]
        if not dirty:
            if self._private().get("_previously_new"):
                self._private()["_previously_new"] = False
            return 0
        for i in meta.key_indexes:
            if data[names[i]] is None:
                raise ConfigurationError(
                    f"{type(self).__name__}: cannot save a loaded record whose primary key "
                    f"{names[i]!r} was set to None (its row keeps its key); to store a "
                    "copy as a new row, use dup() to copy a record and save the copy. "
                    "Nothing was sent."
                )
        data = self._validated_values() if validate else data
        columns = tuple(names[i] for i in dirty)
        key = ("update", columns, dialect)
        sql = meta.sql_cache.get(key)
        if sql is None:
            where = tuple(("AND", ColumnTest(meta.sql_column(k), "eq")) for k in meta.primary_key)
            statement = Update(meta.table, meta.sql_names(columns), where)
            sql = meta.sql_cache[key] = compile_update(statement, dialect)[0]
        writers = meta.writers(dialect)
        params = [_write(writers[i], data[names[i]]) for i in dirty]
        params += [_write(writers[i], snapshot[i]) for i in meta.key_indexes]  # type: ignore[index]
        affected: int = yield Execute(sql, params)
        if affected:
            private = self._private()
            private["_snapshot"] = meta.snapshot(data)
            private["_previously_new"] = False
        return 1 if affected else 0

    def _delete_plan(self, dialect: Dialect) -> Plan[int]:
        life = type(self)._lifecycle()
        if life:
            return _events.delete_plan(self, life, dialect)  # type: ignore[arg-type]
        return self._delete_row_plan(dialect)

    def _hard_delete_plan(self, dialect: Dialect) -> Plan[int]:
        life = type(self)._lifecycle()
        if life:
            return _events.delete_plan(self, life, dialect, hard=True)  # type: ignore[arg-type]
        return self._delete_row_plan(dialect)

    def _features(self) -> _mixins.Features | None:
        return type(self)._features_of_model()

    @classmethod
    def _features_of_model(cls) -> _mixins.Features | None:
        life = cls._lifecycle()
        return life.features if isinstance(life, _events.Lifecycle) else None

    def _touch_plan(self, dialect: Dialect) -> Plan[int]:
        return _mixins.touch_plan(self, self._features(), dialect)

    def _restore_plan(self, dialect: Dialect) -> Plan[int]:
        return _mixins.restore_plan(self, self._features(), dialect)

    def _delete_row_plan(self, dialect: Dialect) -> Plan[int]:
        meta = self._meta()
        key = self._stored_key()
        if any(v is None for v in key):
            return 0
        where = tuple(("AND", ColumnTest(meta.sql_column(k), "eq")) for k in meta.primary_key)
        sql, _ = compile_delete(Delete(meta.table, where), dialect)
        params = [meta.write(k, v, dialect) for k, v in zip(meta.primary_key, key)]
        affected: int = yield Execute(sql, params)
        self._set_snapshot(None)
        self._private()["_previously_new"] = False
        return affected

    def _refresh_plan(self, dialect: Dialect) -> Plan[None]:
        cls = type(self)
        meta = cls._meta()
        if meta.soft_delete is None:
            fresh = yield from cls._find_by_key_plan(self._stored_key(), dialect)
        else:  # a soft-deleted record reloads too
            from ..query._core import QueryCore

            by_key = dict(zip(meta.primary_key, self._stored_key()))
            fresh = yield from QueryCore(cls).with_deleted().where(by_key)._one_plan(dialect)
        if fresh is None:
            raise RecordNotFound(f"{cls.__name__} with key {self._stored_key()!r} no longer exists")
        self.__dict__.update(fresh.__dict__)
        self._set_snapshot(fresh._snapshot_values())
        private = self._private()
        private["_relations"] = None
        private["_previously_new"] = False

    @classmethod
    def _find_by_key_plan(cls, key: tuple[Any, ...], dialect: Dialect) -> Plan[Any]:
        meta = cls.__dict__.get("__twinrecord_meta__") or cls._meta()
        sql, writers = meta.key_lookup(dialect)
        if len(key) != len(writers):
            raise ConfigurationError(
                f"{cls.__name__} has primary key {meta.primary_key}; got {len(key)} value(s)"
            )
        if len(key) == 1:  # no comprehension frame for the common single key
            value, writer = key[0], writers[0]
            params = [value if writer is None or value is None else writer(value)]
        else:
            params = [v if w is None or v is None else w(v) for v, w in zip(key, writers)]
        rows = yield FetchRows(sql, params)
        return meta.hydrate_one(rows[0], dialect) if rows else None

    @classmethod
    def _key_tuple(cls, key: Any) -> tuple[Any, ...]:
        meta = cls._meta()
        values = tuple(key) if isinstance(key, (tuple, list)) else (key,)
        if len(values) != len(meta.primary_key):
            raise ConfigurationError(
                f"{cls.__name__} has primary key {meta.primary_key}; got {key!r} "
                f"({len(values)} value(s) for {len(meta.primary_key)} column(s))"
            )
        return values

    @classmethod
    def _find_one_plan(cls, condition: Any, dialect: Dialect) -> Plan[Any]:
        # Picks the plan rather than delegating to it: one generator less per find.
        if type(condition) in _SCALAR_KEYS:  # the common case, without an ABC check
            return cls._find_by_key_plan((condition,), dialect)
        if type(condition) is dict or isinstance(condition, Mapping):
            meta = cls._meta()
            if set(condition) == set(meta.primary_key) and all(
                v is not None and not isinstance(v, (list, tuple, set, frozenset))
                for v in condition.values()
            ):
                key = tuple(condition[k] for k in meta.primary_key)
                return cls._find_by_key_plan(key, dialect)
            return QueryCore(cls).where(condition)._one_plan(dialect)
        return cls._find_by_key_plan(cls._key_tuple(condition), dialect)

    @classmethod
    def _find_one_or_fail_plan(cls, condition: Any, dialect: Dialect) -> Plan[Any]:
        found = yield from cls._find_one_plan(condition, dialect)
        if found is None:
            raise RecordNotFound(f"no {cls.__name__} matches {condition!r}")
        return found

    @classmethod
    def _insert_many_plan(cls, records: Iterable[Any], dialect: Dialect) -> Plan[int]:
        meta = cls._meta()
        batch = cls._validated_batch(records, "insert_many")
        _mixins.stamp_inserts(batch, cls._features_of_model())
        inserted = 0
        for wants_key, group in _group_by_key_need(meta, batch):
            inserted += yield from _insert_group(meta, group, wants_key, dialect)
        return inserted

    @classmethod
    def _validated_batch(cls, records: Iterable[Any], method: str) -> list[Any]:
        """The records as a list, each of this model and valid (else nothing is sent)."""
        batch = list(records)
        for record in batch:
            if not isinstance(record, cls):
                raise ConfigurationError(
                    f"{cls.__name__}.{method}() takes {cls.__name__} records; got {record!r}"
                )
        invalid = []
        for position, record in enumerate(batch):
            try:
                record._validated_values()
            except RecordInvalid as error:
                invalid.append((position, error))
        if invalid:
            position, first = invalid[0]
            raise RecordInvalid(
                f"{len(invalid)} of {len(batch)} records are invalid, nothing was written; "
                f"first, at index {position}: {first}",
                first.errors(),
            )
        return batch

    @classmethod
    def _find_by_sql_plan(
        cls, sql: str, params: Sequence[object] | None, backend_prepare: Any, dialect: Dialect
    ) -> Plan[list[Any]]:
        driver_sql, values = backend_prepare(sql, params)
        names, rows = yield FetchTable(driver_sql, values)
        return cls._meta().hydrate_named(names, rows, dialect)

    @classmethod
    def _create_table_plan(cls, if_not_exists: bool, dialect: Dialect) -> Plan[None]:
        """The table with its keys, constraints, defaults, comments and indexes (API.md
        §19); the shells run it in one transaction where the DDL is transactional."""
        table = cls._meta().table_definition()
        for sql in create_table_statements(table, dialect, if_not_exists):
            # Through the placeholder rewrite like every statement: a `%` in a name
            # is doubled for psycopg and mysql-connector.
            yield Execute(dialect.prepare(sql)[0])
        yield RememberTable(table.name, table)

    @classmethod
    def _drop_table_plan(cls, if_exists: bool, dialect: Dialect) -> Plan[None]:
        table = cls._meta().table
        yield Execute(dialect.prepare(drop_table_sql(table, dialect, if_exists))[0])
        yield RememberTable(table, None)


_SCALAR_KEYS = frozenset({int, str})


def ddl_transaction(backend: Any) -> Any:
    """A transaction around a table's DDL where the database has transactional DDL (so
    a failed index leaves no half-made table), else nothing (MySQL commits each one)."""
    if rules(backend.dialect).transactional:
        return backend.transaction()
    return nullcontext()


def _write(writer: Any, value: Any) -> object:
    return value if writer is None or value is None else writer(value)


def _invalid(model: str, error: ValidationError) -> RecordInvalid:
    fields = sorted({".".join(str(p) for p in e["loc"]) or "(model)" for e in error.errors()})
    return RecordInvalid(
        f"{model} is invalid (fields: {', '.join(fields)}); nothing was written\n{error}",
        error.errors(),
    )


def _group_by_key_need(meta: ModelMeta, records: list[Any]) -> list[tuple[bool, list[Any]]]:
    """Records needing a generated key and those that bring their own, kept apart."""
    key = meta.auto_key
    needing = [r for r in records if key is not None and r.__dict__[key] is None]
    bringing = [r for r in records if key is None or r.__dict__[key] is not None]
    return [(flag, group) for flag, group in ((True, needing), (False, bringing)) if group]


def _insert_group(
    meta: ModelMeta, group: list[Any], wants_key: bool, dialect: Dialect
) -> Plan[int]:
    columns, pairs = meta.insert_spec(wants_key, dialect)
    writers = [w for _, w in pairs]
    # With no columns to send (only a generated key), DEFAULT VALUES inserts one row.
    per_statement = (
        max(1, min(MAX_ROWS_PER_INSERT, dialect.max_params // len(columns))) if columns else 1
    )
    total = 0
    for start in range(0, len(group), per_statement):
        chunk = group[start : start + per_statement]
        sql = _insert_sql(meta, columns, len(chunk), wants_key, dialect)
        params = _row_params(chunk, columns, writers)
        if wants_key:
            keys = yield Insert(sql, params, len(chunk))
            for record, key in zip(chunk, keys):
                record.__dict__[meta.auto_key] = key
        else:
            yield Execute(sql, params)
        for record in chunk:
            record._mark_saved()
        total += len(chunk)
    return total


def _row_params(chunk: list[Any], columns: tuple[str, ...], writers: list[Any]) -> list[Any]:
    """The chunk's values row by row, written: picked a column at a time (C-level
    itemgetter and zip), a writer called only on its column's non-null values."""
    if not columns:  # DEFAULT VALUES
        return []
    data = [record.__dict__ for record in chunk]
    if not any(writers):
        if len(columns) == 1:
            return list(map(operator.itemgetter(columns[0]), data))
        return list(chain.from_iterable(map(operator.itemgetter(*columns), data)))
    values = []
    for column, writer in zip(columns, writers):
        column_values = list(map(operator.itemgetter(column), data))
        if writer is not None:
            column_values = [v if v is None else writer(v) for v in column_values]
        values.append(column_values)
    return list(chain.from_iterable(zip(*values)))


def _single_insert(
    meta: ModelMeta, wants_key: bool, dialect: Dialect
) -> tuple[str, list[tuple[str, Any]]]:
    """save()'s one-row INSERT and its columns' writers, found in one lookup."""
    found = meta.sql_cache.get((wants_key, dialect))
    if found is None:
        columns, writers = meta.insert_spec(wants_key, dialect)
        found = (_insert_sql(meta, columns, 1, wants_key, dialect), writers)
        meta.sql_cache[(wants_key, dialect)] = found
    return found


def _insert_sql(
    meta: ModelMeta, columns: tuple[str, ...], rows: int, wants_key: bool, dialect: Dialect
) -> str:
    key = ("insert", columns, rows, wants_key, dialect)
    sql = meta.sql_cache.get(key)
    if sql is None:
        returning: tuple[str, ...] = ()
        if wants_key and dialect.insert_returns_keys:
            returning = meta.sql_names((meta.auto_key,))  # type: ignore[arg-type]
        statement = InsertStatement(meta.table, meta.sql_names(columns), rows, returning)
        sql = meta.sql_cache[key] = compile_insert(statement, dialect)[0]
    return sql


__all__ = ["RESERVED_NAMES", "RecordCore"]
