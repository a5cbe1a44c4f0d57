"""How a module of the compat e3nn tree takes its names from e3gen: `mirror(globals(), ...)`.

A compat module lists the e3gen modules that hold its names. `mirror` copies their public names
(each module's ``__all__``, or every name without a leading underscore) into the compat module and
gives it a module ``__getattr__`` that looks up any other name in them on first use. So a name that
e3gen adds later (for example in `e3gen.o3.__all__`) appears under its e3nn path without an edit
here, and a source module that does not exist yet (such as `e3gen.io` before it is written) is
skipped until it does.
"""

from __future__ import annotations

import importlib
import types
from typing import Dict, Iterable, List


def _load(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name is not None and (name == error.name or name.startswith(error.name + ".")):
            return None  # that e3gen module does not exist (yet): not an error, the names are simply absent
        raise


def public_names(module) -> List[str]:
    """The module's ``__all__``, or else its own public definitions (not what it imported from elsewhere)."""
    names = getattr(module, "__all__", None)
    if names is not None:
        return [n if isinstance(n, str) else n.__name__ for n in names]
    return [n for n, v in vars(module).items() if not n.startswith("_") and _defined_by_e3gen(v)]


def _defined_by_e3gen(value) -> bool:
    if isinstance(value, types.ModuleType):
        return False
    origin = getattr(value, "__module__", None)
    return not isinstance(origin, str) or origin.startswith("e3gen")


def mirror(namespace: Dict[str, object], *sources: str, extra: Iterable[str] = ()) -> None:
    """Fill `namespace` (a compat module's globals) from the e3gen modules named in `sources`.

    Public names of every source are copied (earlier sources win); `extra` names private to a
    source (e3nn exposes a few, e.g. ``e3nn.nn._fc._Layer``) are copied too when present. Any other
    attribute is looked up in the sources on access; ``__all__`` lists the public names found.
    """
    modules = [m for m in (_load(s) for s in sources) if m is not None]
    exported = [n for n in namespace.get("__all__", [])]
    for module in modules:
        for name in public_names(module):
            if name not in namespace:
                namespace[name] = getattr(module, name)
                exported.append(name)
        for name in extra:
            if name not in namespace and hasattr(module, name):
                namespace[name] = getattr(module, name)
    namespace["__all__"] = list(dict.fromkeys(exported))
    module_name = namespace["__name__"]

    def __getattr__(name: str):
        if not name.startswith("__"):
            for source in sources:
                module = _load(source)
                if module is not None and hasattr(module, name):
                    value = getattr(module, name)
                    namespace[name] = value
                    return value
        raise AttributeError(
            f"module {module_name!r} has no attribute {name!r} (e3gen's e3nn {namespace.get('__e3nn_api__', '0.6.0')} "
            f"namespace looked in {', '.join(sources)})"
        )

    namespace["__getattr__"] = __getattr__
