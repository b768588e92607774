"""Per-model facts computed once: table, key, columns, and per-dialect converters.

Rows coming back from the database are trusted: they are converted column by
column with converters built once per (model, dialect), never re-validated.
"""

from __future__ import annotations

import copy
import gc
import operator
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from ..errors import ConfigurationError, StatementInvalid
from ..sql import types as t
from ..sql.dialect import Converter, Dialect
from ..sql.statements import ColumnTest, Ident, Select, compile_select
from ._field_values import field_validator, validate_field_value
from ._fields import column_type, default_table_name
from ._mixins import SoftDeleteMixin
from ._schema import column_names, table_definition

_GC_PAUSE_ROWS = 200
_new_object = object.__new__
# Pydantic's slot descriptors, called directly: half the cost of object.__setattr__.
_SET_DICT = BaseModel.__dict__["__dict__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__


def trusts_assignment(model: type[Any], mutable: frozenset[str]) -> bool:
    """May save() skip validating a record again (API.md §3) when every value of it got
    there through validated construction, validated assignment or loading?

    Only when assignment validates (`validate_assignment`), no field holds a value that
    changes in place (dict/list: JSON columns), and no model validator is a `wrap` one:
    Pydantic hands `before` validators the fields as a dict and `after` validators the
    record on assignment as it does at save, but a `wrap` validator gets the record on
    assignment and a dict at save, so it may judge the two differently.
    """
    if not model.model_config.get("validate_assignment") or mutable:
        return False
    validators = model.__pydantic_decorators__.model_validators.values()
    return all(v.info.mode != "wrap" for v in validators)


class ModelMeta:
    def __init__(self, model: type[Any]) -> None:
        self.model = model
        self.name = model.__name__
        self.table: str = getattr(model, "__table_name__", None) or default_table_name(self.name)
        self.columns: tuple[str, ...] = tuple(model.model_fields)
        self.column_index = {name: i for i, name in enumerate(self.columns)}
        self.types: dict[str, t.ColumnType] = {}
        self.nullable: dict[str, bool] = {}
        for name, field in model.model_fields.items():
            self.types[name], self.nullable[name] = column_type(self.name, name, field)
        declared = getattr(model, "__primary_key__", "id")
        self.primary_key: tuple[str, ...] = (
            (declared,) if isinstance(declared, str) else tuple(declared)
        )
        for key in self.primary_key:
            if key not in self.column_index:
                raise ConfigurationError(
                    f"{self.name}: primary key {key!r} is not a field; declare it, or set "
                    "__primary_key__ to the name of a field"
                )
        # Field -> database column (they differ where Column(name=...) says so), and back.
        self.sql_columns: dict[str, str] = column_names(model)
        self.field_of: dict[str, str] = {}
        for field_name, sql_name in self.sql_columns.items():
            if self.field_of.setdefault(sql_name, field_name) != field_name:
                raise ConfigurationError(
                    f"{self.name}: fields {self.field_of[sql_name]!r} and {field_name!r} "
                    f"both use column {sql_name!r}; give one of them another Column(name=...)"
                )
        # `column = ?` tests of dict conditions, by the names a user may write.
        self.equality_tests: dict[str, tuple[ColumnTest, str]] = {}
        for column in self.columns:
            sql_name = self.sql_columns[column]
            test = (ColumnTest(f"{self.table}.{sql_name}", "eq"), column)
            for name in {column, sql_name}:
                self.equality_tests[name] = self.equality_tests[f"{self.table}.{name}"] = test
        self.key_indexes = tuple(self.column_index[k] for k in self.primary_key)
        only = self.primary_key[0] if len(self.primary_key) == 1 else None
        self.auto_key: str | None = (
            only if only and self.types[only].kind == t.INT and self.nullable[only] else None
        )
        self.private_attributes = dict(getattr(model, "__private_attributes__", {}))
        # What a loaded record's `model_fields_set` is: every field (shared, never changed).
        self.all_fields_set = set(self.columns)
        self.mutable = frozenset(n for n, ct in self.types.items() if ct.kind == t.JSON)
        self.trusts_assignment = trusts_assignment(model, self.mutable)
        self.select_columns = tuple(
            Ident(f"{self.table}.{self.sql_columns[c]}") for c in self.columns
        )
        # SoftDeleteMixin's column: queries and lookups by key leave marked rows out.
        self.soft_delete: str | None = "deleted_at" if issubclass(model, SoftDeleteMixin) else None
        key_where = tuple(("AND", ColumnTest(self.sql_columns[k], "eq")) for k in self.primary_key)
        if self.soft_delete:
            live = ColumnTest(self.sql_columns[self.soft_delete], "null")
            key_where = (*key_where, ("AND", live))
        self.key_select = Select(table=self.table, columns=self.select_columns, where=key_where)
        self._readers: dict[Dialect, list[Converter | None]] = {}
        self._writers: dict[Dialect, list[Converter | None]] = {}
        # Keyed (dialect, stateful) for lists of rows, dialect for one row.
        self._hydrators: dict[Any, Callable[[Any], Any]] = {}
        # Statements this model sends, per shape and dialect (with their writers for some).
        self.sql_cache: dict[Any, Any] = {}
        self._specs: dict[Any, Any] = {}
        picker = operator.itemgetter(*self.columns)
        self._pick_columns: Callable[[dict[str, Any]], tuple[Any, ...]] = (
            picker if len(self.columns) > 1 else (lambda data: (picker(data),))
        )

    def sql_column(self, field_name: str) -> str:
        """The database column of a field."""
        return self.sql_columns.get(field_name, field_name)

    def sql_names(self, field_names: Sequence[str]) -> tuple[str, ...]:
        sql_columns = self.sql_columns
        return tuple(sql_columns.get(f, f) for f in field_names)

    def table_definition(self) -> Any:
        """The table create_table() makes (`sql.ddl.TableDef`), computed once."""
        found = self._specs.get("table")
        if found is None:
            found = self._specs["table"] = table_definition(self)
        return found

    # ---- converters -------------------------------------------------------------------
    def readers(self, dialect: Dialect) -> list[Converter | None]:
        found = self._readers.get(dialect)
        if found is None:
            found = self._readers[dialect] = [dialect.reader(self.types[c]) for c in self.columns]
        return found

    def writers(self, dialect: Dialect) -> list[Converter | None]:
        found = self._writers.get(dialect)
        if found is None:
            found = self._writers[dialect] = [dialect.writer(self.types[c]) for c in self.columns]
        return found

    def writer_for(self, column: str, dialect: Dialect) -> Converter | None:
        return self.writers(dialect)[self.column_index[column]]

    def reader_for(self, column: str, dialect: Dialect) -> Converter | None:
        index = self.column_index.get(self.field_of.get(column, column))
        return None if index is None else self.readers(dialect)[index]

    def check_column(self, column: str) -> str:
        """The bare column name, or an error naming the model and its columns."""
        table, _, bare = column.rpartition(".")
        bare = bare.strip('"`')
        if table and table.strip('"`') != self.table:
            raise StatementInvalid(
                f"{column!r}: a dict condition of {self.name} takes its own columns "
                f"(or {self.table}.<column>); write other tables' conditions as SQL, "
                f"e.g. where('{column} = ?', (value,))"
            )
        bare = self.field_of.get(bare, bare)
        if bare not in self.column_index:
            raise StatementInvalid(
                f"unknown column {column!r} for model {self.name} (table {self.table!r}); "
                f"its columns are: {', '.join(self.columns)}"
            )
        return bare

    def writer_map(self, dialect: Dialect) -> dict[str, Converter | None]:
        """Writers by column name (for values that arrive keyed by column)."""
        found = self._specs.get(("writer-map", dialect))
        if found is None:
            found = self._specs[("writer-map", dialect)] = dict(
                zip(self.columns, self.writers(dialect))
            )
        return found

    def update_field(self, name: str) -> str:
        """The field an update() key names (a field, its column, or either qualified by
        the table), or ConfigurationError."""
        table, _, bare = name.rpartition(".")
        bare = bare.strip('"`')
        bare = self.field_of.get(bare, bare)
        if (table and table.strip('"`') != self.table) or bare not in self.column_index:
            raise ConfigurationError(
                f"update() of {self.name}: unknown field {name!r}; its fields are: "
                + ", ".join(self.columns)
            )
        return bare

    def validated(self, field: str, value: object) -> Any:
        """`value` validated as assigning it to `field` would (RecordInvalid if not)."""
        key = ("validator", field)
        validator = self._specs.get(key)
        if validator is None:
            validator = self._specs[key] = field_validator(self.model, field)
        return validate_field_value(self.model, validator, field, value)

    def write(self, column: str, value: object, dialect: Dialect) -> Any:
        if value is None:
            return None
        writer = self.writer_for(column, dialect)
        return value if writer is None else writer(value)

    # ---- hydration --------------------------------------------------------------------
    def hydrate(
        self, rows: Sequence[Sequence[object]], dialect: Dialect, stateful: bool = False
    ) -> list[Any]:
        """Rows in `columns` order -> records, without validation.

        `stateful` records get their private state (snapshot, relation cache) at once:
        for records whose relation cache is about to be filled (eager loading), where
        creating it lazily, record by record, would cost more.
        """
        hydrator = self._hydrators.get((dialect, stateful))
        if hydrator is None:
            hydrator = self._hydrators[(dialect, stateful)] = self._build_hydrator(
                dialect, stateful
            )
        if len(rows) < _GC_PAUSE_ROWS or not gc.isenabled():
            return hydrator(rows)  # type: ignore[no-any-return]
        # Every object made here stays alive, so the cyclic collector's passes over
        # them (one per ~700 allocations) are pure cost: a third of the load time for
        # large results. Pause it for the batch; it runs once afterwards instead.
        gc.disable()
        try:
            return hydrator(rows)  # type: ignore[no-any-return]
        finally:
            gc.enable()

    def hydrate_one(self, row: Sequence[Any], dialect: Dialect) -> Any:
        """One row -> one record (a lookup by key): no list, no GC pause."""
        hydrator = self._hydrators.get(dialect)
        if hydrator is None:
            hydrator = self._hydrators[dialect] = self._build_hydrator(dialect, False, True)
        return hydrator(row)

    def _build_hydrator(
        self, dialect: Dialect, stateful: bool, one: bool = False
    ) -> Callable[[Any], Any]:
        """Generate a loop specialised to this model's columns and converters.

        Loading rows is the hot path where ORMs lose to the raw driver, so the loop is
        written out per (model, dialect): no per-column branching on converters.
        """
        readers = self.readers(dialect)
        namespace: dict[str, Any] = {
            "new": _new_object,
            "model": self.model,
            "deepcopy": copy.deepcopy,
            "private_defaults": self.private_defaults,
            "set_dict": _SET_DICT,
            "set_private": _SET_PRIVATE,
        }
        values = []
        for i, reader in enumerate(readers):
            if reader is None:
                values.append(f"v{i}")
            else:
                namespace[f"read{i}"] = reader
                values.append(f"(None if v{i} is None else read{i}(v{i}))")
        # Unpacking the row once is cheaper than indexing it per column.
        unpack = ", ".join(f"v{i}" for i in range(len(readers))) + ","
        entries = ", ".join(f"{c!r}: {v}" for c, v in zip(self.columns, values))
        private = ""
        if self.mutable or stateful:
            # Values that change in place (dict/list) need their snapshot copied now;
            # for the others RecordCore takes it lazily, before the first change.
            extra = "**private_defaults(data), " if self.private_attributes else ""
            values_now = "tuple(data.values())"
            if self.mutable:
                values_now = f"deepcopy({values_now})"
            private = (
                f'set_private(record, {{{extra}"_snapshot": {values_now}, "_relations": None}})'
            )
        # Only __dict__ is set (and the private dict for mutable values): RecordCore's
        # __getattr__ answers for Pydantic's other slots.
        source = f"""
def hydrate(rows):
    records = []
    append = records.append
    for row in rows:
        {unpack} = row
        record = new(model)
        data = {{{entries}}}
        set_dict(record, data)
        {private}
        append(record)
    return records
"""
        if one:  # the same body for a single row
            source = f"""
def hydrate(row):
    {unpack} = row
    record = new(model)
    data = {{{entries}}}
    set_dict(record, data)
    {private}
    return record
"""
        exec(compile(source, f"<twinrecord hydrate {self.name}>", "exec"), namespace)
        return namespace["hydrate"]  # type: ignore[no-any-return]

    def private_defaults(self, data: dict[str, Any]) -> dict[str, Any]:
        """Defaults of the private attributes a user model declares, for a record whose
        fields are `data`: fresh each call, as Pydantic gives them on construction."""
        defaults: dict[str, Any] = {}
        for name, attribute in self.private_attributes.items():
            if attribute.default_factory_takes_validated_data:
                value = attribute.get_default(
                    call_default_factory=True, validated_data={**data, **defaults}
                )
            else:
                value = attribute.get_default(call_default_factory=True)
            if value is not PydanticUndefined:
                defaults[name] = value
        return defaults

    def hydrate_named(
        self, names: Sequence[str], rows: Sequence[Sequence[object]], dialect: Dialect
    ) -> list[Any]:
        """Rows whose columns come in any order (raw SQL) -> records."""
        positions = []
        names = [self.field_of.get(n, n) for n in names]
        for column in self.columns:
            if column not in names:
                raise StatementInvalid(
                    f"the rows for {self.name} lack column {column!r}; select all of: "
                    + ", ".join(self.columns)
                )
            positions.append(list(names).index(column))
        ordered = [tuple(row[p] for p in positions) for row in rows]
        return self.hydrate(ordered, dialect)

    def snapshot(self, data: dict[str, Any]) -> tuple[Any, ...]:
        """The values to compare against later; deep copies where values mutate in place."""
        values = self._pick_columns(data)
        return copy.deepcopy(values) if self.mutable else values

    def key_lookup(self, dialect: Dialect) -> tuple[str, list[Converter | None]]:
        """SELECT-by-key SQL and the key columns' writers (the hottest path there is)."""
        spec = self._specs.get(("key", dialect))
        if spec is None:
            sql = compile_select(self.key_select, dialect)[0]
            writers = [self.writer_for(k, dialect) for k in self.primary_key]
            spec = self._specs[("key", dialect)] = (sql, writers)
        return spec

    def insert_spec(
        self, wants_key: bool, dialect: Dialect
    ) -> tuple[tuple[str, ...], list[tuple[str, Converter | None]]]:
        """Columns an INSERT sends (the generated key left out when wanted) and their writers."""
        key = ("insert-spec", wants_key, dialect)
        spec = self._specs.get(key)
        if spec is None:
            columns = tuple(c for c in self.columns if not (wants_key and c == self.auto_key))
            spec = self._specs[key] = (columns, [(c, self.writer_for(c, dialect)) for c in columns])
        return spec

    def convert_named(
        self, names: Sequence[str], rows: Sequence[Sequence[object]], dialect: Dialect
    ) -> list[dict[str, Any]]:
        """Rows as dicts, model columns converted to their fields' Python types."""
        converters: list[Callable[[Any], Any] | None] = [self.reader_for(n, dialect) for n in names]
        result = [dict(zip(names, row)) for row in rows]  # zip and dict run in C
        # By name: a repeated name keeps its last column's value, and that one's reader.
        for name, reader in dict(zip(names, converters)).items():
            if reader is None:
                continue
            for item in result:  # only the columns that need it, converted in place
                value = item[name]
                if value is not None:
                    item[name] = reader(value)
        return result
