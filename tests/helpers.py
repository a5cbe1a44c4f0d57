"""Small helpers shared by the test files (import as `from helpers import ...`; pytest puts tests/ on the path)."""

import torch


def random_tensor(*shape, seed: int, dtype=torch.float64) -> torch.Tensor:
    """Standard-normal entries from a private generator: the same tensor for the same seed."""
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def randomize_parameters(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Non-trivial values for every parameter (biases start at zero, which would hide them)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def triangle_triples(lmax: int) -> list:
    """Every (l1, l2, l3) with all l <= lmax that a coupling allows (|l1 - l2| <= l3 <= l1 + l2), by
    brute force over the whole cube: an oracle for counts, written apart from e3gen's own list."""
    cube = [(a, b, c) for a in range(lmax + 1) for b in range(lmax + 1) for c in range(lmax + 1)]
    return [(a, b, c) for a, b, c in cube if abs(a - b) <= c <= a + b]


def e3nn_nonzero_coupling_terms(lmax: int) -> int:
    """How many entries of e3nn 0.6.0's wigner_3j are nonzero, summed over every allowed triple up to
    lmax: the number of terms a sparse build must carry. Entries are sqrt-rationals of size at least
    ~1e-3 for these l, so |x| > 1e-9 separates them from float64 round-off (~1e-16) with room."""
    import pytest

    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
    return sum(int((e3nn_o3.wigner_3j(*t, dtype=torch.float64).abs() > 1e-9).sum()) for t in triangle_triples(lmax))


def native_toolchain_problem():
    """Why e3gen's native kernels cannot be compiled here (no compiler, say), or None."""
    from e3gen.native import build

    try:
        build.check_toolchain()
    except build.NativeUnavailable as error:
        return str(error)
    return None


def needs_native_toolchain(test):
    """Skip where no compiler exists (only the planner and the fallback can be tested there); CI has
    one, and under E3GEN_REQUIRE_ORACLES a skip fails the run."""
    import pytest

    problem = native_toolchain_problem()
    return pytest.mark.skipif(problem is not None, reason=f"native kernels: {problem}")(test)
