"""Builds that are tampered with, misplaced, shared or half-written, and the CLI's answers (issue 9).

Each test states the fault a user meets and what e3gen must do: run only bytes that were verified,
refuse (with the folder, the cause and the fix) rather than fall back silently, never write where
the user did not ask, and clean up after killed builds.
"""

import importlib.util
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import e3gen
from e3gen import build as build_module
from e3gen import store
from e3gen.cli import main as cli_main
from e3gen.runtime import loader
from e3gen.store import BuildError

SHIPPED = store.shipped_root() / "lmax3"
REPO = Path(__file__).resolve().parents[1]
# coupling_0_1_1's only coefficient, sqrt(3)/3, and a same-length forgery of it.
EXACT, FORGED = "0.5773502691896257", "0.9773502691896257"


def _copy_shipped(root: Path) -> Path:
    target = root / "lmax3"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _forge_pyc(build: Path, module: str = "coupling") -> None:
    """A `__pycache__` entry for build/module.py that Python accepts (same source size and mtime)
    but that was compiled from forged source."""
    source = build / f"{module}.py"
    forged = build.parent / f"forged_{module}.py"
    forged.write_bytes(source.read_bytes().replace(EXACT.encode(), FORGED.encode()))
    stat = source.stat()
    os.utime(forged, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert forged.stat().st_size == stat.st_size
    pyc = Path(importlib.util.cache_from_source(str(source)))
    py_compile.compile(str(forged), cfile=str(pyc), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.TIMESTAMP)
    forged.unlink()


def _run(code: str, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env={**os.environ, **(env or {})}, capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


# --- what runs is what was verified ------------------------------------------------------------------


def test_a_forged_pyc_beside_a_verified_build_is_never_executed(tmp_path):
    """Python trusts __pycache__ on the source's size and mtime: the loader must compile the bytes it hashed."""
    target = _copy_shipped(tmp_path)
    _forge_pyc(target)
    kernel = loader.import_build(target).coupling_kernel(0, 1, 1)
    x, y = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    assert torch.equal(kernel(x, y), torch.full((1, 3), float(EXACT), dtype=torch.float64))


def test_a_build_where_no_lock_file_can_be_made_loads_but_is_never_written(tmp_path, monkeypatch):
    """A read-only install (a system site-packages, a read-only image) cannot hold `.e3gen.lock`:
    readers then load without a lock (nobody can be writing there), writers refuse. Simulated by
    refusing to open the lock file, since this suite may run as root, which a chmod does not stop."""
    target = _copy_shipped(tmp_path)

    def open_without_lock_file(file, *args, **kwargs):
        if Path(file).name == ".e3gen.lock":
            raise PermissionError(13, "Read-only file system", str(file))
        return open(file, *args, **kwargs)

    monkeypatch.setattr(store, "open", open_without_lock_file, raising=False)
    kernel = loader.import_build(target).coupling_kernel(0, 1, 1)
    x, y = torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    assert torch.equal(kernel(x, y), torch.full((1, 3), float(EXACT), dtype=torch.float64))
    with pytest.raises(PermissionError, match="Read-only file system"):
        store.install_build(tmp_path, 3, {"manifest.json": b"{}"})


def test_the_package_import_of_the_shipped_build_ignores_a_forged_pyc(tmp_path):
    """`from e3gen.generated.lmax3 import coupling` (the documented import) runs the verified source too."""
    generated = tmp_path / "generated"
    target = _copy_shipped(generated)
    _forge_pyc(target)
    code = (
        "from pathlib import Path; import torch\n"
        "from e3gen import store; import e3gen.generated\n"
        f"store.shipped_root = lambda: Path({str(generated)!r})\n"
        f"e3gen.generated.__path__[:] = [{str(generated)!r}]  # as if installed there\n"
        "from e3gen.generated.lmax3 import coupling\n"
        "print(coupling.coupling_0_1_1(torch.ones(1, 1, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64))[0, 0].item())\n"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == EXACT


def test_the_package_import_refuses_an_edited_build(tmp_path):
    target = _copy_shipped(tmp_path / "builds")
    (target / "coupling.py").write_text((target / "coupling.py").read_text().replace(EXACT, FORGED, 1))
    result = _run("from e3gen.generated.lmax3 import coupling", env={"E3GEN_BUILD_DIR": str(target.parent)})
    assert result.returncode != 0
    assert "BuildError" in result.stderr and "coupling.py was edited" in result.stderr and "--force" in result.stderr


def test_the_package_import_exposes_only_verified_modules():
    import e3gen.generated.lmax3 as package

    assert package.__path__ == []  # nothing else in the folder (a planted foo.py) is importable
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("e3gen.generated.lmax3.not_a_build_module")
    from e3gen.generated.lmax3 import coupling, tables

    # the same verified module the loader uses (its accessor wraps the kernel with a size check)
    assert coupling.KERNELS[(1, 1, 2)] is loader.load_kernels(3).coupling_kernel(1, 1, 2).__wrapped__
    assert tables.CLEBSCH_GORDAN[(0, 0, 0)] == ((0, 0, 0, 1.0),)


def test_modules_compile_lazily_only_when_used(tmp_path):
    """An lmax-L build costs only what a model uses: the harmonics never compile the coupling kernels."""
    build = loader.import_build(_copy_shipped(tmp_path))
    build.spherical_harmonics_step(2)
    assert "coupling" not in vars(build.package) and "tables" not in vars(build.package)
    build.coupling_kernel(1, 1, 2)
    assert "coupling" in vars(build.package)


# --- a shipped build that fails verification is an error -------------------------------------------


def _shipped_without_manifest(tmp_path, monkeypatch) -> Path:
    generated = tmp_path / "generated"
    (_copy_shipped(generated) / "manifest.json").unlink()
    monkeypatch.setattr(store, "shipped_root", lambda: generated)
    return generated


def test_a_shipped_build_without_its_manifest_is_refused_not_replaced_by_a_cache_build(
        tmp_path, monkeypatch, fresh_cache):
    _shipped_without_manifest(tmp_path, monkeypatch)
    monkeypatch.setattr(build_module, "build", _no_build)
    with pytest.raises(BuildError, match=r"no manifest.json in .*lmax3.*e3gen build --lmax 3 --force"):
        loader.load_kernels(2)


def test_demo_exits_nonzero_when_the_shipped_build_fails_verification(tmp_path, monkeypatch, fresh_cache, capsys):
    _shipped_without_manifest(tmp_path, monkeypatch)
    monkeypatch.setattr(build_module, "build", _no_build)
    assert cli_main(["demo"]) != 0
    captured = capsys.readouterr()
    assert "verified  FAILED" in captured.out and "no manifest.json" in captured.err


def _no_build(*args, **kwargs):
    raise AssertionError("a build was started")


# --- limits are checked before any build, and one build covers a request ---------------------------


@pytest.mark.parametrize("request_", ["wigner_D(13)", "D_from_matrix('14e')", "wigner_3j(13, 13, 0)", "so3_generators(13)"])
def test_an_l_beyond_the_limit_fails_before_building_anything(request_, fresh_cache, monkeypatch):
    from e3gen import o3

    monkeypatch.setattr(build_module, "build", _no_build)
    calls = {
        "wigner_D(13)": lambda: o3.wigner_D(13, torch.tensor(0.1), torch.tensor(0.2), torch.tensor(0.3)),
        "D_from_matrix('14e')": lambda: o3.Irreps("14e").D_from_matrix(o3.rand_matrix()),
        "wigner_3j(13, 13, 0)": lambda: o3.wigner_3j(13, 13, 0),
        "so3_generators(13)": lambda: o3.so3_generators(13),
    }
    with pytest.raises(ValueError, match=r"beyond what e3gen builds \(lmax <= 12\)"):
        calls[request_]()


def test_wigner_D_of_an_uncached_l_makes_one_build(fresh_cache, monkeypatch):
    from e3gen import o3
    from e3gen.o3 import _wigner

    _wigner._wigner_3j_float64.cache_clear()  # values cached by earlier tests would hide the builds
    built = []
    real_build = build_module.build
    monkeypatch.setattr(build_module, "build", lambda lmax, *a, **k: built.append(lmax) or real_build(lmax, *a, **k))
    D = o3.wigner_D(5, torch.tensor(0.1), torch.tensor(0.2), torch.tensor(0.3))
    _wigner._wigner_3j_float64.cache_clear()  # drop values from this private cache
    assert built == [5]
    assert torch.allclose(D @ D.transpose(-1, -2), torch.eye(11), atol=1e-6)


# --- pointing the runtime at a build folder ------------------------------------------------------------


def test_a_build_made_with_out_is_used_through_E3GEN_BUILD_DIR(tmp_path, fresh_cache, monkeypatch, capfd):
    assert cli_main(["build", "--lmax", "4", "--out", str(tmp_path / "mine")]) == 0
    monkeypatch.setenv("E3GEN_BUILD_DIR", str(tmp_path / "mine"))
    loader.clear_loaded()
    monkeypatch.setattr(build_module, "build", _no_build)
    assert loader.load_kernels(4).path == tmp_path / "mine" / "lmax4"
    assert loader.load_kernels(2).path == tmp_path / "mine" / "lmax4"  # the folder pointed at comes first
    import e3gen.generated.lmax4 as package

    assert package.LMAX == 4 and Path(package.__file__).parent == tmp_path / "mine" / "lmax4"
    assert not fresh_cache.exists(), "nothing is built into the cache"


def test_use_build_dir_points_the_runtime_at_a_folder_and_back(tmp_path, fresh_cache, monkeypatch):
    monkeypatch.delenv("E3GEN_BUILD_DIR", raising=False)
    target = _copy_shipped(tmp_path / "mine")
    try:
        loader.use_build_dir(target.parent)
        assert loader.load_kernels(3).path == target
        loader.use_build_dir(None)
        assert loader.load_kernels(3).path == SHIPPED
    finally:
        loader.use_build_dir(None)


def test_a_build_dir_that_is_not_a_folder_is_an_error(tmp_path, fresh_cache, monkeypatch):
    monkeypatch.setenv("E3GEN_BUILD_DIR", str(tmp_path / "missing"))
    with pytest.raises(BuildError, match=r"E3GEN_BUILD_DIR=.*missing is not a folder"):
        loader.load_kernels(2)


def test_a_failing_build_in_the_build_dir_is_refused_not_skipped(tmp_path, fresh_cache, monkeypatch):
    target = _copy_shipped(tmp_path / "mine")
    (target / "tables.py").unlink()
    monkeypatch.setenv("E3GEN_BUILD_DIR", str(target.parent))
    with pytest.raises(BuildError, match="tables.py is missing"):
        loader.load_kernels(3)


# --- a shared cache: two checkouts, other users ---------------------------------------------------


def test_two_checkouts_of_one_version_keep_a_cache_build_each(fresh_cache, monkeypatch, capfd):
    """A checkout whose compiler differs (same version) gets its own cache folder: switching back and
    forth rebuilds nothing."""
    first = loader.load_kernels(4).path
    real = store.compiler_sha256()
    monkeypatch.setattr(store, "compiler_sha256", lambda: "f" * 64)  # the other checkout
    loader.clear_loaded()
    second = loader.load_kernels(4).path
    assert second != first and store.verify_build(second).ok
    monkeypatch.setattr(store, "compiler_sha256", lambda: real)
    loader.clear_loaded()
    capfd.readouterr()
    assert loader.load_kernels(4).path == first
    assert "building" not in capfd.readouterr().err


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
@pytest.mark.parametrize("fault", ["group-writable", "world-writable", "someone else's"])
def test_a_cache_others_can_write_to_is_refused_before_building_or_loading(fault, fresh_cache, monkeypatch):
    fresh_cache.mkdir(mode=0o700)
    if fault == "group-writable":
        fresh_cache.chmod(0o770)
    elif fault == "world-writable":
        fresh_cache.chmod(0o777)
    else:
        if os.getuid() != 0:
            pytest.skip("only root can give a folder to another user")
        os.chown(fresh_cache, 65534, 65534)
    monkeypatch.setattr(build_module, "build", _no_build)
    expected = "chmod go-w" if "writable" in fault else "use a folder of your own .E3GEN_CACHE_DIR="
    with pytest.raises(BuildError, match=rf"{re.escape(str(fresh_cache))}: .*{expected}"):
        loader.load_kernels(4)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_a_planted_cache_build_in_a_writable_folder_is_refused(fresh_cache, monkeypatch):
    """Someone who can write to the cache could plant a build whose manifest matches: a build in a
    folder others can write to is never imported, however well it verifies."""
    root = store.cache_root()
    loader._make_private_folders(root)
    build_module.build(4, root, progress=lambda m: None)
    assert store.verify_build(root / "lmax4").ok
    os.chmod(root, 0o777)
    with pytest.raises(BuildError, match=rf"{re.escape(str(root))}: it is writable by group and others"):
        loader.load_kernels(4)
    os.chmod(root, 0o700)
    (root / "lmax4" / "manifest.json").chmod(0o666)
    with pytest.raises(BuildError, match=r"manifest.json: owned by uid \d+ with mode 666"):
        loader.load_kernels(4)


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX ownership")
def test_cache_builds_stay_private_under_a_group_writable_umask(fresh_cache):
    previous = os.umask(0o002)
    try:
        path = loader.load_kernels(4).path
    finally:
        os.umask(previous)
    for item in [path, *path.iterdir(), *path.parents]:
        if item == fresh_cache.parent:
            break
        assert item.stat().st_mode & 0o022 == 0, f"{item} is writable by group or others"


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX modes")
@pytest.mark.parametrize("umask, folder_mode, file_mode", [(0o022, 0o755, 0o644), (0o002, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_installed_build_is_readable_as_the_umask_allows_and_never_executable_or_group_writable(
    tmp_path, umask, folder_mode, file_mode
):
    """A build is data others may read (the staging folder that mkdtemp makes private is opened to
    0o755 & ~umask), never writable by group or others whatever the umask (require_private_folder
    trusts it), and its files are not executable: folder 0o755 & ~umask, files 0o644 & ~umask."""
    previous = os.umask(umask)
    try:
        path = store.install_build(tmp_path / "builds", 1, {"coupling.py": b"x = 1\n", "manifest.json": b"{}"})
    finally:
        os.umask(previous)
    assert oct(path.stat().st_mode & 0o7777) == oct(folder_mode)
    for file in path.iterdir():
        assert oct(file.stat().st_mode & 0o7777) == oct(file_mode), file.name


# --- killed builds leave no litter --------------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_staging_folders_of_killed_builds_are_removed_by_the_next_build(tmp_path):
    root = tmp_path / "builds"
    root.mkdir()
    host = store._host()
    dead = root / f".lmax2.partial-{host}_{_dead_pid()}-abc123"
    legacy = root / ".lmax5.partial-k3j4h5"  # named before owners were recorded: only its age tells
    retired = root / ".lmax2.old-0123456789abcdef"
    live = root / f".lmax1.partial-{host}_{os.getpid()}-def456"  # a build in progress (this process)
    elsewhere = root / ".lmax1.partial-otherhost_1-aaa"  # another machine's, recent: kept
    for folder in (dead, legacy, retired, live, elsewhere):
        folder.mkdir()
        (folder / "coupling.py").write_text("# half written\n")
    old = time.time() - 2 * store.STALE_STAGING_SECONDS
    os.utime(legacy, (old, old))
    build_module.build(1, root, progress=lambda m: None)
    left = sorted(p.name for p in root.iterdir() if p.name.startswith(".lmax"))
    assert left == sorted([live.name, elsewhere.name])


# --- the command line ------------------------------------------------------------------------------------


def test_build_with_an_empty_out_is_refused_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(store, "shipped_root", lambda: tmp_path / "shipped")  # where `--out ""` used to write
    (tmp_path / "shipped").mkdir()
    assert cli_main(["build", "--lmax", "2", "--out", ""]) == 2
    assert "--out '' is not a folder name" in capsys.readouterr().err
    assert not list((tmp_path / "shipped").iterdir())


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc and /sys")
@pytest.mark.parametrize("out", ["/proc/e3gen-test", "/sys/kernel"])
def test_build_into_an_unwritable_system_folder_fails_before_building(out, monkeypatch, capsys):
    def no_render(*args, **kwargs):
        raise AssertionError("the build ran before the folder was checked")

    monkeypatch.setattr(build_module, "render_build", no_render)
    assert cli_main(["build", "--lmax", "2", "--out", out]) == 2
    err = capsys.readouterr().err
    assert f"cannot write to {out}" in err and "choose a writable folder with --out" in err


def test_a_cache_under_a_file_names_the_variable_not_out(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("E3GEN_CACHE_DIR", str(blocker / "cache"))
    loader.clear_loaded()
    try:
        with pytest.raises(BuildError) as error:
            loader.load_kernels(4)
    finally:
        loader.clear_loaded()
    message = str(error.value)
    assert f"E3GEN_CACHE_DIR={blocker / 'cache'}" in message and "is a file" in message and "--out" not in message


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"e3gen {e3gen.__version__}"


def test_an_up_to_date_build_says_so_once(tmp_path, capfd):
    assert cli_main(["build", "--lmax", "1", "--out", str(tmp_path)]) == 0
    capfd.readouterr()
    assert cli_main(["build", "--lmax", "1", "--out", str(tmp_path)]) == 0
    captured = capfd.readouterr()
    assert (captured.out + captured.err).count("up to date") == 1
    assert captured.out.startswith("up to date: ")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--backends", "foo"], "unknown 'foo'; choose from eager, compiled, native"),
        (["--backends", "eager,fast"], "unknown 'fast'"),
        (["--repeats", "0"], "--repeats must be at least 1"),
        (["--threads", "-2"], "--threads must be at least 1"),
        (["--cases", "x"], "choose one or more of abcdf"),
    ],
)
def test_bench_refuses_bad_options_before_running(argv, message, capsys):
    pytest.importorskip("e3nn")
    from e3gen.bench import main as bench_main

    with pytest.raises(SystemExit) as exit_:
        bench_main(["--cases", "d", "--small", "--repeats", "1", *argv])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_accepts_every_backend_it_documents(monkeypatch):
    """Each backend named in `--backends`' help passes the argument check (the run itself is stubbed)."""
    pytest.importorskip("e3nn")
    from e3gen import bench

    documented = bench.BACKENDS
    assert set(documented) == {"eager", "compiled", "native"}

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(bench, "measure", stop)
    for backend in documented:
        with pytest.raises((Stop, SystemExit)) as raised:
            bench.main(["--cases", "d", "--small", "--repeats", "1", "--backends", backend])
        assert raised.type is Stop or raised.value.code == 0, backend


def test_data_tables_compile_per_block_and_equal_the_whole_module(tmp_path):
    """`tables.py` holds only `NAME = <literal>` blocks and registries of them: each block compiles
    when first read (the harmonics' recursion table without the Clebsch-Gordan table), with the
    same values as executing the whole file; modules with code (coupling.py) are not split."""
    build = loader.import_build(_copy_shipped(tmp_path))
    tables = build.tables
    steps = tables.SPHERICAL_HARMONICS_STEPS
    assert steps[2] and tables.__getattr__.compiled == ["SPHERICAL_HARMONICS_STEPS_2"]
    whole = {}
    exec(compile((SHIPPED / "tables.py").read_text(), "tables.py", "exec"), whole)
    assert steps == whole["SPHERICAL_HARMONICS_STEPS"]
    assert tables.CLEBSCH_GORDAN == whole["CLEBSCH_GORDAN"] and tables.SO3_GENERATORS == whole["SO3_GENERATORS"]
    assert loader._split_data_module((SHIPPED / "coupling.py").read_text())[1] == {}
    assert loader._split_data_module("X = 1\ndef f():\n    return X\n")[1] == {}


def test_info_exits_nonzero_when_the_shipped_build_fails(tmp_path, monkeypatch, fresh_cache, capsys):
    _shipped_without_manifest(tmp_path, monkeypatch)
    assert cli_main(["info"]) == 1
    assert "no manifest.json" in capsys.readouterr().out


def test_install_build_creates_a_root_whose_parents_do_not_exist_yet(tmp_path):
    """`store.install_build` into a fresh cache path (E3GEN_CACHE_DIR=/new/deep/folder, say) makes
    the missing folders, private, and installs the files there."""
    root = tmp_path / "not" / "yet" / "there"
    path = store.install_build(root, 2, {"manifest.json": b"{}", "tables.py": b"X = 1\n"})
    assert path == root / "lmax2" and (path / "tables.py").read_bytes() == b"X = 1\n"
    assert not (root.stat().st_mode & 0o022), oct(root.stat().st_mode)
