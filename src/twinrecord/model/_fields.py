"""From Pydantic field annotations to SQL column types (and table-name defaults)."""

from __future__ import annotations

import re
import types
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import AwareDatetime
from pydantic.fields import FieldInfo

from ..errors import ConfigurationError
from ..sql import types as t

_SCALARS: list[tuple[type, str]] = [
    (bool, t.BOOL),  # before int: bool is an int
    (int, t.INT),
    (float, t.FLOAT),
    (Decimal, t.DECIMAL),
    (str, t.STR),
    (datetime, t.DATETIME),  # before date: datetime is a date
    (date, t.DATE),
    (time, t.TIME),
    (UUID, t.UUID),
    (bytes, t.BYTES),
]


def _unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """(inner type, nullable, metadata from Annotated) of an annotation."""
    nullable = False
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation, *extra = get_args(annotation)
            for item in extra:
                metadata.extend(item.metadata if isinstance(item, FieldInfo) else [item])
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, nullable, metadata


def _facet(metadata: list[Any], name: str) -> Any:
    for item in metadata:
        value = getattr(item, name, None)
        if value is not None:
            return value
    return None


def field_metadata(field: FieldInfo) -> list[object]:
    """Every metadata object of a field, nested `Annotated` (inside Optional) included."""
    return list(field.metadata) + _unwrap(field.annotation)[2]


def column_type(model: str, name: str, field: FieldInfo) -> tuple[t.ColumnType, bool]:
    """The column type of one field and whether it is nullable."""
    inner, nullable, metadata = _unwrap(field.annotation)
    metadata = list(field.metadata) + metadata
    kind = _kind_of(inner)
    if kind is None:
        raise ConfigurationError(
            f"{model}.{name}: cannot store a field of type {inner!r}; use int, str, bool, "
            "float, Decimal, datetime, date, time, UUID, bytes, an Enum, or dict/list (JSON)"
        )
    return (
        t.ColumnType(
            kind=kind,
            max_length=_facet(metadata, "max_length") if kind == t.STR else None,
            max_digits=_facet(metadata, "max_digits"),
            decimal_places=_facet(metadata, "decimal_places"),
            python_type=inner if kind == t.ENUM else None,
        ),
        nullable,
    )


def _kind_of(inner: Any) -> str | None:
    if inner is AwareDatetime:
        return t.DATETIME_TZ
    origin = get_origin(inner)
    if origin is Literal:
        values = get_args(inner)
        return t.INT if all(isinstance(v, int) for v in values) else t.STR
    if inner in (dict, list) or origin in (dict, list):
        return t.JSON
    if isinstance(inner, type):
        if issubclass(inner, Enum):
            return t.ENUM
        for python_type, kind in _SCALARS:
            if issubclass(inner, python_type):
                return kind
    return None


_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def default_table_name(class_name: str) -> str:
    """snake_case plural by simple English rules: Category -> categories, Address -> addresses."""
    words = _CAMEL.sub("_", class_name).lower()
    if re.search(r"[^aeiou]y$", words):
        return words[:-1] + "ies"
    if re.search(r"(s|x|z|ch|sh)$", words):
        return words + "es"
    return words + "s"
