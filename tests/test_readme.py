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


def test_every_subpackage_is_declared_in_pyproject():
    """A subpackage missing from pyproject's list would be left out of the wheel."""
    import tomllib

    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "e3gen").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk <= declared, f"add {sorted(on_disk - declared)} to [tool.setuptools] packages"
