"""Run one scenario in every (backend x kind) combination against real servers.

A scenario is an `async def test_...(db)`. It defines its models on `db.Base`
(a fresh base class of the combination's kind, already configured) and writes
`await db(x)` around every database call: for the async kind `x` is a coroutine
and is awaited; for the sync kind the call already ran and `x` is its result.
Transactions: `async with db.transaction(Model): ...`.

Servers come from TWINRECORD_POSTGRES_URL / TWINRECORD_MYSQL_URL (defaults: the local
servers). The database named in those URLs is not used: each test run creates a
database of its own on each server (`twinrecord_t_<pid>_<random>`) at first use and
drops it when the run ends, so two runs at once never collide and a server without
a `test` database works. An unreachable server skips its combinations loudly, or
fails them when the CI environment variable is set.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any, Generic, TypeVar
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import pytest

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord

T = TypeVar("T")

POSTGRES_SERVER_URL = os.environ.get(
    "TWINRECORD_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MYSQL_SERVER_URL = os.environ.get("TWINRECORD_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
RUN_DATABASE = f"twinrecord_t_{os.getpid()}_{secrets.token_hex(4)}"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, ""))


# What the tests connect to: the run's own database on each server.
POSTGRES_URL = _with_database(POSTGRES_SERVER_URL, RUN_DATABASE)
MYSQL_URL = _with_database(MYSQL_SERVER_URL, RUN_DATABASE)

COMBINATIONS = [
    ("sqlite", "sync"),
    ("postgres", "sync"),
    ("postgres", "async"),
    ("mysql", "sync"),
    ("mysql", "async"),
]
_reachable: dict[str, str | None] = {}


def server_problem(backend: str) -> str | None:
    """None when the backend's server answers on its port, else why not."""
    if backend == "sqlite":
        return None
    if backend not in _reachable:
        url = POSTGRES_SERVER_URL if backend == "postgres" else MYSQL_SERVER_URL
        parts = urlsplit(url)
        port = parts.port or (5432 if backend == "postgres" else 3306)
        try:
            with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=3):
                _reachable[backend] = None
        except OSError as error:
            _reachable[backend] = f"{backend} server at {parts.hostname}:{port} unreachable: {error}"
    return _reachable[backend]


_created: set[str] = set()


def _admin_connection(backend: str) -> Any:
    """A raw driver connection to the server, outside the run's database (which may not
    exist yet): PostgreSQL's `postgres` database, MySQL with no database."""
    url = POSTGRES_SERVER_URL if backend == "postgres" else MYSQL_SERVER_URL
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if backend == "postgres":
        import psycopg

        return psycopg.connect(
            host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
            user=parts.username or "postgres", password=parts.password or "",
            dbname="postgres", autocommit=True, connect_timeout=10,
        )
    import mysql.connector

    return mysql.connector.connect(
        host=parts.hostname or "127.0.0.1", port=parts.port or 3306,
        user=parts.username or "root", password=parts.password or "",
        ssl_disabled=options.get("ssl_disabled", "true").lower() in ("1", "true", "yes"),
        connection_timeout=10, autocommit=True,
    )


def _ensure_run_database(backend: str) -> None:
    if backend in _created:
        return
    connection = _admin_connection(backend)
    try:
        cursor = connection.cursor()
        if backend == "postgres":
            cursor.execute(f'CREATE DATABASE "{RUN_DATABASE}"')
        else:
            cursor.execute(f"CREATE DATABASE `{RUN_DATABASE}` CHARACTER SET utf8mb4")
    finally:
        connection.close()
    _created.add(backend)


def drop_run_databases() -> None:
    """Drop the databases this run created (called when the test session ends)."""
    for backend in sorted(_created):
        connection = _admin_connection(backend)
        try:
            cursor = connection.cursor()
            if backend == "postgres":
                cursor.execute(f'DROP DATABASE IF EXISTS "{RUN_DATABASE}" WITH (FORCE)')
            else:
                cursor.execute(f"DROP DATABASE IF EXISTS `{RUN_DATABASE}`")
        finally:
            connection.close()
    _created.clear()


def require_server(backend: str) -> None:
    problem = server_problem(backend)
    if problem is None:
        if backend != "sqlite":
            _ensure_run_database(backend)
        return
    if os.environ.get("CI"):
        pytest.fail(f"{problem} (CI is set, so this fails instead of skipping)")
    pytest.skip(f"SKIPPED LOUDLY: {problem}; start the server or set the URL variable")


def url_for(backend: str, directory: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory}/test.db"
    return POSTGRES_URL if backend == "postgres" else MYSQL_URL


class DB:
    """One combination for one test: its base class, and helpers to call either kind."""

    def __init__(
        self, backend: str, kind: str, url: str | None = None, replicas: tuple[str, ...] = ()
    ) -> None:
        self.backend_name = backend
        self.kind = kind
        self.is_async = kind == "async"
        self._directory = tempfile.TemporaryDirectory(prefix="twinrecord-")
        # `url`: another server than the machine's (a private one, PgBouncer in front).
        self.url = url or url_for(backend, self._directory.name)
        root = AsyncBaseActiveRecord if self.is_async else BaseActiveRecord
        self.Base: Any = type(f"AppModel_{backend}_{kind}", (root,), {"__module__": __name__})
        self.Base.configure(self.url, replicas=replicas)
        self._tables: list[Any] = []

    def __repr__(self) -> str:
        return f"<DB {self.backend_name}/{self.kind}>"

    async def __call__(self, value: Any) -> Any:
        """Await the result of an async call; pass a sync call's result through."""
        if inspect.isawaitable(value):
            return await value
        return value

    @property
    def backend(self) -> Any:
        return self.Base.backend()

    async def create(self, *models: Any) -> None:
        """Drop and create the models' tables (dropped again after the test)."""
        for model in reversed(models):
            await self(model.drop_table())
        for model in models:
            await self(model.create_table())
            self._tables.append(model)

    @contextlib.asynccontextmanager
    async def transaction(self, model: Any, isolation_level: str | None = None) -> AsyncIterator[None]:
        manager = model.transaction(isolation_level)
        if self.is_async:
            async with manager:
                yield
        else:
            with manager:
                yield

    async def aclose(self) -> None:
        try:
            for model in reversed(self._tables):
                with contextlib.suppress(Exception):
                    await self(model.drop_table())
        finally:
            await self(self.Base.backend().close())
            self._directory.cleanup()


class EitherTransaction:
    """`async with` over a sync or an async transaction manager."""

    def __init__(self, manager: Any) -> None:
        self.manager = manager

    async def __aenter__(self) -> None:
        if hasattr(self.manager, "__aenter__"):
            await self.manager.__aenter__()
        else:
            self.manager.__enter__()

    async def __aexit__(self, *exc: Any) -> bool:
        if hasattr(self.manager, "__aexit__"):
            return bool(await self.manager.__aexit__(*exc))
        return bool(self.manager.__exit__(*exc))


class Factory(Generic[T]):
    """Makes per-test helpers with options (a backend is built from them), and closes
    every one it made when the test ends (the conftest awaits `aclose()`)."""

    def __init__(self, make: Callable[..., T]) -> None:
        self.make = make
        self.made: list[T] = []

    def __call__(self, **options: Any) -> T:
        self.made.append(self.make(**options))
        return self.made[-1]

    async def aclose(self) -> None:
        for made in self.made:
            await made.aclose()  # type: ignore[attr-defined]


def combination_id(combination: tuple[str, str]) -> str:
    return "-".join(combination)
