"""The rest of e3nn 0.6.0's o3 in e3gen against e3nn (the oracle): spherical harmonics of angles and
Legendre functions, the S^2 and SO(3) grids, Norm, the complex basis and the experimental products.

Numbers: float64, the same inputs on both sides, agreement to 1e-10 (e3gen's coefficients are exact
values rounded once; e3nn's are floats). Equivariance: random O(3) elements through
e3gen.testing.assert_equivariant (rtol 1e-9), or, for the grids, the exact identity they must satisfy.
"""

import math

import pytest
import torch

from helpers import random_tensor

from e3gen import o3
from e3gen.o3.experimental import ElementwiseTensorProductv2, FullTensorProductv2
from e3gen.testing import assert_equivariant

e3nn_o3 = pytest.importorskip("e3nn.o3", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
from e3nn.o3 import experimental as e3nn_experimental  # noqa: E402

pytestmark = pytest.mark.usefixtures("float64_default")
TOL = dict(rtol=0, atol=1e-10)


def _angles(*shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g) * 2 * math.pi, torch.rand(*shape, generator=g) * math.pi


# --- spherical harmonics of angles ----------------------------------------------------------------


@pytest.mark.parametrize("normalization", ["integral", "component", "norm"])
@pytest.mark.parametrize("ls", [0, 4, [2, 0, 1, 5], "2x1o+3e"])
def test_spherical_harmonics_alpha_beta_match_e3nn(ls, normalization):
    alpha, beta = _angles(7, 3, seed=0)
    ours = o3.spherical_harmonics_alpha_beta(ls, alpha, beta, normalization=normalization)
    theirs_ls = e3nn_o3.Irreps(ls) if isinstance(ls, str) else ls
    torch.testing.assert_close(ours, e3nn_o3.spherical_harmonics_alpha_beta(theirs_ls, alpha, beta, normalization=normalization), **TOL)


def test_spherical_harmonics_alpha_beta_are_the_cartesian_harmonics_at_angles_to_xyz():
    """Y(alpha, beta) = spherical_harmonics(angles_to_xyz(alpha, beta)) in every normalisation."""
    alpha, beta = _angles(50, seed=1)
    ls = [0, 1, 2, 3, 2]  # within the shipped build (lmax 3), so no kernels are built here
    for normalization in ("integral", "component", "norm"):
        torch.testing.assert_close(
            o3.SphericalHarmonicsAlphaBeta(ls, normalization)(alpha, beta),
            o3.spherical_harmonics(ls, o3.angles_to_xyz(alpha, beta), True, normalization=normalization),
            **TOL,
        )


def test_legendre_and_spherical_harmonics_alpha_match_e3nn():
    _, beta = _angles(20, seed=2)
    ls = [0, 1, 2, 3, 6]
    torch.testing.assert_close(o3.Legendre(ls)(beta.cos(), beta.sin()), e3nn_o3.Legendre(ls)(beta.cos(), beta.sin()), **TOL)
    alpha, _ = _angles(4, 5, seed=3)
    torch.testing.assert_close(o3.spherical_harmonics_alpha(4, alpha), e3nn_o3.spherical_harmonics_alpha(4, alpha), **TOL)


def test_spherical_harmonics_alpha_beta_rejects_unknown_normalization():
    with pytest.raises(ValueError, match="normalization must be one of"):
        o3.SphericalHarmonicsAlphaBeta(2, "unit")


# --- complex basis --------------------------------------------------------------------------------


@pytest.mark.parametrize("j", [0, 0.5, 1, 1.5, 2, 3, 4])
def test_su2_generators_match_e3nn(j):
    ours, theirs = o3.su2_generators(j), e3nn_o3.su2_generators(j)
    assert ours.dtype == theirs.dtype
    torch.testing.assert_close(ours, theirs, **TOL)
    # a representation of so(3): [X_a, X_b] = X_c for (a, b, c) cyclic, in e3nn's (x, z, -y) ordering
    x = ours
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        torch.testing.assert_close(x[a] @ x[b] - x[b] @ x[a], x[c], **TOL)


@pytest.mark.parametrize("l", range(4))  # so3_generators(4) would build lmax-4 kernels
@pytest.mark.parametrize("dtype", [None, torch.float32, torch.float64])
def test_change_basis_real_to_complex_matches_e3nn_and_gives_so3_generators(l, dtype):
    ours, theirs = o3.change_basis_real_to_complex(l, dtype=dtype), e3nn_o3.change_basis_real_to_complex(l, dtype=dtype)
    assert ours.dtype == theirs.dtype and ours.is_contiguous()
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6 if dtype == torch.float32 else 1e-10)
    if dtype == torch.float64:
        q = ours
        x = torch.real(q.conj().T @ o3.su2_generators(l).to(q.dtype) @ q)
        torch.testing.assert_close(x, o3.so3_generators(l), **TOL)


# --- grids ----------------------------------------------------------------------------------------

S2_CASES = [(3, None, "component"), (4, (10, 11), "integral"), (2, (8, 12), "norm"), (5, 20, "component"), (None, 12, "integral")]


@pytest.mark.parametrize("lmax, res, normalization", S2_CASES)
def test_s2_grids_match_e3nn(lmax, res, normalization):
    ours, theirs = o3.ToS2Grid(lmax, res, normalization), e3nn_o3.ToS2Grid(lmax, res, normalization)
    assert (ours.lmax, ours.res_beta, ours.res_alpha) == (theirs.lmax, theirs.res_beta, theirs.res_alpha)
    x = random_tensor(2, (ours.lmax + 1) ** 2, seed=0)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    torch.testing.assert_close(ours.grid, theirs.grid, **TOL)
    back, theirs_back = o3.FromS2Grid(res, lmax, normalization), e3nn_o3.FromS2Grid(res, lmax, normalization)
    signal = random_tensor(2, back.res_beta, back.res_alpha, seed=1)
    torch.testing.assert_close(back(signal), theirs_back(signal), **TOL)
    back.load_state_dict(theirs_back.state_dict())
    ours.load_state_dict(theirs.state_dict())
    # FromS2Grid inverts ToS2Grid on band-limited signals
    torch.testing.assert_close(back(ours(x)), x, **TOL)


def test_grid_sizes_completed_from_any_given_subset_match_e3nn():
    """(lmax, res_beta, res_alpha) with any of them None: the missing ones follow e3nn's rule, as ints."""
    from e3nn.o3._s2grid import _complete_lmax_res as theirs

    from e3gen.o3._s2grid import _complete_lmax_res as ours

    for lmax in (None, 0, 1, 4, 7):
        for res_beta in (None, 2, 5, 8, 11):
            for res_alpha in (None, 1, 4, 7, 12):
                try:
                    expected = theirs(lmax, res_beta, res_alpha)
                except Exception as error:  # e3nn refuses all-None (and only that) with a ValueError
                    with pytest.raises(type(error)):
                        ours(lmax, res_beta, res_alpha)
                    continue
                got = ours(lmax, res_beta, res_alpha)
                assert got == expected and all(type(v) is int for v in got), ((lmax, res_beta, res_alpha), got, expected)


def test_s2_grid_helpers_match_e3nn():
    for a, b in zip(o3.s2_grid(6, 7), e3nn_o3.s2_grid(6, 7)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(o3.spherical_harmonics_s2_grid(3, 8, 9), e3nn_o3.spherical_harmonics_s2_grid(3, 8, 9)):
        torch.testing.assert_close(a, b, **TOL)
    samples = random_tensor(3, 9, seed=2)
    torch.testing.assert_close(o3.rfft(samples, 4), e3nn_o3.rfft(samples, 4), **TOL)
    coefficients = random_tensor(3, 7, seed=3)
    torch.testing.assert_close(o3.irfft(coefficients, 11), e3nn_o3.irfft(coefficients, 11), **TOL)
    # irfft samples the series; rfft takes an unnormalised transform of the samples: n times the coefficients
    torch.testing.assert_close(o3.rfft(o3.irfft(coefficients, 11), 3), 11 * coefficients, **TOL)


def test_to_s2_grid_is_the_signal_sum_of_harmonics():
    """ToS2Grid(integral)(F)[b, a] = sum_l F^l . Y^l(grid[b, a]): the definition, checked independently."""
    to = o3.ToS2Grid(3, (8, 9), "integral")
    coefficients = random_tensor(16, seed=4)
    expected = o3.spherical_harmonics(list(range(4)), to.grid, True, normalization="integral") @ coefficients
    torch.testing.assert_close(to(coefficients), expected, **TOL)


def test_so3_grid_matches_e3nn():
    ours, theirs = o3.SO3Grid(2, 3), e3nn_o3.SO3Grid(2, 3)
    x = random_tensor(3, 35, seed=5)
    torch.testing.assert_close(ours.to_grid(x), theirs.to_grid(x), **TOL)
    torch.testing.assert_close(ours.from_grid(ours.to_grid(x)), theirs.from_grid(theirs.to_grid(x)), **TOL)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())


def test_grid_errors_name_the_problem():
    with pytest.raises(AssertionError, match="res_beta"):
        o3.ToS2Grid(4, 7)
    with pytest.raises(AssertionError, match="normalization"):
        o3.FromS2Grid(8, 3, "unit")
    with pytest.raises(ValueError, match=r"expected coefficients \[\.\.\., 16\]"):
        o3.ToS2Grid(3)(torch.zeros(2, 9))


# --- Norm -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("irreps", ["17x1o", "2x0e+3x1o+1x1o+2e", "0e+0o"])
@pytest.mark.parametrize("squared", [False, True])
def test_norm_matches_e3nn_and_loads_its_state(irreps, squared):
    ours, theirs = o3.Norm(irreps, squared), e3nn_o3.Norm(irreps, squared)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    assert str(ours.irreps_in) == str(theirs.irreps_in) and str(ours.irreps_out) == str(theirs.irreps_out)
    x = random_tensor(4, ours.irreps_in.dim, seed=6)
    x[0] = 0
    torch.testing.assert_close(ours(x), theirs(x), **TOL)
    assert_equivariant(ours, ours.irreps_in, ours.irreps_out, inputs=x[1:], seed=0)


# --- experimental ---------------------------------------------------------------------------------

FULL_CASES = [
    ("2x0e+1o+2x2e", "3x1o+0e", {}),
    ("1o+1e", "2e+0o", dict(filter_ir_out="1e+0e+2o")),
    ("2x1o", "0e+1e", dict(irrep_normalization="norm")),
    ("1o+0e+2e", "2x0e+1e", dict(regroup_output=False)),
]


@pytest.mark.parametrize("irreps1, irreps2, kwargs", FULL_CASES)
def test_full_tensor_product_v2_matches_e3nn(irreps1, irreps2, kwargs):
    theirs_kwargs = {k: e3nn_o3.Irreps(v) if k == "filter_ir_out" else v for k, v in kwargs.items()}
    ours = FullTensorProductv2(irreps1, irreps2, **kwargs)
    theirs = e3nn_experimental.FullTensorProductv2(e3nn_o3.Irreps(irreps1), e3nn_o3.Irreps(irreps2), **theirs_kwargs)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    ours.load_state_dict(theirs.state_dict())
    x, y = random_tensor(4, ours.irreps_in1.dim, seed=7), random_tensor(1, ours.irreps_in2.dim, seed=8)
    torch.testing.assert_close(ours(x, y), theirs(x, y), **TOL)
    assert_equivariant(ours, [ours.irreps_in1, ours.irreps_in2], ours.irreps_out, seed=0)


@pytest.mark.parametrize("irreps1, irreps2, kwargs", [("2x0e+1o+2x2e", "3x1o+2x0e", {}), ("3x1o", "1x0e+2x1e", dict(irrep_normalization="norm"))])
def test_elementwise_tensor_product_v2_matches_e3nn(irreps1, irreps2, kwargs):
    ours = ElementwiseTensorProductv2(irreps1, irreps2, **kwargs)
    theirs = e3nn_experimental.ElementwiseTensorProductv2(e3nn_o3.Irreps(irreps1), e3nn_o3.Irreps(irreps2), **kwargs)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    ours.load_state_dict(theirs.state_dict())
    x, y = random_tensor(4, ours.irreps_in1.dim, seed=9), random_tensor(4, ours.irreps_in2.dim, seed=10)
    torch.testing.assert_close(ours(x, y), theirs(x, y), **TOL)
    assert_equivariant(ours, [ours.irreps_in1, ours.irreps_in2], ours.irreps_out, seed=0)
    with pytest.raises(ValueError, match="same number of irreps"):
        ElementwiseTensorProductv2("2x0e", "0e")
