"""The README's two commands are the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    first_section = ROOT.joinpath("README.md").read_text().split("\n## ")[1]
    return re.findall(r"```sh\n(.+?)\n```", first_section)


def test_readme_first_section_has_exactly_two_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "examples/quickstart.py" in commands[0] and "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci_script = ROOT.joinpath(".ci/run").read_text()
    assert readme_commands()[1] in ci_script.splitlines()
