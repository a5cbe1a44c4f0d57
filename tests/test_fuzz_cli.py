"""Fuzz tests of the `e3gen` command line: malformed argv never gives a traceback.

Property, for every subcommand (build, info, bench, demo, debug, show, doctor) and the top level
(--version, --help, no command): `e3gen.cli.main(argv)`, run in-process, ends with
  * exit status 0 (success, including --help/--version), or
  * exit status 1 or 2 with an error line on stderr (its last line) that contains "error:" and names
    the offending argument (its flag, its name, or its value),
and never raises anything but SystemExit; "Traceback (most recent call last)" never appears.

Input strategy: each example spoils at least one argument (wrong type, negative or huge number,
empty or blank text, unknown flag, a bad path: "" , "/proc/x/...", a file where a folder is
expected, a missing file). Commands that would start long work when every argument is valid
(bench, demo, debug's training) are only ever given at least one invalid argument that is checked
before the work starts; build and show are given valid values only where the work is small
(lmax <= 1, l <= 2) and always write under a temporary folder, never into the repository.
Unknown flags start with "--zz-" so that argparse cannot read them as an abbreviation of a real flag;
unknown module names start with "no_such_module_" so that no real module (antigravity!) is imported.
"""

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from e3gen.cli import main

# capsys and monkeypatch are function-scoped; each example reads capsys out first, so sharing is safe.
fuzz_settings = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

WORDS = st.text(alphabet="abcxyz_09", min_size=1, max_size=6)
UNKNOWN_FLAGS = WORDS.map(lambda w: "--zz-" + w)
NOT_INTEGERS = st.sampled_from(["", " ", "x", "1.5", "1e3", "three", "0x10", "nan", "--"])
NOT_FLOATS = st.sampled_from(["", " ", "x", "1e", "one", "0,5"])
NEGATIVE = st.integers(max_value=-1).map(str)
HUGE = st.integers(min_value=13, max_value=10**30).map(str)


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """A writable folder, a plain file (where a folder or a module is expected), a missing path."""
    root = tmp_path_factory.mktemp("cli-fuzz")
    a_file = root / "plain-file"
    a_file.write_text("not a folder\n")
    (root / "folder.py").mkdir()
    return {"folder": root, "file": a_file, "folder_py": root / "folder.py", "missing": root / "missing"}


def run_cli(argv, capsys):
    """(exit status, stdout, stderr) of `e3gen *argv`, checking the contract on both streams."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = 0 if exit_.code is None else exit_.code
    out, err = capsys.readouterr()
    assert "Traceback (most recent call last)" not in out + err, f"e3gen {argv}: traceback printed\n{err}"
    assert code in (0, 1, 2), f"e3gen {argv}: exit status {code!r}"
    return code, out, err


def assert_clear_error(argv, code, err, names):
    """A failure's last stderr line is an error naming one of `names` (flags and bad values)."""
    assert code in (1, 2), f"e3gen {argv}: exit status {code}, expected an error\n{err}"
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, f"e3gen {argv}: exit status {code} without a message on stderr"
    last = lines[-1]
    assert "error:" in last, f"e3gen {argv}: last stderr line is not an error: {last!r}"
    named = [n for n in names if n.strip()]
    assert any(n in last for n in named), f"e3gen {argv}: error {last!r} names none of {named}"


class WorkStarted(AssertionError):
    """Raised by the stand-ins for long work (benchmark, training): an invalid argv got through."""


@pytest.fixture
def no_long_work(monkeypatch):
    """Replace what bench, demo and debug run once their arguments are accepted, so that an argument
    check that lets a bad value through fails the test at once instead of starting minutes of work."""
    import e3gen.bench
    import e3gen.debug
    import e3gen.debug.cli
    import e3gen.examples.tetris

    def refuse(*args, **kwargs):
        raise WorkStarted(f"long work started with {args} {kwargs}: an invalid argument was accepted")

    monkeypatch.setattr(e3gen.bench, "measure", refuse)
    monkeypatch.setattr(e3gen.examples.tetris, "_demo", refuse)
    monkeypatch.setattr(e3gen.debug.cli, "_demo", refuse)
    monkeypatch.setattr(e3gen.debug, "equivariance_report", refuse)


@pytest.fixture(autouse=True)
def in_a_temporary_folder(places, monkeypatch):
    """Relative paths (bench.png, demo.png, a bad FILE) land in a temporary folder, not the repository."""
    monkeypatch.chdir(places["folder"])


@st.composite
def spoiled(draw, invalid, valid=None):
    """argv pieces: exactly one invalid piece (`invalid[flag]` gives (argv piece, names), or an
    unknown flag), one at a time so that each check is reached, plus valid options.
    Returns (argv, names of the invalid part)."""
    flag = draw(st.sampled_from(sorted(invalid) + ["unknown flag"]))
    if flag == "unknown flag":
        unknown = draw(UNKNOWN_FLAGS)
        argv, names, bad_flags = [unknown], [unknown], []
    else:
        argv, names = draw(invalid[flag])
        bad_flags = [flag]
    for flag, strategy in (valid or {}).items():
        if flag not in bad_flags and draw(st.booleans()):
            argv += [flag, draw(strategy)]
    return argv, names


def bad_value(flag, values):
    return values.map(lambda v: ([flag, v], [flag, v]))  # (argv piece, names an error may use)


@fuzz_settings
@given(argv=st.one_of(
    st.just([]),
    st.sampled_from([["--version"], ["--help"], ["-h"]]),
    st.lists(st.one_of(UNKNOWN_FLAGS, WORDS.map(lambda w: "zz" + w)), min_size=1, max_size=3),
))
def test_top_level(argv, capsys):
    """No command, --version, --help, unknown flags or commands: 0 for help and version, else 2."""
    code, out, err = run_cli(argv, capsys)
    if argv in (["--version"], ["--help"], ["-h"]):
        assert code == 0 and out.strip()
    else:
        assert_clear_error(argv, code, err, ["command", *argv])


@fuzz_settings
@given(data=st.data())
def test_build(data, places, capsys):
    """Bad --lmax (text, negative, > 12), bad --out ("", blank, a file, under a file, in /proc),
    unknown flags; valid lmax 0..1 only ever with --out in a temporary folder."""
    folder, a_file = places["folder"], str(places["file"])
    bad_out = st.sampled_from(["", " ", a_file, a_file + "/sub", "/proc/x", "/proc/x/y"])
    lmax = data.draw(st.one_of(NOT_INTEGERS, NEGATIVE, HUGE, st.sampled_from(["0", "1"])), label="lmax")
    lmax_valid = lmax in ("0", "1")
    out = data.draw(bad_out if lmax_valid else st.one_of(st.none(), bad_out, st.just(str(folder / "builds"))),
                    label="out")
    argv = ["build"] + ([] if data.draw(st.booleans(), label="omit --lmax") and not lmax_valid else ["--lmax", lmax])
    argv += [] if out is None else ["--out", out]
    argv += data.draw(st.lists(st.sampled_from(["--check", "--force"]), unique=True), label="switches")
    extra = data.draw(st.lists(UNKNOWN_FLAGS, max_size=1), label="unknown")
    argv += extra
    code, out_text, err = run_cli(argv, capsys)
    if code == 0:
        assert lmax_valid and out is not None and not extra, f"e3gen {argv} succeeded"
    elif code == 1 and "--check" in argv and "check FAILED" in out_text:
        assert lmax_valid and out is not None and not extra, f"e3gen {argv} ran a check"  # nothing to compare with
    else:
        assert_clear_error(argv, code, err, ["--lmax", "lmax", "--out", *extra, lmax, *([out] if out else [])])


@fuzz_settings
@given(data=st.data())
def test_info(data, places, capsys, monkeypatch):
    """Extra arguments are refused; E3GEN_BUILD_DIR set to "", a file, a missing folder or /proc/x is
    reported (or listed as having no builds), never a traceback."""
    env = data.draw(st.sampled_from([None, "", str(places["file"]), str(places["missing"]), "/proc/x"]),
                    label="E3GEN_BUILD_DIR")
    extra = data.draw(st.lists(st.one_of(UNKNOWN_FLAGS, WORDS), max_size=2), label="extra")
    if env is None:
        monkeypatch.delenv("E3GEN_BUILD_DIR", raising=False)
    else:
        monkeypatch.setenv("E3GEN_BUILD_DIR", env)
    argv = ["info", *extra]
    code, out, err = run_cli(argv, capsys)
    if extra:
        assert_clear_error(argv, code, err, extra)
    elif code != 0:
        assert_clear_error(argv, code, err, ["E3GEN_BUILD_DIR", *([env] if env else [])])


BENCH_INVALID = {
    "--repeats": bad_value("--repeats", st.one_of(NOT_INTEGERS, st.integers(max_value=0).map(str))),
    "--threads": bad_value("--threads", st.one_of(NOT_INTEGERS, st.integers(max_value=0).map(str))),
    "--backends": bad_value("--backends", st.one_of(
        st.sampled_from(["", ",", "native,gpu", "eager,,compiled", "EAGER"]), WORDS.map(lambda w: "zz" + w))),
    "--cases": bad_value("--cases", st.one_of(st.sampled_from(["", " ", "a,b", "A", "e"]), WORDS.map(lambda w: "z" + w))),
    "--bandwidth": bad_value("--bandwidth", NOT_FLOATS),
}
BENCH_VALID = {"--repeats": st.sampled_from(["1", "3"]), "--cases": st.sampled_from(["a", "ab"]),
               "--backends": st.just("eager"), "--plot": st.just("bench.png")}


@fuzz_settings
@given(drawn=spoiled(BENCH_INVALID, BENCH_VALID))
def test_bench(drawn, capsys, no_long_work):
    """At least one invalid option (so no benchmark ever starts): always exit 2 naming it."""
    rest, names = drawn
    argv = ["bench", *rest]
    code, out, err = run_cli(argv, capsys)
    assert_clear_error(argv, code, err, names)


SEED_INVALID = bad_value("--seed", st.one_of(NOT_INTEGERS, NEGATIVE, st.integers(min_value=2**63, max_value=10**40).map(str)))


@fuzz_settings
@given(drawn=spoiled({"--seed": SEED_INVALID}, {"--plot": st.just("demo.png")}))
def test_demo(drawn, capsys, no_long_work):
    """A bad --seed (text, negative, beyond torch's range) or an unknown flag: exit 2, no training."""
    rest, names = drawn
    argv = ["demo", *rest]
    code, out, err = run_cli(argv, capsys)
    assert_clear_error(argv, code, err, names)


def bad_models(places):
    """--model values that cannot give a model: not MODULE:FUNCTION, relative, missing, not a
    function, returning the wrong thing, a file that is not Python, a folder named .py, a missing file."""
    return ["", "make", ":make", "no_such_module_x:", ".relative:make", "..x:make", "os:getcwd", "os:sep",
            f"{places['file']}:make", f"{places['folder_py']}:make", f"{places['missing']}.py:make",
            "/proc/x:make", "/proc/x.py:make"]


def debug_invalid(places):
    missing_module = WORDS.map(lambda w: f"no_such_module_{w}:make")
    models = st.one_of(missing_module, st.sampled_from(bad_models(places)))
    bounds = st.one_of(NOT_FLOATS, st.sampled_from(["0", "-1e-4", "nan", "inf", "-inf"]))
    return {"--model": bad_value("--model", models), "--seed": SEED_INVALID,
            "--bound32": bad_value("--bound32", bounds), "--bound64": bad_value("--bound64", bounds)}


@fuzz_settings
@given(data=st.data())
def test_debug(data, places, capsys, no_long_work):
    """A bad --model (not MODULE:FUNCTION, relative, missing, a file that is not Python, a folder,
    a function returning the wrong thing), bad bounds (<= 0, nan, inf, text), a bad --seed or an
    unknown flag: exit 2 naming it, before any model is trained."""
    rest, names = data.draw(spoiled(debug_invalid(places), {"--seed": st.just("1"), "--bound32": st.just("1e-3")}))
    argv = ["debug", *rest]
    code, out, err = run_cli(argv, capsys)
    assert_clear_error(argv, code, err, names + ["MODULE:FUNCTION"])


@fuzz_settings
@given(data=st.data())
def test_show(data, places, capsys):
    """sh: --lmax text/negative/> 12; cg: l text/negative/> 12/not coupling; FILE "", blank, in
    /proc, under a file, unknown extension. Valid small draws write into a temporary folder."""
    a_file = str(places["file"])
    good_file = str(places["folder"] / "show.png")
    files = st.sampled_from(["", " ", "/proc/x/a.png", a_file + "/a.png", str(places["folder"] / "a.xyz"), good_file])
    small = st.sampled_from(["0", "1", "2"])
    what = data.draw(st.sampled_from(["sh", "cg"]), label="what")
    file = data.draw(files, label="file")
    if what == "sh":
        lmax = data.draw(st.one_of(NOT_INTEGERS, NEGATIVE, HUGE, st.sampled_from(["0", "1"])), label="lmax")
        argv, names = ["show", "sh", "--lmax", lmax, file], ["--lmax", "lmax", lmax]
    else:
        ls = data.draw(st.lists(st.one_of(small, NOT_INTEGERS, NEGATIVE, HUGE), min_size=3, max_size=3), label="ls")
        argv, names = ["show", "cg", *ls, file], ["l1", "l2", "l3", "cannot make", *ls]
    if data.draw(st.booleans(), label="drop the file"):
        argv, names = argv[:-1], names + ["file"]
    code, out, err = run_cli(argv, capsys)
    if code != 0:
        assert_clear_error(argv, code, err, names + ["FILE", file, "file"])
    else:
        assert argv[-1] == good_file and os.path.isfile(good_file), f"e3gen {argv} succeeded"


@fuzz_settings
@given(extra=st.lists(st.one_of(UNKNOWN_FLAGS, WORDS), min_size=1, max_size=2))
def test_doctor(extra, capsys):
    """doctor takes no arguments: any given are refused with exit 2 (a plain `e3gen doctor` is
    tested in tests/test_compat_switch.py and takes seconds, so it is not drawn here)."""
    argv = ["doctor", *extra]
    code, out, err = run_cli(argv, capsys)
    assert_clear_error(argv, code, err, extra)


@pytest.mark.parametrize("index", range(13))
def test_debug_each_bad_model(index, places, capsys, no_long_work):
    """Every listed bad --model, not only those 20 draws happen to reach: exit 2 naming it."""
    model = bad_models(places)[index]
    argv = ["debug", "--model", model]
    code, out, err = run_cli(argv, capsys)
    assert_clear_error(argv, code, err, ["--model", model, "MODULE:FUNCTION"])
