"""docs/architecture.md names every plan request type the code defines, and only those."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "twinrecord"


def _requests_in_code() -> set[str]:
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(base, ast.Name) and base.id == "Request" for base in node.bases
            ):
                found.add(node.name)
    return found


def _requests_in_doc() -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text()
    paragraph = text.split("The requests:", 1)[1].split("(`tests/unit", 1)[0]
    return set(re.findall(r"`([A-Z]\w+)`", paragraph))


def test_the_doc_lists_the_request_types_of_the_code() -> None:
    assert _requests_in_code(), "no Request subclass found: the test reads the wrong place"
    assert _requests_in_doc() == _requests_in_code()
