"""twinrecord.fastapi without a server: input models, the sync-model refusal, and that
`import twinrecord` does not import FastAPI."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated, Optional

import pytest
from pydantic import Field, ValidationError

pytest.importorskip("fastapi")

from twinrecord import (
    AsyncActiveRecord,
    BaseActiveRecord,
    Column,
    ConfigurationError,
    OptimisticLockMixin,
    SoftDeleteMixin,
    TimestampMixin,
    UUIDMixin,
)
from twinrecord.fastapi import input_model, server_owned_fields, transaction


class Article(TimestampMixin, SoftDeleteMixin, OptimisticLockMixin, BaseActiveRecord):
    __table_name__ = "fa_articles"
    id: Optional[int] = None
    title: Annotated[str, Column(unique=True)] = Field(min_length=2, max_length=10)
    views: int = 0


class Token(UUIDMixin, AsyncActiveRecord):
    __table_name__ = "fa_tokens"
    label: str


class Country(BaseActiveRecord):
    __table_name__ = "fa_countries"
    __primary_key__ = "code"
    code: str
    name: str


def test_import_twinrecord_does_not_import_fastapi() -> None:
    code = "import sys, twinrecord; assert 'fastapi' not in sys.modules, 'fastapi imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_server_owned_fields() -> None:
    assert server_owned_fields(Article) == (
        "id", "created_at", "updated_at", "deleted_at", "lock_version")
    assert server_owned_fields(Token) == ("id",)  # generated on the client by UUIDMixin
    assert server_owned_fields(Country) == ()  # a natural key is the client's to give


def test_input_model_drops_server_owned_fields_and_refuses_them() -> None:
    ArticleIn = input_model(Article)
    assert ArticleIn.__name__ == "ArticleIn"
    assert list(ArticleIn.model_fields) == ["title", "views"]
    body = ArticleIn(title="hello")
    assert body.model_dump() == {"title": "hello", "views": 0}
    for extra in ({"id": 999}, {"lock_version": 3}, {"created_at": None}):
        with pytest.raises(ValidationError) as caught:
            ArticleIn(title="hello", **extra)
        assert caught.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError) as caught:  # the field's constraints come along
        ArticleIn(title="h")
    assert caught.value.errors()[0]["type"] == "string_too_short"
    assert list(input_model(Token).model_fields) == ["label"]
    assert list(input_model(Country).model_fields) == ["code", "name"]


def test_input_model_options() -> None:
    edit = input_model(Article, keep=["lock_version"], exclude=["views"], name="ArticleEdit")
    assert edit.__name__ == "ArticleEdit" and list(edit.model_fields) == ["title", "lock_version"]
    patch = input_model(Article, partial=True)
    assert patch.__name__ == "ArticlePatch"
    assert patch().model_dump(exclude_unset=True) == {}
    assert patch(views=3).model_dump(exclude_unset=True) == {"views": 3}
    with pytest.raises(ValidationError):
        patch(title="x" * 11)  # still constrained when given
    with pytest.raises(ConfigurationError, match="no field named nope"):
        input_model(Article, exclude=["nope"])


def test_request_transaction_refuses_a_sync_model() -> None:
    with pytest.raises(ConfigurationError, match="different threads"):
        transaction(Article)
    assert transaction(Token) is not None
