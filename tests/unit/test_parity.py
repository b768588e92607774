"""The parity test: every sync/async pair offers the same public surface.

For each pair, every public name (not starting with `_`, Pydantic's BaseModel API
excluded) must exist on both classes, be the same kind of attribute (method,
classmethod, staticmethod, property, plain attribute) and take the same parameters
(names, kinds, defaults); what is a coroutine (or an async generator, as behind
`asynccontextmanager`) on the async side is a plain function (a generator) on the
sync side, and nothing on the sync side is a coroutine. Failures name the method
and the difference. The generated sync shells must match their async sources.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[2]
PYDANTIC_API = frozenset(dir(BaseModel))

# (module, sync class, async class); driver modules are checked when importable.
PAIRS = [
    ("twinrecord", "BaseActiveRecord", "AsyncBaseActiveRecord"),
    ("twinrecord", "ActiveRecord", "AsyncActiveRecord"),
    ("twinrecord", "ActiveQuery", "AsyncActiveQuery"),
    ("twinrecord", "RecordStream", "AsyncRecordStream"),
    ("twinrecord.backends", "SyncBackend", "AsyncBackend"),
    ("twinrecord.backends.postgres", "PostgresBackend", "AsyncPostgresBackend"),
    ("twinrecord.backends.mysql", "MySQLBackend", "AsyncMySQLBackend"),
]

# Public names allowed on one side only ({name: why}); empty: the pairs match exactly.
KNOWN_DRIFT: dict[str, str] = {
    # Python's own names: a generator has close(), an async generator aclose().
    "close": "RecordStream.close() is AsyncRecordStream.aclose()",
    "aclose": "AsyncRecordStream.aclose() is RecordStream.close()",
}


# ---- the comparison -----------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    name: str
    problem: str

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}"


def public_names(cls: type) -> set[str]:
    return {n for n in dir(cls) if not n.startswith("_")} - PYDANTIC_API


def _kind(cls: type, name: str) -> tuple[str, Any]:
    """What sort of attribute `name` is on `cls`, and its function when it has one."""
    static = inspect.getattr_static(cls, name)
    if isinstance(static, classmethod):
        return "classmethod", static.__func__
    if isinstance(static, staticmethod):
        return "staticmethod", static.__func__
    if isinstance(static, property):
        return "property", None
    if inspect.isfunction(static):
        return "method", static
    return "attribute", None


def _flavour(func: Any) -> str:
    inner = inspect.unwrap(func)  # see through contextmanager / functools.wraps
    if inspect.iscoroutinefunction(inner):
        return "coroutine function"
    if inspect.isasyncgenfunction(inner):
        return "async generator function"
    if inspect.isgeneratorfunction(inner):
        return "generator function"
    return "plain function"


# What a sync twin must be, for each flavour on the async side.
SYNC_FLAVOUR = {
    "coroutine function": "plain function",
    "async generator function": "generator function",
    "plain function": "plain function",
    "generator function": "generator function",
}


def _shape(func: Any) -> inspect.Signature:
    """The signature without annotations (the twins' annotations legitimately differ)."""
    signature = inspect.signature(func)
    empty = inspect.Parameter.empty
    return signature.replace(
        parameters=[p.replace(annotation=empty) for p in signature.parameters.values()],
        return_annotation=empty,
    )


def _parameter_differences(sync: inspect.Signature, aio: inspect.Signature) -> list[str]:
    problems = []
    sync_params = list(sync.parameters.values())
    async_params = list(aio.parameters.values())
    sync_names = [p.name for p in sync_params]
    async_names = [p.name for p in async_params]
    if sync_names != async_names:
        problems.append(f"parameter names {sync_names} (sync) vs {async_names} (async)")
    by_name = {p.name: p for p in async_params}
    for p in sync_params:
        other = by_name.get(p.name)
        if other is None:
            continue
        if p.kind != other.kind:
            problems.append(
                f"parameter {p.name!r} is {p.kind.description} (sync) vs "
                f"{other.kind.description} (async)"
            )
        if p.default != other.default:
            problems.append(
                f"parameter {p.name!r} defaults to {_default(p)} (sync) vs {_default(other)} "
                "(async)"
            )
    return problems


def _default(parameter: inspect.Parameter) -> str:
    return "no default" if parameter.default is parameter.empty else repr(parameter.default)


def compare(sync_cls: type, async_cls: type) -> list[Drift]:
    """Every difference between the public surfaces of a sync class and its async twin."""
    drifts: list[Drift] = []
    sync_names, async_names = public_names(sync_cls), public_names(async_cls)
    for name in sorted(sync_names - async_names):
        drifts.append(
            Drift(name, f"only on {sync_cls.__name__} (sync), missing on {async_cls.__name__}")
        )
    for name in sorted(async_names - sync_names):
        drifts.append(
            Drift(name, f"only on {async_cls.__name__} (async), missing on {sync_cls.__name__}")
        )
    for name in sorted(sync_names & async_names):
        drifts.extend(_compare_member(sync_cls, async_cls, name))
    return drifts


def _compare_member(sync_cls: type, async_cls: type, name: str) -> list[Drift]:
    sync_kind, sync_func = _kind(sync_cls, name)
    async_kind, async_func = _kind(async_cls, name)
    if sync_kind != async_kind:
        return [Drift(name, f"a {sync_kind} on the sync side but a {async_kind} on the async side")]
    if sync_func is None or async_func is None:
        return []
    drifts = []
    sync_flavour, async_flavour = _flavour(sync_func), _flavour(async_func)
    if sync_flavour != SYNC_FLAVOUR[async_flavour]:
        drifts.append(
            Drift(
                name,
                f"a {async_flavour} on the async side needs a {SYNC_FLAVOUR[async_flavour]} on "
                f"the sync side, found a {sync_flavour}",
            )
        )
    sync_shape, async_shape = _shape(sync_func), _shape(async_func)
    problems = _parameter_differences(sync_shape, async_shape)
    if problems:
        drifts.append(
            Drift(
                name,
                f"signatures differ: {name}{sync_shape} (sync) vs {name}{async_shape} (async); "
                + "; ".join(problems),
            )
        )
    return drifts


def report(sync_cls: type, async_cls: type, drifts: list[Drift]) -> str:
    lines = [f"{sync_cls.__name__} and {async_cls.__name__} have drifted apart:"]
    lines += [f"  - {drift}" for drift in drifts]
    return "\n".join(lines)


def load_pair(module_name: str, sync_name: str, async_name: str) -> tuple[type, type]:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        pytest.skip(f"{module_name} is not importable ({error}); its pair is not checked")
    return getattr(module, sync_name), getattr(module, async_name)


# ---- the real pairs --------------------------------------------------------------------------
@pytest.mark.parametrize(("module", "sync_name", "async_name"), PAIRS, ids=[p[1] for p in PAIRS])
def test_sync_and_async_twins_have_the_same_public_surface(
    module: str, sync_name: str, async_name: str
) -> None:
    sync_cls, async_cls = load_pair(module, sync_name, async_name)
    drifts = [d for d in compare(sync_cls, async_cls) if not _known(d)]
    assert not drifts, report(sync_cls, async_cls, drifts)


def _known(drift: Drift) -> bool:
    """A listed name that is simply missing on the sync side (any other drift still fails)."""
    return drift.name in KNOWN_DRIFT and drift.problem.startswith("only on ")


@pytest.mark.parametrize(("module", "sync_name", "async_name"), PAIRS, ids=[p[1] for p in PAIRS])
def test_async_side_really_is_async_and_sync_side_never_is(
    module: str, sync_name: str, async_name: str
) -> None:
    sync_cls, async_cls = load_pair(module, sync_name, async_name)
    awaited = set()
    for name in public_names(async_cls):
        _, func = _kind(async_cls, name)
        if func is not None and _flavour(func).startswith("coroutine"):
            awaited.add(name)
    assert awaited, f"{async_cls.__name__} has no coroutine methods at all"
    for name in public_names(sync_cls):
        _, func = _kind(sync_cls, name)
        if func is not None:
            assert not _flavour(func).startswith(("coroutine", "async")), (
                f"{sync_cls.__name__}.{name} is a {_flavour(func)}: the sync API must never "
                "need an event loop"
            )


def test_the_database_methods_are_awaited_on_the_async_record_and_query() -> None:
    from twinrecord import AsyncActiveQuery, AsyncBaseActiveRecord

    def awaited(cls: type) -> set[str]:
        return {
            n
            for n in public_names(cls)
            if (func := _kind(cls, n)[1]) is not None and _flavour(func) == "coroutine function"
        }

    # At least these (later features may add more awaited methods).
    assert awaited(AsyncBaseActiveRecord) >= {
        "save",
        "delete",
        "refresh",
        "find_one",
        "find_one_or_fail",
        "find_all",
        "find_by_sql",
        "insert_many",
        "create_table",
        "drop_table",
    }
    assert awaited(AsyncActiveQuery) >= {
        "all",
        "one",
        "one_or_fail",
        "exists",
        "to_dicts",
        "update",
        "delete",
        "aggregate",
    }


# ---- the generated shells --------------------------------------------------------------------
def test_generated_sync_shells_are_up_to_date() -> None:
    if importlib.util.find_spec("ruff") is None:
        pytest.skip("tools/async_to_sync.py formats with ruff, which is not installed")
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "async_to_sync.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, (
        "the sync shells differ from what tools/async_to_sync.py generates from aio.py:\n"
        + done.stdout
        + done.stderr
    )


# ---- proof that the comparison can fail ------------------------------------------------------
class SyncDemo:
    def fetch(self, key: int, *, timeout: float = 10) -> int:
        return key

    def only_sync(self) -> None: ...

    @classmethod
    def build(cls, value: int) -> SyncDemo:
        return cls()

    async def leaked(self) -> None: ...  # a coroutine on the sync side

    def renamed(self, key: int) -> None: ...

    def keyword(self, key: int) -> None: ...

    @contextmanager
    def session(self) -> Iterator[None]:
        yield

    def same(self, a: int, b: str = "x") -> str:
        return b

    @property
    def state(self) -> str:
        return "ok"


class AsyncDemo:
    async def fetch(self, key: int, *, timeout: float = 5) -> int:  # default drifted
        return key

    async def only_async(self) -> None: ...

    def build(self, value: int) -> AsyncDemo:  # lost @classmethod
        return self

    async def leaked(self) -> None: ...

    async def renamed(self, ident: int) -> None: ...  # parameter renamed

    async def keyword(self, *, key: int) -> None: ...  # became keyword-only

    def session(self) -> None: ...  # no longer a CM

    async def same(self, a: int, b: str = "x") -> str:
        return b

    state = "ok"  # property -> attribute


def test_comparison_reports_deliberate_drift() -> None:
    drifts = {d.name: d.problem for d in compare(SyncDemo, AsyncDemo)}
    assert set(drifts) == {
        "fetch",
        "only_sync",
        "only_async",
        "build",
        "leaked",
        "renamed",
        "keyword",
        "session",
        "state",
    }
    assert "only on SyncDemo" in drifts["only_sync"]
    assert "only on AsyncDemo" in drifts["only_async"]
    assert "'timeout' defaults to 10 (sync) vs 5 (async)" in drifts["fetch"]
    assert "a classmethod on the sync side but a method on the async side" in drifts["build"]
    assert "found a coroutine function" in drifts["leaked"]
    assert "['self', 'key'] (sync) vs ['self', 'ident'] (async)" in drifts["renamed"]
    assert "'key' is positional or keyword (sync) vs keyword-only (async)" in drifts["keyword"]
    assert "generator function on the sync side" not in drifts["session"]
    assert "a plain function on the async side needs a plain function" in drifts["session"]
    assert "a property on the sync side but a attribute" in drifts["state"]


def test_failure_message_names_the_method_and_both_signatures() -> None:
    message = report(SyncDemo, AsyncDemo, compare(SyncDemo, AsyncDemo))
    assert message.startswith("SyncDemo and AsyncDemo have drifted apart:")
    assert (
        "  - fetch: signatures differ: fetch(self, key, *, timeout=10) (sync) vs "
        "fetch(self, key, *, timeout=5) (async)" in message
    )


def test_comparison_accepts_true_twins() -> None:
    class SyncTwin:
        def get(self, key: int, default: Any = None) -> Any: ...

        @classmethod
        def open(cls, url: str) -> Any: ...

        @contextmanager
        def transaction(self, level: str | None = None) -> Iterator[None]:
            yield

    class AsyncTwin:
        async def get(self, key: int, default: Any = None) -> Any: ...

        @classmethod
        async def open(cls, url: str) -> Any: ...

        @asynccontextmanager
        async def transaction(self, level: str | None = None) -> AsyncIterator[None]:
            yield

    assert compare(SyncTwin, AsyncTwin) == []


def test_context_manager_twins_must_match_in_kind() -> None:
    class SyncCM:
        def transaction(self) -> None: ...  # plain, but the async twin is an async CM

    class AsyncCM:
        @asynccontextmanager
        async def transaction(self) -> AsyncIterator[None]:
            yield

    (drift,) = compare(SyncCM, AsyncCM)
    assert drift.name == "transaction"
    assert "async generator function on the async side needs a generator function" in str(drift)
