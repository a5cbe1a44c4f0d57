"""Kernel modules compile one function at a time (issue 9): a model that uses a few coupling paths of
a large build pays for those, not for the whole `coupling.py`.

The property throughout: what the lazy module serves is what executing the whole verified file
gives (same registries, same keys, functions with the same bytecode, constants, file and line
numbers), and the split is refused, keeping the module eager, wherever it could change that.
"""

import inspect
import pickle
import shutil
import traceback
import types
from collections.abc import Mapping

import pytest
import torch

from e3gen import store
from e3gen.runtime import loader

SHIPPED = store.shipped_root() / "lmax3"


@pytest.fixture
def build(tmp_path):
    """A private copy of the shipped build, imported afresh (nothing compiled yet)."""
    target = tmp_path / "lmax3"
    shutil.copytree(SHIPPED, target, ignore=shutil.ignore_patterns("__pycache__"))
    return loader.import_build(target)


def _whole(module) -> dict:
    """The module's verified file executed whole, under the same filename (what the eager loader did)."""
    namespace = {}
    exec(compile(open(module.__file__).read(), module.__file__, "exec"), namespace)
    return namespace


def _compiled(module) -> set:
    return {name for name, value in vars(module).items()
            if isinstance(value, types.FunctionType) and not name.startswith("__")}


def test_one_coupling_path_compiles_only_its_kernel(build):
    build.coupling_kernel(1, 1, 2)
    assert _compiled(build.coupling) == {"coupling_1_1_2"}
    build.coupling_vjp(2, 3, 1)
    assert _compiled(build.coupling) == {"coupling_1_1_2", "coupling_2_3_1", "coupling_2_3_1_vjp_x",
                                         "coupling_2_3_1_vjp_y"}
    build.spherical_harmonics_step(2)
    assert _compiled(build.spherical_harmonics) == {"spherical_harmonics_2"}


@pytest.mark.parametrize("module_name,registries", [("coupling", ("KERNELS", "VJP_X", "VJP_Y")),
                                                    ("spherical_harmonics", ("STEPS",))])
def test_lazy_registries_equal_the_whole_file(build, module_name, registries):
    """Every registry is a Mapping with the file's keys in the file's order; each value is the
    module's function of that name, with the bytecode, constants and line table of the whole file's."""
    module = build.module(module_name)
    whole = _whole(module)
    for registry in registries:
        lazy = getattr(module, registry)
        assert isinstance(lazy, Mapping)
        assert list(lazy) == list(whole[registry]) and len(lazy) == len(whole[registry])
        for key, expected in whole[registry].items():
            assert key in lazy
            function = lazy[key]
            assert function is getattr(module, expected.__name__) and function.__globals__ is vars(module)
            got, want = function.__code__, expected.__code__
            assert (got.co_code, got.co_consts, got.co_names, got.co_filename, got.co_firstlineno) == (
                want.co_code, want.co_consts, want.co_names, want.co_filename, want.co_firstlineno)
            assert list(got.co_lines()) == list(want.co_lines()) and list(got.co_positions()) == list(want.co_positions())
            assert function.__annotations__ == expected.__annotations__ and function.__doc__ == expected.__doc__
    with pytest.raises(KeyError):
        getattr(module, registries[0])[(99, 0, 99)]
    assert sorted(n for n in dir(module) if not n.startswith("__")) == sorted(n for n in whole if not n.startswith("__"))


def test_source_tracebacks_torchscript_and_pickle_see_the_verified_file(build):
    module = build.coupling
    kernel = module.coupling_2_2_2  # module attribute: compiled on first read
    lines = open(module.__file__).read().splitlines(True)
    source, first = inspect.getsourcelines(kernel)
    assert source == lines[first - 1:first - 1 + len(source)] and source[0].startswith("def coupling_2_2_2(")
    with pytest.raises(IndexError) as error:  # x too short: the kernel reads x[..., 4]
        kernel(torch.zeros(3, 2), torch.zeros(3, 5))
    frame = traceback.extract_tb(error.value.__traceback__)[-1]
    assert frame.filename == module.__file__ and frame.name == "coupling_2_2_2"
    assert frame.line == lines[frame.lineno - 1].strip() and "x[..., " in frame.line
    scripted = torch.jit.script(kernel)
    x, y = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(scripted(x, y), kernel(x, y))
    # pickled by reference (module + name): unpickling finds the kernel through the module's __getattr__
    assert pickle.loads(pickle.dumps(module.KERNELS[(1, 2, 3)])) is module.coupling_1_2_3
    with pytest.raises(AttributeError, match="has no attribute 'coupling_9_9_9'"):
        module.coupling_9_9_9


def test_star_import_gets_every_name(build):
    namespace = {}
    exec(f"from {build.coupling.__name__} import *", namespace)
    assert {n for n in namespace if not n.startswith("__")} == {n for n in _whole(build.coupling) if not n.startswith("__")}


HEADER = '"""Doc."""\n\nimport math\n\n\n'
DEFS = "def a(x):\n    return x + 1\n\n\ndef b(x):\n    return a(x) * 2\n\n\n"
REGISTRY = "TABLE = {\n    1: a,\n    (2, 3): b,\n}\n"


@pytest.mark.parametrize("text", [
    HEADER + "@staticmethod\n" + DEFS + REGISTRY,  # a decorator
    HEADER + DEFS + "class C:\n    pass\n" + REGISTRY,  # a class among the defs
    HEADER + DEFS + "X = 1\n" + REGISTRY,  # an assignment that is no registry
    HEADER + DEFS + REGISTRY + "def c(x):\n    return x\n",  # a def after the registries
    HEADER + DEFS + DEFS + REGISTRY,  # a name defined twice
    HEADER + DEFS + "TABLE = {\n    1: a,\n    1: b,\n}\n",  # a key twice
    HEADER + DEFS + "TABLE = {\n    1: math,\n}\n",  # a value that is not one of the defs
    HEADER + DEFS + "TABLE = {\n    f(1): a,\n}\n",  # a key that is not a literal
    HEADER + DEFS + "TABLE = {\n    **other,\n}\n",
    '"""Doc\ndef x():\n"""\n' + DEFS + REGISTRY,  # "def" at the start of a docstring line
    HEADER + "X = 1\n",  # no def at all
    HEADER + 'def a(x):\n    """Doc\ndef b(y):\n    """\n    return x\n' + REGISTRY,  # "def" inside a def's docstring
    "from __future__ import annotations\n" + DEFS + REGISTRY,  # a future import changes every def
])
def test_the_split_is_refused_wherever_it_could_change_the_module(text):
    assert loader._split_code_module(text) is None


def test_a_def_that_calls_another_compiles_it_too():
    """Generated kernels never call each other, but globals bypass a module's __getattr__: a def's
    compile brings in the defs its code names, so the split never turns a call into a NameError."""
    text = HEADER + DEFS + REGISTRY
    split = loader._split_code_module(text)
    assert sorted(split.functions) == ["a", "b"] and split.registries == {"TABLE": {1: "a", (2, 3): "b"}}
    module = types.ModuleType("lazy_probe")
    module.__file__ = "lazy_probe.py"
    exec(compile(text[:split.header_end], module.__file__, "exec"), vars(module))
    assert loader._LazyFunctions.install(module, text, split)
    assert module.TABLE[(2, 3)](1) == 4 and {"a", "b"} <= set(vars(module))
    assert module.b.__code__.co_firstlineno == text.splitlines().index("def b(x):") + 1


def test_a_header_that_defines_a_lazy_name_keeps_the_module_eager():
    text = HEADER + "a = 0\n\n\n" + DEFS + REGISTRY
    split = loader._split_code_module(text)
    module = types.ModuleType("lazy_probe")
    exec(compile(text[:split.header_end], "lazy_probe.py", "exec"), vars(module))
    assert not loader._LazyFunctions.install(module, text, split) and "TABLE" not in vars(module)
