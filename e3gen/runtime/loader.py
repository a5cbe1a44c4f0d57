"""Find, verify and import the generated kernels a computation needs.

`load_kernels(lmax)` returns a build that covers lmax: the smallest shipped build with L >= lmax
(`e3gen.generated.lmax<L>`), else the smallest such build in the user cache, else it builds lmax
into the cache first (once, with a message, as OpenEquivariance does for its JIT kernels).
Every build is checked against its manifest before anything in it is imported; an edited,
corrupt or stale build raises `BuildError` naming the command that rebuilds it.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, Optional, Tuple

from e3gen import store
from e3gen.runtime.checked_kernels import checked_coupling, checked_harmonics_step
from e3gen.store import BuildError

_loaded: Dict[int, "LoadedBuild"] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class LoadedBuild:
    """The imported modules of one verified build."""

    lmax: int
    path: Path
    spherical_harmonics: ModuleType
    coupling: ModuleType
    tables: ModuleType

    # The accessors return the kernels with their input sizes checked (see checked_kernels); the
    # unchecked ones are in the modules' tables and at each wrapper's __wrapped__.
    def spherical_harmonics_step(self, l: int) -> Callable:
        return checked_harmonics_step(self.spherical_harmonics.STEPS[l], l)

    def coupling_kernel(self, l1: int, l2: int, l3: int) -> Callable:
        try:
            return checked_coupling(self.coupling.KERNELS[(l1, l2, l3)], l1, l2, l3, "coupling")
        except KeyError:
            raise ValueError(
                f"no coupling kernel for l1={l1}, l2={l2} -> l3={l3} in the lmax={self.lmax} build: "
                "it needs |l1 - l2| <= l3 <= l1 + l2"
            ) from None

    def coupling_vjp(self, l1: int, l2: int, l3: int) -> Tuple[Callable, Callable]:
        """(vjp_x(g, y), vjp_y(x, g)) of the coupling kernel (l1, l2, l3)."""
        self.coupling_kernel(l1, l2, l3)  # the same error for a forbidden triple
        return (checked_coupling(self.coupling.VJP_X[(l1, l2, l3)], l1, l2, l3, "vjp_x"),
                checked_coupling(self.coupling.VJP_Y[(l1, l2, l3)], l1, l2, l3, "vjp_y"))

    def clebsch_gordan_rows(self, l1: int, l2: int, l3: int) -> Tuple[Tuple[int, int, int, float], ...]:
        return self.tables.CLEBSCH_GORDAN[(l1, l2, l3)]


def _import_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # TorchScript and inspect find the source through sys.modules
    spec.loader.exec_module(module)
    return module


def import_build(path: Path) -> LoadedBuild:
    """Verify the build folder at `path` and import its modules."""
    path = Path(path)
    with store.locked(path.parent, exclusive=False):
        status = store.require_valid(path)
        is_shipped = path.parent.resolve() == store.shipped_root().resolve()
        package = f"e3gen.generated.{path.name}" if is_shipped else f"e3gen._cached_builds.{path.name}"
        modules = {
            name: _import_module(path / f"{name}.py", f"{package}.{name}")
            for name in ("spherical_harmonics", "coupling", "tables")
        }
    return LoadedBuild(status.lmax, path, **modules)


def _find(root: Path, lmax: int) -> Optional[Path]:
    for candidate in store.list_builds(root):
        if int(candidate.name[4:]) >= lmax and (candidate / store.MANIFEST).exists():
            return candidate
    return None


def load_kernels(lmax: int) -> LoadedBuild:
    """A verified build with L >= lmax: shipped, cached, or built into the cache now."""
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"load_kernels needs an integer lmax >= 0, got {lmax!r}")
    loaded = _loaded.get(lmax)
    if loaded is not None:
        return loaded
    with _lock:
        for existing in sorted(_loaded.values(), key=lambda b: b.lmax):
            if existing.lmax >= lmax:
                _loaded[lmax] = existing
                return existing
        path = _find(store.shipped_root(), lmax) or _find(store.cache_root(), lmax)
        if path is None:
            path = _build_into_cache(lmax, "no build covers lmax={}".format(lmax))
        elif path.parent == store.cache_root() and store.verify_build(path).only_stale:
            # A cached build is derived data: one made by another compiler is rebuilt, not refused.
            # (Edited or corrupt files are still refused: that is not something to paper over.)
            path = _build_into_cache(int(path.name[4:]), f"the cached build {path} is stale")
        build = import_build(path)
        _loaded[lmax] = build
        return build


def _build_into_cache(lmax: int, reason: str) -> Path:
    from e3gen.build import MAX_LMAX, build

    if lmax > MAX_LMAX:
        raise ValueError(f"l={lmax} is beyond what e3gen builds (lmax <= {MAX_LMAX}); use smaller l")
    root = store.cache_root()
    print(f"e3gen: {reason}; building lmax={lmax} into {root} (once)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    report = build(lmax, root, force=True, progress=lambda message: None)
    print(f"e3gen: built lmax={lmax} in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    return report.path


def clear_loaded() -> None:
    """Forget imported builds (tests use this after changing E3GEN_CACHE_DIR)."""
    with _lock:
        _loaded.clear()
