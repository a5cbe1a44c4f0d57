"""Kernel modules compile one function at a time (issue 9): a model that uses a few coupling paths of
a large build pays for those, not for the whole `coupling.py`.

The property throughout: what the lazy module serves is what executing the whole verified file
gives (same registries, same keys, functions with the same bytecode, constants, file and line
numbers), and the split is refused, keeping the module eager, wherever it could change that.
"""

import inspect
import re
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


# --- the data tables (tables.py): one block per key ---------------------------------------------------

TABLES = ("CLEBSCH_GORDAN", "SO3_GENERATORS", "SPHERICAL_HARMONICS_STEPS")


@pytest.fixture
def compiles(monkeypatch):
    """The source texts the loader compiles from now on (the loader calls the builtin `compile`)."""
    sources = []

    def counting_compile(source, *args, **kwargs):
        sources.append(source)
        return compile(source, *args, **kwargs)

    monkeypatch.setattr(loader, "compile", counting_compile, raising=False)
    return sources


def test_one_wigner_3j_block_compiles_only_that_block(build, compiles):
    """A process that needs wigner_3j(1, 1, 2) parses that block's rows and nothing else of the
    table module: one compile for the module's docstring, one for the block (an lmax-12 build has
    ~900 blocks, 19 MB of source; this is what makes its first wigner_3j cheap)."""
    tables = build.tables
    assert len(compiles) == 1 and '"""Exact sparse tables' in compiles[0] and " = (" not in compiles[0]
    assert tables.__getattr__.compiled == []  # the registries are there, no block is compiled
    rows = build.clebsch_gordan_rows(1, 1, 2)
    assert tables.__getattr__.compiled == ["CLEBSCH_GORDAN_1_1_2"] and len(compiles) == 2
    block = compiles[1].strip()
    assert block.startswith("CLEBSCH_GORDAN_1_1_2 = (") and block.count(" = ") == 1 and len(rows) == 11
    assert build.clebsch_gordan_rows(1, 1, 2) is rows and len(compiles) == 2  # compiled once
    tables.SO3_GENERATORS[2], tables.SPHERICAL_HARMONICS_STEPS[3]
    assert tables.__getattr__.compiled == ["CLEBSCH_GORDAN_1_1_2", "SO3_GENERATORS_2", "SPHERICAL_HARMONICS_STEPS_3"]
    assert len(compiles) == 4


def test_wigner_3j_from_a_fresh_build_reads_one_block(tmp_path):
    """End to end: o3.wigner_3j on a build found through use_build_dir compiles only its block, and
    its tensor equals the one from the (eagerly executed) file's rows."""
    from e3gen import o3
    from e3gen.o3 import _wigner

    shutil.copytree(SHIPPED, tmp_path / "lmax3", ignore=shutil.ignore_patterns("__pycache__"))
    _wigner._wigner_3j_float64.cache_clear()
    loader.use_build_dir(tmp_path)
    try:
        c = o3.wigner_3j(1, 1, 2, dtype=torch.float64)
        build = loader.load_kernels(2)
        assert build.path == tmp_path / "lmax3"
        assert build.tables.__getattr__.compiled == ["CLEBSCH_GORDAN_1_1_2"]
        assert "coupling" not in vars(build.package)  # wigner_3j needs no kernel
    finally:
        loader.use_build_dir(None)
        _wigner._wigner_3j_float64.cache_clear()
    expected = torch.zeros(3, 3, 5, dtype=torch.float64)
    for i, j, k, value in _whole(build.tables)["CLEBSCH_GORDAN"][(1, 1, 2)]:
        expected[i, j, k] = value
    assert torch.equal(c, expected)


def test_lazy_tables_equal_the_whole_file_exactly(build):
    """Every registry of tables.py is a Mapping with the file's keys in the file's order, each
    value equal (the same floats, exactly: == on float64) to what executing the whole file gives;
    every block name reads as in the whole file, and dir / `import *` see every name."""
    tables = build.tables
    whole = _whole(tables)
    for name in TABLES:
        lazy = getattr(tables, name)
        assert isinstance(lazy, Mapping) and not isinstance(lazy, dict)
        assert list(lazy) == list(whole[name])
        for key, rows in whole[name].items():
            assert type(lazy[key]) is tuple and lazy[key] == rows
        assert lazy == whole[name]
        with pytest.raises(KeyError):
            lazy[99]
    blocks = [n for n in whole if n.startswith(TABLES) and n not in TABLES]
    assert len(blocks) == sum(len(whole[name]) for name in TABLES) and tables.__getattr__.compiled == blocks
    assert all(getattr(tables, n) is whole_value or getattr(tables, n) == whole_value
               for n, whole_value in ((n, whole[n]) for n in blocks))
    public = {n for n in whole if not n.startswith("__")}
    assert {n for n in dir(tables) if not n.startswith("__")} == public
    namespace = {}
    exec(f"from {tables.__name__} import *", namespace)
    assert {n for n in namespace if not n.startswith("__")} == public
    with pytest.raises(AttributeError, match="has no attribute 'CLEBSCH_GORDAN_9_9_9'"):
        tables.CLEBSCH_GORDAN_9_9_9


DOC = '"""Doc."""\n\n\n'
BLOCKS = "A_1 = (\n    (0, 1.5),  # 3/2\n)\n\n\nA_2 = (\n    (1, -2.0),  # -2\n)\n\n\n"
A_REGISTRY = "A = {\n    1: A_1,\n    2: A_2,\n}\n"


def test_the_data_split_finds_blocks_registries_and_line_numbers():
    text = DOC + BLOCKS + A_REGISTRY + "\n\nB_0 = (\n    (0, 0.5),\n)\n\n\nB = {\n    0: B_0,\n}\n"
    header, blocks, registries = loader._split_data_module(text)
    assert header == DOC and list(blocks) == ["A_1", "A_2", "B_0"]
    assert registries == {"A": {1: "A_1", 2: "A_2"}, "B": {0: "B_0"}}
    for name, (start, end, line) in blocks.items():
        assert text[start:end].startswith(f"{name} = (") and text.count("\n", 0, start) == line


@pytest.mark.parametrize("text", [
    DOC + BLOCKS + "def f():\n    return A_1\n",  # a def
    DOC + BLOCKS + BLOCKS,  # a block bound twice
    DOC + BLOCKS + A_REGISTRY + A_REGISTRY,  # a registry bound twice
    DOC + BLOCKS + "import math\n" + A_REGISTRY,  # an import among the blocks
    "def f():\n    pass\n\n\n" + BLOCKS,  # a def in the header
])
def test_the_data_split_is_refused_wherever_it_could_change_the_module(text):
    assert loader._split_data_module(text) == (text, {}, {})


def test_a_registry_of_names_not_bound_above_it_is_no_lazy_registry():
    """Run whole, `A = {1: A_1}` before A_1 is a NameError: it is never made a lazy registry."""
    text = DOC + "A = {\n    1: A_1,\n}\n" + BLOCKS
    header, blocks, registries = loader._split_data_module(text)
    assert registries == {} and list(blocks) == ["A", "A_1", "A_2"]


def test_a_block_that_reads_another_compiles_it_first():
    """Generated blocks are plain literals, but module globals bypass __getattr__: a statement's
    compile brings in the blocks it names, so the split never turns a name into a NameError."""
    text = DOC + BLOCKS + "C = (\n    A_2[0],\n)\n\n\n" + A_REGISTRY
    header, blocks, registries = loader._split_data_module(text)
    module = types.ModuleType("lazy_data_probe")
    module.__file__ = "lazy_data_probe.py"
    exec(compile(header, module.__file__, "exec"), vars(module))
    assert loader._LazyAssignments.install(module, text, blocks, registries)
    assert module.C == ((1, -2.0),) and module.__getattr__.compiled == ["A_2", "C"]
    assert module.A[1] == ((0, 1.5),) and module.__getattr__.compiled == ["A_1", "A_2", "C"]
    whole = {}
    exec(text, whole)
    assert dict(module.A) == whole["A"] and module.C == whole["C"]


def test_a_header_that_binds_a_lazy_name_keeps_the_data_module_eager():
    text = '"""Doc."""\nfrom math import pi as A_1\n' + BLOCKS + A_REGISTRY
    header, blocks, registries = loader._split_data_module(text)
    assert list(blocks) == ["A_1", "A_2"] and registries == {"A": {1: "A_1", 2: "A_2"}}
    module = types.ModuleType("lazy_data_probe")
    exec(compile(header, "lazy_data_probe.py", "exec"), vars(module))
    assert not loader._LazyAssignments.install(module, text, blocks, registries) and "A" not in vars(module)


def _registry_chunks(text: str):
    """Each `NAME = {` ... statement of a generated module, with the blank and comment lines after it."""
    starts = [i + 1 for i in range(len(text)) if text.startswith("\n", i) and text[i + 1:i + 2].isupper()]
    bounds = starts + [len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:]) if text[a:b].split("\n", 1)[0].endswith("= {")]


@pytest.mark.parametrize("filename", ["coupling.py", "spherical_harmonics.py", "tables.py"])
def test_rendered_registries_read_without_the_parser_as_the_parser_reads_them(filename):
    """The loader reads registries in their rendered form with a regular expression (ast.parse of an
    lmax-12 registry is the slowest part of the split); on every registry of the shipped build it
    gives what the parser gives, and declines (None) nothing that the generator writes."""
    text = (SHIPPED / filename).read_text()
    chunks = _registry_chunks(text)
    assert chunks
    for chunk in chunks:
        names = set(re.findall(r": (\w+),\n", chunk))
        fast = loader._parse_rendered_registry(chunk, names)
        assert fast is not None and fast == loader._parse_registry_ast(chunk, names)
        assert loader._parse_rendered_registry(chunk, names - {sorted(names)[0]}) is None  # a value not defined


@pytest.mark.parametrize("body", [
    "    1: a,\n    (2, 3): b,\n",
    "    (1): a,\n",  # an int in parentheses, not a tuple
    "    (1,): a,\n",  # a one-element tuple
    "    01: a,\n",  # not Python
    "    -1: a,\n",
    "    'x': a,\n",
    "    1: a,\n    1: b,\n",  # a key twice
    "    1: a,\n    2: c,\n",  # a value that is no def
    "    1: a, 2: b,\n",  # two entries on a line
    "    1: a\n",  # no comma
    "    True: a,\n",
    "    (1, 2): a,\n    (1, 2, 3): b,\n",
])
@pytest.mark.parametrize("after", ["", "\n\n", "\n\n# a comment\n", "\n\nx = 1\n"])
def test_a_registry_is_read_as_the_parser_reads_it(body, after):
    """Whatever the fast reader accepts it reads as ast does; what it declines goes to ast."""
    chunk = "TABLE = {\n" + body + "}\n" + after
    names = {"a", "b"}
    fast = loader._parse_rendered_registry(chunk, names)
    slow = loader._parse_registry_ast(chunk, names)
    assert fast is None or fast == slow
    assert loader._parse_registry(chunk, names) == slow
