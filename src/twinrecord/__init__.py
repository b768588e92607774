"""twinrecord: an ActiveRecord ORM on Pydantic v2 with twin sync and async APIs."""

from .errors import (
    BlockingCallInEventLoop,
    BlockingCallWarning,
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    Deadlocked,
    FeatureNotSupported,
    IntegrityError,
    LockWaitTimeout,
    QueryCanceled,
    RecordInvalid,
    RecordNotFound,
    RecordNotUnique,
    RelationNotFound,
    SerializationFailure,
    StaleObjectError,
    StatementInvalid,
    TransactionError,
    TransactionRollbackError,
)
from .model import AsyncBaseActiveRecord, BaseActiveRecord
from .model._columns import aliased
from .model._events import (
    ModelEvent,
    after_delete,
    after_insert,
    after_save,
    after_update,
    after_validate,
    before_delete,
    before_insert,
    before_save,
    before_update,
    before_validate,
)
from .model._mixins import OptimisticLockMixin, SoftDeleteMixin, TimestampMixin, UUIDMixin
from .model._schema import Column, ForeignKey, Index
from .query._sources import cte, exists
from .query._state import Grouped, Ungrouped
from .query.aio import AsyncActiveQuery, AsyncRecordStream
from .query.sync import ActiveQuery, RecordStream
from .relations import (
    AsyncBelongsTo,
    AsyncHasMany,
    AsyncHasOne,
    BelongsTo,
    HasMany,
    HasOne,
)
from .sql.expressions import ColumnExpr, Condition, excluded, func
from .sql.fragments import raw

# The batteries-included names are the same classes: relations and every query
# feature work on BaseActiveRecord / AsyncBaseActiveRecord too.
ActiveRecord = BaseActiveRecord
AsyncActiveRecord = AsyncBaseActiveRecord

__version__ = "0.1.0"

__all__ = [
    "ActiveQuery",
    "ActiveRecord",
    "AsyncActiveQuery",
    "AsyncActiveRecord",
    "AsyncBaseActiveRecord",
    "AsyncBelongsTo",
    "AsyncHasMany",
    "AsyncHasOne",
    "AsyncRecordStream",
    "BaseActiveRecord",
    "BelongsTo",
    "BlockingCallInEventLoop",
    "BlockingCallWarning",
    "Column",
    "ColumnExpr",
    "Condition",
    "ConfigurationError",
    "ConnectionNotEstablished",
    "DatabaseError",
    "Deadlocked",
    "FeatureNotSupported",
    "ForeignKey",
    "Grouped",
    "HasMany",
    "HasOne",
    "Index",
    "IntegrityError",
    "LockWaitTimeout",
    "ModelEvent",
    "OptimisticLockMixin",
    "QueryCanceled",
    "RecordInvalid",
    "RecordNotFound",
    "RecordNotUnique",
    "RecordStream",
    "RelationNotFound",
    "SerializationFailure",
    "SoftDeleteMixin",
    "StaleObjectError",
    "StatementInvalid",
    "TimestampMixin",
    "TransactionError",
    "TransactionRollbackError",
    "UUIDMixin",
    "Ungrouped",
    "after_delete",
    "after_insert",
    "after_save",
    "after_update",
    "after_validate",
    "aliased",
    "before_delete",
    "before_insert",
    "before_save",
    "before_update",
    "before_validate",
    "cte",
    "excluded",
    "exists",
    "func",
    "raw",
]
