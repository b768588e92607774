"""§2's blocking-call rule: a sync call on a server database from a thread whose asyncio
event loop is running blocks that loop. It warns (once per call site), or raises when
the config says so, and always raises when the current task holds an async transaction
on the same database (the sync statement could wait forever on that transaction's
locks). The sync hot path pays one C call (`_get_running_loop`) per statement.
"""

from __future__ import annotations

import sys
import warnings
from asyncio import events
from contextvars import ContextVar, Token
from typing import Any

from ..errors import BlockingCallInEventLoop, BlockingCallWarning

running_loop = events._get_running_loop

# The databases on which the current task (context) holds an async transaction.
_ASYNC_TRANSACTIONS: ContextVar[frozenset[object]] = ContextVar(
    "twinrecord_async_transactions", default=frozenset()
)
# Call sites already warned about: (file name, line number).
WARNED_SITES: set[tuple[str, int]] = set()
_SKIPPED_MODULES = ("twinrecord.", "contextlib", "asyncio.")


def database_key(dialect_name: str, config: Any) -> object | None:
    """What identifies a server database across backends (None: not a server, SQLite)."""
    host = getattr(config, "host", None)
    if host is None:
        return None
    return (dialect_name, host, getattr(config, "port", None), getattr(config, "database", None))


def enter_async_transaction(key: object) -> Token[frozenset[object]]:
    return _ASYNC_TRANSACTIONS.set(_ASYNC_TRANSACTIONS.get() | {key})


def leave_async_transaction(token: Token[frozenset[object]]) -> None:
    _ASYNC_TRANSACTIONS.reset(token)


def blocking_call(key: object, mode: str, where: str) -> None:
    """A sync call from a thread whose loop runs: refuse, warn once per site, or allow."""
    if key in _ASYNC_TRANSACTIONS.get():
        raise BlockingCallInEventLoop(
            f"a sync call on {where} from a task that holds an async transaction on the "
            "same database: it could not see that transaction's writes and could wait "
            "forever on its locks, so nothing was sent. Use the async kind inside the "
            "transaction (`await AsyncUser.find_one(...)`, `await User.aio.find_one(...)`)."
        )
    if mode == "allow":
        return
    advice = (
        f"a sync call on {where} blocks the running asyncio event loop until the database "
        "answers; use the async kind (`await AsyncUser.find_one(...)`, "
        "`await User.aio.find_one(...)`) or run the sync code in a thread "
        "(`await asyncio.to_thread(...)`); the config option sync_in_event_loop='allow' "
        "silences this, 'raise' makes it an error"
    )
    if mode == "raise":
        raise BlockingCallInEventLoop(advice)
    frame = sys._getframe(1)
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith(
        _SKIPPED_MODULES
    ):
        frame = frame.f_back
    site = (frame.f_code.co_filename, frame.f_lineno)
    if site in WARNED_SITES:
        return
    WARNED_SITES.add(site)
    warnings.warn_explicit(
        advice,
        BlockingCallWarning,
        site[0],
        site[1],
        module=str(frame.f_globals.get("__name__", "")),
    )
