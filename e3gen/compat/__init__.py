"""e3gen as e3nn: make `import e3nn...` resolve to an e3nn 0.6.0 namespace backed by e3gen.

Two ways to switch, with no change to the client's code:

* ``E3GEN_AS_E3NN=1`` in the environment. The ``e3gen_as_e3nn.pth`` start-up hook that is installed
  with e3gen (regular and editable installs) calls `install()` in every interpreter that starts
  with the variable set -- console scripts (``mace_run_train``, ``nequip-train``), subprocesses and
  DataLoader workers included, since they inherit the environment. Unset (or ``0``), the hook
  reads one environment variable and does nothing else.
* ``import e3gen.compat; e3gen.compat.install()`` from Python, before anything imports e3nn.

How: a finder placed first on `sys.meta_path` answers for the top-level name ``e3nn`` with the
package in ``e3gen/compat/e3nn/``; every ``e3nn.x.y`` below it is then found by the ordinary path
machinery inside that folder, so the modules really are named ``e3nn...``. A real e3nn installed
beside e3gen is never imported while the switch is on: the finder comes before site-packages.

Beside it, a second finder (`e3gen.compat._post_import`) hands a few client modules to e3gen right
after they are imported, to run their e3nn-shaped hot spots on e3gen's fused ops: NequIP's
``TensorProductScatter.forward`` becomes `e3gen.nn.tensor_product_scatter` (the fused native
convolution). Same numbers, same classes and state_dicts; ``E3GEN_FUSE_CLIENTS=0`` turns it off.

This module imports nothing heavy (no torch): the start-up hook imports it in every interpreter
that has the variable set, and the e3nn tree loads e3gen's layers only when it is itself imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from typing import Optional

from e3gen.compat._post_import import OPT_OUT_VARIABLE, PostImportFinder

ENVIRONMENT_VARIABLE = "E3GEN_AS_E3NN"
E3NN_API_VERSION = "0.6.0"  # the e3nn release whose API the compat tree follows

# The folder that holds the `e3nn` package of the compat tree.
_TREE = os.path.dirname(os.path.abspath(__file__))


def requested(environ=None) -> bool:
    """True if ``E3GEN_AS_E3NN`` asks for the switch (set, and not "", "0", "false", "no", "off")."""
    value = (os.environ if environ is None else environ).get(ENVIRONMENT_VARIABLE, "")
    return value.strip().lower() not in ("", "0", "false", "no", "off")


class E3nnFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level package ``e3nn`` in e3gen's compat tree (its submodules follow by path)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "e3nn":
            return None
        return importlib.machinery.PathFinder.find_spec("e3nn", [_TREE])

    def __repr__(self) -> str:
        return f"<e3gen.compat.E3nnFinder: e3nn -> {os.path.join(_TREE, 'e3nn')}>"


def _our_finder() -> Optional[E3nnFinder]:
    return next((f for f in sys.meta_path if isinstance(f, E3nnFinder)), None)


def is_active() -> bool:
    """True if `import e3nn` in this interpreter gives (or would give) e3gen's compat tree."""
    module = sys.modules.get("e3nn")
    if module is not None:
        return bool(getattr(module, "__e3gen__", False))
    return _our_finder() is not None


class AlreadyImportedError(ImportError):
    """e3nn was imported before the switch: the modules already loaded would mix two libraries."""


def install() -> None:
    """Make every later `import e3nn...` in this interpreter resolve to e3gen.

    Idempotent. Raises AlreadyImportedError if another e3nn was imported already (the objects it
    made would stay real e3nn's); call install() first, or set E3GEN_AS_E3NN=1 before Python starts.
    """
    module = sys.modules.get("e3nn")
    if module is not None and not getattr(module, "__e3gen__", False):
        raise AlreadyImportedError(
            f"e3gen.compat.install(): e3nn was already imported from {getattr(module, '__file__', '?')}; "
            f"call install() before anything imports e3nn, or start Python with {ENVIRONMENT_VARIABLE}=1"
        )
    if _our_finder() is None:
        sys.meta_path.insert(0, E3nnFinder())
    if not any(isinstance(f, PostImportFinder) for f in sys.meta_path):  # right after it, before site-packages
        sys.meta_path.insert(sys.meta_path.index(_our_finder()) + 1, PostImportFinder())


def uninstall() -> None:
    """Undo `install()` for later imports (modules already imported stay as they are)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, (E3nnFinder, PostImportFinder))]


def _startup() -> None:
    """Called by the ``e3gen_as_e3nn.pth`` hook when E3GEN_AS_E3NN is set; never raises (a .pth
    error would print a traceback in every interpreter), but says why if it cannot switch."""
    try:
        install()
    except Exception as error:  # pragma: no cover - reported, not raised, by design
        print(f"e3gen: {ENVIRONMENT_VARIABLE} is set but the switch failed: {error}", file=sys.stderr)


__all__ = ["ENVIRONMENT_VARIABLE", "OPT_OUT_VARIABLE", "E3NN_API_VERSION", "AlreadyImportedError", "install", "uninstall", "is_active", "requested"]
