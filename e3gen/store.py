"""Where builds live on disk and how they are trusted.

A build for lmax L is a folder `lmax<L>/` (a Python package) holding the generated modules and a
`manifest.json` that records the e3gen version, the sympy version, the options, the hashes of the
IR, of the templates and of the compiler's own source, one sha256 per file, and the certificate.

* `install_build` writes atomically: files go to a temporary sibling folder which is renamed into
  place under an exclusive lock, so an interrupted build leaves the previous one intact and two
  concurrent builds cannot interleave their files.
* `verify_build` is what the runtime calls before importing anything: it recomputes every file
  hash and compares the recorded compiler and template hashes with the running e3gen, so edited,
  corrupt or stale builds are refused with the command that rebuilds them.
* Builds are searched for in the build folder the user points at (`$E3GEN_BUILD_DIR`, or
  `e3gen.runtime.loader.use_build_dir`), then in the shipped package (`e3gen.generated`), then in
  the user cache: `$E3GEN_CACHE_DIR`, else `$XDG_CACHE_HOME/e3gen`, else `~/.cache/e3gen`, in a
  folder per e3gen version and compiler (`<version>/<key>`, the key a hash of the compiler and
  template sources), so that two checkouts of one version that differ keep a build each.
* Code is imported from the cache only if the cache is private (`require_private_folder`): owned by
  the current user and not writable by group or others, as ssh asks of its keys. A folder that
  others can write to lets them plant a build whose manifest matches.

This module never imports sympy or torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import stat
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import e3gen

MANIFEST = "manifest.json"
FORMAT = 1
# Beyond this the exact derivation takes minutes and e3nn stops too (its harmonics end at 11).
MAX_LMAX = 12
# A staging folder lives only while one build writes its files (seconds); one older than this, or
# whose process on this host is gone, was left by a killed build.
STALE_STAGING_SECONDS = 15 * 60
# Sources whose change can change what a build contains; a build made by other sources is stale.
COMPILER_SOURCES = ("symbolic", "ir", "codegen", "build.py", "store.py")


class BuildError(RuntimeError):
    """A build is missing, corrupt, edited or stale; the message names the command that fixes it."""


def build_dirname(lmax: int) -> str:
    return f"lmax{lmax}"


def shipped_root() -> Path:
    """The folder of the `e3gen.generated` package (the repository's `generated/` in a checkout)."""
    import e3gen.generated

    return Path(next(iter(e3gen.generated.__path__)))


def cache_base() -> Path:
    """The user cache folder: `$E3GEN_CACHE_DIR`, else `$XDG_CACHE_HOME/e3gen`, else `~/.cache/e3gen`."""
    if os.environ.get("E3GEN_CACHE_DIR"):
        return Path(os.environ["E3GEN_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "e3gen"


def cache_setting() -> str:
    """How the user chose the cache folder, for error messages (names the variable to change)."""
    if os.environ.get("E3GEN_CACHE_DIR"):
        return f"E3GEN_CACHE_DIR={os.environ['E3GEN_CACHE_DIR']}"
    if os.environ.get("XDG_CACHE_HOME"):
        return f"XDG_CACHE_HOME={os.environ['XDG_CACHE_HOME']} (set E3GEN_CACHE_DIR to choose another folder)"
    return f"the default {cache_base()} (set E3GEN_CACHE_DIR to choose another folder)"


def compiler_key() -> str:
    """Short hash of what makes two e3gen installs of one version build differently."""
    from e3gen.codegen.render import template_sha256

    return sha256_bytes(f"{compiler_sha256()}\0{template_sha256()}".encode())[:16]


def cache_root() -> Path:
    """The user cache for builds made on demand: one subfolder per e3gen version and compiler key."""
    return cache_base() / e3gen.__version__ / compiler_key()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compiler_sha256() -> str:
    """Hash of the compiler's source files (line endings normalised), in a fixed order."""
    package = Path(e3gen.__file__).parent
    digest = hashlib.sha256()
    for name in COMPILER_SOURCES:
        path = package / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for source in files:
            digest.update(source.relative_to(package).as_posix().encode() + b"\0")
            digest.update(source.read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def make_manifest(lmax: int, files: Dict[str, bytes], *, ir_sha256: str, template_sha256: str,
                  sympy_version: str, certificate: dict, summary: dict) -> bytes:
    manifest = {
        "format": FORMAT,
        "e3gen_version": e3gen.__version__,
        "sympy_version": sympy_version,
        "options": {"lmax": lmax},
        "ir_sha256": ir_sha256,
        "template_sha256": template_sha256,
        "compiler_sha256": compiler_sha256(),
        "certificate": certificate,
        "summary": summary,
        "files": {name: sha256_bytes(data) for name, data in sorted(files.items())},
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


@contextlib.contextmanager
def locked(folder: Path, exclusive: bool) -> Iterator[None]:
    """An advisory lock on `folder/.e3gen.lock` (POSIX flock; a no-op where flock is missing)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    try:
        handle = open(folder / ".e3gen.lock", "a+")
    except OSError:
        if exclusive:
            raise
        yield  # a read-only install: nobody can be writing there
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_build(root: Path, lmax: int, files: Dict[str, bytes]) -> Path:
    """Write `files` as `root/lmax<L>/` atomically, replacing any previous build there.

    Staging folders left by killed builds (any lmax) are removed first, see `remove_stale_staging`.
    Folders and files are never writable by group or others (whatever the umask), so that the
    cache stays private (`require_private_folder`).
    """
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(root)
    target = root / build_dirname(lmax)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-{_owner_tag()}-", dir=root))
    try:
        os.chmod(staging, 0o755 & ~_umask())  # mkdtemp makes it private; a build is readable
        for name, data in files.items():
            with open(staging / name, "wb") as handle:
                os.chmod(handle.fileno(), 0o644 & ~_umask())
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        with locked(root, exclusive=True):
            retired = None
            if target.exists():
                retired = root / f".{target.name}.old-{uuid.uuid4().hex}"
                os.rename(target, retired)
            os.rename(staging, target)
        if retired is not None:
            shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"


def _owner_tag() -> str:
    """`<host>_<pid>`: who is writing a staging folder, so that others can tell when it is abandoned."""
    return f"{_host()}_{os.getpid()}"


def _staging_is_stale(folder: Path, now: float) -> bool:
    try:
        age = now - folder.lstat().st_mtime
    except FileNotFoundError:
        return False
    if age > STALE_STAGING_SECONDS:
        return True
    # `.lmax3.partial-<host>_<pid>-<random>`; older builds named them `.lmax3.partial-<random>`.
    owner = folder.name.split(".partial-", 1)[1].rsplit("-", 1)[0] if ".partial-" in folder.name else ""
    host, _, pid = owner.rpartition("_")
    if host != _host() or not pid.isdigit() or os.name == "nt":
        # Another machine's build (a shared folder): only its age tells. (On Windows os.kill(pid, 0)
        # would terminate the process, not probe it.)
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def remove_stale_staging(root: Path) -> List[Path]:
    """Clean up after killed builds in `root`: remove `.lmax<L>.partial-*` staging folders whose
    process is gone (or older than any build's install step) and `.lmax<L>.old-*` retired builds,
    except that a retired build whose `lmax<L>` is missing (a build killed between its two renames)
    is renamed back into place. Returns the folders removed."""
    removed = []
    now = time.time()
    with locked(Path(root), exclusive=True):  # install_build renames under this lock: no live gap is seen
        for folder in sorted(Path(root).glob(".lmax*")):
            if ".old-" in folder.name:
                target = Path(root) / folder.name[1:].split(".old-", 1)[0]
                if not target.exists():
                    os.rename(folder, target)
                    continue
            elif ".partial-" not in folder.name or not _staging_is_stale(folder, now):
                continue
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


class UntrustedFolderError(BuildError):
    """A folder code would be imported from (or built into) that other users can write to."""


def require_private_folder(folder: Path, top: Path, setting: str) -> None:
    """Refuse `folder` unless it and every folder between it and `top` (inclusive) are owned by the
    current user and not writable by group or others, and every folder above `top` is owned by the
    user or root and, if others can write to it, sticky (like /tmp). `setting` names how the user
    chose the folder (for the fix). A no-op where POSIX ownership does not exist (Windows).
    """
    if not hasattr(os, "getuid"):  # pragma: no cover - Windows
        return
    uid = os.getuid()
    folder, top = Path(folder).absolute(), Path(top).absolute()
    chain = [folder, *folder.parents]
    for path in chain:
        try:
            info = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue  # not made yet (or under a file, which creating it reports)
        mine = path == top or top in path.parents
        mode = stat.S_IMODE(info.st_mode)
        if mine and info.st_uid != uid:
            problem = f"it is owned by uid {info.st_uid}, not by you (uid {uid})"
            fix = f"use a folder of your own ({setting})"
        elif mine and mode & 0o022:
            problem = f"it is writable by {'group and others' if mode & 0o022 == 0o022 else 'group' if mode & 0o020 else 'others'} (mode {mode:o})"
            fix = f"chmod go-w {path}"
        elif not mine and info.st_uid not in (uid, 0):
            problem = f"a folder above it is owned by uid {info.st_uid}, neither you nor root"
            fix = f"use a folder of your own ({setting})"
        elif not mine and mode & 0o022 and not mode & stat.S_ISVTX:
            problem = f"a folder above it is writable by others (mode {mode:o}) and not sticky"
            fix = f"chmod go-w {path}, or use another folder ({setting})"
        else:
            continue
        raise UntrustedFolderError(
            f"refusing to use the e3gen build folder {path}: {problem}, so another user could plant code "
            f"that e3gen would import. Fix: {fix}"
        )


def require_private_build(path: Path, top: Path, setting: str) -> None:
    """`require_private_folder` for a build folder, and the same for every file in it: a file others
    can write to could be rewritten together with the manifest."""
    require_private_folder(path, top, setting)
    if not hasattr(os, "getuid") or not Path(path).is_dir():  # pragma: no cover - Windows
        return
    for file in sorted(Path(path).iterdir()):
        info = file.lstat()
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.getuid() or mode & 0o022:
            raise UntrustedFolderError(
                f"refusing to use the e3gen build file {file}: owned by uid {info.st_uid} with mode {mode:o}, "
                f"so another user could rewrite it. Fix: chmod go-w {file} (and own it), or rebuild "
                f"into a folder of your own ({setting})"
            )


def read_verified(path: Path, name: str, expected_sha256: str) -> bytes:
    """The bytes of `path/name`, read once and checked against the manifest's sha256.

    The runtime compiles exactly these bytes, so what runs is what was verified (never bytecode
    from `__pycache__`, whose validity Python judges by the source's size and mtime only).
    """
    data = (Path(path) / name).read_bytes()
    if sha256_bytes(data) != expected_sha256:
        raise BuildError(
            f"refusing to load the e3gen build at {path}: {name} changed after it was verified "
            f"(sha256 differs from {MANIFEST}). Rebuild it with: {rebuild_command(Path(path), _lmax_of(Path(path)))}"
        )
    return data


@dataclass
class BuildStatus:
    path: Path
    lmax: int
    problems: List[str] = field(default_factory=list)
    manifest: Optional[dict] = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def only_stale(self) -> bool:
        """Intact, but made by another e3gen or other templates: safe to rebuild in place."""
        return bool(self.problems) and all(p.startswith("stale:") for p in self.problems)

    def describe(self) -> str:
        return "ok" if self.ok else "; ".join(self.problems)


def rebuild_command(path: Path, lmax: int) -> str:
    root = path.parent
    if root.resolve() == shipped_root().resolve():
        return f"e3gen build --lmax {lmax} --force"
    return f"e3gen build --lmax {lmax} --out {root} --force"


def verify_build(path: Path) -> BuildStatus:
    """Check a build folder against its manifest and against the running e3gen."""
    path = Path(path)
    lmax = _lmax_of(path)
    status = BuildStatus(path, lmax)
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        status.problems.append(f"no {MANIFEST} in {path}")
        return status
    try:
        manifest = json.loads(manifest_path.read_text())
        recorded = manifest["files"]
    except (ValueError, KeyError, TypeError) as error:
        status.problems.append(f"{manifest_path} is unreadable ({error})")
        return status
    status.manifest = manifest
    if manifest.get("format") != FORMAT or manifest.get("options", {}).get("lmax") != lmax:
        status.problems.append(f"{MANIFEST} does not describe an lmax={lmax} build of this format")
    for name, expected in sorted(recorded.items()):
        file = path / name
        if not file.is_file():
            status.problems.append(f"{name} is missing")
        elif sha256_bytes(file.read_bytes()) != expected:
            status.problems.append(f"{name} was edited or is corrupt (sha256 differs from {MANIFEST})")
    extra = sorted(p.name for p in path.glob("*.py") if p.name not in recorded)
    if extra:
        status.problems.append(f"unexpected files {extra}")
    if manifest.get("e3gen_version") != e3gen.__version__:
        status.problems.append(f"stale: built by e3gen {manifest.get('e3gen_version')}, running {e3gen.__version__}")
    elif manifest.get("compiler_sha256") != compiler_sha256():
        status.problems.append("stale: built by a different version of e3gen's compiler sources")
    else:
        from e3gen.codegen.render import template_sha256

        if manifest.get("template_sha256") != template_sha256():
            status.problems.append("stale: built from different templates")
    if not manifest.get("certificate", {}).get("passed"):
        status.problems.append("its exact certificate did not pass")
    return status


def require_valid(path: Path) -> BuildStatus:
    status = verify_build(path)
    if not status.ok:
        raise BuildError(
            f"refusing to load the e3gen build at {path}: {status.describe()}. "
            f"Rebuild it with: {rebuild_command(path, status.lmax)}"
        )
    return status


def _lmax_of(path: Path) -> int:
    name = Path(path).name
    if not (name.startswith("lmax") and name[4:].isdigit()):
        raise BuildError(f"{path} is not a build folder (expected a name like lmax3)")
    return int(name[4:])


def list_builds(root: Path) -> List[Path]:
    """Build folders under root, by increasing lmax."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("lmax") and p.name[4:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[4:]))
