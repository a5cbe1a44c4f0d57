"""Same numbers as e3nn 0.6.0 (the oracle; CI installs it) for spherical harmonics and wigner_3j.

Every l and triple up to the built lmax, float64, 1e-12.
"""

import pytest
import torch

from e3gen import o3
from e3gen.runtime.loader import load_kernels
from e3gen.symbolic.certificate import coupling_triples

e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
LMAX = load_kernels(0).lmax
pytestmark = pytest.mark.usefixtures("float64_default")


@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("normalize", [True, False])
def test_spherical_harmonics_match_e3nn(normalization, normalize, strategy):
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[0] = 0.0
    for ls in (list(range(LMAX + 1)), [LMAX, 0, 1, 1], o3.Irreps.spherical_harmonics(LMAX, p=1)):
        ours = o3.SphericalHarmonics(ls, normalize, normalization, strategy=strategy)(x)
        theirs = e3nn_o3.spherical_harmonics(ls if not isinstance(ls, o3.Irreps) else str(ls), x, normalize, normalization)
        torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("l1,l2,l3", coupling_triples(LMAX))
def test_wigner_3j_matches_e3nn(l1, l2, l3):
    torch.testing.assert_close(o3.wigner_3j(l1, l2, l3), e3nn_o3.wigner_3j(l1, l2, l3), rtol=0, atol=1e-12)


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_wigner_D_matches_e3nn(l):
    angles = [torch.rand(10, dtype=torch.float64) * 6.28 for _ in range(3)]
    torch.testing.assert_close(o3.wigner_D(l, *angles), e3nn_o3.wigner_D(l, *angles), rtol=0, atol=1e-12)
