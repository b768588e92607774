"""Test plumbing shared by unit and integration tests.

Coroutine test functions are run with `asyncio.run` (no plugin needed); after the
test, every fixture value with an `aclose()` is closed on the same loop.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def main() -> None:
        try:
            await pyfuncitem.obj(**arguments)
        finally:
            for value in arguments.values():
                closer: Any = getattr(value, "aclose", None)
                if closer is not None and inspect.iscoroutinefunction(closer):
                    await closer()

    asyncio.run(main())
    return True
