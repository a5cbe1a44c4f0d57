"""`e3gen bench`: e3gen against e3nn 0.6.0, in the same process, on the workloads that matter.

Cases (float32, as in the issue that defines them):
  a  NequIP's convolution product 32x0e+32x1o+32x2e+32x3o (x) 0e+1o+2e+3o, uvu into every
     output with l <= 3, per-edge weights; 20,000 and 2,000 edges
  b  FullyConnectedTensorProduct 16x0e+16x1o+16x2e (x) itself -> itself, 20,000 rows
  c  FullTensorProduct 0e+1o+2e+3o (x) itself, 100,000 rows
  d  spherical harmonics lmax 3 and 8 on 100,000 vectors (normalize=True)
  m  whole models: MACE and NequIP forward+forces on e3gen vs real e3nn, in the client venvs named
     by E3GEN_CLIENT_VENVS (e3gen/bench_models.py; skipped with one message without them)
  f  the convolution of case (a) on a graph (100,000, 20,000 and 2,000 edges, 20 per receiver;
     issue 8 asks for the peak memory at 100,000): e3gen's fused
     native op (gather, product, segment sum; no per-edge messages) against e3nn's product on
     x[sender] followed by index_add; with the peak memory each adds over its inputs

Backends: "eager", "compiled" (torch.compile), and "native" (e3gen's C++ kernels, strategy="native",
against eager e3nn; cases a, b, c, d and f).

Case (d) also times sphericart (the C++ spherical-harmonics library, `sphericart.torch`, lmax and
normalize=True alike, its own real basis) in the eager and native rows when it is installed
(`pip install --no-deps sphericart-torch sphericart`): an optional column "sphericart ms", timed
interleaved with e3gen alone (not in the rotation with e3nn, whose intermediates evict the input
from cache for whichever library runs next).

For each: forward and forward+backward (gradients for every input and the weights), eager and
torch.compile'd (e3nn compiled too, so the comparison is like for like), median of repeated runs.
e3gen and e3nn runs are interleaved so that load on a shared machine hits both alike. The ratio
is e3gen time / e3nn time: below 1 means e3gen is faster. The one-off compile time is reported.

The allocator is stated in the header: glibc's malloc page-faults on every fresh tensor above
~32 MB, which dominates products whose outputs are hundreds of MB (see PERFORMANCE.md); run under
LD_PRELOAD=libtcmalloc_minimal.so.4 to measure both libraries without that cost.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch


@dataclass
class Workload:
    """One benchmark case: how to build each library's module and its inputs."""

    name: str
    size: int
    make: Callable[[object], torch.nn.Module]  # (o3 namespace) -> module
    inputs: Callable[[torch.nn.Module, int], Tuple[torch.Tensor, ...]]


@dataclass
class Row:
    case: str
    size: int
    pass_: str
    backend: str
    e3nn: float
    e3gen: float
    compile_seconds: Dict[str, float] = field(default_factory=dict)
    peak_bytes: Dict[str, int] = field(default_factory=dict)
    # optional comparisons, each timed interleaved with e3gen alone: library -> (its seconds, e3gen's seconds)
    others: Dict[str, Tuple[float, float]] = field(default_factory=dict)
    bound: Optional[float] = None  # seconds to move the bytes it must at the measured bandwidth (case a)
    bandwidth: Optional[float] = None  # bytes per second that bound assumes

    @property
    def ratio(self) -> float:
        return self.e3gen / self.e3nn


def _conv_product(o3, irreps_in: str = "32x0e+32x1o+32x2e+32x3o", irreps_sh: str = "0e+1o+2e+3o", lmax_out: int = 3):
    """A convolution's channel-wise product (uvu, per-edge weights) into every output l <= lmax_out, the
    outputs sorted; by default case (a), NequIP's lmax-3 convolution product."""
    irreps_in = o3.Irreps(irreps_in)
    irreps_sh = o3.Irreps(irreps_sh)
    out, instructions = [], []
    for i1, (mul, ir1) in enumerate(irreps_in):
        for i2, (_, ir2) in enumerate(irreps_sh):
            for ir in ir1 * ir2:
                if ir.l <= lmax_out:
                    instructions.append((i1, i2, len(out), "uvu", True))
                    out.append((mul, ir))
    out, p, _ = o3.Irreps(out).sort()
    instructions = [(i1, i2, p[io], mode, w) for i1, i2, io, mode, w in instructions]
    return o3.TensorProduct(irreps_in, irreps_sh, out, instructions, shared_weights=False, internal_weights=False)


def _tp_inputs(module, n: int):
    x = torch.randn(n, module.irreps_in1.dim)
    y = torch.randn(n, module.irreps_in2.dim)
    if module.weight_numel and not module.internal_weights:
        return x, y, torch.randn(n, module.weight_numel)
    return x, y


class _SphericalHarmonics(torch.nn.Module):
    def __init__(self, o3, lmax: int):
        super().__init__()
        self.lmax = lmax
        self.sh = o3.SphericalHarmonics(list(range(lmax + 1)), normalize=True, normalization="component")

    def forward(self, x):
        return self.sh(x)


def _sphericart(lmax: int) -> Optional[torch.nn.Module]:
    """sphericart.torch's SphericalHarmonics(lmax) (normalised inputs), or None when not installed."""
    try:
        import sphericart.torch
    except Exception:  # not installed, or built for another torch: the column is optional
        return None
    return sphericart.torch.SphericalHarmonics(lmax)


def workloads() -> Dict[str, List[Workload]]:
    return {
        "a": [Workload("a conv uvu lmax3", n, _conv_product, _tp_inputs) for n in (20_000, 2_000)],
        "b": [Workload("b fully connected 16x", 20_000,
                       lambda o3: o3.FullyConnectedTensorProduct("16x0e+16x1o+16x2e", "16x0e+16x1o+16x2e", "16x0e+16x1o+16x2e"),
                       _tp_inputs)],
        "c": [Workload("c full 0e+1o+2e+3o", 100_000, lambda o3: o3.FullTensorProduct("0e+1o+2e+3o", "0e+1o+2e+3o"), _tp_inputs)],
        "f": [Workload("f fused conv lmax3", n, lambda o3: None, lambda module, n: ()) for n in (100_000, 20_000, 2_000)],
        "d": [Workload(f"d harmonics lmax{l}", 100_000, (lambda l: lambda o3: _SphericalHarmonics(o3, l))(l),
                       lambda module, n: (torch.randn(n, 3),)) for l in (3, 8)],
    }


def _forward(module, inputs):
    def run():
        with torch.no_grad():
            return module(*inputs)

    return run


def _forward_backward(module, inputs):
    """The forward and the backward with a cotangent of ones. The cotangent is made by the first call
    (the warm-up) and reused, like the inputs: it is an input of the backward, and making it is no
    part of either library's work. Made afresh every call it was under glibc a fresh 400 MB mapping
    of case (a) faulted in by the fill: 172 ms at one thread on the 2-core box, more than three times
    (a)'s whole bandwidth bound (which counts reading the cotangent, not making it)."""
    leaves = [t.detach().requires_grad_(t.is_floating_point()) for t in inputs]
    made = []

    def run():
        out = module(*leaves)
        if not made or made[0].shape != out.shape or made[0].dtype != out.dtype:
            made[:] = [torch.ones_like(out)]
        out.backward(made[0])
        for t in leaves:
            t.grad = None

    return run


def _median_interleaved(runs: Dict[str, Callable], repeats: int) -> Dict[str, float]:
    """Median seconds per run, the runs interleaved, each repeat in the next of their orders (every
    permutation in turn): what ran just before meets a library's call in another memory state (glibc
    hands back trimmed pages that fault again, or reuses a freed block; caches hold the other's data),
    and with one fixed order that cost always fell on the same library."""
    orders = list(itertools.permutations(runs))
    times = {name: [] for name in runs}
    for repeat in range(repeats):
        for name in orders[repeat % len(orders)]:
            run = runs[name]
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


class _FusedConvolution(torch.nn.Module):
    """Case (f): out[n] = sum over edges into n of the case (a) product of x[sender], y, w.

    e3nn: its TensorProduct on the gathered rows, then index_add. e3gen: the fused native op."""

    def __init__(self, o3, fused: bool):
        super().__init__()
        self.tp = _conv_product(o3)
        self.fused = fused
        if fused:
            from e3gen.native import ops

            self.convolution = ops.convolution
            self.tp.strategy = "native"

    def forward(self, x, y, w, sender, receiver):
        if self.fused:
            return self.convolution(self.tp._native_key, x, y, w, sender, receiver)
        messages = self.tp(x.index_select(0, sender), y, w)
        return messages.new_zeros(x.shape[0], messages.shape[1]).index_add(0, receiver, messages)


def _graph_inputs(module, edges: int):
    nodes = max(1, edges // 20)
    g = torch.Generator().manual_seed(0)
    return (torch.randn(nodes, module.tp.irreps_in1.dim, generator=g), torch.randn(edges, module.tp.irreps_in2.dim, generator=g),
            torch.randn(edges, module.tp.weight_numel, generator=g),
            torch.randint(0, nodes, (edges,), generator=g), torch.randint(0, nodes, (edges,), generator=g))


def release_free_memory() -> None:
    """Return the allocator's cached free pages to the system (tcmalloc: MallocExtension_ReleaseFreeMemory;
    glibc: malloc_trim), and e3gen's native output cache too (`e3gen.native.output_cache`). A forked
    child inherits the parent's caches as resident memory, and a caching allocator (tcmalloc) would
    serve the measured call from it without growing the resident set: e3nn's 400 MB rows read 12 MB
    under tcmalloc before this."""
    import ctypes

    from e3gen.native import output_cache

    output_cache.release()

    process = ctypes.CDLL(None)
    for name in ("MallocExtension_ReleaseFreeMemory", "malloc_trim"):
        function = getattr(process, name, None)
        if function is not None:
            function(*([0] if name == "malloc_trim" else []))
            return


def _peak_bytes(run: Callable) -> int:
    """Resident memory a call adds at its peak (a forked child runs it once, on one thread; Linux only).

    The child first returns the allocator's cached free pages (`release_free_memory`), then resets
    the kernel's high-water mark of its resident set (`/proc/self/clear_refs` 5: the mark a forked
    child inherits is the parent's, which trimming leaves above the current size), and reports
    VmHWM - VmRSS-before after the call.

    One thread: a forked child inherits the parent's OpenMP thread pool as a lock with no threads
    behind it, so the first parallel region in the child waits forever (with --threads 2 the (f)
    rows hung). At one thread torch runs parallel_for inline and never touches the pool."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        torch.set_num_threads(1)
        release_free_memory()
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        before = _status_kilobytes("VmRSS")
        run()
        peak = _status_kilobytes("VmHWM")
        os.write(write, str(max(0, peak - before) * 1024).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return int(text or 0)


def _status_kilobytes(field: str) -> int:
    """A "kB" field of /proc/self/status (VmRSS: resident now, VmHWM: its high-water mark)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def measure(workload: Workload, e3nn_o3, backend: str, repeats: int) -> List[Row]:
    from e3gen import o3 as e3gen_o3

    torch.manual_seed(0)
    if workload.name.startswith("f "):
        if backend != "native":
            return []
        modules = {"e3nn": _FusedConvolution(e3nn_o3, False), "e3gen": _FusedConvolution(e3gen_o3, True)}
        inputs = _graph_inputs(modules["e3gen"], workload.size)
        rows = []
        for pass_name, make_run in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
            runs = {lib: make_run(module, inputs) for lib, module in modules.items()}
            for run in runs.values():
                run()
            medians = _median_interleaved(runs, repeats)
            peaks = {lib: _peak_bytes(run) for lib, run in runs.items()}
            rows.append(Row(workload.name, workload.size, pass_name, backend, medians["e3nn"], medians["e3gen"], {}, peaks))
        return rows
    modules = {"e3nn": workload.make(e3nn_o3), "e3gen": workload.make(e3gen_o3)}
    harmonics = isinstance(modules["e3gen"], _SphericalHarmonics)
    if backend == "native":
        if harmonics:
            modules["e3gen"].sh.strategy = "native"
        elif not any(getattr(modules["e3gen"], name, None) for name in ("_native_layout", "_native_rowwise", "_native_fc")):
            print(f"{workload.name}: no native kernels for this case yet (skipped)", file=sys.stderr)
            return []
        else:
            modules["e3gen"].strategy = "native"
    if harmonics and backend != "compiled":
        sphericart = _sphericart(modules["e3gen"].lmax)
        if sphericart is not None:
            modules["sphericart"] = sphericart
    inputs = workload.inputs(modules["e3gen"], workload.size)
    rows = []
    for pass_name, make_run in (("fwd", _forward), ("fwd+bwd", _forward_backward)):
        compile_seconds = {}
        runs = {}
        for lib, module in modules.items():
            target = torch.compile(module) if backend == "compiled" else module
            run = make_run(target, inputs)
            start = time.perf_counter()
            run()  # warm-up; for torch.compile, this is the compilation
            compile_seconds[lib] = time.perf_counter() - start
            runs[lib] = run
        medians = _median_interleaved({lib: runs[lib] for lib in ("e3nn", "e3gen")}, repeats)
        # Another library is timed in its own pairing with e3gen: in a three-way rotation the one that
        # follows e3nn (whose many intermediates evict the input from cache) is always slower.
        others = {}
        for lib in runs.keys() - {"e3nn", "e3gen"}:
            pair = _median_interleaved({"e3gen": runs["e3gen"], lib: runs[lib]}, repeats)
            others[lib] = (pair[lib], pair["e3gen"])
        rows.append(Row(workload.name, workload.size, pass_name, backend, medians["e3nn"], medians["e3gen"],
                        compile_seconds if backend == "compiled" else {}, others=others))
    return rows


def format_rows(rows: List[Row]) -> str:
    header = f"{'case':<24} {'size':>7} {'pass':<8} {'backend':<9} {'e3nn ms':>9} {'e3gen ms':>9} {'e3gen/e3nn':>10}  compile s or peak MB (e3nn/e3gen)"
    lines = [header, "-" * len(header)]
    for r in rows:
        compile_text = f"{r.compile_seconds['e3nn']:.1f} / {r.compile_seconds['e3gen']:.1f}" if r.compile_seconds else ""
        if r.peak_bytes:
            compile_text = f"peak MB {r.peak_bytes['e3nn'] / 2**20:.0f} / {r.peak_bytes['e3gen'] / 2**20:.0f}"
        if r.bound is not None:
            compile_text += (f"bound {1e3 * r.bound:.1f} ms at {r.bandwidth / 1e9:.0f} GB/s "
                             f"(e3gen/bound {r.e3gen / r.bound:.1f})")
        for lib, (seconds, e3gen_seconds) in r.others.items():
            compile_text += f"{lib} ms {1e3 * seconds:.2f} vs e3gen {1e3 * e3gen_seconds:.2f} (e3gen/{lib} {e3gen_seconds / seconds:.2f})"
        lines.append(
            f"{r.case:<24} {r.size:>7} {r.pass_:<8} {r.backend:<9} {1e3 * r.e3nn:>9.1f} {1e3 * r.e3gen:>9.1f} "
            f"{r.ratio:>10.2f}  {compile_text}"
        )
    return "\n".join(lines)


def allocator() -> str:
    preload = os.environ.get("LD_PRELOAD", "")
    for name in ("tcmalloc", "jemalloc", "mimalloc"):
        if name in preload:
            return f"{name} (LD_PRELOAD)"
    return "glibc malloc (default)"


BACKENDS = ("eager", "compiled", "native")


def _check_arguments(parser: argparse.ArgumentParser, args) -> None:
    """Refuse (exit 2, with usage) what would run wrongly or fail late: an unknown backend was
    silently run eagerly and labelled with its name; --repeats 0 failed with StatisticsError."""
    unknown = [b.strip() for b in args.backends.split(",") if b.strip() not in BACKENDS]
    if unknown:
        parser.error(f"--backends {args.backends!r}: unknown {', '.join(map(repr, unknown))}; "
                     f"choose from {', '.join(BACKENDS)} (comma-separated, e.g. --backends eager,compiled)")
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1 (timed runs per measurement), got {args.repeats}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads} (leave it out for torch's choice)")
    unknown_cases = sorted(set(args.cases) - set(workloads()) - {"m"})  # m: whole models (e3gen/bench_models.py)
    if unknown_cases or not args.cases:
        parser.error(f"--cases {args.cases!r}: choose one or more of {''.join(sorted(workloads()))}, e.g. --cases ab")


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="e3gen bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="abcd", help="which cases to run, e.g. 'a' or 'abcd' (default)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per measurement (median reported)")
    p.add_argument("--backends", default="eager,compiled", help="eager, compiled, native, comma-separated (default eager,compiled)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument("--small", action="store_true", help="run only the smaller size of each case")
    p.add_argument("--plot", metavar="FILE", help="also draw e3gen/e3nn per case and pass to FILE (needs matplotlib)")
    p.add_argument("--bandwidth", type=float, metavar="GB/S",
                   help="memory bandwidth for the plot's bound (default: measured with a large copy)")
    args = p.parse_args(argv)
    if args.plot is not None:
        from e3gen.plots import PlotUnavailable, require_matplotlib

        try:
            require_matplotlib()  # before the benchmark, not after it
        except PlotUnavailable as error:
            print(f"e3gen bench --plot: error: {error}", file=sys.stderr)
            return 2
    try:
        import e3nn
        from e3nn import o3 as e3nn_o3
    except ImportError:
        print("e3gen bench needs e3nn 0.6.0 as the baseline: pip install e3nn==0.6.0", file=sys.stderr)
        return 2
    import e3gen

    _check_arguments(p, args)
    if args.threads:
        torch.set_num_threads(args.threads)
    # Every case compiles new module instances whose forward shares one code object (in both
    # libraries), and no-grad and grad passes compile separately: without a higher limit dynamo
    # would stop compiling after 8 graphs and silently run the rest eagerly.
    torch._dynamo.config.recompile_limit = 256
    print(f"e3gen {e3gen.__version__} vs e3nn {e3nn.__version__}; torch {torch.__version__}, float32, "
          f"{torch.get_num_threads()} threads, allocator: {allocator()}; median of {args.repeats}")
    if "native" in args.backends:
        from e3gen.native.build import load_library

        library = load_library(3)
        how = f"compiled in {library.compile_seconds:.1f}s" if library.compile_seconds else "loaded from the cache"
        print(f"native kernels: {library.namespace} ({how})")
    rows: List[Row] = []
    selected = workloads()
    for case in args.cases:
        if case == "m":
            from e3gen.bench_models import run as run_models

            run_models(args.repeats, args.threads)
            continue
        if case not in selected:
            print(f"unknown case {case!r}; choose from {''.join(selected)}", file=sys.stderr)
            return 2
        cases = selected[case]
        if args.small:
            cases = [min(cases, key=lambda w: w.size)]
        for workload in cases:
            for backend in args.backends.split(","):
                new = measure(workload, e3nn_o3, backend.strip(), args.repeats)
                rows.extend(new)
                for line in format_rows(new).splitlines()[2:]:
                    print(line, flush=True)
    _add_bounds(rows, selected, args.bandwidth)
    print()
    print(format_rows(rows))
    if args.plot is not None:
        _plot(args.plot, rows, selected, args.bandwidth)
    return 0


def _add_bounds(rows: List[Row], selected: Dict[str, List[Workload]], bandwidth_gbs: Optional[float]) -> None:
    """Each case (a) row's bandwidth bound: the bytes it must move (`plots.traffic_bytes`) at the
    bandwidth of a large copy measured now, with this run's threads (or --bandwidth)."""
    from e3gen.plots import measure_bandwidth, traffic_bytes

    wanted = [r for r in rows if r.case.startswith("a ")]
    if not wanted:
        return
    bandwidth = 1e9 * bandwidth_gbs if bandwidth_gbs else measure_bandwidth()
    by_name = {(w.name, w.size): w for cases in selected.values() for w in cases}
    for r in wanted:
        r.bound = traffic_bytes(by_name[r.case, r.size], r.pass_) / bandwidth
        r.bandwidth = bandwidth


def _plot(path: str, rows: List[Row], selected: Dict[str, List[Workload]], bandwidth_gbs: Optional[float]) -> None:
    """The figure of `e3gen.plots.write_bench_figure`, with the bandwidth bound of every measured row."""
    from e3gen.plots import bench_figure_data, measure_bandwidth, traffic_bytes, write_bench_figure

    bandwidth = 1e9 * bandwidth_gbs if bandwidth_gbs else measure_bandwidth()
    by_name = {(w.name, w.size): w for cases in selected.values() for w in cases}
    bounds = {(r.case, r.size, r.pass_): traffic_bytes(by_name[r.case, r.size], r.pass_) / bandwidth for r in rows}
    title = f"e3gen bench: time / e3nn 0.6.0's; bound at {bandwidth / 1e9:.0f} GB/s" + (
        "" if bandwidth_gbs else " (measured copy)")
    print(f"wrote {write_bench_figure(path, bench_figure_data(rows, bounds), title=title)}")


if __name__ == "__main__":
    sys.exit(main())
