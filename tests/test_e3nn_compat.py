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


@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
@pytest.mark.parametrize("normalize", [True, False])
def test_spherical_harmonics_first_and_second_derivatives_match_e3nn(normalize, strategy):
    """The dense strategy's backward is a closed form (normalisation included); its gradient and the
    gradient of that gradient must be e3nn's, also for the zero vector and vectors below the 1e-12
    clamp of the normalisation, where the projection switches off (and stay finite where e3nn's
    second derivative is NaN)."""
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(40, 3, generator=generator, dtype=torch.float64) * 3
    x[0], x[1], x[2] = 0.0, 1e-13 * x[3], 1e-11 * x[4]
    ls = [LMAX, 0, 1, 1, 2]
    weights = torch.randn(40, sum(2 * l + 1 for l in ls), generator=generator, dtype=torch.float64)
    sh = o3.SphericalHarmonics(ls, normalize, "integral", strategy=strategy)
    derivatives = []
    for f in (sh, lambda v: e3nn_o3.spherical_harmonics(ls, v, normalize, "integral")):
        v = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad((f(v) * weights).sum(), v, create_graph=True)
        (second,) = torch.autograd.grad((grad * x.flip(0)).sum(), v)
        derivatives.append((grad.detach(), second))
    (grad, second), (e3nn_grad, e3nn_second) = derivatives
    scale = e3nn_grad.abs().max()  # ~1e13 from the vectors below the clamp
    torch.testing.assert_close(grad, e3nn_grad, rtol=1e-10, atol=1e-12 * scale)
    # e3nn's second derivative is NaN at the zero vector (through torch's norm); ours stays finite.
    finite = e3nn_second.isfinite().all(1)
    assert second.isfinite().all() and finite.sum() == len(x) - (1 if normalize else 0)
    second, e3nn_second = second[finite], e3nn_second[finite]
    torch.testing.assert_close(second, e3nn_second, rtol=1e-10, atol=1e-12 * e3nn_second.abs().max())


@pytest.mark.parametrize("l1,l2,l3", coupling_triples(LMAX))
def test_wigner_3j_matches_e3nn(l1, l2, l3):
    """Owns the real-basis phase convention (with test_symbolic's sympy comparisons): the sign of each
    coupling tensor is a basis choice, so a wrong phase (say (-1)^(v + l1 + m2) in Racah's sum)
    still passes the exact certificate (invariance, orthonormality) and every equivariance test;
    only a comparison with e3nn's numbers (here) or sympy's (test_symbolic) catches it."""
    torch.testing.assert_close(o3.wigner_3j(l1, l2, l3), e3nn_o3.wigner_3j(l1, l2, l3), rtol=0, atol=1e-12)


@pytest.mark.parametrize("l", range(LMAX + 1))
def test_wigner_D_matches_e3nn(l):
    angles = [torch.rand(10, dtype=torch.float64) * 6.28 for _ in range(3)]
    torch.testing.assert_close(o3.wigner_D(l, *angles), e3nn_o3.wigner_D(l, *angles), rtol=0, atol=1e-12)
