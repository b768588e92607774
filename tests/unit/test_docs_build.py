"""The documentation site builds with `mkdocs build --strict` (every warning an error:
a broken link, a docstring mkdocstrings cannot read, a page left out of the nav), and
every page under docs/ is in mkdocs.yml's nav."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
yaml = pytest.importorskip("yaml", reason="the docs extra (pip install -e '.[dev]') brings PyYAML")


def nav_pages(entries: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(entries, str):
        found.add(entries)
    elif isinstance(entries, list):
        for entry in entries:
            found |= nav_pages(entry)
    elif isinstance(entries, dict):
        for value in entries.values():
            found |= nav_pages(value)
    return found


def test_every_docs_page_is_in_the_nav() -> None:
    config = yaml.safe_load(ROOT.joinpath("mkdocs.yml").read_text())
    listed = nav_pages(config["nav"])
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in ROOT.joinpath("docs").rglob("*.md")}
    assert not pages - listed, f"add these pages to mkdocs.yml's nav: {sorted(pages - listed)}"
    assert not listed - pages, f"the nav names pages that do not exist: {sorted(listed - pages)}"


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (tmp_path / "site" / "index.html").exists()
    assert (tmp_path / "site" / "reference" / "errors" / "index.html").exists()


def test_the_configuration_page_names_every_option() -> None:
    import dataclasses

    from twinrecord.backends.mysql import MySQLConfig
    from twinrecord.backends.postgres import PostgresConfig
    from twinrecord.backends.sqlite import SQLiteConfig

    page = ROOT.joinpath("docs", "configuration.md").read_text()
    for config in (SQLiteConfig, PostgresConfig, MySQLConfig):
        missing = [f.name for f in dataclasses.fields(config) if f"`{f.name}`" not in page]
        assert not missing, f"docs/configuration.md does not describe {config.__name__}'s {missing}"


def test_the_errors_page_names_every_error() -> None:
    import twinrecord.errors

    page = ROOT.joinpath("docs", "errors.md").read_text()
    classes = [
        name for name, value in vars(twinrecord.errors).items()
        if isinstance(value, type) and issubclass(value, Exception)
        and value.__module__ == "twinrecord.errors"
    ]
    missing = [name for name in classes if f"| `{name}` |" not in page]
    assert not missing, f"docs/errors.md's table lacks {missing}"


def test_the_api_reference_covers_every_public_name() -> None:
    """Each name in `twinrecord.__all__` is rendered by a `::: path` of docs/reference/
    (itself, the class it aliases, or the module it lives in)."""
    import importlib

    import twinrecord

    documented: list[object] = []
    for page in ROOT.joinpath("docs", "reference").glob("*.md"):
        for line in page.read_text().splitlines():
            if not line.startswith("::: "):
                continue
            path = line[4:].strip()
            try:
                documented.append(importlib.import_module(path))
                continue
            except ImportError:
                pass
            module, _, name = path.rpartition(".")
            documented.append(getattr(importlib.import_module(module), name))
    modules = {getattr(m, "__name__", None) for m in documented if isinstance(m, type(twinrecord))}

    def covered(value: object) -> bool:
        return any(value is d for d in documented) or getattr(value, "__module__", None) in modules

    missing = [name for name in twinrecord.__all__ if not covered(getattr(twinrecord, name))]
    assert not missing, f"add these public names to docs/reference/*.md: {missing}"
