"""Every public name of e3nn 0.6.0's o3, nn, math and io (and their public submodules) exists in e3gen.

(Not compared: e3nn.nn.models.v2103, which imports torch_scatter / torch_geometric, and the voxel
models of v2103 / v2104; e3nn.util is the compat layer's.)

Property: for each e3nn module below, every name it exports (its ``__all__``, its public
submodules, and for the example-network modules every class and function defined there) is an
attribute of the matching e3gen module, of the same kind (class / function / module), and listed in
e3gen's ``__all__`` where e3gen's module has one. Read from the installed e3nn at test time, so a
name e3nn has and e3gen lacks fails here instead of in a user's import.
"""

import importlib
import inspect
import types

import pytest

pytest.importorskip("e3nn", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")

# (e3nn module, e3gen module, whether every name must be in e3gen's __all__)
MODULES = [
    ("e3nn.o3", "e3gen.o3", True),
    ("e3nn.o3.experimental", "e3gen.o3.experimental", True),
    ("e3nn.nn", "e3gen.nn", True),
    ("e3nn.nn.models.gate_points_2101", "e3gen.nn.models.gate_points_2101", True),
    ("e3nn.nn.models.gate_points_2102", "e3gen.nn.models.gate_points_2102", True),
    ("e3nn.nn.models.v2106.points_convolution", "e3gen.nn.models.v2106.points_convolution", True),
    ("e3nn.nn.models.v2106.gate_points_message_passing", "e3gen.nn.models.v2106.gate_points_message_passing", True),
    ("e3nn.nn.models.v2106.gate_points_networks", "e3gen.nn.models.v2106.gate_points_networks", True),
    ("e3nn.math", "e3gen.math", True),
    ("e3nn.math.perm", "e3gen.math.perm", True),
    ("e3nn.io", "e3gen.io", True),
]


def _public_names(module: types.ModuleType) -> set:
    """e3nn's public API of ``module``: __all__ (e3nn.o3.experimental lists classes, not names), public
    submodules, and the classes and functions defined in the module itself."""
    names = {item if isinstance(item, str) else item.__name__ for item in getattr(module, "__all__", [])}
    if module.__name__ == "e3nn.o3.experimental":  # its __all__ holds the classes under their defining names
        names = {n for n in dir(module) if not n.startswith("_") and inspect.isclass(getattr(module, n))}
    for name in dir(module):
        if name.startswith("_"):
            continue
        value = getattr(module, name)
        if isinstance(value, types.ModuleType) and value.__name__.startswith(module.__name__ + "."):
            names.add(name)
        elif (inspect.isclass(value) or inspect.isfunction(value)) and value.__module__ == module.__name__:
            if not name.startswith("test"):  # the example networks carry their own smoke tests
                names.add(name)
    return names


def _kind(value) -> str:
    if isinstance(value, types.ModuleType):
        return "module"
    if inspect.isclass(value):
        return "class"
    return "callable" if callable(value) else type(value).__name__


@pytest.mark.parametrize("e3nn_name, e3gen_name, in_all", MODULES)
def test_every_public_e3nn_name_exists_in_e3gen(e3nn_name, e3gen_name, in_all):
    theirs = importlib.import_module(e3nn_name)
    ours = importlib.import_module(e3gen_name)
    for submodule in ("models",) if e3nn_name == "e3nn.nn" else ():
        importlib.import_module(f"{e3nn_name}.{submodule}")  # e3nn imports it lazily; make dir() list it on both sides
        importlib.import_module(f"{e3gen_name}.{submodule}")
    names = _public_names(theirs)
    for name in names:
        if not hasattr(theirs, name):  # a submodule listed in __all__ but imported lazily (e3nn.o3.irrep)
            importlib.import_module(f"{e3nn_name}.{name}")
    assert names, f"found no public names in {e3nn_name}: the discovery above is broken"
    missing = sorted(n for n in names if not hasattr(ours, n))
    assert not missing, f"{e3gen_name} lacks e3nn 0.6.0's {missing}"
    wrong_kind = sorted(n for n in names if _kind(getattr(ours, n)) != _kind(getattr(theirs, n)))
    assert not wrong_kind, f"{e3gen_name}: {wrong_kind} are not of the same kind as e3nn's"
    if in_all:
        exported = set(getattr(ours, "__all__", ()))
        not_exported = sorted(n for n in names if n not in exported and not isinstance(getattr(ours, n), types.ModuleType))
        assert not not_exported, f"{e3gen_name}.__all__ lacks {not_exported}"


def test_o3_irrep_module_resolves_names_like_e3nn_and_rejects_others():
    """e3nn.o3.irrep has no fixed names (module __getattr__): l<l><p> for any irrep."""
    from e3nn.o3 import irrep as e3nn_irrep

    from e3gen.o3 import Irrep, irrep

    for name in ("l0e", "l0o", "l3o", "l2y", "l11e"):
        theirs = getattr(e3nn_irrep, name)
        assert getattr(irrep, name) == Irrep(name[1:]) == Irrep(theirs.l, theirs.p)
    for bad in ("x1o", "l", "lfoo"):
        with pytest.raises(AttributeError):
            getattr(irrep, bad)


@pytest.mark.parametrize("e3gen_name", sorted({m for _, m, _ in MODULES} | {"e3gen.nn.models"}))
def test_every_name_in_e3gen_all_exists(e3gen_name):
    module = importlib.import_module(e3gen_name)
    assert not [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
