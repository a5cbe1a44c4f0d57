"""Find, verify and import the generated kernels a computation needs.

`load_kernels(lmax)` returns a build that covers lmax: the smallest build with L >= lmax in the
build folder the user points at (`$E3GEN_BUILD_DIR`, or `use_build_dir(folder)`), else in the
shipped package (`e3gen.generated.lmax<L>`), else in the user cache, else it builds lmax into the
cache first (once, with a message, as OpenEquivariance does for its JIT kernels). A shipped or
pointed-at build that fails verification is an error, never skipped for another one.

Trust: every build is checked against its manifest before anything in it runs, and what runs is
compiled here from the very bytes that were hashed (never `__pycache__` bytecode, which Python
trusts on the source's size and mtime alone). Builds outside the shipped package load only from
folders that are private to the current user (`store.require_private_build`). An edited, corrupt
or stale build raises `BuildError` naming the command that rebuilds it.

Laziness: a build's modules are compiled when first used (`LoadedBuild.module`), the data tables
one block at a time (`_split_data_module`) and the kernel modules one function at a time
(`_split_code_module`); both modules' registries are `LazyRegistry` mappings, so a model that
needs the harmonics, a few coupling paths and their wigner_3j of an lmax-12 build compiles only
those kernels and table blocks.

Importing a build as a package, `from e3gen.generated.lmax3 import coupling`, goes through the
same checks: `e3gen.generated` installs `GeneratedBuildFinder`, which maps `e3gen.generated.lmax<L>`
to the lmax-L build found as above (built into the cache if there is none).
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import linecache
import os
import re
import sys
import threading
import time
import types
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Callable, Dict, List, Optional, Tuple

from e3gen import store
from e3gen.runtime.checked_kernels import checked_coupling, checked_harmonics_step
from e3gen.store import BuildError

BUILD_DIR_VARIABLE = "E3GEN_BUILD_DIR"

_loaded: Dict[int, "LoadedBuild"] = {}  # lmax asked for -> the build that covers it
_by_path: Dict[Path, "LoadedBuild"] = {}  # build folder -> its imported build (one per folder)
_lock = threading.RLock()
_build_dir_override: Optional[Path] = None


class LoadedBuild:
    """One verified build: its package module now, its other modules compiled on first use."""

    def __init__(self, lmax: int, path: Path, package_name: str, file_sha256: Dict[str, str]):
        self.lmax = lmax
        self.path = path
        self.package_name = package_name
        self._file_sha256 = dict(file_sha256)
        self._modules: Dict[str, ModuleType] = {}
        self._module_lock = threading.RLock()
        self.package = self._exec("__init__", package_name, is_package=True)
        self.package._e3gen_build = self
        self.package.__getattr__ = self._package_getattr

    @property
    def module_names(self) -> List[str]:
        return sorted(name[:-3] for name in self._file_sha256 if name.endswith(".py") and name != "__init__.py")

    def module(self, name: str) -> ModuleType:
        """The build's module `name` (e.g. "coupling"), compiled from its verified bytes on first use."""
        module = self._modules.get(name)
        if module is not None:
            return module
        if name not in self.module_names:
            raise AttributeError(f"the lmax={self.lmax} build at {self.path} has no module {name!r} "
                                 f"(it has {', '.join(self.module_names)})")
        with self._module_lock:
            if name not in self._modules:
                module = self._exec(name, f"{self.package_name}.{name}", is_package=False)
                setattr(self.package, name, module)
                self._modules[name] = module
        return self._modules[name]

    def _package_getattr(self, name: str):
        if name in self.module_names:
            return self.module(name)
        raise AttributeError(f"module {self.package_name!r} has no attribute {name!r}")

    def _exec(self, name: str, module_name: str, is_package: bool) -> ModuleType:
        filename = f"{name}.py"
        with store.locked(self.path.parent, exclusive=False):  # never between a rebuild's two renames
            source = store.read_verified(self.path, filename, self._file_sha256[filename])
        origin = str(self.path / filename)
        module = types.ModuleType(module_name)
        module.__file__ = origin
        module.__spec__ = importlib.machinery.ModuleSpec(module_name, None, origin=origin, is_package=is_package)
        module.__package__ = module_name if is_package else self.package_name
        if is_package:
            module.__path__ = []  # nothing beside the verified files is importable from the build
        text = source.decode()
        del source
        sys.modules[module_name] = module
        # A package's __getattr__ serves its submodules, so its own names are compiled now.
        header, assignments, registries = (text, {}, {}) if is_package else _split_data_module(text)
        code = None if is_package or assignments else _split_code_module(text)
        if assignments:
            linecache.cache.pop(origin, None)  # data blocks hold no code for a traceback to show
        else:
            # inspect and TorchScript read source through linecache: give them the verified text
            # (an entry without mtime is never re-read from disk).
            linecache.cache[origin] = (len(text), None, text.splitlines(True), origin)
        if assignments:
            exec(compile(header, origin, "exec", dont_inherit=True), module.__dict__)
            if not _LazyAssignments.install(module, text, assignments, registries):
                exec(compile(text, origin, "exec", dont_inherit=True), module.__dict__)
        elif code is not None:
            exec(compile(text[:code.header_end], origin, "exec", dont_inherit=True), module.__dict__)
            if not _LazyFunctions.install(module, text, code):
                exec(compile(text, origin, "exec", dont_inherit=True), module.__dict__)
        else:
            exec(compile(text, origin, "exec", dont_inherit=True), module.__dict__)
        return module

    @property
    def spherical_harmonics(self) -> ModuleType:
        return self.module("spherical_harmonics")

    @property
    def coupling(self) -> ModuleType:
        return self.module("coupling")

    @property
    def tables(self) -> ModuleType:
        return self.module("tables")

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

    def __repr__(self) -> str:
        return f"LoadedBuild(lmax={self.lmax}, path={str(self.path)!r})"


_ASSIGNMENT = r"([A-Z_][A-Z0-9_]*) = "
_TOP_LEVEL_LINE = r"[^\s)\]}#]"


def _line_starts(line_start: str, text: str, pos: int = 0, first_only: bool = False) -> List[int]:
    """Offsets of the lines of text[pos:] that begin with the pattern `line_start` (only the first
    one if `first_only`): what a multi-line `^line_start` finds, ~10x faster on the generated files
    (tens of MB at lmax 12), since the search looks for the newline first."""
    if (pos == 0 or text[pos - 1] == "\n") and re.compile(line_start).match(text, pos):
        if first_only:
            return [pos]
        first = [pos]
    else:
        first = []
    after_newline = re.compile(f"\n(?={line_start})")
    if first_only:
        found = after_newline.search(text, pos)
        return [] if found is None else [found.end()]
    return first + [m.end() for m in after_newline.finditer(text, pos)]


def _split_data_module(text: str) -> Tuple[str, Dict[str, Tuple[int, int, int]], Dict[str, Dict]]:
    """(header, {NAME: (start, end, line)}, {TABLE: {key: NAME}}) for a data module: a docstring or
    other header, then only top-level `NAME = <literal>` blocks and registries `TABLE = {<literal
    key>: NAME, ...}` of blocks above them (as in the generated `tables.py`); else (text, {}, {}).

    Each block is compiled when its name or its key is first read (`_LazyAssignments`), so a process
    that needs wigner_3j(1, 1, 2) of an lmax-12 build compiles that block, not the other ~900 of the
    Clebsch-Gordan table (19 MB of source). Anything else at top level after the header (a def, an
    import, a name bound twice) keeps the module eager: the split is only ever used where it cannot
    change what the module does.
    """
    first_def = _line_starts(r"(?:async def|def|class) ", text, first_only=True)
    first = _line_starts(_ASSIGNMENT, text[:first_def[0]] if first_def else text, first_only=True)
    if not first:
        return text, {}, {}  # no assignment, or a def before the first one (a kernel module)
    starts = _line_starts(_ASSIGNMENT, text, first[0])
    if _line_starts(_TOP_LEVEL_LINE, text, starts[0]) != starts:
        return text, {}, {}  # a top-level line that starts no `NAME = ` (a def, an import, a call)
    bounds = starts + [len(text)]
    assignments: Dict[str, Tuple[int, int, int]] = {}
    registries: Dict[str, Dict] = {}
    line, counted = 0, 0
    assignment = re.compile(_ASSIGNMENT)
    for start, end in zip(bounds, bounds[1:]):
        name = assignment.match(text, start)[1]
        if name in assignments or name in registries:
            return text, {}, {}
        # A registry of blocks ("TABLE = {\n    key: NAME,"), else a block compiled as a whole.
        registry = _parse_registry(text[start:end], assignments) if _BLOCK_REGISTRY.match(text, start) else None
        if registry is not None:
            registries[name] = registry[1]
            continue
        line, counted = line + text.count("\n", counted, start), start
        assignments[name] = (start, end, line)
    return text[:starts[0]], assignments, registries


_BLOCK_REGISTRY = re.compile(r"[A-Z_][A-Z0-9_]* = \{\n +[^\n]*: [A-Za-z_]\w*,\n")


class _LazyAssignments:
    """A data module's `__getattr__`: compiles `NAME = ...` from the verified text on first read."""

    def __init__(self, module: ModuleType, text: str, assignments: Dict[str, Tuple[int, int, int]]):
        self._module, self._text, self._assignments = module, text, assignments
        self._lock = threading.RLock()

    @classmethod
    def install(cls, module: ModuleType, text: str, assignments: Dict[str, Tuple[int, int, int]],
                registries: Dict[str, Dict]) -> bool:
        """Make `module` (its header executed) serve its blocks and registries lazily; False (and
        nothing changed but the header) if the header already binds one of their names."""
        namespace = vars(module)
        if any(name in namespace for name in [*assignments, *registries, "__getattr__", "__dir__"]):
            return False
        lazy = cls(module, text, assignments)
        for name, entries in registries.items():
            namespace[name] = LazyRegistry(name, entries, lazy)
        module.__getattr__ = lazy
        module.__dir__ = lambda: sorted(set(namespace) | set(assignments))
        namespace.setdefault("__all__", sorted([*assignments, *registries]))  # `import *` reads them all
        return True

    def __call__(self, name: str):
        if name not in self._assignments:
            raise AttributeError(f"module {self._module.__name__!r} has no attribute {name!r}")
        namespace = vars(self._module)
        with self._lock:
            if name not in namespace:
                start, end, line = self._assignments[name]
                # Moved to the line it starts on, so tracebacks and inspect see the file's line numbers.
                code = _shift_lines(compile(self._text[start:end], self._module.__file__, "exec", dont_inherit=True), line)
                # Globals bypass __getattr__: blocks the statement reads compile first (the generated
                # blocks are plain literals and read none).
                for used in _global_names(code):
                    if used in self._assignments and used not in namespace and used != name:
                        self(used)
                exec(code, namespace)
        return namespace[name]

    @property
    def compiled(self) -> List[str]:
        """The blocks compiled so far, in file order (what a process paid for)."""
        return [name for name in self._assignments if name in vars(self._module)]


_DEF = re.compile(r"^def (\w+)\(", re.M)
_REGISTRY = re.compile(r"^([A-Z_][A-Z0-9_]*) = \{\n")


class _CodeSplit:
    """Where a kernel module's parts are: the header (text[:header_end]), each top-level def
    {name: (start, end, line)}, each registry {NAME: {key: def name}}, and the source to compile
    before each def (see `_split_code_module`)."""

    def __init__(self, header_end: int, functions: Dict[str, Tuple[int, int, int]], registries: Dict[str, Dict],
                 prelude: str = ""):
        self.header_end, self.functions, self.registries, self.prelude = header_end, functions, registries, prelude


def _split_code_module(text: str) -> Optional[_CodeSplit]:
    """The parts of a kernel module (as the generated `coupling.py` and `spherical_harmonics.py`): a
    header (docstring, imports), then only top-level `def name(...)` blocks, then only registries
    `NAME = {<literal key>: <def name>, ...}`; else None (the module is compiled whole).

    Each def compiles when first used (`_LazyFunctions`), so a model that uses five coupling paths
    of an lmax-12 build never compiles the other ~2700 kernels (30 MB of source). Anything else at
    top level after the header (a decorator, a class, an assignment that is not such a registry, a
    name defined twice) keeps the module eager: the split is only used where it cannot change what
    the module does. Defs' bodies are indented, so a top-level line starts the next part.
    """
    first = _line_starts(_DEF.pattern[1:], text, first_only=True)
    if not first:
        return None
    first = _DEF.match(text, first[0])
    try:
        header = ast.parse(text[:first.start()])  # a `def` at the start of a line inside the docstring is not one
    except SyntaxError:
        return None
    imports = [node for node in _module_scope(header) if isinstance(node, (ast.Import, ast.ImportFrom))]
    if any(isinstance(node, ast.ImportFrom) and node.module == "__future__" for node in imports):
        return None  # a future import changes how every def compiles
    # Dead imports of the header's names before each def: CPython compiles `module.f(...)` differently
    # when `module` was imported, so the def gets the very bytecode compiling the whole file gives.
    prelude = "".join(f"if False:\n    {ast.unparse(node)}\n" for node in imports)
    bounds = _line_starts(_TOP_LEVEL_LINE, text, first.start()) + [len(text)]
    functions: Dict[str, Tuple[int, int, int]] = {}
    registries: Dict[str, Dict] = {}
    line, counted = 0, 0
    for start, end in zip(bounds, bounds[1:]):
        match = _DEF.match(text, start)
        if match is not None and not registries:
            name = match[1]
            if name in functions or text.count('"""', start, end) % 2 or text.count("'''", start, end) % 2:
                return None  # twice, or a triple-quoted string with a line at column 0 was cut in two
            line, counted = line + text.count("\n", counted, start), start
            functions[name] = (start, end, line)
            continue
        registry = _parse_registry(text[start:end], functions)
        if registry is None or registry[0] in registries or registry[0] in functions:
            return None
        registries[registry[0]] = registry[1]
    return _CodeSplit(first.start(), functions, registries, prelude)


def _module_scope(tree: ast.AST):
    """The statements of `tree` at module scope (inside if/try/with, not inside a class or def)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.stmt) and not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node
            yield from _module_scope(node)


# A registry as e3gen renders it: `NAME = {`, one `    key: name,` line per entry with an int or a
# tuple of ints for key, `}`, then blank or comment lines. Read without the parser (ast.parse of the
# ~1100 entries of an lmax-12 registry costs more than the rest of the split).
_RENDERED_REGISTRY = re.compile(r"([A-Z_][A-Z0-9_]*) = \{\n((?:    [^\n]*\n)*?)\}\n(?:[ \t]*(?:#[^\n]*)?\n)*")
_RENDERED_ENTRY = re.compile(r"    (?:(0|[1-9][0-9]*)|\(((?:(?:0|[1-9][0-9]*), )+(?:0|[1-9][0-9]*))\)): ([A-Za-z_]\w*),\n")


def _parse_rendered_registry(chunk: str, names) -> Optional[Tuple[str, Dict]]:
    """`_parse_registry` for the rendered form only (None for anything else, or a value not in `names`)."""
    whole = _RENDERED_REGISTRY.fullmatch(chunk)
    if whole is None:
        return None
    body, entries, position = whole[2], {}, 0
    while position < len(body):
        entry = _RENDERED_ENTRY.match(body, position)
        if entry is None or entry[3] not in names:
            return None
        key = int(entry[1]) if entry[1] is not None else tuple(int(i) for i in entry[2].split(", "))
        if key in entries:
            return None
        entries[key] = entry[3]
        position = entry.end()
    return whole[1], entries


def _parse_registry(chunk: str, functions: Dict[str, Tuple[int, int, int]]) -> Optional[Tuple[str, Dict]]:
    """(NAME, {key: def name}) for `NAME = {key: def_name, ...}` with literal keys and defs defined above."""
    if _REGISTRY.match(chunk) is None:
        return None
    rendered = _parse_rendered_registry(chunk, functions)
    return rendered if rendered is not None else _parse_registry_ast(chunk, functions)


def _parse_registry_ast(chunk: str, functions) -> Optional[Tuple[str, Dict]]:
    try:
        (statement,) = ast.parse(chunk).body
    except (SyntaxError, ValueError):
        return None
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, ast.Dict)):
        return None
    entries = {}
    for key, value in zip(statement.value.keys, statement.value.values):
        if key is None or not isinstance(value, ast.Name) or value.id not in functions:
            return None
        try:
            key = ast.literal_eval(key)
        except ValueError:
            return None
        if key in entries:
            return None
        entries[key] = value.id
    return statement.targets[0].id, entries


class _LazyFunctions:
    """A kernel module's `__getattr__`: compiles `def name` from the verified text on first read."""

    def __init__(self, module: ModuleType, text: str, functions: Dict[str, Tuple[int, int, int]], prelude: str = ""):
        self._module, self._text, self._functions, self._prelude = module, text, functions, prelude
        self._lock = threading.RLock()

    @classmethod
    def install(cls, module: ModuleType, text: str, split: _CodeSplit) -> bool:
        """Make `module` (its header executed) serve its defs and registries lazily; False (and
        nothing changed but the header) if the header already defines one of their names."""
        namespace = vars(module)
        if any(name in namespace for name in [*split.functions, *split.registries, "__getattr__", "__dir__"]):
            return False
        lazy = cls(module, text, split.functions, split.prelude)
        public = [name for name in namespace if not name.startswith("_")]
        for name, entries in split.registries.items():
            namespace[name] = LazyRegistry(name, entries, lazy)
        module.__getattr__ = lazy
        module.__dir__ = lambda: sorted(set(namespace) | set(split.functions))
        namespace.setdefault("__all__", sorted([*public, *split.functions, *split.registries]))  # `import *`
        return True

    def __call__(self, name: str):
        if name not in self._functions:
            raise AttributeError(f"module {self._module.__name__!r} has no attribute {name!r}")
        namespace = vars(self._module)
        with self._lock:
            if name not in namespace:
                start, end, line = self._functions[name]
                # Moved to the line it starts on, so tracebacks, inspect and TorchScript see the file's
                # line numbers (linecache holds the verified text under the same filename).
                code = compile(self._prelude + self._text[start:end], self._module.__file__, "exec", dont_inherit=True)
                exec(_shift_lines(code, line - self._prelude.count("\n")), namespace)
                # A def that calls another reads it from the module's globals, which bypass
                # __getattr__: compile the defs its code names first (never needed by generated kernels).
                for used in _global_names(namespace[name].__code__):
                    if used in self._functions and used not in namespace:
                        self(used)
        return namespace[name]


def _shift_lines(code: types.CodeType, lines: int) -> types.CodeType:
    """`code` compiled from a slice of a file, as if compiled from the whole file: every line table
    is stored relative to its code object's first line, so moving those moves every position."""
    consts = tuple(_shift_lines(c, lines) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_firstlineno=code.co_firstlineno + lines, co_consts=consts)


def _global_names(code: types.CodeType) -> set:
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            names |= _global_names(constant)
    return names


class LazyRegistry(Mapping):
    """A generated module's registry: `KERNELS`, `VJP_X`, `VJP_Y`, `STEPS` map keys to kernels,
    `CLEBSCH_GORDAN`, `SO3_GENERATORS`, `SPHERICAL_HARMONICS_STEPS` keys to table blocks. It is the
    generated dict {key: value}, whose value is compiled when its key is first looked up."""

    def __init__(self, name: str, entries: Dict, values: Callable):
        self._name, self._entries, self._values = name, entries, values

    def __getitem__(self, key):
        return self._values(self._entries[key])

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def __repr__(self) -> str:
        return f"<lazy {self._name} of {self._values._module.__name__}: {len(self)} entries>"


# --- where builds come from ----------------------------------------------------------------------


def use_build_dir(folder) -> None:
    """Load builds from `folder` (holding `lmax<L>/` subfolders, as `e3gen build --out folder`
    writes them) before the shipped and cached ones; `None` goes back to `$E3GEN_BUILD_DIR`.
    Builds loaded so far are forgotten, so the next computation loads from the new folder."""
    global _build_dir_override
    with _lock:
        _build_dir_override = None if folder is None else Path(folder)
        clear_loaded()


def build_dir() -> Optional[Path]:
    """The build folder the user points at: `use_build_dir`'s, else `$E3GEN_BUILD_DIR`, else None."""
    if _build_dir_override is not None:
        return _build_dir_override
    value = os.environ.get(BUILD_DIR_VARIABLE)
    return Path(value) if value else None


def _build_dir_setting() -> str:
    if _build_dir_override is not None:
        return f"use_build_dir({str(_build_dir_override)!r})"
    return f"{BUILD_DIR_VARIABLE}={os.environ.get(BUILD_DIR_VARIABLE)}"


def _roots() -> List[Tuple[str, Path]]:
    folder = build_dir()
    roots = []
    if folder is not None:
        if not folder.is_dir():
            raise BuildError(
                f"{_build_dir_setting()} is not a folder: point it at a folder that `e3gen build --lmax L --out FOLDER` "
                f"wrote, or unset {BUILD_DIR_VARIABLE}"
            )
        roots.append(("build folder", folder))
    return roots + [("shipped", store.shipped_root()), ("cache", store.cache_root())]


def _is_build_folder(path: Path) -> bool:
    """A build, or what is left of one (a build with its manifest deleted is refused, not skipped)."""
    return (path / store.MANIFEST).exists() or any(path.glob("*.py"))


def _find(root: Path, lmax: int, exact: bool) -> Optional[Path]:
    for candidate in store.list_builds(root):
        found = int(candidate.name[4:])
        if (found == lmax if exact else found >= lmax) and _is_build_folder(candidate):
            return candidate
    return None


def _check_lmax(lmax, what: str) -> int:
    if isinstance(lmax, bool) or not isinstance(lmax, int) or lmax < 0:
        raise ValueError(f"{what} needs an integer lmax >= 0, got {lmax!r}")
    if lmax > store.MAX_LMAX:
        raise ValueError(f"l={lmax} is beyond what e3gen builds (lmax <= {store.MAX_LMAX}); use smaller l")
    return lmax


def _resolve(lmax: int, exact: bool) -> Path:
    for kind, root in _roots():
        path = _find(root, lmax, exact)
        if path is None:
            continue
        if kind == "cache" and store.verify_build(path).only_stale:
            # A cached build is derived data: one made by another compiler is rebuilt, not refused.
            # (Edited or corrupt files are still refused: that is not something to paper over.)
            return _build_into_cache(int(path.name[4:]), f"the cached build {path} is stale")
        return path
    return _build_into_cache(lmax, f"no build covers lmax={lmax}" if not exact else f"no lmax={lmax} build")


def _trust_scope(path: Path) -> Optional[Tuple[Path, str]]:
    """(top folder, how the user chose it) for a build outside the shipped package, else None."""
    parent = path.parent.resolve()
    if parent == store.shipped_root().resolve():
        return None
    for top, setting in ((build_dir(), _build_dir_setting()), (store.cache_base(), store.cache_setting())):
        if top is not None and (parent == top.resolve() or top.resolve() in parent.parents):
            return top, setting
    return path.parent, f"the folder {path.parent}"


def import_build(path: Path) -> LoadedBuild:
    """Verify the build folder at `path` and import it (its modules compile on first use)."""
    path = Path(path)
    scope = _trust_scope(path)
    if scope is not None:
        store.require_private_build(path, *scope)
    with store.locked(path.parent, exclusive=False):
        status = store.require_valid(path)
    package = f"e3gen.generated.{path.name}" if scope is None else f"e3gen._cached_builds.{path.name}"
    return LoadedBuild(status.lmax, path, package, status.manifest["files"])


def _load_path(path: Path) -> LoadedBuild:
    key = path.resolve()
    build = _by_path.get(key)
    if build is None:
        build = _by_path[key] = import_build(path)
    return build


def load_kernels(lmax: int) -> LoadedBuild:
    """A verified build with L >= lmax: pointed at, shipped, cached, or built into the cache now."""
    _check_lmax(lmax, "load_kernels")
    loaded = _loaded.get(lmax)
    if loaded is not None:
        return loaded
    with _lock:
        if lmax not in _loaded:
            _loaded[lmax] = _load_path(_resolve(lmax, exact=False))
        return _loaded[lmax]


def load_build(lmax: int) -> LoadedBuild:
    """The verified build of exactly this lmax (what `import e3gen.generated.lmax<L>` gives)."""
    _check_lmax(lmax, "load_build")
    with _lock:
        return _load_path(_resolve(lmax, exact=True))


def _build_into_cache(lmax: int, reason: str) -> Path:
    from e3gen.build import build

    root = store.cache_root()
    store.require_private_folder(root, store.cache_base(), store.cache_setting())  # what exists already
    _make_private_folders(root)
    store.require_private_folder(root, store.cache_base(), store.cache_setting())
    print(f"e3gen: {reason}; building lmax={lmax} into {root} (once)...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    report = build(lmax, root, force=True, progress=lambda message: None)
    print(f"e3gen: built lmax={lmax} in {time.perf_counter() - start:.1f}s", file=sys.stderr, flush=True)
    return report.path


def _make_private_folders(root: Path) -> None:
    """Create the cache folders that are missing, each 0o700 (mkdir's `parents` would follow the umask)."""
    missing = []
    probe = root
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    try:
        if probe.exists() and not probe.is_dir():
            raise NotADirectoryError(f"{probe} is a file")
        for folder in reversed(missing):
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                pass  # another process made it meanwhile
    except OSError as error:
        raise BuildError(
            f"cannot create the e3gen cache folder {root} ({error.strerror or error}); the cache is "
            f"{store.cache_setting()}: point E3GEN_CACHE_DIR at a folder you can write to"
        ) from None


def clear_loaded() -> None:
    """Forget imported builds (tests use this after changing E3GEN_CACHE_DIR)."""
    with _lock:
        _loaded.clear()
        _by_path.clear()
        for name in [n for n in sys.modules if re.match(r"e3gen\.(generated|_cached_builds)\.lmax\d+", n)]:
            del sys.modules[name]


# --- `import e3gen.generated.lmax<L>` ----------------------------------------------------------------


class GeneratedBuildFinder(importlib.abc.MetaPathFinder):
    """Routes `e3gen.generated.lmax<L>[.module]` through `load_build`, so importing a build as a
    package verifies it as the runtime does (and finds cache and pointed-at builds too)."""

    _package = re.compile(r"e3gen\.generated\.lmax(\d+)")
    _submodule = re.compile(r"(e3gen\.generated\.lmax\d+)\.(\w+)")

    def find_spec(self, fullname, path=None, target=None):
        match = self._package.fullmatch(fullname)
        if match is not None:
            return importlib.machinery.ModuleSpec(fullname, _BuildLoader(lambda: load_build(int(match[1])).package),
                                                  is_package=True)
        match = self._submodule.fullmatch(fullname)
        if match is not None and match[1] in sys.modules:
            build = getattr(sys.modules[match[1]], "_e3gen_build", None)
            if build is not None and match[2] in build.module_names:
                return importlib.machinery.ModuleSpec(fullname, _BuildLoader(lambda: build.module(match[2])))
        return None


class _BuildLoader(importlib.abc.Loader):
    def __init__(self, make: Callable[[], ModuleType]):
        self._make = make

    def create_module(self, spec):
        module = self._make()
        spec.origin = module.__file__  # where the verified bytes came from, for repr and tracebacks
        return module

    def exec_module(self, module):
        pass  # already executed from its verified bytes


def install_import_hook() -> None:
    """Put `GeneratedBuildFinder` first on sys.meta_path (once); `e3gen.generated` calls this."""
    if not any(isinstance(finder, GeneratedBuildFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, GeneratedBuildFinder())
