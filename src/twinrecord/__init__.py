"""twinrecord: an ActiveRecord ORM on Pydantic v2 with twin sync and async APIs."""

from .errors import (
    ConfigurationError,
    ConnectionNotEstablished,
    DatabaseError,
    IntegrityError,
    RecordInvalid,
    RecordNotFound,
    RecordNotUnique,
    RelationNotFound,
    StaleObjectError,
    StatementInvalid,
    TransactionError,
)
from .model import AsyncBaseActiveRecord, BaseActiveRecord
from .query.aio import AsyncActiveQuery
from .query.sync import ActiveQuery

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
    "BaseActiveRecord",
    "ConfigurationError",
    "ConnectionNotEstablished",
    "DatabaseError",
    "IntegrityError",
    "RecordInvalid",
    "RecordNotFound",
    "RecordNotUnique",
    "RelationNotFound",
    "StaleObjectError",
    "StatementInvalid",
    "TransactionError",
]
