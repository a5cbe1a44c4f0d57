"""Equivariance of spherical harmonics, Wigner D and Clebsch-Gordan, for every l up to the built lmax.

Strategy: hypothesis draws a rotation R and the inputs with e3gen.testing's strategies (for the
harmonics every entry is drawn, so zero and tiny vectors come up and failures shrink to readable
inputs); `assert_equivariant` then checks both R and the improper -R, block by block. Tolerances are absolute (rtol=0, as the inputs are bounded): 1e-12 in
float64 (coefficients are exact, so only rounding remains; measured ~4e-15) and 1e-5 in float32.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from e3gen import o3
from e3gen.runtime.loader import load_kernels
from e3gen.symbolic.certificate import coupling_triples
from e3gen.testing import assert_equivariant, irreps_tensors, o3_elements, rotations

LMAX = load_kernels(0).lmax  # the shipped build: every l it covers is tested
VECTORS = irreps_tensors("1o", batch=16)  # 16 vectors, entries in [-10, 10], the zero vector included


@pytest.mark.parametrize("l", range(LMAX + 1))
@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@given(R=rotations(), x=VECTORS)
def test_spherical_harmonics_are_equivariant(l, dtype, tol, R, x):
    irrep = o3.Irrep(l, (-1) ** l)  # a vector (1o) gives parity (-1)^l
    for normalization in ("component", "norm", "integral"):
        assert_equivariant(
            lambda v: o3.spherical_harmonics(l, v, True, normalization),
            "1o", irrep, inputs=x, rotation=R, dtype=dtype, atol=tol, rtol=0,
        )  # fmt: skip


@given(R=rotations(), x=irreps_tensors("1o", batch=16, max_abs=9.0))
def test_unnormalized_harmonics_are_equivariant_homogeneous_polynomials(R, x):
    irreps = o3.Irreps.spherical_harmonics(LMAX)
    harmonics = lambda v: o3.spherical_harmonics(irreps, v, False, "component")  # noqa: E731
    # |Y^3| reaches ~1e4 here: absolute 1e-10 (measured rounding ~3e-12).
    assert_equivariant(harmonics, "1o", irreps, inputs=x, rotation=R, atol=1e-10, rtol=0)
    scale = 1.7
    ls = torch.tensor([l for l in range(LMAX + 1) for _ in range(2 * l + 1)], dtype=torch.float64)
    torch.testing.assert_close(harmonics(scale * x), harmonics(x) * scale**ls, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("l", range(LMAX + 1))
@given(g1=o3_elements(), g2=o3_elements())
def test_D_is_a_representation_of_O3(l, g1, g2):
    for p in (1, -1):
        ir = o3.Irrep(l, p)
        d = ir.D_from_matrix(g1 @ g2)
        torch.testing.assert_close(d, ir.D_from_matrix(g1) @ ir.D_from_matrix(g2), rtol=0, atol=1e-12)
        torch.testing.assert_close(d @ d.T, torch.eye(2 * l + 1, dtype=d.dtype), rtol=0, atol=1e-12)


@pytest.mark.parametrize("l", range(LMAX + 1))
@given(r1=rotations(), r2=rotations())
def test_wigner_D_of_euler_angles_is_a_representation(l, r1, r2):
    # Euler angles lose digits near gimbal lock (beta = 0 or pi), before any D is computed:
    # compose the angles exactly instead of recovering them from matrices.
    a1, b1, c1 = o3.matrix_to_angles(r1)
    a2, b2, c2 = o3.matrix_to_angles(r2)
    d1, d2 = o3.wigner_D(l, a1, b1, c1), o3.wigner_D(l, a2, b2, c2)
    r12 = o3.angles_to_matrix(a1, b1, c1) @ o3.angles_to_matrix(a2, b2, c2)
    torch.testing.assert_close(d1 @ d2, o3.Irrep(l, 1).D_from_matrix(r12), rtol=0, atol=1e-12)


ANGLE = st.floats(-10.0, 10.0, allow_nan=False)


@given(r=rotations(), a=ANGLE, b=ANGLE, c=ANGLE)
def test_D1_is_the_rotation_matrix(r, a, b, c):
    torch.testing.assert_close(o3.Irrep("1o").D_from_matrix(r), r, rtol=0, atol=1e-14)
    angles = [torch.tensor(v, dtype=torch.float64) for v in (a, b, c)]
    torch.testing.assert_close(o3.wigner_D(1, *angles), o3.angles_to_matrix(*angles), rtol=0, atol=1e-14)


@pytest.mark.parametrize("l1,l2,l3", coupling_triples(LMAX))
@given(R=rotations(), data=st.data())
def test_clebsch_gordan_kernels_are_equivariant(l1, l2, l3, R, data):
    # The kernel couples any parities p1, p2 into p1 p2; -R checks that too. Its output is a
    # bilinear polynomial, so generic inputs expose any wrong coefficient: seeded values (cheaper
    # than drawing each entry, which would double this test's time) are enough.
    ir1, ir2, ir3 = o3.Irrep(l1, (-1) ** l1), o3.Irrep(l2, (-1) ** l2), o3.Irrep(l3, (-1) ** (l1 + l2))
    x = data.draw(irreps_tensors(ir1, batch=8, max_abs=4.0, values="seeded"), label="x")
    y = data.draw(irreps_tensors(ir2, batch=8, max_abs=4.0, values="seeded"), label="y")
    kernel = load_kernels(LMAX).coupling_kernel(l1, l2, l3)
    assert_equivariant(kernel, [ir1, ir2], ir3, inputs=[x, y], rotation=R, atol=1e-12, rtol=0)
    # and the table: C is invariant under D1 (x) D2 (x) D3, here with D of Euler angles
    angles = o3.matrix_to_angles(R)
    d1, d2, d3 = (o3.wigner_D(l, *angles) for l in (l1, l2, l3))
    c = o3.wigner_3j(l1, l2, l3, dtype=torch.float64)
    torch.testing.assert_close(torch.einsum("ijk,ia,jb,kc->abc", c, d1, d2, d3), c, rtol=0, atol=1e-12)


def test_zero_vector_maps_to_zero_with_finite_gradients():
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    y = o3.spherical_harmonics([0, 1, 2, 3], x, normalize=True, normalization="component")
    assert torch.equal(y.detach(), torch.tensor([[1.0] + [0.0] * 15] * 2, dtype=torch.float64))
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(grad).all()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"vectors of shape \[..., 3\], got shape \(4, 2\)"):
        o3.spherical_harmonics(2, torch.zeros(4, 2), True)
    with pytest.raises(ValueError, match="normalization must be one of"):
        o3.spherical_harmonics(2, torch.zeros(4, 3), True, "unit")
    with pytest.raises(ValueError, match="parity"):
        o3.spherical_harmonics("0e + 2o", torch.zeros(4, 3), True)
    with pytest.raises(ValueError, match="triangle"):
        o3.wigner_3j(1, 1, 3)
    with pytest.raises(ValueError, match="l >= 0"):
        o3.spherical_harmonics(-1, torch.zeros(4, 3), True)
