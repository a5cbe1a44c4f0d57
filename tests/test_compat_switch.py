"""The e3nn switch: `E3GEN_AS_E3NN=1` (start-up hook) and `e3gen.compat.install()` make `import e3nn`
resolve to e3gen's e3nn 0.6.0 namespace, whether or not a real e3nn is installed, and always win.

Each check that starts Python runs in a fresh interpreter (the switch acts on the import system
of one process), from a temporary folder so that no checkout on the path can shadow a package.
"""

import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

import e3gen
import e3gen.compat

REPO = Path(__file__).resolve().parents[1]
HOOK = "e3gen_as_e3nn.pth"


def run_python(code: str, tmp_path, switch: bool, extra_env=None, flags=()) -> str:
    env = {k: v for k, v in os.environ.items() if k != "E3GEN_AS_E3NN"}
    if switch:
        env["E3GEN_AS_E3NN"] = "1"
    env.update(extra_env or {})
    result = subprocess.run([sys.executable, *flags, "-c", textwrap.dedent(code)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def test_environment_variable_switches_every_e3nn_import_to_e3gen(tmp_path):
    """With E3GEN_AS_E3NN=1 the hook installed with e3gen makes the first `import e3nn` e3gen's,
    even though the test environment has the real e3nn 0.6.0 installed (the oracle extra)."""
    out = run_python(
        """
        import e3nn, e3nn.o3, e3nn.nn, e3nn.util.jit, e3gen.o3, e3gen.nn
        assert e3nn.__version__ == "0.6.0+e3gen." + __import__("e3gen").__version__, e3nn.__version__
        assert e3nn.o3.TensorProduct is e3gen.o3.TensorProduct
        assert e3nn.nn.Gate is e3gen.nn.Gate
        from e3nn.o3._tensor_product._tensor_product import TensorProduct
        assert TensorProduct is e3gen.o3.TensorProduct
        print("switched", e3nn.__file__)
        """,
        tmp_path, switch=True,
    )
    assert "switched" in out and os.path.join("e3gen", "compat", "e3nn") in out


def test_without_the_variable_the_hook_does_nothing(tmp_path):
    """Unset, the hook reads one environment variable: e3gen is not even imported at start-up."""
    out = run_python("import sys; print('e3gen' in sys.modules, 'torch' in sys.modules)", tmp_path, switch=False)
    assert out.split() == ["False", "False"]
    pytest.importorskip("e3nn", reason="the oracle extra installs the real e3nn")
    out = run_python("import e3nn; print(e3nn.__version__, getattr(e3nn, '__e3gen__', False))", tmp_path, switch=False)
    assert out.split() == ["0.6.0", "False"]


def test_the_switch_is_off_for_zero_and_empty_values():
    for value, expected in (("1", True), ("yes", True), ("0", False), ("", False), ("false", False), ("off", False)):
        assert e3gen.compat.requested({"E3GEN_AS_E3NN": value}) is expected, value
    assert e3gen.compat.requested({}) is False


def test_install_from_python_before_the_first_import(tmp_path):
    out = run_python(
        """
        import e3gen.compat
        e3gen.compat.install(); e3gen.compat.install()  # idempotent
        import e3nn.o3
        print(e3nn.__version__, e3gen.compat.is_active())
        """,
        tmp_path, switch=False,
    )
    assert out.split()[0].startswith("0.6.0+e3gen.") and out.split()[1] == "True"


def test_install_after_the_real_e3nn_was_imported_is_a_clear_error(tmp_path):
    pytest.importorskip("e3nn", reason="needs the real e3nn (oracle extra) to import first")
    out = run_python(
        """
        import e3nn, e3gen.compat
        try:
            e3gen.compat.install()
        except ImportError as error:
            print(type(error).__name__, error)
        """,
        tmp_path, switch=False,
    )
    assert out.startswith("AlreadyImportedError") and "call install() before anything imports e3nn" in out


def test_the_compat_tree_refuses_to_load_under_its_file_path_name(tmp_path):
    """Imported as e3gen.compat.e3nn it would define a second copy of every adapter: refused."""
    out = run_python(
        """
        try:
            import e3gen.compat.e3nn
        except ImportError as error:
            print("refused:", error)
        """,
        tmp_path, switch=False,
    )
    assert out.startswith("refused:") and "E3GEN_AS_E3NN=1" in out


def test_the_switch_reaches_subprocesses_and_console_scripts(tmp_path):
    """A child interpreter inherits the environment, so it switches too (DataLoader workers with
    spawn, console scripts such as mace_run_train)."""
    out = run_python(
        """
        import subprocess, sys
        child = subprocess.run([sys.executable, "-c", "import e3nn; print(e3nn.__version__)"], capture_output=True, text=True)
        print(child.stdout.strip())
        """,
        tmp_path, switch=True,
    )
    assert out.strip().startswith("0.6.0+e3gen.")


def _installed_hook_runs(site_dir: Path, tmp_path) -> str:
    """Process site_dir's .pth files as Python's start-up does for site-packages, then import e3nn.

    `python -S` keeps this environment's own site-packages (and its e3gen) off the path, so e3gen and
    the hook can only come from site_dir; `import e3nn` needs nothing else (it loads torch lazily)."""
    code = f"import site; site.addsitedir({str(site_dir)!r}); import e3nn; print(e3nn.__version__, e3nn.__file__)"
    return run_python(code, tmp_path, switch=True, flags=("-S",))


def test_a_regular_install_carries_the_startup_hook(tmp_path):
    """`pip install .`: the wheel has the hook at its top level (what pip puts in site-packages)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
                   check=True)
    (wheel,) = tmp_path.glob("e3gen-*.whl")
    assert HOOK in zipfile.ZipFile(wheel).namelist()
    site_dir = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site_dir), str(wheel)], check=True)
    assert (site_dir / HOOK).read_text() == (REPO / HOOK).read_text()
    version, path = _installed_hook_runs(site_dir, tmp_path).split()
    assert version.startswith("0.6.0+e3gen.") and str(site_dir) in path


def test_an_editable_install_carries_the_startup_hook(tmp_path):
    """`pip install -e .` (PEP 660): the editable wheel has the hook beside setuptools' path finder."""
    code = f"import setuptools.build_meta as b; print(b.build_editable({str(tmp_path)!r}))"
    name = subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, capture_output=True, text=True).stdout.split()[-1]
    wheel = tmp_path / name
    assert HOOK in zipfile.ZipFile(wheel).namelist()
    site_dir = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site_dir), str(wheel)], check=True)
    version, path = _installed_hook_runs(site_dir, tmp_path).split()
    assert version.startswith("0.6.0+e3gen.") and path == str(REPO / "e3gen" / "compat" / "e3nn" / "__init__.py")


def test_doctor_reports_the_switch_and_what_a_fresh_interpreter_imports(tmp_path):
    out = run_python("import e3gen.cli; e3gen.cli.main(['doctor'])", tmp_path, switch=True)
    lines = out.splitlines()
    assert lines[0] == "E3GEN_AS_E3NN: on (E3GEN_AS_E3NN='1')"
    assert lines[1].startswith("start-up hook: ") and lines[1].endswith(HOOK)
    assert "imports now: e3nn 0.6.0+e3gen." in lines[3] and lines[3].endswith("(e3gen)")


def test_uninstall_undoes_install_for_later_imports(monkeypatch):
    """install() puts one finder first on sys.meta_path (twice is once); uninstall() removes it, so a
    later `import e3nn` is the real one again. Planted bug this pins: an uninstall() that does nothing
    (every other compat test passed with it)."""
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    for name in [n for n in sys.modules if n == "e3nn" or n.startswith("e3nn.")]:
        monkeypatch.delitem(sys.modules, name)
    ours = lambda: [f for f in sys.meta_path if isinstance(f, e3gen.compat.E3nnFinder)]  # noqa: E731
    e3gen.compat.uninstall()
    assert not ours() and not e3gen.compat.is_active()
    e3gen.compat.install()
    e3gen.compat.install()
    assert len(ours()) == 1 and sys.meta_path[0] is ours()[0] and e3gen.compat.is_active()
    e3gen.compat.uninstall()
    assert not ours() and not e3gen.compat.is_active()


def test_is_active_follows_the_e3nn_that_was_imported(monkeypatch):
    """With an e3nn imported, is_active() says whose it is, whatever the finders: a real e3nn in
    sys.modules is not e3gen's even with the switch installed. Planted bug this pins: is_active()
    returning True for any imported e3nn."""
    import types

    monkeypatch.setattr(sys, "meta_path", [e3gen.compat.E3nnFinder(), *sys.meta_path])
    monkeypatch.setitem(sys.modules, "e3nn", types.ModuleType("e3nn"))
    assert not e3gen.compat.is_active()
    ours = types.ModuleType("e3nn")
    ours.__e3gen__ = True
    monkeypatch.setitem(sys.modules, "e3nn", ours)
    assert e3gen.compat.is_active()


def test_mirror_takes_names_from_the_first_source_that_has_them(monkeypatch):
    """mirror(namespace, a, b): a's public names, then b's that a lacks; other names on access.
    Planted bug this pins: later sources overwriting earlier ones."""
    import types

    from e3gen.compat._mirror import mirror

    first, second = types.ModuleType("e3gen_mirror_first"), types.ModuleType("e3gen_mirror_second")
    first.__all__, first.shared, first.only_first = ["shared", "only_first"], "first", 1
    second.__all__, second.shared, second.only_second, second._private = ["shared", "only_second"], "second", 2, 3
    monkeypatch.setitem(sys.modules, first.__name__, first)
    monkeypatch.setitem(sys.modules, second.__name__, second)
    namespace = {"__name__": "e3nn.probe"}
    mirror(namespace, first.__name__, second.__name__)
    assert (namespace["shared"], namespace["only_first"], namespace["only_second"]) == ("first", 1, 2)
    assert namespace["__all__"] == ["shared", "only_first", "only_second"]
    assert namespace["__getattr__"]("_private") == 3  # not exported, found on access
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        namespace["__getattr__"]("missing")


def test_mirror_skips_a_missing_source_but_not_a_broken_one(monkeypatch, tmp_path):
    """A source module that does not exist (yet) is skipped; one that exists but fails to import
    (a missing dependency of its own) raises, never silently drops its names. Planted bug this
    pins: every ModuleNotFoundError swallowed."""
    from e3gen.compat._mirror import _load

    (tmp_path / "e3gen_mirror_broken.py").write_text("import e3gen_mirror_dependency_not_there\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert _load("e3gen_mirror_not_there") is None and _load("e3gen_mirror_not_there.sub") is None
    with pytest.raises(ModuleNotFoundError, match="e3gen_mirror_dependency_not_there"):
        _load("e3gen_mirror_broken")


def test_doctor_exits_nonzero_without_the_startup_hook(monkeypatch, capsys):
    """`e3gen doctor` is a check: its exit status says whether the switch can work (the hook is
    installed). Planted bug this pins: doctor exiting 0 without the hook."""
    from e3gen.compat import doctor

    monkeypatch.setattr(doctor, "probe", lambda switch: "e3nn (probe skipped)")
    monkeypatch.setattr(doctor, "hook_path", lambda: None)
    assert doctor.main() == 1 and "NOT INSTALLED" in capsys.readouterr().out
    monkeypatch.setattr(doctor, "hook_path", lambda: "/site-packages/e3gen_as_e3nn.pth")
    assert doctor.main() == 0 and "/site-packages/e3gen_as_e3nn.pth" in capsys.readouterr().out
