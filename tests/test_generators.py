"""o3.so3_generators: the generated build's so(3) generators, for every l the build covers.

Property: they generate e3gen's own Wigner matrices, which are computed without them (from
rotation matrices and exact Clebsch-Gordan couplings): D^l(alpha, 0, 0) = exp(alpha X[1]) and
D^l(0, beta, 0) = exp(beta X[0]) (e3nn's Y-X-Y Euler angles). Float64, 1e-12: the generators are
exact and matrix_exp is accurate to rounding for these small angles and sizes. Also e3nn's
so3_generators (the oracle), to 1e-14.
"""

import pytest
import torch

from helpers import random_tensor

from e3gen import o3
from e3gen.runtime.loader import load_kernels

LMAX = load_kernels(0).lmax


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_generators_exponentiate_to_wigner_D(l):
    x = o3.so3_generators(l, dtype=torch.float64)
    assert x.shape == (3, 2 * l + 1, 2 * l + 1)
    for t in random_tensor(3, seed=l):
        zero = torch.zeros((), dtype=torch.float64)
        torch.testing.assert_close(torch.matrix_exp(t * x[1]), o3.wigner_D(l, t, zero, zero), rtol=0, atol=1e-12)
        torch.testing.assert_close(torch.matrix_exp(t * x[0]), o3.wigner_D(l, zero, t, zero), rtol=0, atol=1e-12)


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_generators_match_e3nn(float64_default, l):
    e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
    ours = o3.so3_generators(l, dtype=torch.float64)
    torch.testing.assert_close(ours, e3nn_o3.so3_generators(l), rtol=0, atol=1e-14)
    assert o3.so3_generators(l).dtype == torch.float64  # the default dtype (float64 here)
    assert o3.so3_generators(l, dtype=torch.float32).dtype == torch.float32
