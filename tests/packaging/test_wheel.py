"""The release artefacts: `python -m build` makes an sdist and a wheel, `twine check`
accepts both, and the wheel installed into a fresh virtual environment (no source tree
on the path) runs the quickstart and carries `py.typed`."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True,
        timeout=600, env={**os.environ, "PYTHONPATH": ""},
    )
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "build", "--outdir", out, ROOT)
    return out


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path) -> None:
    wheels = list(dist.glob("twinrecord-*.whl"))
    sdists = list(dist.glob("twinrecord-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(dist.iterdir())
    output = _run(sys.executable, "-m", "twine", "check", "--strict", *wheels, *sdists)
    assert output.count("PASSED") == 2, output


def test_the_wheel_installs_into_a_fresh_venv_and_runs_the_quickstart(
    dist: Path, tmp_path: Path
) -> None:
    wheel = next(dist.glob("twinrecord-*.whl"))
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", wheel)
    # Run from an empty folder so the checkout's src/ cannot be imported by accident.
    where = _run(python, "-c", "import twinrecord, pathlib; print(pathlib.Path(twinrecord.__file__).parent)",
                 cwd=tmp_path)
    package = Path(where.strip())
    assert env_dir in package.parents, f"imported from {package}, not the fresh venv"
    assert (package / "py.typed").exists()
    output = _run(python, ROOT / "examples" / "quickstart.py", cwd=tmp_path)
    assert output.strip(), "the quickstart printed nothing"
