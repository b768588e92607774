"""twinrecord.testing, the pytest plugin for applications: the project's own tests use
its fixtures (sync on SQLite, PostgreSQL and MariaDB; async on PostgreSQL and MariaDB),
and docs/testing.md's samples run as a user's project in a pytest of their own."""

from __future__ import annotations

import asyncio
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Optional

import pytest

from twinrecord import BaseActiveRecord, Column, RecordNotUnique, TransactionError

from .harness import COMBINATIONS, DB, MYSQL_URL, POSTGRES_URL, combination_id, require_server

pytest_plugins = ["pytester"]

TABLE = "plugin_items"


def item_fields() -> dict[str, Any]:
    return {
        "__annotations__": {"id": Optional[int], "name": Annotated[str, Column(unique=True)]},
        "__table_name__": TABLE,
        "id": None,
        "__module__": __name__,
    }


def mirror(url: str) -> Any:
    """A sync model of the same table on its own backend: it makes the table outside the
    test's transaction and counts what is committed (what other connections see)."""
    base = type("MirrorBase", (BaseActiveRecord,), {"__module__": __name__})
    base.configure(url)
    model = type("MirrorItem", (base,), item_fields())
    model.drop_table()
    model.create_table()
    return model


def committed_rows(model: Any) -> int:
    return int(model.backend().fetch_one(f"SELECT COUNT(*) AS n FROM {TABLE}")["n"])


@pytest.fixture(params=[c for c in COMBINATIONS if c[1] == "sync"], ids=combination_id)
def twinrecord_model(request: pytest.FixtureRequest) -> Iterator[Any]:
    """This module's answer to the plugin's question: which model (so which database)."""
    backend, kind = request.param
    require_server(backend)
    db = DB(backend, kind)
    other = mirror(db.url)
    yield type("Item", (db.Base,), item_fields())
    # The plugin's transaction fixture (which depends on this one) has rolled back.
    try:
        assert committed_rows(other) == 0, "the test's rows outlived its transaction"
    finally:
        other.drop_table()
        other.backend().close()
        asyncio.run(db.aclose())


@pytest.fixture
def twinrecord_async_model(async_db: Any) -> Iterator[Any]:
    other = mirror(async_db.url)
    yield type("AsyncItem", (async_db.Base,), item_fields())
    try:
        assert committed_rows(other) == 0, "the test's rows outlived its transaction"
    finally:
        other.drop_table()
        other.backend().close()


def test_a_sync_test_runs_in_a_transaction_rolled_back_at_its_end(twinrecord_transaction):
    Item = twinrecord_transaction
    Item.create(name="a")
    Item.create(name="b")
    assert Item.query().count() == 2
    # An expected failure inside a nested transaction (a savepoint) undoes only itself.
    with pytest.raises(RecordNotUnique), Item.transaction():
        Item.create(name="a")
    assert Item.query().count() == 2


def test_a_failure_outside_a_savepoint_dooms_the_test_transaction(twinrecord_transaction):
    Item = twinrecord_transaction
    Item.create(name="a")
    with pytest.raises(RecordNotUnique):
        Item.create(name="a")
    with pytest.raises(TransactionError):  # what docs/testing.md warns about
        Item.query().count()


async def test_an_async_test_runs_in_a_transaction_rolled_back_at_its_end(
    twinrecord_async_transaction, async_db
):
    Item = twinrecord_async_transaction
    await Item.create(name="a")
    assert await Item.query().count() == 1
    with pytest.raises(RecordNotUnique):
        async with Item.transaction():
            await Item.create(name="a")
    await Item.create(name="b")
    # Tasks the test starts share its transaction (serialised, API.md §5).
    assert await asyncio.gather(Item.query().count(), Item.query().count()) == [2, 2]


def test_the_async_fixture_refuses_a_sync_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        "import pytest\n"
        "from twinrecord import AsyncBaseActiveRecord\n"
        "class AppModel(AsyncBaseActiveRecord):\n    pass\n"
        "@pytest.fixture\ndef twinrecord_async_model():\n    return AppModel\n"
    )
    pytester.makepyfile("def test_sync(twinrecord_async_transaction):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*twinrecord_async_transaction is for `async def` tests*"])


def test_the_plugin_does_nothing_for_tests_that_do_not_ask(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        "import asyncio\n"
        "def test_plain():\n    assert 1 + 1 == 2\n"
        "def test_needs_a_model(twinrecord_transaction):\n    pass\n"
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*set `twinrecord_model = package.module:AppModel`*"])


# ---- docs/testing.md as a user's project -------------------------------------------------
PAGE = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


def page_files() -> dict[str, str]:
    """The page's blocks that start with a `# file: <path>` line, by path."""
    files: dict[str, str] = {}
    for indent, body in re.findall(r"^( *)```\w+\n(.*?)^\1```", PAGE.read_text(), re.S | re.M):
        code = textwrap.dedent(body)
        first, _, rest = code.partition("\n")
        match = re.match(r"(?:#|//) file: (\S+)", first)
        if match:
            files[match.group(1)] = rest
    return files


@pytest.mark.parametrize("server", ["postgres", "mysql"])
def test_the_testing_page_runs_as_a_users_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, server: str
) -> None:
    require_server(server)
    files = page_files()
    assert {"pyproject.toml", "myapp/models.py", "tests/conftest.py", "tests/test_users.py"} <= set(files)
    for path, text in files.items():
        target = pytester.path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    (pytester.path / "myapp" / "__init__.py").write_text("")
    monkeypatch.setenv("DATABASE_URL", POSTGRES_URL if server == "postgres" else MYSQL_URL)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "tests")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=4)
