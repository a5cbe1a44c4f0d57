"""CI fails when an oracle is missing: E3GEN_REQUIRE_ORACLES=1 (tests/require_oracles.py), set by .ci/run.

Each case runs pytest in a subprocess with a stand-in `e3nn` package first on PYTHONPATH: one whose
import fails (e3nn missing) or one that imports with version 0.6.0 (e3nn present), so the outcome
does not depend on whether this environment has e3nn.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _fake_e3nn(tmp_path: Path, body: str) -> Path:
    package = tmp_path / "fake" / "e3nn"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(body)
    (package / "o3.py").write_text("raise ModuleNotFoundError('the stand-in e3nn has no o3')\n")
    return package.parent


def _pytest(args, pythonpath, require, cwd=REPO):
    # Without CI variables: pytest prints untruncated summary lines when it detects CI (CI or
    # BUILD_NUMBER set), which would repeat the messages counted below.
    env = {k: v for k, v in os.environ.items() if k not in ("E3GEN_REQUIRE_ORACLES", "CI", "BUILD_NUMBER")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    if require:
        env["E3GEN_REQUIRE_ORACLES"] = "1"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_ci_sets_the_flag():
    ci = (REPO / ".ci" / "run").read_text()
    assert "E3GEN_REQUIRE_ORACLES=1 .venv/bin/python -m pytest" in ci


@pytest.mark.parametrize("require", [False, True])
def test_without_e3nn_the_oracle_tests_skip_unless_the_flag_makes_the_run_fail(tmp_path, require):
    fake = _fake_e3nn(tmp_path, "raise ModuleNotFoundError('e3nn is not installed (simulated)')\n")
    run = _pytest(["tests/test_e3nn_compat.py", "tests/test_readme.py::test_ci_runs_the_readme_test_command"], [fake], require)
    output = run.stdout + run.stderr
    if require:
        assert run.returncode != 0, output
        assert "E3GEN_REQUIRE_ORACLES=1: the test oracles e3nn==0.6.0 (ModuleNotFoundError: e3nn is not installed" in output
    else:
        assert run.returncode == 0 and "1 passed, 1 skipped" in output, output


def test_with_the_flag_every_skip_is_a_failure(tmp_path):
    fake = _fake_e3nn(tmp_path, "__version__ = '0.6.0'\n")
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n\n"
        "def test_skips_in_the_test():\n    pytest.skip('no GPU here')\n\n"
        "def test_imports_a_missing_oracle():\n    pytest.importorskip('e3nn.o3')\n\n"
        "def test_runs():\n    pass\n"
    )
    (tmp_path / "test_skips_at_collection.py").write_text("import pytest\n\npytest.importorskip('e3nn.o3')\n")
    def run(require, *files):
        args = ["-p", "require_oracles", "--rootdir", str(tmp_path), *(str(tmp_path / f) for f in files)]
        return _pytest(args, [fake, REPO / "tests"], require=require, cwd=tmp_path)

    relaxed = run(False, "test_skips.py", "test_skips_at_collection.py")
    assert relaxed.returncode == 0 and "1 passed, 3 skipped" in relaxed.stdout, relaxed.stdout + relaxed.stderr
    strict = run(True, "test_skips.py")
    assert strict.returncode == 1 and "2 failed, 1 passed" in strict.stdout, strict.stdout
    assert strict.stdout.count("E3GEN_REQUIRE_ORACLES=1: a skip in a test is an error") == 2, strict.stdout
    assert "no GPU here" in strict.stdout and "could not import 'e3nn.o3'" in strict.stdout
    strict = run(True, "test_skips_at_collection.py")
    assert strict.returncode != 0 and "E3GEN_REQUIRE_ORACLES=1: a skip while collecting is an error" in strict.stdout
