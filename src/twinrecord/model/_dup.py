"""`record.dup()`: a new, unsaved copy of a record, without its primary key.

Like Rails' `dup`, the copy does not keep what belongs to the stored row rather than
to the data: the key, TimestampMixin's stamps, the lock version and the soft-delete
mark go back to their defaults.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic_core import PydanticUndefined


def duplicate(record: Any) -> Any:
    model = type(record)
    meta = model._meta()
    fields = model.model_fields
    # Columns the mixins own (§17) are listed by them: a copy starts them afresh.
    features = record._features()
    reset = set(meta.primary_key) | set(features.row_state if features else ())
    values: dict[str, Any] = {}
    for name in meta.columns:
        if name not in reset:
            values[name] = copy.deepcopy(record.__dict__[name])
            continue
        field = fields[name]
        if field.default is not PydanticUndefined or field.default_factory is not None:
            continue  # the field's default (a fresh UUID for UUIDMixin's key)
        values[name] = None if name in meta.primary_key else record.__dict__[name]
    missing = [k for k in meta.primary_key if k in values and values[k] is None]
    if missing and not all(meta.nullable[k] for k in missing):
        # A key without a default that cannot be None: the copy needs one set by hand.
        return model.model_construct(**values)
    return model(**values)
