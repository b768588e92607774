"""The context managers `Model.transaction()` returns: the backend's, wrapped so that
using the other kind's statement (`with` on an async model) explains itself."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import Any


class AsyncTransactionBlock(AbstractAsyncContextManager[None]):
    """`async with AsyncModel.transaction():`; a plain `with` raises a TypeError saying so."""

    __slots__ = ("_manager", "_model")

    def __init__(self, manager: AbstractAsyncContextManager[None], model: type[Any]) -> None:
        self._manager = manager
        self._model = model

    async def __aenter__(self) -> None:
        await self._manager.__aenter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return await self._manager.__aexit__(kind, error, traceback)

    def __enter__(self) -> None:
        name = self._model.__name__
        raise TypeError(
            f"{name}.transaction() is an async transaction: write `async with "
            f"{name}.transaction():` inside an async function (for the sync kind of a "
            f"model with both, `with {name}.sync.transaction():`)"
        )

    def __exit__(self, *exc_info: object) -> None:  # never reached: __enter__ raises
        return None


class TransactionBlock(AbstractContextManager[None]):
    """`with Model.transaction():` (the sync twin of AsyncTransactionBlock)."""

    __slots__ = ("_manager", "_model")

    def __init__(self, manager: AbstractContextManager[None], model: type[Any]) -> None:
        self._manager = manager
        self._model = model

    def __enter__(self) -> None:
        self._manager.__enter__()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        return self._manager.__exit__(kind, error, traceback)
