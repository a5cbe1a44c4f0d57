"""The README starts with the two commands a newcomer runs, and CI runs the second one verbatim."""

import re
import sys
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


def declared_packages(pyproject: str) -> set:
    """The `packages` array of pyproject's [tool.setuptools] table. Parsed with a regular expression,
    not tomllib, which Python 3.9 and 3.10 lack (pyproject declares requires-python >= 3.9)."""
    table = re.search(r"^\[tool\.setuptools\][ \t]*\n(.*?)(?=^\[|\Z)", pyproject, flags=re.S | re.M)
    assert table, "pyproject.toml has no [tool.setuptools] table"
    array = re.search(r"^packages\s*=\s*\[(.*?)\]", table.group(1), flags=re.S | re.M)
    assert array, "[tool.setuptools] has no packages = [...] array"
    return set(re.findall(r'"([^"]+)"', array.group(1)))


def test_declared_packages_parser_agrees_with_tomllib_where_there_is_one():
    text = (REPO / "pyproject.toml").read_text()
    if sys.version_info >= (3, 11):
        import tomllib

        assert declared_packages(text) == set(tomllib.loads(text)["tool"]["setuptools"]["packages"])
    # a table after it and other arrays before it are not read as packages
    sample = '[tool.setuptools]\nx = ["no"]\npackages = [\n    "a",\n    "a.b",\n]\n[tool.other]\npackages = ["c"]\n'
    assert declared_packages(sample) == {"a", "a.b"}


def test_every_subpackage_is_declared_in_pyproject():
    """A subpackage missing from pyproject's list would be left out of the wheel."""
    declared = declared_packages((REPO / "pyproject.toml").read_text())
    on_disk = {
        ".".join(path.parent.relative_to(REPO).parts)
        for path in (REPO / "e3gen").rglob("__init__.py")
        if "__pycache__" not in path.parts
    }
    assert on_disk <= declared, f"add {sorted(on_disk - declared)} to [tool.setuptools] packages"
