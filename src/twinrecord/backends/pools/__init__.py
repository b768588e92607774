"""The connection pools: `SyncPool` (threads) and `AsyncPool` (one event loop), a pair
with the same shape, used by every server backend."""

from .aio import AsyncPool, PoolClosed, PoolTimeout
from .sync import SyncPool

__all__ = ["AsyncPool", "PoolClosed", "PoolTimeout", "SyncPool"]
