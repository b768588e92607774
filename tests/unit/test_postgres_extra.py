"""The `postgres` extra is psycopg 3 alone: the backends pool connections themselves
(backends/pools/), so psycopg_pool is neither required nor imported (docs/configuration.md).
API.md §1 still lists psycopg_pool in the extra; this pins what the package does."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_postgres_extra_does_not_need_psycopg_pool() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert any(d.startswith("psycopg[") for d in extras["postgres"])
    assert not any("pool" in d for d in extras["postgres"])


def test_the_postgres_backends_never_import_psycopg_pool() -> None:
    code = (
        "import sys\n"
        "import twinrecord\n"
        "from twinrecord.backends.postgres import PostgresBackend, AsyncPostgresBackend\n"
        "AsyncPostgresBackend  # noqa\n"
        "assert 'psycopg' in sys.modules\n"
        "assert 'psycopg_pool' not in sys.modules, 'psycopg_pool imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
