"""pytest plugin: one seed per run for hypothesis and torch, printed so that any run can be repeated.

Active wherever e3gen is installed (entry point ``pytest11: e3gen``; disable with ``-p no:e3gen``).

``pytest --e3gen-seed N``:

* hypothesis runs with seed N (as with ``--hypothesis-seed N``);
* before each test (before its fixtures), ``torch.manual_seed(N)``, so a test draws the same
  torch numbers whether it runs alone or in the whole suite. Only if torch is already imported
  (test modules import it at collection), so that non-torch projects do not pay for importing it;
* the report header says ``e3gen: seed N ...``, and a failing test gets a section
  ``reproduce with: pytest <test id> --e3gen-seed N``, also repeated in the summary.

Where the seed comes from, in order of precedence:

1. ``--e3gen-seed N``. If ``--hypothesis-seed M`` is given too, hypothesis uses M (its own,
   more specific option wins for hypothesis) and torch uses N; both are printed.
2. ``--hypothesis-seed M`` alone: hypothesis uses M as usual, and torch uses M too (M if it is an
   integer, else a stable hash of it), so for an integer M ``--e3gen-seed M`` repeats the run.
3. Neither: a random seed, used for both and printed. Every run can be repeated.

Since hypothesis always gets a seed, it neither replays nor saves examples in its database (that
is what hypothesis does with any forced seed): the printed seed is what repeats a failure. With
pytest-xdist, pass --e3gen-seed so that every worker uses the same seed.

A derandomized hypothesis profile wins over any seed, as it does over ``--hypothesis-seed``:
hypothesis then draws the same examples for a test whatever the seed (its built-in ``ci`` profile
does this, and hypothesis loads that profile by itself when a CI variable such as ``CI`` is set).
The plugin leaves that choice alone and says so in the report header; the run is still repeated
by the printed options, and ``--hypothesis-profile default`` (or a profile of your own without
``derandomize``) makes the seed choose hypothesis's draws again.

Inside a ``@given`` test torch's global RNG is not reset between examples (hypothesis manages
only Python's and numpy's); draw tensors with the `e3gen.testing` strategies, not torch.randn.
"""

from __future__ import annotations

import hashlib
import secrets
import sys

import pytest

_SEED = pytest.StashKey()  # (seed for torch, seed for hypothesis, where it came from)
_FAILED = pytest.StashKey()


def pytest_addoption(parser):
    parser.getgroup("e3gen").addoption(
        "--e3gen-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed hypothesis and torch (torch.manual_seed(N) before each test) to repeat a run; "
        "--hypothesis-seed, if also given, wins for hypothesis. Default: a random seed, printed.",
    )


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own pytest_configure reads --hypothesis-seed
def pytest_configure(config):
    seed = config.getoption("e3gen_seed")
    hypothesis_seed = getattr(config.option, "hypothesis_seed", None)  # None also if hypothesis is absent
    if seed is not None:
        source = "--e3gen-seed"
    elif hypothesis_seed is not None:
        seed, source = _as_int_seed(hypothesis_seed), "--hypothesis-seed"
    else:
        seed, source = secrets.randbelow(2**32), "random"
    if hypothesis_seed is None and hasattr(config.option, "hypothesis_seed"):
        config.option.hypothesis_seed = str(seed)  # read by hypothesis's pytest_configure, which runs next
        hypothesis_seed = str(seed)
    config.stash[_SEED] = (seed, hypothesis_seed, source)
    config.stash[_FAILED] = False


def pytest_report_header(config):
    seed, hypothesis_seed, source = config.stash[_SEED]
    line = f"e3gen: seed {seed} ({source}): torch.manual_seed({seed}) before each test"
    if hypothesis_seed is not None:
        line += f", hypothesis seed {hypothesis_seed}"
    lines = [line + f"; repeat with {_reproduce_options(config)}"]
    profile = _derandomized_profile() if hasattr(config.option, "hypothesis_seed") else None
    if profile is not None:
        lines.append(
            f"e3gen: hypothesis profile {profile!r} sets derandomize=True, which wins over any seed: "
            "hypothesis draws the same examples for each test whatever the seed "
            "(--hypothesis-profile default, or a profile without derandomize, for seeded draws)"
        )
    return lines


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(item.config.stash[_SEED][0])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        item.config.stash[_FAILED] = True
        report.sections.append(("e3gen seed", f"reproduce with: pytest {item.nodeid} {_reproduce_options(item.config)}"))


def pytest_terminal_summary(terminalreporter, config):
    if config.stash.get(_FAILED, False):
        terminalreporter.write_line(f"e3gen: repeat this run with {_reproduce_options(config)}")


def _reproduce_options(config) -> str:
    """``--e3gen-seed N``, plus ``--hypothesis-seed M`` when that differs from what N alone would give."""
    seed, hypothesis_seed, _ = config.stash[_SEED]
    options = f"--e3gen-seed {seed}"
    if hypothesis_seed is not None and str(hypothesis_seed) != str(seed):
        options += f" --hypothesis-seed {hypothesis_seed}"
    return options


def _derandomized_profile() -> str | None:
    """The name of hypothesis's current profile if it derandomizes (so seeds do not reach it), else None.

    Read when the header is written, after the root conftest has loaded its profile. Imports
    hypothesis (only called where its pytest plugin is active, so it is installed).
    """
    from hypothesis import settings

    if not settings.default.derandomize:
        return None
    return settings.get_current_profile_name()


def _as_int_seed(value) -> int:
    """An int seed for torch from a --hypothesis-seed value (which may be any string)."""
    try:
        return int(value)
    except ValueError:
        return int.from_bytes(hashlib.sha256(str(value).encode()).digest()[:4], "little")

