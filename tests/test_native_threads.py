"""The native kernels run on torch's threads: with torch.set_num_threads(2), the work of a native
product, of the fused convolution and of the harmonics is shared by two OS threads.

Property: over a batch of calls large enough to take a few hundred ms of CPU, at least two of the
process's threads accumulate CPU time (read from /proc/self/task/*/stat, 10 ms ticks). Not a speed
threshold: a count of threads that did work. (at::parallel_for is inline in ATen's headers; built
without -fopenmp the native libraries ran every call on one thread whatever torch said.)
Linux only (the /proc layout); the results at one and two threads are equal (determinism is tested
in tests/test_native.py and tests/test_native_rowwise.py).
"""

import os

import pytest
import torch

from helpers import needs_native_toolchain

from e3gen import o3
from e3gen.native import ops


def _thread_cpu_ticks():
    ticks = {}
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks[tid] = int(fields[11]) + int(fields[12])  # utime + stime (fields 14 and 15 of stat)
        except OSError:  # the thread ended meanwhile
            pass
    return ticks


def _threads_that_worked(work, calls):
    before = _thread_cpu_ticks()
    for _ in range(calls):
        work()
    after = _thread_cpu_ticks()
    return sorted(tid for tid, t in after.items() if t - before.get(tid, 0) >= 2)


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@needs_native_toolchain
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads per-thread CPU times from Linux's /proc")
def test_native_product_convolution_and_harmonics_share_the_work_among_torchs_threads(two_threads):
    tp = o3.channelwise_tensor_product("16x0e+16x1o+16x2e+16x3o", "0e+1o+2e+3o", lmax=3, strategy="native")
    g = torch.Generator().manual_seed(0)
    rows = 4000
    x, y, w = (torch.randn(rows, d, generator=g) for d in (tp.irreps_in1.dim, tp.irreps_in2.dim, tp.weight_numel))
    with torch.no_grad():
        assert len(_threads_that_worked(lambda: tp(x, y, w), 40)) >= 2, "the native product ran on one thread"
        nodes = torch.randn(rows // 10, tp.irreps_in1.dim, generator=g)
        sender, receiver = (torch.randint(0, rows // 10, (rows,), generator=g) for _ in range(2))
        assert len(_threads_that_worked(lambda: ops.convolution(tp._native_key, nodes, y, w, sender, receiver), 40)) >= 2, \
            "the fused convolution ran on one thread"
        sh = o3.SphericalHarmonics(list(range(9)), normalize=True, normalization="component", strategy="native")
        vectors = torch.randn(100_000, 3, generator=g)
        assert len(_threads_that_worked(lambda: sh(vectors), 40)) >= 2, "the native harmonics ran on one thread"


def _mkl():
    """torch's MKL (statically linked into libtorch_cpu, its C interface exported), or None where torch's
    BLAS is not MKL."""
    import ctypes

    library = ctypes.CDLL(os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so"))
    if not hasattr(library, "MKL_Get_Max_Threads"):
        assert not torch.backends.mkl.is_available(), "torch reports MKL but libtorch_cpu exports no MKL_Get_Max_Threads"
        return None
    return library


def _mkl_max_threads():
    """MKL's thread count for BLAS calls on this thread (its thread-local setting, else the global one)."""
    library = _mkl()
    return None if library is None else library.MKL_Get_Max_Threads()


@needs_native_toolchain
def test_native_rowwise_products_give_back_mkls_thread_count_to_the_calling_thread(two_threads):
    # Its workers ask MKL for one thread each while they work (MKL's threads nested in ours would fight
    # over the cores); the calling thread is one of them. Left at one, every later matrix product of the
    # program on that thread (the model's own, torch's) ran on one core: NequIP's radial MLP at half speed.
    before = _mkl_max_threads()
    g = torch.Generator().manual_seed(0)
    for dtype in (torch.float32, torch.float64):
        tp = o3.FullyConnectedTensorProduct("8x0e+8x1o+4x2e", "0e+1o", "8x0e+8x1o+4x2e", strategy="native").to(dtype)
        x = torch.randn(600, tp.irreps_in1.dim, generator=g, dtype=dtype, requires_grad=True)
        y = torch.randn(600, tp.irreps_in2.dim, generator=g, dtype=dtype, requires_grad=True)
        tp(x, y).square().sum().backward()
        assert _mkl_max_threads() == before, f"{dtype}: MKL's threads on the calling thread were {before}, now {_mkl_max_threads()}"
        full = o3.FullTensorProduct("2x0e+1o+2e", "0e+1o", strategy="native")  # the same workers, no weights
        full(x[:, :10].detach().requires_grad_(), y).square().sum().backward()
        assert _mkl_max_threads() == before, f"{dtype}, product without weights: MKL's threads were {before}, now {_mkl_max_threads()}"
    if before is None:
        return
    assert before == 2, f"MKL's thread count follows torch.set_num_threads(2): got {before}"
    # a thread-local setting of the caller's own is given back as it was (not cleared to the global one)
    library = _mkl()
    library.MKL_Set_Num_Threads_Local(1)
    try:
        tp(x, y).square().sum().backward()
        assert _mkl_max_threads() == 1, f"the caller's own thread-local MKL setting (1) became {_mkl_max_threads()}"
    finally:
        library.MKL_Set_Num_Threads_Local(0)  # back to the global setting
