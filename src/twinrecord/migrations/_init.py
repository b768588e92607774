"""`python -m twinrecord.migrations init DIR --models MODULE[,MODULE...]`: a ready Alembic
environment (alembic.ini, DIR/env.py, DIR/script.py.mako, DIR/versions/)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ALEMBIC_INI = """\
# Alembic's settings, written by `python -m twinrecord.migrations init`.
# The database URL is not kept here: env.py reads TWINRECORD_DATABASE_URL (the URL your
# app configures twinrecord with) and translates it for SQLAlchemy.
[alembic]
script_location = {directory}
# Lets env.py import your models module from the directory you run alembic in.
prepend_sys_path = .
path_separator = os

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""

ENV_PY = '''\
"""Alembic environment for twinrecord models (written by twinrecord.migrations init).

target_metadata describes exactly the tables create_table() makes for MODELS; the URL
comes from TWINRECORD_DATABASE_URL (a twinrecord URL: sqlite:///app.db,
postgresql://..., mysql://...). SQLite runs in batch mode (it cannot ALTER most
things), and column types and server defaults are compared.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, pool

from twinrecord.migrations import database_url, dialect_name, metadata, order_operations

MODELS = {models!r}

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name)


def _database() -> tuple[str, str]:
    url = os.environ.get("TWINRECORD_DATABASE_URL")
    if url:
        return database_url(url), dialect_name(url)
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url, dialect_name(url)
    raise SystemExit(
        "set TWINRECORD_DATABASE_URL to the database to migrate, e.g. "
        "TWINRECORD_DATABASE_URL=postgresql://app@localhost/app alembic upgrade head"
    )


def _options(dialect: str) -> dict:
    return {{
        "target_metadata": metadata(*MODELS, dialect=dialect),
        "render_as_batch": dialect == "sqlite",
        "compare_type": True,
        "compare_server_default": True,
        # Foreign keys dropped first and created last in each table's changes (MySQL).
        "process_revision_directives": order_operations,
    }}


def run_migrations_offline() -> None:
    url, dialect = _database()
    context.configure(
        url=url, literal_binds=True, dialect_opts={{"paramstyle": "named"}}, **_options(dialect)
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url, dialect = _database()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, **_options(dialect))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''

SCRIPT_MAKO = '''\
"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import twinrecord.migrations
${imports if imports else ""}

# revision identifiers, used by Alembic.
revision: str = ${repr(up_revision)}
down_revision: Union[str, None] = ${repr(down_revision)}
branch_labels: Union[str, Sequence[str], None] = ${repr(branch_labels)}
depends_on: Union[str, Sequence[str], None] = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
'''


def init(directory: str, models: list[str], ini: str = "alembic.ini") -> list[Path]:
    """Write the environment; refuses to overwrite an existing one."""
    root = Path(directory)
    ini_path = Path(ini)
    if (root / "env.py").exists() or ini_path.exists():
        raise FileExistsError(
            f"{ini_path if ini_path.exists() else root / 'env.py'} exists already; "
            "remove it or choose another directory"
        )
    (root / "versions").mkdir(parents=True, exist_ok=True)
    written = [
        _write(ini_path, ALEMBIC_INI.format(directory=root.as_posix())),
        _write(root / "env.py", ENV_PY.format(models=models)),
        _write(root / "script.py.mako", SCRIPT_MAKO),
    ]
    return written


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m twinrecord.migrations",
        description="Alembic migrations for twinrecord models.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("init", help="write a ready Alembic environment")
    make.add_argument("directory", help="where the migration scripts go (e.g. migrations)")
    make.add_argument(
        "--models", required=True, help="the module(s) defining your models, comma-separated"
    )
    make.add_argument("--ini", default="alembic.ini", help="where to write alembic.ini")
    options = parser.parse_args(argv)
    models = [m.strip() for m in options.models.split(",") if m.strip()]
    if not models:
        parser.error("--models names at least one module")
    try:
        written = init(options.directory, models, options.ini)
    except FileExistsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    print(
        "next: TWINRECORD_DATABASE_URL=<your database URL> "
        'alembic revision --autogenerate -m "first"'
    )
    return 0
