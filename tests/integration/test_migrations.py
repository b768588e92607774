"""Migrations with Alembic (API.md §20), run as users run them: `python -m
twinrecord.migrations init`, then the `alembic` command in a project directory, against
real servers (a database of the test's own on PostgreSQL and MariaDB)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .alembic_project import BACKENDS, Project, new_project

pytest.importorskip("alembic")

MODELS_HEADER = """\
import enum
from datetime import date, datetime, time
from decimal import Decimal
from typing import Annotated, Optional
from uuid import UUID

from pydantic import AwareDatetime, Field

from twinrecord import AsyncBaseActiveRecord, BaseActiveRecord, Column, ForeignKey, Index


class Now:
    sql = "{now}"


class Color(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2
"""


@pytest.fixture(params=BACKENDS)
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    with new_project(request.param, tmp_path, MODELS_HEADER) as made:
        yield made


# ---- the environment ------------------------------------------------------------------------
def test_init_writes_a_ready_environment(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "twinrecord.migrations", "init", "db/migrations",
         "--models", "app.models,app.more"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )
    assert "wrote alembic.ini" in done.stdout
    env = (tmp_path / "db/migrations/env.py").read_text()
    assert "MODELS = ['app.models', 'app.more']" in env
    assert '"render_as_batch": dialect == "sqlite"' in env
    assert '"compare_type": True' in env and '"compare_server_default": True' in env
    assert "TWINRECORD_DATABASE_URL" in env
    assert (tmp_path / "db/migrations/script.py.mako").exists()
    assert (tmp_path / "db/migrations/versions").is_dir()
    assert "script_location = db/migrations" in (tmp_path / "alembic.ini").read_text()
    again = subprocess.run(
        [sys.executable, "-m", "twinrecord.migrations", "init", "db/migrations",
         "--models", "app.models"],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert again.returncode == 1 and "exists already" in again.stderr


def test_the_orm_never_imports_sqlalchemy(tmp_path: Path) -> None:
    script = f"""
import sys
from typing import Annotated, Optional
import twinrecord
from twinrecord import BaseActiveRecord, Column, ForeignKey, Index

class Owner(BaseActiveRecord):
    __table_name__ = "owners"
    id: Optional[int] = None
    email: Annotated[str, Column(unique=True, max_length=50)]

class Pet(BaseActiveRecord):
    __table_name__ = "pets"
    __indexes__ = (Index("name"),)
    id: Optional[int] = None
    owner_id: Annotated[int, ForeignKey(Owner)]
    name: str

BaseActiveRecord.configure("sqlite:///{tmp_path}/crud.db")
Owner.create_table(); Pet.create_table()
owner = Owner(email="a@b.c"); owner.save()
pet = Pet(owner_id=owner.id, name="Rex"); pet.save()
pet.name = "Max"; pet.save()
assert Pet.find_one(pet.id).name == "Max"
assert Pet.query().where({{"owner_id": owner.id}}).count() == 1
pet.delete(); Pet.drop_table(); Owner.drop_table()
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("sqlalchemy", "alembic"))
print("LOADED", loaded)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          check=True)
    assert "LOADED []" in done.stdout, done.stdout


# ---- guarantee (1): create_table() then autogenerate finds nothing ----------------------------
EVERYTHING = """
class User(BaseActiveRecord):
    __table_name__ = "users"
    id: Optional[int] = None
    email: Annotated[str, Column(unique=True, max_length=120)]
    name: Annotated[str, Column(max_length=80, server_default="o'Brien \\\\ co", comment="shown")]


class Post(BaseActiveRecord):
    __table_name__ = "posts"
    __indexes__ = (
        Index("user_id", "created_at"),
        Index("slug", unique=True, where={partial}),
        Index("title", "views", name="my_title_views"),
    )
    id: Optional[int] = None
    user_id: Annotated[int, ForeignKey(User, on_delete="cascade")]
    editor_id: Annotated[Optional[int], ForeignKey("users", on_delete="set null", on_update="cascade")] = None
    slug: str = Field(max_length=200)
    title: Annotated[str, Column(unique=True, max_length=300)]
    views: Annotated[int, Column(server_default=0, index=True)] = 0
    body: Annotated[str, Column(name="body_text", comment="markdown")]
    code: Annotated[str, Column(sql_type="VARCHAR(12)")] = "x"
    created_at: Annotated[Optional[datetime], Column(server_default=Now())] = None
    deleted_at: Optional[datetime] = None


class Everything(BaseActiveRecord):
    __table_name__ = "everything"
    id: Optional[int] = None
    flag: Annotated[bool, Column(server_default=True)]
    count: Annotated[int, Column(server_default=-3)]
    ratio: Annotated[float, Column(server_default=0.5)]
    money: Decimal
    price: Annotated[Decimal, Column(server_default=Decimal("9.50"))] = Field(max_digits=10, decimal_places=2)
    title: str = Field(max_length=40)
    body: str
    at: datetime
    at_tz: AwareDatetime
    day: Annotated[date, Column(server_default=date(2024, 1, 2))]
    clock: time
    ident: UUID
    blob: bytes
    color: Annotated[Color, Column(server_default=Color.RED)]
    priority: Annotated[Priority, Column(server_default=Priority.LOW)]
    data: dict
    items: list
    maybe: Optional[str] = None


class Membership(AsyncBaseActiveRecord):
    __table_name__ = "memberships"
    __primary_key__ = ("group_id", "user_id")
    group_id: int
    user_id: Annotated[int, ForeignKey("users", on_delete="restrict")]
    role: Annotated[str, Column(max_length=20, comment="who")]


class Country(BaseActiveRecord):
    __table_name__ = "countries"
    __primary_key__ = "code"
    code: str = Field(max_length=2)
    name: str
"""


def test_create_table_then_autogenerate_finds_no_difference(project: Project) -> None:
    project.models(EVERYTHING)
    # Membership is async: its table is made by the sync twin of the same declarations.
    project.models(EVERYTHING + """
class MembershipSync(BaseActiveRecord):
    __table_name__ = "memberships"
    __primary_key__ = ("group_id", "user_id")
    group_id: int
    user_id: Annotated[int, ForeignKey("users", on_delete="restrict")]
    role: Annotated[str, Column(max_length=20, comment="who")]
""")
    project.create_tables("User", "Post", "Everything", "MembershipSync", "Country")
    assert "No new upgrade operations detected" in project.check()
    script = project.revision("nothing")
    assert "pass" in script.read_text().split("def upgrade")[1].split("def downgrade")[0]
