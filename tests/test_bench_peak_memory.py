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
