"""twinrecord.migrations without a database: URLs, and the MetaData built from the same
table definitions create_table() uses (API.md §20)."""

from __future__ import annotations

from typing import Annotated, Optional

import pytest

pytest.importorskip("alembic")

import sqlalchemy as sa
from sqlalchemy.dialects import mysql, postgresql

from twinrecord import BaseActiveRecord, Column, ConfigurationError, ForeignKey, Index
from twinrecord.migrations import database_url, metadata, models_in
from twinrecord.migrations._types import Verbatim, sa_type


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///app.db", "sqlite:///app.db"),
        ("sqlite:////var/db/app.db?pool_size=3", "sqlite:////var/db/app.db"),
        ("postgresql://u:p%40ss@h:5433/app", "postgresql+psycopg://u:p%40ss@h:5433/app"),
        ("postgres://u@h/app?pool_size=4&sslmode=require", "postgresql+psycopg://u@h/app?sslmode=require"),
        ("mysql://root@127.0.0.1:3306/app?ssl_disabled=true&pool_size=2",
         "mysql+mysqlconnector://root@127.0.0.1:3306/app?ssl_disabled=true"),
        ("mariadb://root@h/app", "mysql+mysqlconnector://root@h/app"),
    ],
)
def test_twinrecord_urls_are_translated(url: str, expected: str) -> None:
    assert database_url(url) == expected


def test_a_foreign_url_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="twinrecord database URL"):
        database_url("oracle://scott@h/x")


class Writer(BaseActiveRecord):
    __table_name__ = "mt_writers"
    id: Optional[int] = None
    email: Annotated[str, Column(unique=True, max_length=90, comment="login")]


class Note(BaseActiveRecord):
    __table_name__ = "mt_notes"
    __indexes__ = (Index("title", unique=True, where="hidden = false"),)
    id: Optional[int] = None
    writer_id: Annotated[int, ForeignKey(Writer, on_delete="cascade")]
    title: Annotated[str, Column(max_length=50)]
    hidden: Annotated[bool, Column(server_default=False)] = False
    body: Annotated[str, Column(name="body_text", sql_type="MEDIUMTEXT")] = ""


def test_metadata_of_postgres() -> None:
    table = metadata(Writer, Note, dialect="postgresql").tables["mt_notes"]
    assert [c.name for c in table.columns] == ["id", "writer_id", "title", "hidden", "body_text"]
    assert isinstance(table.c.id.type, sa.BigInteger) and table.c.id.identity is not None
    assert table.c.title.type.length == 50 and not table.c.title.nullable
    assert str(table.c.hidden.server_default.arg) == "false"  # type: ignore[union-attr]
    assert isinstance(table.c.body_text.type, Verbatim)
    (fk,) = table.foreign_key_constraints
    assert fk.name == "fk_mt_notes_writer_id_mt_writers" and fk.ondelete == "CASCADE"
    (index,) = table.indexes
    assert index.name == "uq_mt_notes_title" and index.unique
    assert str(index.dialect_options["postgresql"]["where"]) == "hidden = false"
    assert table.primary_key.name == "pk_mt_notes"
    writers = metadata(Writer, dialect="postgresql").tables["mt_writers"]
    (unique,) = [c for c in writers.constraints if isinstance(c, sa.UniqueConstraint)]
    assert unique.name == "uq_mt_writers_email" and writers.c.email.comment == "login"


def test_metadata_of_mysql_refuses_a_partial_index_and_indexes_foreign_keys() -> None:
    from twinrecord import FeatureNotSupported

    with pytest.raises(FeatureNotSupported):
        metadata(Note, dialect="mysql")
    table = metadata(Writer, dialect="mysql").tables["mt_writers"]
    assert isinstance(table.c.email.type, mysql.VARCHAR)

    class Plain(BaseActiveRecord):
        __table_name__ = "mt_plain"
        id: Optional[int] = None
        writer_id: Annotated[int, ForeignKey(Writer)]

    plain = metadata(Plain, dialect="mysql").tables["mt_plain"]
    assert {i.name for i in plain.indexes} == {"ix_mt_plain_writer_id"}
    assert {i.name for i in metadata(Plain, dialect="sqlite").tables["mt_plain"].indexes} == set()


def test_metadata_without_a_dialect_has_variants() -> None:
    table = metadata(Writer).tables["mt_writers"]
    compiled = {
        name: str(table.c.email.type.compile(dialect=d))
        for name, d in (("pg", postgresql.dialect()), ("my", mysql.dialect()))
    }
    assert compiled == {"pg": "VARCHAR(90)", "my": "VARCHAR(90)"}


def test_models_from_modules_skip_bases() -> None:
    import types

    module = types.ModuleType("fake_models")
    module.Base = BaseActiveRecord  # type: ignore[attr-defined]
    module.Writer = Writer  # type: ignore[attr-defined]
    module.Note = Note  # type: ignore[attr-defined]
    assert models_in(module) == [Writer, Note]
    with pytest.raises(ConfigurationError):
        models_in(42)


@pytest.mark.parametrize(
    ("sql", "dialect", "expected"),
    [
        ("TIMESTAMPTZ(6)", "postgresql", "TIMESTAMP(6) WITH TIME ZONE"),
        ("DECIMAL(38,10)", "mysql", "DECIMAL(38, 10)"),
        ("DATETIME(6)", "mysql", "DATETIME(6)"),
        ("DOUBLE PRECISION", "postgresql", "DOUBLE PRECISION"),
        ("CITEXT", "postgresql", "CITEXT"),
    ],
)
def test_ddl_strings_become_types(sql: str, dialect: str, expected: str) -> None:
    dialects = {"postgresql": postgresql.dialect(), "mysql": mysql.dialect()}
    assert str(sa_type(sql, dialect).compile(dialect=dialects[dialect])) == expected
