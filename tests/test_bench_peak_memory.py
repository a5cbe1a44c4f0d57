"""`e3gen bench`'s peak-memory probe (a forked child) finishes after the parent used torch's threads.

Property: with two intra-op threads, after the parent ran a parallel region (a large matmul; the
native kernels' at::parallel_for uses the same pool), `bench._peak_bytes` of a call that runs
parallel regions returns a count instead of waiting forever. A forked child inherits the
OpenMP pool as a lock with no threads behind it; `e3gen bench --cases f --threads 2` hung there.
The probe runs in a subprocess so that a hang is a failed test (the timeout detects a hang, it is
not a speed threshold: the probe takes well under a second).
"""

import subprocess
import sys
import textwrap

from helpers import needs_native_toolchain

PROBE = textwrap.dedent("""
    import torch
    from e3gen import bench
    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    work = lambda: (a @ a).sum().item()
    work()  # the parent's pool is up
    peak = bench._peak_bytes(work)
    assert peak >= 0, peak
    print("peak", peak)
""")


def test_peak_memory_probe_returns_after_the_parent_ran_parallel_regions():
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("peak "), result.stdout


# Property: the probe counts memory the call allocates even when the parent's allocator holds
# enough freed memory to serve it (tcmalloc keeps freed pages resident; glibc keeps small ones):
# a 64 MB tensor made and filled in the call adds at least 60 MB, after the parent made and freed
# a larger one. Run under each allocator present (glibc always; tcmalloc when the library exists).
CACHED = textwrap.dedent("""
    import torch
    from e3gen import bench
    torch.set_num_threads(1)
    big = torch.ones(64 * 2**20 // 4 * 2)  # 128 MB, touched, then freed: cached by a caching allocator
    del big
    peak = bench._peak_bytes(lambda: torch.ones(64 * 2**20 // 4).sum().item())
    print("peak", peak)
""")


def _allocators():
    import ctypes.util
    import glob

    found = [("glibc", {})]
    libraries = sorted(glob.glob("/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4") + glob.glob("/usr/lib/*/libtcmalloc_minimal.so.4"))
    if libraries:
        found.append(("tcmalloc", {"LD_PRELOAD": libraries[0]}))
    return found


def test_peak_memory_probe_counts_a_call_served_from_the_allocator_cache():
    import os

    for name, extra in _allocators():
        env = {**os.environ, **extra}
        result = subprocess.run([sys.executable, "-c", CACHED], capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, (name, result.stderr[-3000:])
        peak = int(result.stdout.split()[1])
        assert peak >= 60 * 2**20, f"{name}: the probe saw {peak / 2**20:.1f} MB for a 64 MB tensor"


# Property: a call that allocates nothing adds (almost) nothing, even when the parent freed a large
# block that its allocator keeps resident (tcmalloc's cache): the child returns it, and the
# high-water mark it inherited at fork (which counted that block) is reset before the call.
# Run under each allocator present, as above.
FREED = textwrap.dedent("""
    import torch
    from e3gen import bench
    torch.set_num_threads(1)
    big = torch.ones(128 * 2**20 // 4)  # 128 MB, touched, then freed: cached by a caching allocator
    del big
    peak = bench._peak_bytes(lambda: None)
    print("peak", peak)
""")


def test_peak_memory_probe_does_not_count_memory_freed_before_the_call():
    import os

    for name, extra in _allocators():
        result = subprocess.run([sys.executable, "-c", FREED], capture_output=True, text=True, timeout=120,
                                env={**os.environ, **extra})
        assert result.returncode == 0, (name, result.stderr[-3000:])
        peak = int(result.stdout.split()[1])
        assert peak < 16 * 2**20, f"{name}: the probe saw {peak / 2**20:.1f} MB for a call that allocates nothing"


# Property: the probe counts a native output served from e3gen's output cache as fresh memory: the
# parent made and freed the same 64 MB output (kept by the cache, resident), so without releasing the
# cache in the child the measured call would reuse it and add nothing.
NATIVE_CACHED = textwrap.dedent("""
    import torch
    from e3gen import bench, o3
    torch.set_num_threads(1)
    sh = o3.SphericalHarmonics([0, 1, 2, 3], True, strategy="native")  # 64 bytes a row in float32
    x = torch.randn(2**20, 3)
    with torch.no_grad():
        sh(x).sum().item()  # 64 MB out, freed: kept by the output cache
        peak = bench._peak_bytes(lambda: sh(x).sum().item())
    print("peak", peak)
""")


@needs_native_toolchain
def test_peak_memory_probe_counts_a_native_output_the_output_cache_would_serve():
    result = subprocess.run([sys.executable, "-c", NATIVE_CACHED], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    peak = int(result.stdout.split()[1])
    assert peak >= 60 * 2**20, f"the probe saw {peak / 2**20:.1f} MB for a 64 MB native output"
