"""Post-import hooks: run a function on a client module right after its own code ran.

With the switch on (`e3gen.compat.install`), a finder placed on `sys.meta_path` beside the e3nn
finder answers for the module names in `HOOKS` only: it asks the other finders for the real spec
and wraps its loader, so that the module is loaded exactly as before and then handed to the hook
(named "e3gen module:function", imported only then). Every other import is untouched, and this
module imports nothing heavy (the start-up hook imports it in every switched interpreter).

A hook may change what a client module computes, never what it is: classes keep their identity,
names, parameters and buffers, so state_dicts, pickles and the client's own model modifiers are
unaffected. Hooks are e3gen's accelerations of clients' e3nn-shaped code, on by default with the
switch; ``E3GEN_FUSE_CLIENTS=0`` turns them all off (read when the client module is imported).
"""

from __future__ import annotations

import importlib
import importlib.abc
import os
import sys

OPT_OUT_VARIABLE = "E3GEN_FUSE_CLIENTS"

# client module -> the hook that receives it once its code has run
HOOKS = {
    # NequIP >= 0.7: TensorProductScatter.forward (tp on gathered rows, then scatter) -> the fused convolution
    "nequip.nn._tp_scatter_base": "e3gen.compat._nequip:fuse_tensor_product_scatter",
}


def hooks_enabled(environ=None) -> bool:
    """False when E3GEN_FUSE_CLIENTS is "0", "false", "no" or "off"; True otherwise (unset included)."""
    value = (os.environ if environ is None else environ).get(OPT_OUT_VARIABLE, "")
    return value.strip().lower() not in ("0", "false", "no", "off")


class _HookedLoader(importlib.abc.Loader):
    """The client's own loader, then the hook; anything else (get_source, is_package, ...) is the client loader's."""

    def __init__(self, loader, hook: str):
        self._loader = loader
        self._hook = hook

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        module_name, function = self._hook.split(":")
        getattr(importlib.import_module(module_name), function)(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class PostImportFinder(importlib.abc.MetaPathFinder):
    """Finds the modules in HOOKS through the other finders and wraps their loaders."""

    def find_spec(self, fullname, path=None, target=None):
        hook = HOOKS.get(fullname)
        if hook is None:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if isinstance(finder, PostImportFinder) or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _HookedLoader(spec.loader, hook)
                return spec
        return None

    def __repr__(self) -> str:
        return f"<e3gen.compat.PostImportFinder: {sorted(HOOKS)}>"
