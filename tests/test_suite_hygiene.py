"""The test suite cleans up after itself, and the README tells the truth about what a run prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _pytest(args, cwd, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=600)


def test_a_test_run_removes_its_build_cache(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "E3GEN_CACHE_DIR"}
    env["TMPDIR"] = str(temp)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_readme.py::test_readme_starts_with_two_setup_commands"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not list(temp.glob("e3gen-test-cache-*")), "the session's build cache was left behind"


def test_the_readme_says_where_the_seed_is_printed_by_its_own_command(tmp_path):
    """README's test command runs `pytest -q`, which hides the report header: the README must not
    promise the seed on every run's output, and a failure must print it (that is what repeats it)."""
    readme = (REPO / "README.md").read_text()
    command = re.findall(r"```bash\n(.+?)\n```", readme, flags=re.S)[1]
    options = [o for o in command.split("pytest", 1)[1].split() if o.startswith("-")]
    options = [o.replace('"${E3GEN_SEED:-0}"', "0") for o in options]
    (tmp_path / "test_passing.py").write_text("def test_ok():\n    assert True\n")
    (tmp_path / "test_failing.py").write_text("def test_bad():\n    assert False\n")
    passing = _pytest([*options, "test_passing.py"], cwd=tmp_path)
    failing = _pytest([*options, "test_failing.py"], cwd=tmp_path)
    assert failing.returncode == 1 and "--e3gen-seed 0" in failing.stdout
    if "e3gen: seed" not in passing.stdout:
        prose = " ".join(readme.split())
        assert "Every run prints its seed" not in prose
        tests_section = prose[prose.index("## Tests"):]
        assert "`-q` hides" in tests_section
