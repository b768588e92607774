"""A project directory as a user has one for migrations: an Alembic environment written
by `python -m twinrecord.migrations init`, a models module (`appmodels.py`), a database of
its own (a fresh one on PostgreSQL and MariaDB), and the `alembic` command run in it as a
subprocess. Shared by the migration tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from twinrecord import BaseActiveRecord

from .harness import (
    MYSQL_SERVER_URL,
    POSTGRES_SERVER_URL,
    RUN_DATABASE,
    _admin_connection,
    _with_database,
    require_server,
)

ALEMBIC = str(Path(sys.executable).parent / "alembic")
BACKENDS = ["sqlite", "postgres", "mysql"]
_counter = [0]


class Project:
    """A directory with an Alembic environment made by `twinrecord.migrations init`,
    a models module (`appmodels.py`) and a database of its own."""

    def __init__(self, root: Path, backend: str, url: str, header: str = "") -> None:
        self.root = root
        self.backend = backend
        self.url = url
        self.header = header
        self.env = {**os.environ, "TWINRECORD_DATABASE_URL": url}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            args, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=180
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
            )
        return done

    def alembic(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(ALEMBIC, *args, check=check)

    def models(self, source: str) -> None:
        text = self.header + textwrap.dedent(source).replace("{partial}", self.partial)
        (self.root / "appmodels.py").write_text(text.replace("{now}", self.now))
        for cached in (self.root / "__pycache__").glob("appmodels*"):
            cached.unlink()

    @property
    def partial(self) -> str:
        return "None" if self.backend == "mysql" else "'deleted_at IS NULL'"

    @property
    def now(self) -> str:
        return "CURRENT_TIMESTAMP(6)" if self.backend == "mysql" else "CURRENT_TIMESTAMP"

    def create_tables(self, *names: str) -> None:
        """create_table() for the named models, in order (in a fresh interpreter)."""
        self.run(sys.executable, "-c", (
            "import appmodels\n"
            "from twinrecord import BaseActiveRecord\n"
            f"BaseActiveRecord.configure({self.url!r})\n"
            f"for name in {names!r}:\n"
            "    getattr(appmodels, name).create_table()\n"
        ))

    def check(self) -> str:
        """`alembic check`: fails when autogenerate finds differences."""
        done = self.alembic("check")
        return done.stdout + done.stderr

    def revision(self, message: str) -> Path:
        self.alembic("revision", "--autogenerate", "-m", message)
        (script,) = (self.root / "migrations" / "versions").glob(f"*_{message}.py")
        return script

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        raw: Any = type("RawSQL", (BaseActiveRecord,), {"__module__": __name__})
        raw.configure(self.url)
        try:
            if statement.lstrip().upper().startswith("SELECT"):
                return raw.backend().fetch_all(statement, params)  # type: ignore[no-any-return]
            raw.backend().execute(statement, params)
            return []
        finally:
            raw.backend().close()


@contextlib.contextmanager
def new_project(backend: str, root: Path, header: str = "") -> Iterator[Project]:
    """A project in `root` with `alembic.ini` and `migrations/` written by `init`, on a
    database made for it (dropped afterwards)."""
    require_server(backend)
    _counter[0] += 1
    database = f"{RUN_DATABASE}_m{_counter[0]}"
    if backend == "sqlite":
        url = f"sqlite:///{root}/app.db"
    else:
        server = POSTGRES_SERVER_URL if backend == "postgres" else MYSQL_SERVER_URL
        url = _with_database(server, database)
        _server_sql(backend, f"CREATE DATABASE {_q(backend, database)}")
    made = Project(root, backend, url, header)
    try:
        made.run(sys.executable, "-m", "twinrecord.migrations", "init", "migrations",
                 "--models", "appmodels")
        yield made
    finally:
        if backend != "sqlite":
            force = " WITH (FORCE)" if backend == "postgres" else ""
            _server_sql(backend, f"DROP DATABASE IF EXISTS {_q(backend, database)}{force}")


def _q(backend: str, name: str) -> str:
    return f'"{name}"' if backend == "postgres" else f"`{name}`"


def _server_sql(backend: str, statement: str) -> None:
    connection = _admin_connection(backend)
    try:
        connection.cursor().execute(statement)
    finally:
        connection.close()
