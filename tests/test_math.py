"""e3gen.math: e3nn 0.6.0's bases and normalisation constants, NequIP's radial basis and cutoff.

Against e3nn: the same inputs give the same numbers to 1e-10 in float64 (1e-6 in float32); the
normalisation constant of normalize2mom is e3nn's Monte-Carlo estimate to the last bit. NequIP's
functions are checked against their formulas written out independently here, and the cutoff's
defining properties (value 1 at 0, value and two derivatives 0 at r_max) by autograd.
"""

import math

import pytest
import torch

from e3gen import math as e3math

BASES = ["gaussian", "cosine", "smooth_finite", "fourier", "bessel"]


@pytest.fixture
def e3nn_math(float64_default):
    return pytest.importorskip("e3nn.math")


@pytest.mark.parametrize("cutoff", [True, False])
@pytest.mark.parametrize("basis", BASES)
def test_soft_one_hot_linspace_matches_e3nn(e3nn_math, basis, cutoff):
    # a grid that covers the interval and both outsides, avoiding x = start (bessel's 0/0)
    x = torch.linspace(-1.0, 2.0, 301, dtype=torch.float64) + 1e-3
    for start, end, number in [(-0.5, 1.5, 4), (0.0, 5.0, 10), (1.0, 1.5, 2)]:
        ours = e3math.soft_one_hot_linspace(x, start, end, number, basis, cutoff)
        theirs = e3nn_math.soft_one_hot_linspace(x, start, end, number, basis, cutoff)
        assert ours.shape == (301, number)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10)
    x32 = x.float().reshape(7, 43)  # any leading dims, float32
    ours = e3math.soft_one_hot_linspace(x32, -0.5, 1.5, 5, basis, cutoff)
    assert ours.dtype == torch.float32 and ours.shape == (7, 43, 5)
    torch.testing.assert_close(ours, e3nn_math.soft_one_hot_linspace(x32, -0.5, 1.5, 5, basis, cutoff), rtol=0, atol=1e-6)


def test_soft_unit_step_matches_e3nn_with_gradients(e3nn_math):
    x = torch.linspace(-2.0, 5.0, 701, dtype=torch.float64).requires_grad_()
    ours, theirs = e3math.soft_unit_step(x), e3nn_math.soft_unit_step(x)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-15)
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    (g_theirs,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=1e-14, atol=1e-15)


def test_soft_unit_step_is_twice_differentiable():
    x = torch.tensor([-1.0, -1e-3, 0.0, 1e-3, 0.3, 2.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(e3math.soft_unit_step, (x,))
    assert torch.autograd.gradgradcheck(e3math.soft_unit_step, (x,))


@pytest.mark.parametrize("basis", BASES)
def test_soft_one_hot_linspace_gradients(basis):
    x = torch.tensor([0.1, 0.4, 0.77, 1.3], dtype=torch.float64, requires_grad=True)
    f = lambda x: e3math.soft_one_hot_linspace(x, 0.0, 1.5, 4, basis, True)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@pytest.mark.parametrize("act", [torch.tanh, torch.nn.functional.silu, torch.sigmoid, torch.abs, torch.nn.functional.gelu, torch.nn.SiLU()])
def test_normalize2mom_constant_is_e3nns(e3nn_math, act):
    ours, theirs = e3math.normalize2mom(act), e3nn_math.normalize2mom(act)
    assert ours.cst == theirs.cst and ours._is_id == theirs._is_id
    x = torch.randn(50, dtype=torch.float64)
    assert torch.equal(ours(x), theirs(x))
    assert e3math.moment(act, 3, dtype=torch.float64) == e3nn_math.moment(act, 3, dtype=torch.float64)


def test_normalize2mom_gives_unit_second_moment():
    """On fresh N(0, 1) samples the normalised activation has second moment 1 up to the Monte-Carlo error (~1e-3)."""
    z = torch.randn(2_000_000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for act in (torch.tanh, torch.sigmoid, torch.nn.functional.silu):
        assert abs(e3math.normalize2mom(act)(z).pow(2).mean().item() - 1) < 5e-3


def test_bessel_matches_e3nn(e3nn_math):
    x = torch.cat([torch.zeros(1, dtype=torch.float64), torch.linspace(0.01, 3.0, 100, dtype=torch.float64)])
    torch.testing.assert_close(e3math.bessel(x, 6, 2.5), e3nn_math.bessel(x, 6, 2.5), rtol=0, atol=1e-12)


def test_bessel_basis_is_nequips_formula(float64_default):
    r_max, n = 4.0, 8
    basis = e3math.BesselBasis(r_max, n)
    r = torch.linspace(0.05, 5.0, 50, dtype=torch.float64)
    k = torch.arange(1, n + 1, dtype=torch.float64)
    expected = (2.0 / r_max) * torch.sin(k * math.pi * r[:, None] / r_max) / r[:, None]
    torch.testing.assert_close(basis(r), expected, rtol=0, atol=1e-13)
    # NequIP's parameter (or buffer) name and default trainability
    assert isinstance(basis.bessel_weights, torch.nn.Parameter)
    frozen = e3math.BesselBasis(r_max, n, trainable=False)
    assert "bessel_weights" in dict(frozen.named_buffers()) and not list(frozen.parameters())


def test_bessel_basis_differs_from_e3nns_bessel_by_its_prefactor(float64_default):
    r = torch.linspace(0.1, 3.0, 20, dtype=torch.float64)
    nequip = e3math.BesselBasis(3.0, 5)(r)
    torch.testing.assert_close(nequip, e3math.bessel(r, 5, 3.0) * (2.0 / 3.0) / math.sqrt(2.0 / 3.0), rtol=0, atol=1e-13)


def test_polynomial_cutoff_is_smooth_at_r_max():
    r_max, p = 5.0, 6
    cutoff = e3math.PolynomialCutoff(r_max, p)
    r = torch.tensor([0.0, 1.0, 2.5, 4.9, 5.0, 6.0], dtype=torch.float64, requires_grad=True)
    u = cutoff(r)
    x = r.detach() / r_max
    expected = (1 - (p + 1) * (p + 2) / 2 * x**p + p * (p + 2) * x ** (p + 1) - p * (p + 1) / 2 * x ** (p + 2)) * (x < 1)
    torch.testing.assert_close(u, expected, rtol=0, atol=1e-14)
    assert u[0] == 1.0 and u[-2:].abs().max() == 0.0
    (du,) = torch.autograd.grad(u.sum(), r, create_graph=True)
    (d2u,) = torch.autograd.grad(du.sum(), r)
    # at r_max the value, first and second derivatives vanish (from the left, so r = 5 - tiny)
    near = torch.tensor([r_max * (1 - 1e-6)], dtype=torch.float64, requires_grad=True)
    v = cutoff(near)
    (dv,) = torch.autograd.grad(v, near, create_graph=True)
    (d2v,) = torch.autograd.grad(dv, near)
    assert abs(v.item()) < 1e-12 and abs(dv.item()) < 1e-8 and abs(d2v.item()) < 1e-4
    assert du[0] == 0.0 and torch.isfinite(d2u).all()


def test_functions_are_torchscript_able():
    x = torch.linspace(0.05, 2.0, 40, dtype=torch.float64)
    scripted = torch.jit.script(e3math.soft_one_hot_linspace)
    for basis in BASES:
        for cutoff in (True, False):
            torch.testing.assert_close(scripted(x, 0.0, 1.5, 6, basis, cutoff), e3math.soft_one_hot_linspace(x, 0.0, 1.5, 6, basis, cutoff), rtol=0, atol=0)
    torch.testing.assert_close(torch.jit.script(e3math.soft_unit_step)(x - 1), e3math.soft_unit_step(x - 1), rtol=0, atol=0)
    torch.testing.assert_close(torch.jit.script(e3math.bessel)(x, 5, 2.0), e3math.bessel(x, 5, 2.0), rtol=0, atol=0)


@pytest.mark.parametrize("module", [e3math.BesselBasis(5.0, 8), e3math.PolynomialCutoff(5.0)])
def test_radial_modules_script_and_compile(module):
    r = torch.linspace(0.1, 6.0, 30)
    torch.testing.assert_close(torch.jit.script(module)(r), module(r), rtol=0, atol=0)
    torch.testing.assert_close(torch.compile(module, fullgraph=True, backend="aot_eager")(r), module(r))


def test_bad_arguments_are_named():
    x = torch.zeros(3)
    with pytest.raises(ValueError, match="soft_one_hot_linspace: cutoff must be True or False, got None"):
        e3math.soft_one_hot_linspace(x, 0.0, 1.0, 4, "gaussian")
    with pytest.raises(ValueError, match=r"soft_one_hot_linspace: basis must be one of .*, got 'sine'"):
        e3math.soft_one_hot_linspace(x, 0.0, 1.0, 4, "sine", True)
    with pytest.raises(ValueError, match=r"soft_one_hot_linspace: basis must be given: 'gaussian', "):
        e3math.soft_one_hot_linspace(x, 0.0, 1.0, 4, cutoff=True)
    with pytest.raises(ValueError, match="bessel: n must be a positive int"):
        e3math.bessel(x, 0)
    with pytest.raises(ValueError, match="BesselBasis: r_max must be positive, got 0"):
        e3math.BesselBasis(0)
    with pytest.raises(ValueError, match="PolynomialCutoff: the power p must be >= 2, got 1"):
        e3math.PolynomialCutoff(5.0, p=1)
    # r_max = 0 is the boundary: x = r / r_max has no value there (not a ZeroDivisionError from inside)
    for r_max in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match=f"PolynomialCutoff: r_max must be positive, got {r_max!r}"):
            e3math.PolynomialCutoff(r_max)
