from __future__ import annotations

from typing import Any

import pytest

from .harness import COMBINATIONS, DB, combination_id, drop_run_databases, require_server


@pytest.fixture(params=COMBINATIONS, ids=combination_id)
def db(request: pytest.FixtureRequest) -> Any:
    backend, kind = request.param
    require_server(backend)
    return DB(backend, kind)


@pytest.fixture(params=[c for c in COMBINATIONS if c[1] == "async"], ids=combination_id)
def async_db(request: pytest.FixtureRequest) -> Any:
    """Only the async combinations (cancellation, task isolation, concurrency)."""
    backend, kind = request.param
    require_server(backend)
    return DB(backend, kind)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_run_databases()
