"""Relations: BelongsTo / HasOne / HasMany declarations and eager-loading plans.

`_declare` holds the declarations and their resolution into key columns,
`_resolve` the model-name lookup (forward references), `_core` every loading plan
(explicit, eager, inverse_of, the per-record cache), `_access` the sync and async
shells a relation becomes when read from a record.
"""

from ._declare import (
    AsyncBelongsTo,
    AsyncHasMany,
    AsyncHasOne,
    BelongsTo,
    HasMany,
    HasOne,
    Relation,
    relation_named,
    relations_of,
)

__all__ = [
    "AsyncBelongsTo",
    "AsyncHasMany",
    "AsyncHasOne",
    "BelongsTo",
    "HasMany",
    "HasOne",
    "Relation",
    "relation_named",
    "relations_of",
]
