#!/usr/bin/env python3
"""What a fresh process pays to load e3gen builds: time and memory of one use, each in its own process.

    .venv/bin/python tools/load_costs.py --lmax 12 --cases import w3j_112 w3j_LLL sh fctp model
    E3GEN_BUILD_DIR=/tmp/builds .venv/bin/python tools/load_costs.py --lmax 12 --cases fctp

Each case runs in a new Python process (`--python`, default this one) under the current environment
(E3GEN_CACHE_DIR / E3GEN_BUILD_DIR decide which builds it finds) and prints one line: the case,
seconds for `import e3gen` (with torch), seconds for the use itself after the import (wall clock,
then CPU: the CPU time is what a quiet machine's wall clock would be, as none of it runs in
parallel), resident memory added by the use (MB), and the process's peak resident memory (MB, from
getrusage). A build that is
missing is built into the cache first, which the numbers then include: build the lmax you measure
beforehand (`e3gen build --lmax L --out FOLDER` and E3GEN_BUILD_DIR=FOLDER, or into the cache).

Cases (L = --lmax):
  import    nothing after the import
  verify    load_kernels(L): find and verify the build, compile nothing
  w3j_112   o3.wigner_3j(1, 1, 2)
  w3j_LLL   o3.wigner_3j(L, L, L)
  sh        o3.SphericalHarmonics(L, normalize=True) forward on 1000 vectors
  fctp      FullyConnectedTensorProduct('2x0e+2x1o', '2x0e+2x1o', '2x0e+2x1o') forward on 100 rows
  model     spherical harmonics up to L of 100 edges into FullyConnectedTensorProduct('8x0e+8x1o',
            sh irreps, '8x0e+8x1o'), forward and backward (what a model at lmax L uses)
  tables    every Clebsch-Gordan block of the build (all of tables.py's big table)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CASES = ("import", "verify", "w3j_112", "w3j_LLL", "sh", "fctp", "model", "tables")

_RUN = r"""
import json, resource, sys, time
case, L = sys.argv[1], int(sys.argv[2])

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024

start = time.perf_counter()
import torch
import e3gen
from e3gen import o3
from e3gen.runtime.loader import load_kernels
imported = time.perf_counter()
cpu = time.process_time()
before = rss_mb()
if case == "verify":
    load_kernels(L)
elif case == "w3j_112":
    o3.wigner_3j(1, 1, 2)
elif case == "w3j_LLL":
    o3.wigner_3j(L, L, L)
elif case == "sh":
    o3.SphericalHarmonics(L, normalize=True)(torch.randn(1000, 3))
elif case == "fctp":
    irreps = "2x0e+2x1o"
    o3.FullyConnectedTensorProduct(irreps, irreps, irreps)(torch.randn(100, 8), torch.randn(100, 8))
elif case == "model":
    sh_irreps = o3.Irreps.spherical_harmonics(L)
    tp = o3.FullyConnectedTensorProduct("8x0e+8x1o", sh_irreps, "8x0e+8x1o")
    x = torch.randn(100, 32, requires_grad=True)
    sh = o3.SphericalHarmonics(sh_irreps, normalize=True)(torch.randn(100, 3))
    tp(x, sh).square().sum().backward()
elif case == "tables":
    build = load_kernels(L)
    sum(len(rows) for rows in build.tables.CLEBSCH_GORDAN.values())
elif case != "import":
    raise SystemExit(f"unknown case {case!r}")
done = time.perf_counter()
cpu = time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"case": case, "import_s": imported - start, "use_s": done - imported, "use_cpu_s": cpu,
                  "rss_added_mb": rss_mb() - before, "peak_mb": peak}))
"""


def measure(python: str, case: str, lmax: int) -> dict:
    # Run outside any checkout: `python -c` imports from the working folder first.
    result = subprocess.run([python, "-c", _RUN, case, str(lmax)], capture_output=True, text=True,
                            env=os.environ.copy(), cwd=tempfile.gettempdir())
    if result.returncode != 0:
        raise SystemExit(f"{case} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lmax", type=int, required=True)
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure (another checkout's venv)")
    args = parser.parse_args(argv)
    print(f"{'case':8} {'lmax':>4} {'import':>8} {'use':>9} {'use CPU':>9} {'+RSS':>9} {'peak RSS':>9}")
    for case in args.cases:
        r = measure(args.python, case, args.lmax)
        print(f"{case:8} {args.lmax:>4} {r['import_s']:7.2f}s {r['use_s']:8.3f}s {r['use_cpu_s']:8.3f}s {r['rss_added_mb']:7.1f}MB "
              f"{r['peak_mb']:7.0f}MB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
