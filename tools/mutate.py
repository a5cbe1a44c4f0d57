#!/usr/bin/env python3
"""Mutation testing for e3gen's core: does the suite notice a small wrong change in the code?

    .venv/bin/python tools/mutate.py                          # every core module, 10 mutants each, 2 jobs
    .venv/bin/python tools/mutate.py --all e3gen/math e3gen/ir  # every mutant of these modules
    .venv/bin/python tools/mutate.py --per-module 30 --seed 1 e3gen/o3 --report /tmp/mutants.json
    .venv/bin/python tools/mutate.py --per-file 2 e3gen/nn     # at most 2 mutants of each file
    .venv/bin/python tools/mutate.py --rejudge /tmp/mutants.json   # only the survivors, after new tests

First one unmutated run of every mapped test file, split over the jobs (it must pass; --skip-baseline
skips it right after a green run); a mutant's tests may then take 3x its time in series before the
mutant counts as a timeout (killed).

For each mutant (one small edit of one source file, below) the tool runs the test files that cover
that file (MODULE_TESTS) with `pytest -x`; the mutant is *killed* if they fail, *survives* if they
pass. The score of a module is killed / mutants. Survivors are printed with their edit: each is
either a hole in the tests or an equivalent mutant (same behaviour), which a person must judge.

Mutation operators (edits of the source text in place, so the rest of the file is byte-identical):
comparison swaps (< <=, > >=, == !=, in / not in, is / is not), arithmetic swaps (+ -, * /, // /,
** *), and / or, a unary minus or `not` removed, an integer n -> n + 1, a float x -> 2x, True <->
False, and a call statement replaced by `pass`. Code inside `raise` statements and f-strings (error
messages) and docstrings is not mutated.

Isolation: the tool copies the repository's tracked and untracked-but-not-ignored files into a
temporary folder per worker and mutates only there; it never edits the checkout it runs from. The
copy is imported first (PYTHONPATH), with `e3gen/generated` and `e3gen/templates` linked to the
copy's `generated/` and `templates/` as the installed package maps them. Bytecode is not written,
so a restored file is never shadowed by a mutant's .pyc.

The manifest: a mutant of the compiler (e3gen/symbolic, ir, codegen, build.py, store.py) changes
the compiler hash, and the loader would refuse the shipped build for that reason alone. So for
such a mutant the copy's shipped build is first rebuilt by the mutated compiler
(`e3gen build --lmax 3 --force`), and the tests judge what it computes, not its hash. A mutant for
which that build fails (the exact certificate, or a crash) counts as killed "by the build". The
original build is put back after each mutant.

Sampling: by default --per-module N (default 10) mutants are drawn uniformly from all the mutants of
each target module (so a module's score estimates its --all score, whatever its file sizes), with a
fixed seed (--seed), so a run is reproducible; --per-file N draws at most N per source file instead;
--all takes every mutant. The default run (90 mutants) is sized to finish within an hour on 2 cores:
measured on 2026-11-30, 247 s CPU for the baseline and 1,895 s for the mutants (about 18 minutes
on 2 idle cores; REFERENCE.md, "Mutation testing"). Hypothesis runs with
--hypothesis-seed 0, so a mutant's verdict does not depend on the draw.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

REPO = Path(__file__).resolve().parents[1]
CORE = ["e3gen/symbolic", "e3gen/ir", "e3gen/codegen", "e3gen/o3", "e3gen/nn", "e3gen/math", "e3gen/runtime",
        "e3gen/store.py", "e3gen/build.py"]  # fmt: skip
# Mutated only when named on the command line (their tests build C++ or start interpreters: slow).
NAMED_ONLY = ["e3gen/compat", "e3gen/native"]
COMPILER = ("e3gen/symbolic", "e3gen/ir", "e3gen/codegen", "e3gen/build.py", "e3gen/store.py")  # = store.COMPILER_SOURCES

# source prefix -> the test files that cover it, most likely killer first (pytest -x stops at the first failure).
# The longest matching prefix wins.
MODULE_TESTS: Dict[str, List[str]] = {
    "e3gen/symbolic": ["test_symbolic.py", "test_certificate_gate.py", "test_ir.py", "test_generators.py", "test_kernels.py",
                       "test_e3nn_compat.py", "test_build.py"],
    "e3gen/ir": ["test_ir.py", "test_generators.py", "test_kernels.py", "test_build.py"],
    "e3gen/codegen": ["test_kernels.py", "test_generators.py", "test_build.py", "test_ir.py", "test_e3nn_compat.py"],
    # the C++ renderer is exercised only by compiling and running the native backend
    "e3gen/codegen/plan_cpp.py": ["test_native.py"],
    "e3gen/codegen/render_cpp.py": ["test_native.py", "test_native_sh.py", "test_native_rowwise.py"],
    "e3gen/build.py": ["test_build.py", "test_certificate_gate.py", "test_build_trust.py"],
    "e3gen/store.py": ["test_build.py", "test_certificate_gate.py", "test_build_trust.py"],
    "e3gen/runtime": ["test_build.py", "test_kernels.py", "test_certificate_gate.py", "test_build_trust.py",
                      "test_lazy_kernels.py"],
    "e3gen/runtime/constants.py": ["test_deploy_tracing.py", "test_tensor_product.py"],
    "e3gen/runtime/tracing.py": ["test_deploy_tracing.py"],
    "e3gen/compat": ["test_compat_switch.py", "test_compat_api.py", "test_e3nn_api_namespace.py"],
    "e3gen/compat/_post_import.py": ["test_client_hooks.py", "test_compat_switch.py"],
    "e3gen/compat/_nequip.py": ["test_client_hooks.py"],
    "e3gen/native": ["test_native.py", "test_native_streaming.py", "test_native_threads.py", "test_native_custom_op.py",
                     "test_native_output_cache.py"],
    "e3gen/math": ["test_math.py", "test_normalize2mom.py", "test_e3nn_api_io_math.py"],
    "e3gen/math/_radial.py": ["test_math.py", "test_convolution_oracle.py"],
    "e3gen/nn/_convolution.py": ["test_convolution_oracle.py", "test_convolution.py", "test_deploy_tracing.py"],
    "e3gen/nn/_tensor_product_scatter.py": ["test_tp_scatter.py", "test_client_hooks.py", "test_convolution.py"],
    "e3gen/nn/_graph.py": ["test_radius_graph.py", "test_convolution.py", "test_layer_bad_inputs.py"],
    "e3gen/nn": ["test_nn.py", "test_fc_inputs.py", "test_convolution_oracle.py", "test_convolution.py", "test_radius_graph.py",
                 "test_e3nn_api_nn.py", "test_layer_bad_inputs.py"],
    "e3gen/nn/models": ["test_e3nn_api_nn.py", "test_nn.py"],
    "e3gen/o3/_irreps.py": ["test_irreps.py", "test_o3_equivariance.py", "test_tensor_product.py", "test_linear.py"],
    "e3gen/o3/_rotation.py": ["test_rotation.py", "test_o3_equivariance.py", "test_irreps.py"],
    "e3gen/o3/_wigner.py": ["test_o3_equivariance.py", "test_e3nn_compat.py", "test_generators.py", "test_irreps.py",
                            "test_rotation.py"],
    "e3gen/o3/_spherical_harmonics.py": ["test_e3nn_compat.py", "test_o3_equivariance.py", "test_kernels.py",
                                         "test_native_sh.py"],
    "e3gen/native/harmonics.py": ["test_native_sh.py"],
    "e3gen/native/backend.py": ["test_native.py", "test_native_rowwise.py", "test_native_sh.py"],
    "e3gen/codegen/plan_cpp_harmonics.py": ["test_native_sh.py"],
    "e3gen/native/rowwise.py": ["test_native_rowwise.py"],
    "e3gen/native/fully_connected.py": ["test_native_rowwise.py"],
    "e3gen/codegen/plan_cpp_rowwise.py": ["test_native_rowwise.py"],
    "e3gen/o3/_linear.py": ["test_linear.py", "test_linear_matrix.py"],
    "e3gen/o3/_coupling.py": ["test_kernels.py", "test_tensor_product.py"],
    "e3gen/o3/_tensor_product.py": ["test_tensor_product.py", "test_path_normalization.py", "test_kernels.py",
                                    "test_layer_bad_inputs.py"],
    "e3gen/o3": ["test_o3_equivariance.py", "test_e3nn_compat.py", "test_tensor_product.py", "test_linear.py",
                 "test_e3nn_api_o3.py", "test_e3nn_api_io_math.py", "test_layer_bad_inputs.py"],
    "e3gen/o3/_e3nn_checkpoints.py": ["test_e3nn_checkpoints.py"],
    "e3gen/o3/_reduce.py": ["test_e3nn_api_io_math.py"],
    "e3gen/o3/_scriptable.py": ["test_deploy.py", "test_linear.py", "test_kernels.py"],
}

_COMPARE_SWAPS = {ast.Lt: "<=", ast.LtE: "<", ast.Gt: ">=", ast.GtE: ">", ast.Eq: "!=", ast.NotEq: "==",
                  ast.In: "not in", ast.NotIn: "in", ast.Is: "is not", ast.IsNot: "is"}  # fmt: skip
_COMPARE_TEXT = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
                 ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}  # fmt: skip
_BINOP_SWAPS = {ast.Add: ("+", "-"), ast.Sub: ("-", "+"), ast.Mult: ("*", "/"), ast.Div: ("/", "*"),
                ast.FloorDiv: ("//", "/"), ast.Pow: ("**", "*")}  # fmt: skip


@dataclass(frozen=True)
class Mutant:
    path: str  # relative to the repository
    line: int
    column: int
    start: int  # character offsets in the file's text
    stop: int
    replacement: str
    original: str
    operator: str

    def describe(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.operator}: {self.original!r} -> {self.replacement!r}"


@dataclass
class Result:
    mutant: Mutant
    verdict: str  # "killed", "killed by the build", "survived", "timeout"
    seconds: float
    detail: str = ""
    cpu: float = 0.0  # CPU seconds of the build and tests (all processes), apart from other load on the machine


# --- finding mutants ---------------------------------------------------------------------------------


def _offsets(text: str) -> List[int]:
    """Character offset of the start of each line (1-based line numbers index it with line - 1)."""
    starts, total = [0], 0
    for line in text.splitlines(keepends=True):
        total += len(line)
        starts.append(total)
    return starts


def _operator_between(text: str, start: int, stop: int, token: str) -> Optional[int]:
    """Offset of `token` in text[start:stop], skipping whitespace, parentheses, line continuations and comments."""
    i = start
    while i < stop:
        c = text[i]
        if text.startswith(token, i) and not (token == "*" and text.startswith("**", i)) and not (
            token == "/" and text.startswith("//", i)
        ):
            return i
        if c == "#":
            i = text.index("\n", i)
        elif c in " \t\n\\()":
            i += 1
        else:
            return None
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, text: str):
        self.path, self.text, self.lines = path, text, _offsets(text)
        self.mutants: List[Mutant] = []

    def offset(self, line: int, col: int) -> int:
        # ast columns are UTF-8 byte offsets; e3gen's sources are ASCII where code is
        begin = self.lines[line - 1]
        return begin + len(self.text[begin:self.lines[line]].encode()[:col].decode(errors="ignore"))

    def span(self, node) -> Tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)

    def add(self, line, start, stop, replacement, operator):
        column = start - self.text.rfind("\n", 0, start)
        self.mutants.append(Mutant(self.path, line, column, start, stop, replacement, self.text[start:stop], operator))

    # code that only builds error messages or documents is not mutated
    def visit_Raise(self, node):
        return

    def visit_JoinedStr(self, node):
        return

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return  # docstring
        if isinstance(node.value, ast.Call):
            start, stop = self.span(node)
            self.add(node.lineno, start, stop, "pass", "call statement removed")
        self.generic_visit(node)

    def visit_Assert(self, node):
        return  # assertions guard internal invariants; removing them changes no result

    def visit_Compare(self, node):
        left = node.left
        for op, right in zip(node.ops, node.comparators):
            _, after_left = self.span(left)
            before_right, _ = self.span(right)
            token = _COMPARE_TEXT[type(op)]
            first = token.split()[0]
            at = _operator_between(self.text, after_left, before_right, first)
            if at is not None:
                stop = at + len(token)
                if token in ("not in", "is not"):
                    stop = self.text.index(token.split()[1], at + len(first)) + len(token.split()[1])
                self.add(node.lineno, at, stop, _COMPARE_SWAPS[type(op)], "comparison")
            left = right
        self.generic_visit(node)

    def visit_BinOp(self, node):
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap is not None:
            _, after_left = self.span(node.left)
            before_right, _ = self.span(node.right)
            at = _operator_between(self.text, after_left, before_right, swap[0])
            if at is not None:
                self.add(node.lineno, at, at + len(swap[0]), swap[1], "arithmetic")
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        swap = _BINOP_SWAPS.get(type(node.op))
        if swap is not None:
            _, after_target = self.span(node.target)
            before_value, _ = self.span(node.value)
            at = _operator_between(self.text, after_target, before_value, swap[0] + "=")
            if at is not None:
                self.add(node.lineno, at, at + len(swap[0]) + 1, swap[1] + "=", "arithmetic")
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        token, other = ("and", "or") if isinstance(node.op, ast.And) else ("or", "and")
        for a, b in zip(node.values, node.values[1:]):
            _, after = self.span(a)
            before, _ = self.span(b)
            at = _operator_between(self.text, after, before, token)
            if at is not None:
                self.add(node.lineno, at, at + len(token), other, "boolean")
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if isinstance(node.op, (ast.USub, ast.Not)):
            start, stop = self.span(node)
            operand_start, operand_stop = self.span(node.operand)
            if self.text[operand_stop:stop].strip(" )") == "":
                self.add(node.lineno, start, operand_start, "", "unary removed")
        self.generic_visit(node)

    def visit_Constant(self, node):
        value = node.value
        start, stop = self.span(node)
        if isinstance(value, bool):
            self.add(node.lineno, start, stop, str(not value), "constant")
        elif isinstance(value, int):
            self.add(node.lineno, start, stop, str(value + 1), "constant")
        elif isinstance(value, float):
            self.add(node.lineno, start, stop, repr(value * 2 if value else 1.0), "constant")


def find_mutants(path: Path) -> List[Mutant]:
    text = path.read_text()
    finder = _Finder(path.relative_to(REPO).as_posix(), text)
    finder.visit(ast.parse(text))
    unique = {(m.start, m.stop, m.replacement): m for m in finder.mutants}
    return sorted(unique.values(), key=lambda m: (m.start, m.stop, m.replacement))


def source_files(targets: List[str]) -> List[Path]:
    files = []
    for target in targets:
        path = REPO / target
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if "__pycache__" not in f.parts]


def tests_for(relative: str) -> List[str]:
    best = max((p for p in MODULE_TESTS if relative == p or relative.startswith(p.rstrip("/") + "/")), key=len, default=None)
    if best is None:
        raise SystemExit(f"tools/mutate.py: no tests mapped for {relative}; add it to MODULE_TESTS")
    return MODULE_TESTS[best]


def module_of(relative: str) -> str:
    return next(t for t in sorted(CORE, key=len, reverse=True) if relative == t or relative.startswith(t + "/"))


# --- running them -------------------------------------------------------------------------------------


class Workspace:
    """A private copy of the repository in which one mutant at a time is applied and judged."""

    def __init__(self, root: Path, timeout: float):
        self.root, self.timeout = root, timeout
        listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                                capture_output=True).stdout.decode().split("\0")  # fmt: skip
        for name in filter(None, listed):
            source = REPO / name
            if source.is_file():
                (root / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, root / name)
        for package, folder in (("generated", "generated"), ("templates", "templates")):
            link = root / "e3gen" / package
            if not link.exists():
                link.symlink_to(Path("..") / folder)
        self.env = {k: v for k, v in os.environ.items() if k not in ("E3GEN_REQUIRE_ORACLES", "PYTHONPATH")}
        self.env.update(PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1", E3GEN_CACHE_DIR=str(root / ".cache"))
        self.cpu_seconds = 0.0
        self.tests: Optional[List[str]] = None  # --tests: these instead of MODULE_TESTS
        self.shipped = {p.name: p.read_bytes() for p in (root / "generated" / "lmax3").iterdir() if p.is_file()}

    def run(self, command: List[str], timeout: float) -> subprocess.CompletedProcess:
        """Run `command` in the copy; its CPU time (and its children's) is added to self.cpu_seconds."""
        with tempfile.TemporaryFile() as output:
            process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=output, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # Ctrl-C stops mutate.py, not a mutant's verdict
            deadline = time.monotonic() + timeout
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    _, status, usage = os.wait4(process.pid, 0)
                    self.cpu_seconds += usage.ru_utime + usage.ru_stime
                    process.returncode = -9
                    raise subprocess.TimeoutExpired(command, timeout)
                time.sleep(0.1)
            self.cpu_seconds += usage.ru_utime + usage.ru_stime
            process.returncode = os.waitstatus_to_exitcode(status)
            output.seek(0)
            return subprocess.CompletedProcess(command, process.returncode, output.read().decode(errors="replace"), "")

    def pytest(self, tests: List[str], timeout: float) -> subprocess.CompletedProcess:
        files = [t if t.startswith("tests/") else f"tests/{t}" for t in tests]
        return self.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-seed=0",
                         *files], timeout)  # fmt: skip

    def rebuild(self) -> subprocess.CompletedProcess:
        return self.run([sys.executable, "-m", "e3gen", "build", "--lmax", "3", "--force"], self.timeout)

    def restore_build(self) -> None:
        target = self.root / "generated" / "lmax3"
        shutil.rmtree(target)
        target.mkdir()
        for name, data in self.shipped.items():
            (target / name).write_bytes(data)
        shutil.rmtree(self.root / ".cache", ignore_errors=True)

    def judge(self, mutant: Mutant, baseline_seconds: float) -> Result:
        before = self.cpu_seconds
        result = self._judge(mutant, baseline_seconds)
        result.cpu = self.cpu_seconds - before
        return result

    def _judge(self, mutant: Mutant, baseline_seconds: float) -> Result:
        path = self.root / mutant.path
        original = path.read_text()
        start = time.perf_counter()
        path.write_text(original[: mutant.start] + mutant.replacement + original[mutant.stop:])
        compiler = mutant.path.startswith(COMPILER)
        try:
            if compiler:
                try:
                    build = self.rebuild()
                except subprocess.TimeoutExpired:
                    return Result(mutant, "timeout", time.perf_counter() - start, "the build timed out")
                if build.returncode != 0:
                    last = (build.stdout.strip().splitlines() or ["?"])[-1]
                    return Result(mutant, "killed by the build", time.perf_counter() - start, last[:200])
            try:
                run = self.pytest(self.tests or tests_for(mutant.path), timeout=max(120.0, 3 * baseline_seconds))
            except subprocess.TimeoutExpired:
                return Result(mutant, "timeout", time.perf_counter() - start)
            if run.returncode == 0:
                return Result(mutant, "survived", time.perf_counter() - start)
            failed = [line for line in run.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
            return Result(mutant, "killed", time.perf_counter() - start, (failed or ["?"])[0][:200])
        finally:
            path.write_text(original)
            shutil.rmtree(self.root / ".hypothesis", ignore_errors=True)  # a mutant's saved failures are not replayed on the next
            # A native mutant's tests must compile the library it would build, not load the one
            # cached by the run before: the cache goes with the build.
            if compiler or mutant.path.startswith("e3gen/native"):
                self.restore_build()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="*", default=CORE, help="core modules or files (default: all of %(default)s)")
    parser.add_argument("--per-module", type=int, default=10, help="mutants drawn per target module (default %(default)s)")
    parser.add_argument("--per-file", type=int, help="draw at most this many mutants per source file instead")
    parser.add_argument("--all", action="store_true", help="every mutant of the targets, no sampling")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default %(default)s)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants judged at once, one copy each (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=120,
                        help="seconds for a compiler mutant's build; an unmutated lmax-3 build takes seconds (default %(default)s)")
    parser.add_argument("--list", action="store_true", help="print the mutants and stop")
    parser.add_argument("--report", type=Path, help="write every result as JSON here")
    parser.add_argument("--skip-baseline", action="store_true",
                        help="do not first run the mapped tests unmutated (only right after a green run of them)")
    parser.add_argument("--match", help="only the mutants whose description (as --list prints it) contains this text")
    parser.add_argument("--tests", nargs="+", help="run these test files or node ids instead of MODULE_TESTS (a survivor "
                        "then only survived these: to check that a new test kills a mutant, not for scores)")
    parser.add_argument("--rejudge", type=Path, help="judge again only the survivors of an earlier --report (after adding tests)")
    args = parser.parse_args(argv)

    for target in args.targets:
        if not (REPO / target).exists() or not any(target == c or target.startswith(c + "/") for c in CORE + NAMED_ONLY):
            parser.error(f"{target}: expected one of the core modules {CORE + NAMED_ONLY} or a file inside one")
    rng = random.Random(args.seed)
    mutants: List[Mutant] = []
    for entry in json.loads(args.rejudge.read_text()) if args.rejudge else []:
        if entry.pop("verdict") == "survived":
            entry.pop("seconds"), entry.pop("detail"), entry.pop("cpu", None)
            mutant = Mutant(**entry)
            if (REPO / mutant.path).read_text()[mutant.start:mutant.stop] != mutant.original:
                raise SystemExit(f"{mutant.describe()}: {mutant.path} changed since the report; run the sample again")
            mutants.append(mutant)
    for target in [] if args.rejudge else args.targets:
        found = {file: find_mutants(file) for file in source_files([target])}
        if args.all:
            mutants += [m for file_mutants in found.values() for m in file_mutants]
        elif args.per_file is not None:
            for file_mutants in found.values():
                mutants += sorted(rng.sample(file_mutants, min(args.per_file, len(file_mutants))), key=lambda m: m.start)
        else:
            pool = [m for file_mutants in found.values() for m in file_mutants]
            mutants += sorted(rng.sample(pool, min(args.per_module, len(pool))), key=lambda m: (m.path, m.start))
    if args.match:
        mutants = [m for m in mutants if args.match in m.describe()]
    if args.list:
        for m in mutants:
            print(m.describe())
        print(f"{len(mutants)} mutants")
        return 0

    # kill -INT / -TERM (also of a background run, where SIGINT starts ignored) stops it as Ctrl-C does
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    scratch = Path(tempfile.mkdtemp(prefix="e3gen-mutate-"))
    print(f"{len(mutants)} mutants in {len({m.path for m in mutants})} files; working copies under {scratch}", flush=True)
    try:
        spaces = [Workspace(scratch / f"copy{i}", args.timeout) for i in range(max(1, args.jobs))]
        # one unmutated run of every mapped test file: it must pass, and its time bounds each mutant's
        for space in spaces:
            space.tests = args.tests
        needed = args.tests or sorted({t for m in mutants for t in tests_for(m.path)})
        if args.skip_baseline:
            baseline = 600.0  # each mutant's tests then get 30 minutes
        else:
            # the test files split over the copies, run at once; a mutant's bound is 3x their time in series
            def unmutated(space_and_files: Tuple[Workspace, List[str]]) -> Tuple[subprocess.CompletedProcess, float]:
                space, files = space_and_files
                start = time.perf_counter()
                return space.pytest(files, timeout=3600), time.perf_counter() - start

            shares = [needed[i::len(spaces)] for i in range(len(spaces))]
            with ThreadPoolExecutor(max_workers=len(spaces)) as pool:
                runs = list(pool.map(unmutated, [(sp, sh) for sp, sh in zip(spaces, shares) if sh]))
            for run, _ in runs:
                if run.returncode != 0:
                    print(run.stdout[-3000:])
                    raise SystemExit(f"the unmutated code fails {needed}: fix that first")
            baseline = sum(seconds for _, seconds in runs)
            print(f"baseline {', '.join(needed)}: passed in {max(s for _, s in runs):.0f}s "
                  f"({baseline:.0f}s in series)", flush=True)  # fmt: skip

        free, lock, results, stop = list(spaces), threading.Lock(), [], threading.Event()

        def judge(mutant: Mutant) -> Optional[Result]:
            if stop.is_set():
                return None
            with lock:
                space = free.pop()
            try:
                result = space.judge(mutant, baseline)
            finally:
                with lock:
                    free.append(space)
            with lock:
                results.append(result)
                print(f"[{len(results)}/{len(mutants)}] {result.verdict:20s} {result.seconds:5.0f}s {result.cpu:5.0f}s CPU  "
                      f"{mutant.describe()}", flush=True)  # fmt: skip
            return result

        # judged round robin over the modules, so that a run stopped early has verdicts for each of them
        rank = {m: sum(module_of(o.path) == module_of(m.path) for o in mutants[:i]) for i, m in enumerate(mutants)}
        pool = ThreadPoolExecutor(max_workers=len(spaces))
        futures = {m: pool.submit(judge, m) for m in sorted(mutants, key=lambda m: rank[m])}
        try:
            for future in futures.values():
                future.result()
        except KeyboardInterrupt:  # Ctrl-C (or kill -INT): finish the mutants being judged, then report them
            stop.set()
            print("interrupted: finishing the mutants being judged, then reporting the judged ones", flush=True)
        pool.shutdown(wait=True, cancel_futures=True)
        ordered = [r for r in (f.result() for f in futures.values() if not f.cancelled()) if r is not None]
        ordered.sort(key=lambda r: mutants.index(r.mutant))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    print("\n| module | mutants | killed | by the build | timeout | survived | score |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for module in [c for c in CORE if any(module_of(r.mutant.path) == c for r in ordered)]:
        mine = [r for r in ordered if module_of(r.mutant.path) == module]
        count = {v: sum(r.verdict == v for r in mine) for v in ("killed", "killed by the build", "timeout", "survived")}
        score = (len(mine) - count["survived"]) / len(mine)
        print(f"| {module} | {len(mine)} | {count['killed']} | {count['killed by the build']} | {count['timeout']} | "
              f"{count['survived']} | {score:.0%} |")  # fmt: skip
    baseline_cpu = max(0.0, sum(space.cpu_seconds for space in spaces) - sum(r.cpu for r in ordered))
    print(f"\nCPU time: baseline {baseline_cpu:.0f}s, mutants {sum(r.cpu for r in ordered):.0f}s "
          f"(wall {sum(r.seconds for r in ordered):.0f}s in series)")  # fmt: skip
    survivors = [r for r in ordered if r.verdict == "survived"]
    print(f"\n{len(survivors)} survivors (holes in the tests, or equivalent mutants):")
    for r in survivors:
        print("  " + r.mutant.describe())
    if args.report:
        args.report.write_text(json.dumps([{**asdict(r.mutant), "verdict": r.verdict, "seconds": round(r.seconds, 1), "cpu": round(r.cpu, 1),
                                            "detail": r.detail} for r in ordered], indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
