"""Shared test setup: a bounded, reproducible hypothesis profile and an isolated build cache.

Hypothesis profile "ci" (the default): no deadline (shared, noisy machines), a bounded number of
examples, and the falsifying example printed with a reproduction blob. Set E3GEN_HYPOTHESIS_PROFILE
to "thorough" for more examples.

Seeds are the e3gen pytest plugin's job (e3gen/testing/pytest_plugin.py, installed with e3gen): it
prints the run's seed in the header and on failure, and `--e3gen-seed N` (or `--hypothesis-seed N`,
as .ci/run passes) repeats a run exactly.

E3GEN_REQUIRE_ORACLES=1 (.ci/run sets it) turns a missing oracle and every skip into a failure
(tests/require_oracles.py).
"""

import atexit
import os
import shutil
import tempfile

import pytest
import torch
from hypothesis import HealthCheck, settings
from require_oracles import pytest_make_collect_report, pytest_runtest_makereport, pytest_sessionstart  # noqa: F401

settings.register_profile(
    "ci",
    deadline=None,
    max_examples=20,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("ci"), max_examples=500)
settings.load_profile(os.environ.get("E3GEN_HYPOTHESIS_PROFILE", "ci"))

# Builds made on demand during the tests go to a private cache, never the user's, removed at exit.
if not os.environ.get("E3GEN_CACHE_DIR"):
    os.environ["E3GEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="e3gen-test-cache-")
    atexit.register(shutil.rmtree, os.environ["E3GEN_CACHE_DIR"], ignore_errors=True)


def pytest_report_header(config):
    profile = os.environ.get("E3GEN_HYPOTHESIS_PROFILE", "ci")
    return [
        f"e3gen: hypothesis profile {profile!r}",
        f"e3gen: build cache {os.environ['E3GEN_CACHE_DIR']}",
        f"e3gen: E3GEN_REQUIRE_ORACLES={os.environ.get('E3GEN_REQUIRE_ORACLES', '')!r} (1: a missing oracle or a skip fails the run)",
    ]


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    """An empty E3GEN_CACHE_DIR and no builds imported yet; restored afterwards."""
    from e3gen.runtime import loader

    monkeypatch.setenv("E3GEN_CACHE_DIR", str(tmp_path / "cache"))
    loader.clear_loaded()
    yield tmp_path / "cache"
    loader.clear_loaded()


@pytest.fixture
def float64_default():
    """Default dtype float64 for the test, restored after: e3nn (the oracle) builds its tables,
    parameters and buffers in the default dtype, and float64 makes it exact enough to compare to 1e-10."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
