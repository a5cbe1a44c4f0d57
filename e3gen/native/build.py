"""Compile the native (C++) kernels on first use and keep them in the e3gen cache.

`load_library(lmax)` returns the torch.library namespace of a compiled library holding the
channel-wise kernels of every coupling path with l <= max(lmax, 3) (one translation unit; a
build for L serves every smaller l, so most programs compile once, ever):

* the source is rendered from the IR by `e3gen.codegen.render_cpp`; its sha256 together with the
  compiler flags, torch's version and the compiler's path names the library, so a change to any of
  them makes a new library instead of loading a stale one;
* it is compiled by `torch.utils.cpp_extension.load` (g++ and ninja) into a temporary sibling folder
  that is renamed into `<cache>/native/<name>/` under the cache lock (atomic: an interrupted or
  concurrent build never leaves a half-written library where one is looked for);
* a manifest records the sha256 of the source and of the shared object; both are checked before
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
from typing import Dict

import torch

import e3gen
from e3gen import store

MIN_LMAX = 3
# -march=native: the library is built for the machine that uses it (the cache is per machine).
# -fopenmp-simd: honour the `omp simd reduction` pragmas (vectorised sums over channels) without
# linking an OpenMP runtime; threads come from torch (at::parallel_for).
CXX_FLAGS = ("-O3", "-march=native", "-fopenmp-simd", "-std=c++17")
MANIFEST = "manifest.json"

_loaded: Dict[int, "NativeLibrary"] = {}
_lock = threading.Lock()


class NativeUnavailable(RuntimeError):
    """The native kernels cannot be built or loaded here; the message says why and what to do."""


class NativeLibrary:
    """A loaded library: its lmax, torch.library namespace and the ids of its coupling paths."""

    def __init__(self, lmax: int, namespace: str, triples, path: Path, compile_seconds: float):
        self.lmax = lmax
        self.namespace = namespace
        self.triple_ids = {tuple(t): i for i, t in enumerate(triples)}
        self.path = path
        self.compile_seconds = compile_seconds  # 0.0 when it came from the cache

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


def _source(lmax: int):
    from e3gen.codegen.plan_cpp import plan_cpp_unit
    from e3gen.codegen.render_cpp import render_cpp_unit, template_sha256
    from e3gen.ir.lower import lower

    plan = plan_cpp_unit(lower(lmax))
    identity = json.dumps(
        {"ir": plan.ir_sha256, "templates": template_sha256(), "flags": CXX_FLAGS, "torch": torch.__version__, "cxx": shutil.which(compiler()),
         "e3gen": e3gen.__version__},
        sort_keys=True,
    )
    # The namespace must be known before rendering: derive it from everything that makes the text
    # (a library whose source changed gets a new namespace: two can be loaded in one process).
    namespace = f"e3gen_native_lmax{lmax}_{hashlib.sha256(identity.encode()).hexdigest()[:12]}"
    text = render_cpp_unit(plan, namespace, e3gen.__version__)
    digest = hashlib.sha256((identity + "\0" + text).encode()).hexdigest()
    return plan, namespace, text, digest


def native_root() -> Path:
    return store.cache_root() / "native"


def _verified(folder: Path, text: str, digest: str) -> bool:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        library = folder / manifest["library"]
        return (
            manifest["sha256"] == digest
            and store.sha256_bytes((folder / "source.cpp").read_bytes()) == store.sha256_bytes(text.encode())
            and store.sha256_bytes(library.read_bytes()) == manifest["library_sha256"]
        )
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _compile(root: Path, namespace: str, text: str, digest: str, flags=CXX_FLAGS) -> Path:
    """Compile into a staging folder, then rename it into place; returns the final folder."""
    from torch.utils.cpp_extension import load

    target = root / namespace
    staging = Path(tempfile.mkdtemp(prefix=f".{namespace}.partial-", dir=root))
    try:
        source = staging / "source.cpp"
        source.write_text(text)
        load(namespace, [str(source)], extra_cflags=list(flags), build_directory=str(staging),
             is_python_module=False, verbose=False)
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


def load_library(lmax: int) -> NativeLibrary:
    """The native library covering lmax: loaded, cached, or compiled now (once, with a message)."""
    lmax = max(int(lmax), MIN_LMAX)
    with _lock:
        for existing in sorted(_loaded.values(), key=lambda lib: lib.lmax):
            if existing.lmax >= lmax:
                return existing
        check_toolchain()
        plan, namespace, text, digest = _source(lmax)
        root = native_root()
        root.mkdir(parents=True, exist_ok=True)
        folder = root / namespace
        seconds = 0.0
        with store.locked(root, exclusive=False):
            cached = _verified(folder, text, digest)
        if cached:
            torch.ops.load_library(str(folder / f"{namespace}.so"))
        else:
            print(f"e3gen: compiling the native kernels for lmax={lmax} into {root} (once)...", file=sys.stderr, flush=True)
            start = time.perf_counter()
            try:
                folder = _compile(root, namespace, text, digest)
            except Exception as error:  # a compiler that fails is as unusable as a missing one
                raise NativeUnavailable(f"compiling the native kernels failed ({type(error).__name__}: {error})") from error
            seconds = time.perf_counter() - start
            print(f"e3gen: compiled the native kernels in {seconds:.1f}s", file=sys.stderr, flush=True)
        library = NativeLibrary(lmax, namespace, plan.triples, folder, seconds)
        _loaded[lmax] = library
        return library
