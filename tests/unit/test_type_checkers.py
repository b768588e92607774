"""API.md §21 under both type checkers: the files in tests/typing pass mypy --strict
and pyright (strict), and the mistakes in tests/typing/negative are reported, each
with the error named on its line and nothing else."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TYPING = ROOT / "tests" / "typing"
NEGATIVE = TYPING / "negative" / "mistakes.py"
POSITIVE = sorted(str(p) for p in TYPING.glob("*.py"))
EXPECT = re.compile(r"#\s*expect:\s*([\w-]+)\s+(\w+)\s*$")


def _run(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def _expected(checker: int) -> dict[int, str]:
    """Line -> the error code (checker 0: mypy) or rule (1: pyright) it must produce."""
    expected = {}
    for number, line in enumerate(NEGATIVE.read_text().splitlines(), start=1):
        found = EXPECT.search(line)
        if found:
            expected[number] = found.group(checker + 1)
    return expected


def _check(found: set[tuple[int, str]], checker: int, output: str) -> None:
    """Errors on exactly the marked lines, each line's among them (pyright's strict mode
    may add consequences, such as an unknown type after an unknown attribute)."""
    expected = _expected(checker)
    assert {line for line, _ in found} == set(expected), output
    missing = {(line, code) for line, code in expected.items() if (line, code) not in found}
    assert not missing, output


def test_mypy_strict_accepts_the_typed_samples() -> None:
    result = _run("mypy", "--strict", *POSITIVE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pyright_strict_accepts_the_typed_samples() -> None:
    result = _run("pyright", "-p", str(TYPING), "--pythonpath", sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_reports_each_mistake() -> None:
    result = _run(
        "mypy",
        "--strict",
        str(TYPING / "models.py"),
        str(NEGATIVE),
        env={"MYPYPATH": str(TYPING)},
    )
    pattern = re.compile(
        rf"^{re.escape(str(NEGATIVE.relative_to(ROOT)))}:(\d+): error: .*\[([\w-]+)\]$"
    )
    found = {
        (int(m.group(1)), m.group(2)) for m in map(pattern.match, result.stdout.splitlines()) if m
    }
    _check(found, 0, result.stdout)


def test_pyright_reports_each_mistake() -> None:
    result = _run(
        "pyright", "-p", str(NEGATIVE.parent), "--pythonpath", sys.executable, "--outputjson"
    )
    report = json.loads(result.stdout)
    found = {
        (d["range"]["start"]["line"] + 1, d.get("rule", "?"))
        for d in report["generalDiagnostics"]
        if d["severity"] == "error" and Path(d["file"]) == NEGATIVE
    }
    _check(found, 1, json.dumps(report["generalDiagnostics"], indent=1))


DOC = ROOT / "docs" / "typing.md"


def _doc_samples(directory: Path) -> list[Path]:
    paths = []
    for kind in ("sync", "async"):
        tabs = re.findall(r'=== "' + kind + r'"\n\n    ```python\n(.*?)    ```', DOC.read_text(), re.S)
        found = [textwrap.dedent(block) for block in tabs]
        assert found, f'docs/typing.md has no "{kind}" tab with a sample'
        path = directory / f"typing_doc_{kind}.py"
        path.write_text("\n".join(found))
        paths.append(path)
    (directory / "pyrightconfig.json").write_text(
        json.dumps({"typeCheckingMode": "strict", "pythonVersion": "3.11"})
    )
    return paths


def test_the_typing_page_samples_pass_both_checkers(tmp_path: Path) -> None:
    paths = [str(p) for p in _doc_samples(tmp_path)]
    result = _run("mypy", "--strict", *paths)
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run("pyright", "-p", str(tmp_path), "--pythonpath", sys.executable)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_typing_page_sync_sample_runs(tmp_path: Path) -> None:
    sync_sample = _doc_samples(tmp_path)[0]
    result = _run_python(str(sync_sample))
    assert result.returncode == 0, result.stdout + result.stderr


def _run_python(path: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, path], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
