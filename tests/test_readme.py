"""The README starts with the two commands a newcomer runs, and CI runs the second one verbatim."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands():
    text = (REPO / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text, flags=re.S)[:2]


def test_readme_starts_with_two_setup_commands():
    main, tests = readme_commands()
    for command in (main, tests):
        assert "\n" not in command, "each README command is one line"
        assert command.startswith("python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 && ")
    assert "e3gen" in main
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command():
    _, tests = readme_commands()
    lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    assert tests in lines
