#!/usr/bin/env python3
"""A/B of channel-wise native libraries in one process: the same op arguments to each, interleaved.

    .venv/bin/python tools/ab_native.py LIBRARY_FOLDER_A LIBRARY_FOLDER_B [...] [--case a|conv] [--threads N]
                                        [--dtype float32|float64] [--rounds 6]

Why: on the shared 2-core box, e3gen's own time of case (a) moves 25-35% from one process to the next
(forward 46-66 ms at one thread, same binary and inputs), more than most kernel changes gain, so two
builds timed in separate processes (or bench runs) cannot be told apart. Here both libraries run in
one process on the same tensors, alternately, several rounds each, and their outputs are compared.

A LIBRARY_FOLDER is a compiled channel-wise library in the e3gen cache, e.g.
`~/.cache/e3gen/<version>/<hash>/native/e3gen_native_lmax3_<digest>`; `e3gen.native.build.load_library(3).path`
prints the current checkout's (compiling it once). For another version of the templates, put that
checkout first on PYTHONPATH with its `templates` and `generated` linked into its `e3gen/` folder (the
editable install maps `e3gen.templates` to this repository otherwise) and ask it the same.

Cases: `a` the bench's case (a) product (32x0e+32x1o+32x2e+32x3o x 0e+1o+2e+3o, uvu, per-row weights;
200 and 20,000 rows; forward = role g, backward = roles x, y, w with a cotangent); `conv` the fused
convolution on NequIP-like shapes (16 channels of l <= 2 both parities x 0e+1o+2e; 40 nodes and
1,536 edges, 500 nodes and 19,360 edges, random senders and receivers). Prints the median and the
minimum per library (ms per call).
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import time

import torch


def _library(folder: str):
    folder = folder.rstrip("/")
    shared = glob.glob(os.path.join(folder, "*.so"))
    if not shared:
        raise SystemExit(f"no compiled library (*.so) in {folder}: pass a folder of the cache's native/ directory")
    torch.ops.load_library(shared[0])
    return os.path.basename(folder), getattr(torch.ops, os.path.basename(folder)).channelwise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("libraries", nargs="+", help="library folders of the e3gen cache (two or more)")
    parser.add_argument("--case", choices=("a", "conv"), default="a")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()

    from e3gen import o3
    from e3gen.bench import _conv_product
    from e3gen.native import ops

    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    libraries = [_library(folder) for folder in args.libraries]
    if args.case == "a":
        tp = _conv_product(o3)
        sizes = [(None, 200, 400), (None, 20_000, 5)]
    else:
        tp = _conv_product(o3, "16x0e+16x1o+16x2e+16x0o+16x1e+16x2o", "0e+1o+2e", lmax_out=2)
        sizes = [(40, 1_536, 200), (500, 19_360, 15)]
    tables = ops.tables(ops.layout_of(tp.irreps_in1, tp.irreps_in2, tp.irreps_out, tp.instructions).key())
    none = torch.empty(0, dtype=torch.int64)
    generator = torch.Generator().manual_seed(0)
    print(f"case {args.case}, {args.dtype}, {args.threads} thread(s), {args.rounds} rounds; ms per call, median / min")
    for nodes, rows, repeats in sizes:
        gather = nodes is not None
        x_rows = nodes if gather else rows
        x = torch.randn(x_rows, tp.irreps_in1.dim, generator=generator).to(dtype)
        y = torch.randn(rows, tp.irreps_in2.dim, generator=generator).to(dtype)
        w = torch.randn(rows, tp.weight_numel, generator=generator).to(dtype)
        g = torch.randn(x_rows, tp.irreps_out.dim, generator=generator).to(dtype)
        sender = torch.randint(0, nodes, (rows,), generator=generator) if gather else none
        receiver = torch.randint(0, nodes, (rows,), generator=generator) if gather else none
        for name, roles, operands in (("forward", [3], (x, y, w, none)), ("backward x, y, w", [0, 1, 2], (x, y, w, g))):
            def call(op):
                return op(roles, *operands, tables.paths, tables.coefficients, tables.x_blocks, tables.out_blocks,
                          tables.dims, sender, receiver, gather, rows, nodes or 0)

            reference = call(libraries[0][1])
            for label, op in libraries[1:]:
                for a, b in zip(reference, call(op)):
                    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4, msg=lambda m: f"{label} differs: {m}")
            times = [[] for _ in libraries]  # (the same folder may be passed twice: an A/A check of the noise)
            for _ in range(args.rounds):
                for (_, op), measured in zip(libraries, times):
                    start = time.perf_counter()
                    for _ in range(repeats):
                        call(op)
                    measured.append(1e3 * (time.perf_counter() - start) / repeats)
            cells = " | ".join(f"{label[-12:]} {statistics.median(t):.3f} / {min(t):.3f}" for (label, _), t in zip(libraries, times))
            print(f"{rows:>6} rows {name:<17} {cells}", flush=True)


if __name__ == "__main__":
    main()
