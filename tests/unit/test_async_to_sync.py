"""tools/async_to_sync.py: what it changes, and what it must leave alone."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("async_to_sync", ROOT / "tools" / "async_to_sync.py")
assert _spec is not None and _spec.loader is not None
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def convert(source: str) -> str:
    return tool.convert(textwrap.dedent(source))  # type: ignore[no-any-return]


def test_async_and_await_go_names_are_swapped() -> None:
    assert convert(
        """
        async def find(cls) -> AsyncActiveQuery[Self]:
            async with lock:
                async for row in rows:
                    await arun(plan, backend)
            return await (await make()).all()
        """
    ) == textwrap.dedent(
        """
        def find(cls) -> ActiveQuery[Self]:
            with lock:
                for row in rows:
                    run(plan, backend)
            return (make()).all()
        """
    )


def test_awaited_x_becomes_x() -> None:
    assert convert("def count(self) -> Self | Awaited[int]: ...\n") == (
        "def count(self) -> Self | int: ...\n"
    )


def test_string_constants_are_kept() -> None:
    source = 'raise Error("Async message: async path, AsyncActiveQuery, await it")\n'
    assert convert(source) == source


def test_the_kind_name_as_a_whole_string_is_swapped() -> None:
    assert convert("backend_of(cls, 'async')\n") == "backend_of(cls, 'sync')\n"


def test_comments_are_kept_and_reworded() -> None:
    assert convert(
        """
        x = 1  # an async backend: `arun` drives it
        # Async models await the lock.
        """
    ) == textwrap.dedent(
        """
        x = 1  # a sync backend: `run` drives it
        # models call the lock.
        """
    ).replace("# models call", "#  models call")


def test_docstrings_are_reworded() -> None:
    assert convert(
        '''
        class AsyncShell:
            """An asynchronous shell: await the methods."""
        '''
    ) == textwrap.dedent(
        '''
        class AsyncShell:
            """A synchronous shell: call the methods."""
        '''
    )


def test_a_line_marked_async_is_left_out() -> None:
    assert convert(
        """
        async def close(self):
            await self.flush()
            await asyncio.sleep(0)  # ASYNC
            return 1
        """
    ) == textwrap.dedent(
        """
        def close(self):
            self.flush()
            return 1
        """
    )


def test_an_if_true_async_block_becomes_its_else() -> None:
    assert convert(
        """
        async def wait(self):
            if True:  # ASYNC
                await asyncio.shield(self.rollback())
                note = "async only"
            else:
                self.rollback()  # the sync way
            return 1
        """
    ) == textwrap.dedent(
        """
        def wait(self):
            self.rollback()  # the sync way
            return 1
        """
    )


def test_an_if_true_async_block_without_else_is_left_out() -> None:
    assert convert(
        """
        def f():
            if True:  # ASYNC
                import asyncio
            return 2
        """
    ) == "\ndef f():\n    return 2\n"


def test_the_shells_on_disk_are_what_it_generates() -> None:
    for source in tool.PAIRS:
        assert tool.generate(source) == source.with_name("sync.py").read_text(), source
