"""A pytest plugin for applications built on twinrecord: each test that asks for it runs
inside a transaction that is rolled back at its end, so tests never see each other's
rows and need no cleanup.

Registered through the `pytest11` entry point, so it is loaded wherever twinrecord is
installed, and it is opt-in: it only defines fixtures and ini options, and nothing
happens to a test that does not request one of its fixtures.

- `twinrecord_transaction`: a sync test runs inside `twinrecord_model`'s transaction.
- `twinrecord_async_transaction`: an async test (`async def`, whatever runs it:
  pytest-asyncio, anyio, your own hook) runs inside `twinrecord_async_model`'s
  transaction, opened in the test's own task (a transaction belongs to the task that
  opened it, so an async fixture could not open it for the test).
- `twinrecord_model` / `twinrecord_async_model`: the configured model class (usually the
  application's base) whose database the transaction is on. They read the ini options
  `twinrecord_model` / `twinrecord_async_model` (`package.module:AppModel`), or override
  them in a conftest.py.

Everything the test does through models sharing that backend joins the transaction;
its own `transaction()` blocks become savepoints. See docs/testing.md.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from .model._configure import kinds_of

SYNC_FIXTURE = "twinrecord_transaction"
ASYNC_FIXTURE = "twinrecord_async_transaction"


class _RollBack(Exception):
    """Raised inside the test's transaction to end it with a rollback."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "twinrecord_model",
        "the model (package.module:Name) whose database twinrecord_transaction uses",
        default="",
    )
    parser.addini(
        "twinrecord_async_model",
        "the model (package.module:Name) whose database twinrecord_async_transaction uses",
        default="",
    )


def _model_from_ini(config: pytest.Config, option: str, fixture: str) -> Any:
    spec = str(config.getini(option)).strip()
    if not spec:
        raise pytest.UsageError(
            f"{fixture} needs a model: set `{option} = package.module:AppModel` in the "
            f"pytest configuration, or define a `{option}` fixture in conftest.py that "
            "returns the configured model class"
        )
    module_name, _, attribute = spec.partition(":")
    if not attribute:
        raise pytest.UsageError(f"{option} = {spec!r}: write it as package.module:ModelName")
    return getattr(importlib.import_module(module_name), attribute)


def _face(model: Any, kind: str) -> Any:
    """The model class of `kind` (a combined model's other kind is its .sync / .aio face)."""
    kinds = kinds_of(model)
    if kind not in kinds:
        raise pytest.UsageError(
            f"{model.__name__} is not a {kind} model; the {kind} fixture needs one "
            f"({'twinrecord_async_model' if kind == 'async' else 'twinrecord_model'})"
        )
    if kinds[0] == kind:
        return model
    return model.aio if kind == "async" else model.sync


@pytest.fixture
def twinrecord_model(pytestconfig: pytest.Config) -> Any:
    """The sync (or combined) model class whose database `twinrecord_transaction` uses."""
    return _model_from_ini(pytestconfig, "twinrecord_model", SYNC_FIXTURE)


@pytest.fixture
def twinrecord_async_model(pytestconfig: pytest.Config) -> Any:
    """The async (or combined) model class whose database `twinrecord_async_transaction` uses."""
    return _model_from_ini(pytestconfig, "twinrecord_async_model", ASYNC_FIXTURE)


@pytest.fixture
def twinrecord_transaction(twinrecord_model: Any) -> Iterator[Any]:
    """Run the test inside a transaction rolled back at its end; yields the model."""
    face = _face(twinrecord_model, "sync")
    try:
        with face.transaction():
            yield twinrecord_model
            raise _RollBack
    except _RollBack:
        pass


@pytest.fixture
def twinrecord_async_transaction(
    request: pytest.FixtureRequest, twinrecord_async_model: Any
) -> Any:
    """Run the (async) test inside a transaction rolled back at its end; gives the model.
    The transaction is opened by the test's own coroutine (see the module's docstring)."""
    test = getattr(request.node, "obj", None)
    if not inspect.iscoroutinefunction(test):
        raise pytest.UsageError(
            f"{ASYNC_FIXTURE} is for `async def` tests; {request.node.name} is not one "
            f"(a sync test uses {SYNC_FIXTURE})"
        )
    _face(twinrecord_async_model, "async")
    return twinrecord_async_model


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Only for tests that request the async fixture: the test function becomes one that
    runs the original inside the transaction and rolls it back."""
    if not isinstance(item, pytest.Function) or ASYNC_FIXTURE not in item.fixturenames:
        yield
        return
    original = item.obj
    model = item.funcargs.get(ASYNC_FIXTURE)
    if model is None or not inspect.iscoroutinefunction(original):
        yield  # the fixture failed at setup and reported why
        return
    item.obj = _in_rolled_back_transaction(original, _face(model, "async"))
    try:
        yield
    finally:
        item.obj = original


def _in_rolled_back_transaction(test: Callable[..., Any], face: Any) -> Callable[..., Any]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> None:
        try:
            async with face.transaction():
                await test(*args, **kwargs)
                raise _RollBack
        except _RollBack:
            pass

    return run


__all__ = [
    "twinrecord_async_model",
    "twinrecord_async_transaction",
    "twinrecord_model",
    "twinrecord_transaction",
]
