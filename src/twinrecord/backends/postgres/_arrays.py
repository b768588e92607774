"""How psycopg sends `ColumnValues` (sql/bulk.py's one array per column of a large
INSERT): in binary, and for the common element types (int, float, bool, str) written
here with a few C-level calls per array instead of psycopg's Python loop per element.
psycopg sends other lists as text arrays, quoted value by value and parsed back by the
server. Registered once, for that type only: every other list is sent as before.

Binary array layout (PostgreSQL's array_send): ndim, has-null flag, element type oid,
then per dimension its length and lower bound, then per element its byte length (-1
for NULL) and its bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import partial
from itertools import chain
from typing import Any

import psycopg
from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper

from ...sql.bulk import ColumnValues

_HEAD = struct.Struct("!IIIII")  # ndim 1, has null, element oid, length, lower bound 1
_NULL = b"\xff\xff\xff\xff"
_LENGTH = struct.Struct("!i").pack
_INT8 = partial(struct.Struct("!iq").pack, 8)
_FLOAT8 = partial(struct.Struct("!id").pack, 8)
_BOOL = {True: b"\x00\x00\x00\x01\x01", False: b"\x00\x00\x00\x01\x00"}.__getitem__
_INT8_RANGE = (-(1 << 63), (1 << 63) - 1)


def _text(value: str) -> bytes:
    data = value.encode()
    return _LENGTH(len(data)) + data


def _texts(values: list[str]) -> bytes:
    """Non-null strings' elements, without a Python-level call per element."""
    encoded = list(map(str.encode, values))
    return b"".join(chain.from_iterable(zip(map(_LENGTH, map(len, encoded)), encoded)))


# Python type -> (element oid, array oid, one element's bytes with its length).
_KINDS: dict[type, tuple[int, int, Callable[[Any], bytes]]] = {
    int: (20, 1016, _INT8),
    float: (701, 1022, _FLOAT8),
    bool: (16, 1000, _BOOL),
    str: (25, 1009, _text),
}


def _fast_kind(values: list[Any]) -> type | None:
    """The values' one Python type when written here (ints only within int8), else None."""
    kinds = set(map(type, values))
    kinds.discard(type(None))
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    if kind not in _KINDS:
        return None
    if kind is int:
        present = [v for v in values if v is not None] if None in values else values
        if min(present) < _INT8_RANGE[0] or max(present) > _INT8_RANGE[1]:
            return None
    return kind


class ColumnValuesDumper(ListBinaryDumper):
    """psycopg's binary list dumper, but int/float/bool/str arrays are written by
    `_KindDumper`; any other element type goes psycopg's way."""

    def get_key(self, obj: list[Any], format: PyFormat) -> Any:
        kind = _fast_kind(obj)
        if kind is not None:
            return (self.cls, kind)
        return super().get_key(obj, format)

    def upgrade(self, obj: list[Any], format: PyFormat) -> Any:
        kind = _fast_kind(obj)
        if kind is None:
            return super().upgrade(obj, format)
        dumper = _KindDumper(self.cls, self._tx)
        dumper.element_oid, dumper.oid, dumper.write = _KINDS[kind]
        return dumper


class _KindDumper(ListBinaryDumper):
    element_oid = 0
    write: Callable[[Any], bytes]

    def dump(self, obj: list[Any]) -> bytes:
        write = self.write
        if None in obj:
            body = b"".join([_NULL if v is None else write(v) for v in obj])
            return _HEAD.pack(1, 1, self.element_oid, len(obj), 1) + body
        head = _HEAD.pack(1, 0, self.element_oid, len(obj), 1)
        if write is _text:
            return head + _texts(obj)
        return head + b"".join(map(write, obj))


psycopg.adapters.register_dumper(ColumnValues, ColumnValuesDumper)
