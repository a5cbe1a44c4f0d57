"""Compile the native (C++) kernels on first use and keep them in the e3gen cache.

`load_library(lmax)` returns the torch.library namespace of a compiled library holding the
channel-wise kernels of every coupling path with l <= max(lmax, 3) (a build for L serves every
smaller l, so most programs compile once, ever):

* the sources are rendered from the IR by `e3gen.codegen.render_cpp`: a driver unit (the only one
  that includes torch's headers) and a few kernel units, which ninja compiles in parallel; their
  sha256 together with the compiler flags, the CPU they are tuned for (`-march=native`), torch's
  version and the compiler's path names the library, so a change to any of them makes a new
  library instead of loading a stale one (a cache shared between different machines keeps one
  library per CPU);
* they are compiled by `torch.utils.cpp_extension.load` (g++ and ninja) into a temporary sibling
  folder that is renamed into `<cache>/native/<name>/` under the cache lock (atomic: an interrupted
  or concurrent build never leaves a half-written library where one is looked for); a compiler that
  rejects `-march=native` gets a second, portable try without it;
* a manifest records the sha256 of the sources and of the shared object; all are checked before
  the library is loaded, and a library that fails the check is rebuilt, not loaded.

Where no compiler (or ninja) can be found, `NativeUnavailable` says so in one message;
`e3gen.native.backend` turns it into a fallback to the Torch kernels (or an error, when the
native backend was asked for by name).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, Tuple

import torch

import e3gen
from e3gen import store
from e3gen.native import output_cache

MIN_LMAX = 3
# -O2: the kernels' loops have fixed lengths (channel blocks of plan_cpp.LANES), which -O2
# vectorises completely; -O3 only made more code (and a 2x slower compile) for the same speed.
# -march=native: the library is built for the CPU that uses it (named in the cache key, see
# `cpu_identity`); PORTABLE_FLAGS are the fallback for a compiler that does not know it.
# -fopenmp: the threads come from torch (at::parallel_for), but at::parallel_for is inline in
# ATen's headers and opens its OpenMP region in the library that includes it: built with
# -fopenmp-simd alone, every kernel ran on one thread whatever torch.set_num_threads said. The
# library then needs libgomp.so.1, which torch has already loaded (one runtime, torch's threads).
# The portable fallback keeps -fopenmp-simd (`omp simd` pragmas without a runtime): one thread.
CXX_FLAGS = ("-O2", "-march=native", "-fopenmp", "-std=c++17")
PORTABLE_FLAGS = ("-O2", "-fopenmp-simd", "-std=c++17")
MANIFEST = "manifest.json"

_loaded: Dict[int, "NativeLibrary"] = {}
_lock = threading.Lock()


class NativeUnavailable(RuntimeError):
    """The native kernels cannot be built or loaded here; the message says why and what to do."""


class CouplingLibrary:
    """A loaded library of coupling kernels: its lmax, torch.library namespace and the ids of its
    coupling paths (the channel-wise one here, the rowwise one in `e3gen.native.rowwise`)."""

    def __init__(self, lmax: int, namespace: str, triples, path: Path, compile_seconds: float):
        self.lmax = lmax
        self.namespace = namespace
        self.triple_ids = {tuple(t): i for i, t in enumerate(triples)}
        self.path = path
        self.compile_seconds = compile_seconds  # 0.0 when it came from the cache


class NativeLibrary(CouplingLibrary):
    """The channel-wise library (op `channelwise`)."""

    @property
    def channelwise(self):
        return getattr(torch.ops, self.namespace).channelwise


def compiler() -> str:
    """The C++ compiler torch.utils.cpp_extension would run ($CXX, else c++)."""
    return os.environ.get("CXX", "c++")


def check_toolchain() -> None:
    """Raise NativeUnavailable unless a C++ compiler and ninja can be found."""
    from torch.utils.cpp_extension import is_ninja_available

    cxx = compiler()
    if shutil.which(cxx) is None:
        raise NativeUnavailable(
            f"no C++ compiler found (CXX={cxx!r} is not on PATH): install g++ (or set CXX) to use e3gen's native kernels"
        )
    if not is_ninja_available():
        raise NativeUnavailable("ninja is not installed: `pip install ninja` to use e3gen's native kernels")


def cpu_identity() -> str:
    """What `-march=native` compiles for: the machine type and the CPU's model and feature flags
    (Linux: /proc/cpuinfo), hashed; a library built for one CPU is never loaded on another."""
    import platform

    described = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key = line.split(":")[0].strip()
                if key in ("vendor_id", "model name", "flags", "Features", "CPU part") and line not in described:
                    described.append(line)
    except OSError:
        pass
    return hashlib.sha256("\n".join(described).encode()).hexdigest()[:16]


def _sources_sha256(identity: str, sources) -> str:
    texts = {"source.cpp": sources} if isinstance(sources, str) else sources
    digest = hashlib.sha256(identity.encode())
    for name, text in sorted(texts.items()):
        digest.update(b"\0" + name.encode() + b"\0" + text.encode())
    return digest.hexdigest()


def _source(lmax: int, flags=CXX_FLAGS):
    """(plan, namespace, sources by file name, digest) of the channel-wise library for lmax."""
    from e3gen.codegen.plan_cpp import plan_cpp_unit
    from e3gen.codegen.render_cpp import render_cpp_sources, template_sha256
    from e3gen.ir.lower import lower

    plan = plan_cpp_unit(lower(lmax))
    identity = json.dumps(
        {"ir": plan.ir_sha256, "templates": template_sha256(), "flags": list(flags), "torch": torch.__version__, "cxx": shutil.which(compiler()),
         "e3gen": e3gen.__version__, "cpu": cpu_identity() if "-march=native" in flags else "portable"},
        sort_keys=True,
    )
    # The namespace must be known before rendering: derive it from everything that makes the text
    # (a library whose source changed gets a new namespace: two can be loaded in one process).
    namespace = f"e3gen_native_lmax{lmax}_{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    sources = render_cpp_sources(plan, namespace, e3gen.__version__)
    return plan, namespace, sources, _sources_sha256(identity, sources)


def native_root() -> Path:
    return store.cache_root() / "native"


def _verified(folder: Path, sources, digest: str) -> bool:
    """Whether `folder` holds the library of `sources` (one text, or texts by file name) and
    `digest`, with every source and the shared object as the manifest recorded them."""
    texts = {"source.cpp": sources} if isinstance(sources, str) else sources
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        library = folder / manifest["library"]
        return (
            manifest["sha256"] == digest
            and all(store.sha256_bytes((folder / name).read_bytes()) == store.sha256_bytes(text.encode())
                    for name, text in texts.items())
            and store.sha256_bytes(library.read_bytes()) == manifest["library_sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _compile(root: Path, namespace: str, sources, digest: str, flags=CXX_FLAGS) -> Path:
    """Compile `sources` (one text, or texts by file name; ninja builds them in parallel) into a
    staging folder, then rename it into place; returns the final folder."""
    from torch.utils.cpp_extension import load

    texts = {"source.cpp": sources} if isinstance(sources, str) else sources
    target = root / namespace
    staging = Path(tempfile.mkdtemp(prefix=f".{namespace}.partial-", dir=root))
    try:
        for name, text in texts.items():
            (staging / name).write_text(text)
        load(namespace, [str(staging / name) for name in sorted(texts)], extra_cflags=list(flags),
             extra_ldflags=["-fopenmp"] if "-fopenmp" in flags else [],
             build_directory=str(staging), is_python_module=False, verbose=False)
        library = f"{namespace}.so"
        manifest = {"sha256": digest, "library": library,
                    "library_sha256": store.sha256_bytes((staging / library).read_bytes()),
                    "flags": list(flags), "torch": torch.__version__, "e3gen": e3gen.__version__}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        with store.locked(root, exclusive=True):
            if target.exists():
                retired = root / f".{namespace}.old-{os.getpid()}-{time.monotonic_ns()}"
                os.rename(target, retired)
                shutil.rmtree(retired, ignore_errors=True)
            os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def load_or_compile(root: Path, namespace: str, sources, digest: str, flags, what: str) -> Tuple[Path, float]:
    """The library `namespace` under root: loaded from the cache when verified (0 s), else compiled
    now, once, between two messages naming `what` ("the native spherical harmonics for lmax=12");
    returns (its folder, compile seconds). A failed compile raises NativeUnavailable."""
    folder = root / namespace
    with store.locked(root, exclusive=False):
        cached = _verified(folder, sources, digest)
    seconds = 0.0
    if cached:
        torch.ops.load_library(str(folder / f"{namespace}.so"))
    else:
        print(f"e3gen: compiling {what} into {root} (once)...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            folder = _compile(root, namespace, sources, digest, flags)
        except Exception as error:  # a compiler that fails is as unusable as a missing one
            raise NativeUnavailable(f"compiling {what} failed ({type(error).__name__}: {error})") from error
        seconds = time.perf_counter() - start
        print(f"e3gen: compiled {what} in {seconds:.1f}s", file=sys.stderr, flush=True)
    output_cache.link(namespace)
    return folder, seconds


def load_library(lmax: int) -> NativeLibrary:
    """The native library covering lmax: loaded, cached, or compiled now (once, with a message)."""
    lmax = max(int(lmax), MIN_LMAX)
    with _lock:
        for existing in sorted(_loaded.values(), key=lambda lib: lib.lmax):
            if existing.lmax >= lmax:
                return existing
        check_toolchain()
        root = native_root()
        root.mkdir(parents=True, exist_ok=True)
        seconds = 0.0
        for flags in (CXX_FLAGS, PORTABLE_FLAGS):  # a portable library only where -march=native fails
            plan, namespace, sources, digest = _source(lmax, flags)
            folder = root / namespace
            with store.locked(root, exclusive=False):
                if _verified(folder, sources, digest):
                    torch.ops.load_library(str(folder / f"{namespace}.so"))
                    break
        else:
            print(f"e3gen: compiling the native kernels for lmax={lmax} into {root} (once)...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            for flags in (CXX_FLAGS, PORTABLE_FLAGS):
                plan, namespace, sources, digest = _source(lmax, flags)
                try:
                    folder = _compile(root, namespace, sources, digest, flags)  # (which also loads it)
                    break
                except Exception as error:  # a compiler that fails is as unusable as a missing one
                    failure = error
            else:
                raise NativeUnavailable(
                    f"compiling the native kernels failed ({type(failure).__name__}: {failure})") from failure
            seconds = time.perf_counter() - start
            print(f"e3gen: compiled the native kernels in {seconds:.1f}s", file=sys.stderr, flush=True)
        output_cache.link(namespace)
        library = NativeLibrary(lmax, namespace, plan.triples, folder, seconds)
        _loaded[lmax] = library
        return library
