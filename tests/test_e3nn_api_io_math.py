"""e3gen.io, e3gen.math's linear-algebra and permutation helpers and o3.ReducedTensorProducts against
e3nn 0.6.0 (the oracle).

Numbers: float64, the same inputs on both sides, agreement to 1e-10 (only rounding differs: e3gen
takes wigner_3j from its exact tables, e3nn from floats). Bases built by Gram-Schmidt
(ReducedTensorProducts, CartesianTensor) are compared entry by entry, which also checks their order
and signs. Equivariance: random O(3) elements through e3gen.testing.assert_equivariant (rtol 1e-9).
"""

import itertools
import re

import pytest
import torch

from helpers import random_tensor

from e3gen import io, math, o3
from e3gen.math import perm
from e3gen.testing import assert_equivariant

e3nn = pytest.importorskip("e3nn", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
import e3nn.io  # noqa: E402
import e3nn.math  # noqa: E402
import e3nn.math.perm  # noqa: E402
import e3nn.o3  # noqa: E402

pytestmark = pytest.mark.usefixtures("float64_default")
TOL = dict(rtol=0, atol=1e-10)

FORMULAS = ["ij=ji", "ij=-ji", "ijk=jik=ikj", "ijk=-jik=-ikj", "ijkl=jikl=klij", "ij", "ijk=jki"]


# --- math -----------------------------------------------------------------------------------------


def test_perm_functions_match_e3nn_on_all_of_s4():
    group = perm.group(4)
    assert group == e3nn.math.perm.group(4) and len(group) == 24 and perm.is_group(group)
    for p in sorted(group):
        assert perm.to_int(p) == e3nn.math.perm.to_int(p) and perm.from_int(perm.to_int(p), 4) == p
        assert perm.inverse(p) == e3nn.math.perm.inverse(p) and perm.sign(p) == e3nn.math.perm.sign(p)
        assert perm.to_cycles(p) == e3nn.math.perm.to_cycles(p)
        for q in (p, (1, 0, 3, 2)):
            assert perm.compose(p, q) == e3nn.math.perm.compose(p, q)
        torch.testing.assert_close(perm.natural_representation(p), e3nn.math.perm.natural_representation(p), rtol=0, atol=0)
        torch.testing.assert_close(perm.standard_representation(p), e3nn.math.perm.standard_representation(p), **TOL)
    assert perm.germinate({(1, 0, 2, 3)}) == e3nn.math.perm.germinate({(1, 0, 2, 3)})
    assert not perm.is_group({(1, 0, 2)}) and not perm.is_group(set())


def test_orthonormalize_and_complete_basis_match_e3nn():
    vecs = random_tensor(4, 6, seed=0)
    vecs[2] = vecs[0] - 2 * vecs[1]  # a dependent row: dropped
    ours, ours_matrix = math.orthonormalize(vecs)
    theirs, theirs_matrix = e3nn.math.orthonormalize(vecs)
    assert ours.shape == (3, 6)
    torch.testing.assert_close(ours, theirs, **TOL)
    torch.testing.assert_close(ours_matrix, theirs_matrix, **TOL)
    torch.testing.assert_close(ours_matrix @ vecs, ours, **TOL)
    torch.testing.assert_close(ours @ ours.T, torch.eye(3), **TOL)
    complement = math.complete_basis(ours)
    torch.testing.assert_close(complement, e3nn.math.complete_basis(ours), **TOL)
    torch.testing.assert_close(torch.cat([ours, complement]) @ torch.cat([ours, complement]).T, torch.eye(6), **TOL)
    assert math.orthonormalize(torch.zeros(2, 3))[0].shape == (0, 3)


@pytest.mark.parametrize("function, argument", [("orthonormalize", "original"), ("complete_basis", "vecs")])
@pytest.mark.parametrize("shape", [(3,), (1, 2, 3)])
def test_gram_schmidt_helpers_refuse_a_non_matrix_as_e3nn_does(function, argument, shape):
    """Both take rows [n, dim]: anything else raises e3nn's exception type (AssertionError, from its
    `assert x.dim() == 2`), here with the argument's name and shape instead of a bare assert."""
    with pytest.raises(AssertionError):
        getattr(e3nn.math, function)(torch.ones(shape))
    with pytest.raises(AssertionError, match=rf"{function}: {argument} must be a matrix .*got shape {re.escape(str(tuple(shape)))}"):
        getattr(math, function)(torch.ones(shape))


def test_direct_sum_matches_e3nn():
    blocks = [random_tensor(2, 3, 1, seed=1), random_tensor(2, 2, 4, seed=2), random_tensor(2, 1, 1, seed=3)]
    torch.testing.assert_close(math.direct_sum(*blocks), e3nn.math.direct_sum(*blocks), rtol=0, atol=0)


@pytest.mark.parametrize("formula", FORMULAS)
def test_germinate_formulas_and_reduce_permutation_match_e3nn(formula):
    f0, group = math.germinate_formulas(formula)
    assert (f0, group) == e3nn.math.germinate_formulas(formula)
    for dim in (1, 3):
        dims = {letter: dim for letter in f0}
        ours = math.reduce_permutation(f0, group, **dims)
        theirs = e3nn.math.reduce_permutation(f0, group, **dims)
        assert ours[1] == theirs[1]
        torch.testing.assert_close(ours[0], theirs[0], rtol=0, atol=0)


def test_germinate_formulas_rejects_what_e3nn_rejects():
    for bad in ("ij=ik", "ij=iij"):
        with pytest.raises(RuntimeError):
            math.germinate_formulas(bad)


# --- ReducedTensorProducts ------------------------------------------------------------------------

RTP_CASES = [
    ("ij=ji", dict(i="1o")),
    ("ij=-ji", dict(i="1o")),
    ("ijk=jik=ikj", dict(i="1o")),
    ("ijkl=jikl=klij", dict(i="1o")),
    ("ij", dict(i="0e+1o", j="1e+2o")),
    ("ijk=-jik", dict(i="2x0e+1o", k="1e")),
    ("ij=ji", dict(i="1o", filter_ir_out=["0e"])),
    ("ijk=jik", dict(i="1o", k="1o", filter_ir_mid=["0e", "1e", "1o", "2o"])),
]


@pytest.mark.parametrize("formula, kwargs", RTP_CASES)
def test_reduced_tensor_products_match_e3nn(formula, kwargs):
    ours = o3.ReducedTensorProducts(formula, **kwargs)
    theirs = e3nn.o3.ReducedTensorProducts(formula, **kwargs)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    assert [str(irreps) for irreps in ours.irreps_in] == [str(irreps) for irreps in theirs.irreps_in]
    torch.testing.assert_close(ours.change_of_basis, theirs.change_of_basis, **TOL)
    xs = [random_tensor(5, irreps.dim, seed=k) for k, irreps in enumerate(ours.irreps_in)]
    torch.testing.assert_close(ours(*xs), theirs(*xs), **TOL)
    # the forward is the change of basis contracted with the inputs
    dense = torch.einsum(ours.change_of_basis.flatten(1), [0, 1], torch.einsum(*itertools.chain(*[(x, [9, k]) for k, x in enumerate(xs)]), [9, *range(len(xs))]).flatten(1), [9, 1], [9, 0])
    torch.testing.assert_close(ours(*xs), dense, **TOL)


def test_reduced_tensor_products_is_equivariant_and_broadcasts():
    rtp = o3.ReducedTensorProducts("ijk=jik", i="1o+0e", k="2e")
    assert_equivariant(rtp, [str(irreps) for irreps in rtp.irreps_in], rtp.irreps_out, seed=0)
    x, y, z = random_tensor(4, 1, 4, seed=0), random_tensor(3, 4, seed=1), random_tensor(5, seed=2)
    out = rtp(x, y, z)
    assert out.shape == (4, 3, rtp.irreps_out.dim)
    torch.testing.assert_close(out[2, 1], rtp(x[2, 0], y[1], z), **TOL)


def test_reduced_tensor_products_errors_name_the_problem():
    with pytest.raises(RuntimeError, match="index j has no irreps"):
        o3.ReducedTensorProducts("ij", i="1o")
    with pytest.raises(RuntimeError, match="should be the same"):
        o3.ReducedTensorProducts("ij=ji", i="1o", j="1e")
    with pytest.raises(TypeError, match="unexpected keyword argument 'ab'"):
        o3.ReducedTensorProducts("ij=ji", ab="1o")
    with pytest.raises(ValueError, match=r"input 1 must have shape \[\.\.\., 3\]"):
        o3.ReducedTensorProducts("ij=ji", i="1o")(torch.randn(3), torch.randn(4))


# --- io -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("formula", ["ij=ji", "ij=-ji", "ijk=-jik=-ikj", "ijkl=jikl=klij", "ij", "ijk=jki"])
def test_cartesian_tensor_matches_e3nn(formula):
    ours, theirs = io.CartesianTensor(formula), e3nn.io.CartesianTensor(formula)
    assert isinstance(ours, o3.Irreps) and str(ours) == str(theirs)
    assert (ours.formula, ours.indices) == (theirs.formula, theirs.indices)
    n = len(ours.indices)
    t = random_tensor(4, *([3] * n), seed=n)
    irreps = ours.from_cartesian(t)
    torch.testing.assert_close(irreps, theirs.from_cartesian(t), **TOL)
    torch.testing.assert_close(ours.to_cartesian(irreps), theirs.to_cartesian(irreps), **TOL)
    vectors = [random_tensor(4, 3, seed=10 + k) for k in range(n)]
    torch.testing.assert_close(ours.from_vectors(*vectors), theirs.from_vectors(*vectors), **TOL)


def test_cartesian_tensor_round_trip_on_symmetric_tensors_and_equivariance():
    """to_cartesian(from_cartesian(t)) = t for t with the formula's symmetry; irreps rotate with D(R)."""
    ct = io.CartesianTensor("ij=ji")
    a = random_tensor(6, 3, 3, seed=0)
    t = a + a.transpose(-1, -2)
    torch.testing.assert_close(ct.to_cartesian(ct.from_cartesian(t)), t, **TOL)
    R = o3.rand_matrix(dtype=torch.float64)
    rotated = R @ t @ R.T
    torch.testing.assert_close(ct.from_cartesian(rotated), ct.from_cartesian(t) @ ct.D_from_matrix(R).T, **TOL)
    assert ct.from_cartesian(torch.zeros(0, 3, 3)).shape == (0, 6)
    with pytest.raises(ValueError, match=r"expected data of shape \[\.\.\., 3, 3\]"):
        ct.from_cartesian(torch.zeros(3, 4))
    assert ct.from_cartesian(t.float()).dtype == torch.float32


def test_cartesian_tensor_stress_as_nequip_uses_it():
    """NequIP converts a stress tensor with CartesianTensor("ij=ji"): 0e is the trace / sqrt(3)."""
    ct = io.CartesianTensor("ij=ji")
    stress = torch.diag(torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(ct.from_cartesian(stress)[0], torch.tensor(6.0 / 3**0.5), **TOL)


def test_spherical_tensor_matches_e3nn():
    ours, theirs = io.SphericalTensor(3, 1, -1), e3nn.io.SphericalTensor(3, 1, -1)
    assert str(ours) == str(theirs) == "1x0e+1x1o+1x2e+1x3o"
    assert str(io.SphericalTensor(2, -1, 1)) == str(e3nn.io.SphericalTensor(2, -1, 1))
    vectors = random_tensor(3, 3, seed=0)
    torch.testing.assert_close(ours.with_peaks_at(vectors), theirs.with_peaks_at(vectors), **TOL)
    positions, values = random_tensor(2, 5, 3, seed=1), random_tensor(2, 5, seed=2)
    torch.testing.assert_close(ours.sum_of_diracs(positions, values), theirs.sum_of_diracs(positions, values), **TOL)
    torch.testing.assert_close(
        ours.from_samples_on_s2(positions, values, res=20), theirs.from_samples_on_s2(positions, values, res=20), **TOL
    )
    signal, r = random_tensor(4, 16, seed=3), random_tensor(2, 3, seed=4)
    torch.testing.assert_close(ours.norms(signal), theirs.norms(signal), **TOL)
    torch.testing.assert_close(ours.signal_xyz(signal, r), theirs.signal_xyz(signal, r), **TOL)
    grid, grid_values = ours.signal_on_grid(signal, 20)
    torch.testing.assert_close(grid, theirs.signal_on_grid(signal, 20).grid, **TOL)
    torch.testing.assert_close(grid_values, theirs.signal_on_grid(signal, 20).values, **TOL)
    for a, b in zip(ours.plot(signal[0], res=20), theirs.plot(signal[0], res=20)):
        torch.testing.assert_close(a, b, **TOL)


def test_spherical_tensor_find_peaks_matches_e3nn_without_scipy():
    """Peaks of a signal with two maxima, found by e3gen's own 1-d peak finder (scipy's rule)."""
    st = io.SphericalTensor(4, 1, -1)
    signal = st.with_peaks_at(torch.tensor([[1.0, 0.0, 1.0], [0.0, 2.0, 0.0]]))
    ours = st.find_peaks(signal, res=40)
    theirs = e3nn.io.SphericalTensor(4, 1, -1).find_peaks(signal, res=40)
    order_ours, order_theirs = ours[1].argsort(), theirs[1].argsort()
    torch.testing.assert_close(ours[0][order_ours], theirs[0][order_theirs], **TOL)
    torch.testing.assert_close(ours[1][order_ours], theirs[1][order_theirs], **TOL)
    # the highest peak is near the requested (0, 2, 0), with a value near 2
    top = ours[1].argmax()
    assert torch.allclose(ours[0][top] / ours[0][top].norm(), torch.tensor([0.0, 1.0, 0.0]), atol=0.1)


def test_local_maxima_follow_scipy_rules():
    from e3gen.io._spherical_tensor import _local_maxima_1d

    assert _local_maxima_1d(torch.tensor([0.0, 1, 0, 2, 2, 2, 0, 3])) == [1, 4]  # plateau: middle; edges never
    assert _local_maxima_1d(torch.tensor([0.0, 1, 1, 0, 2, 2])) == [1]  # even plateau rounds down; open plateau at the end is no peak


def test_io_tensors_survive_deepcopy_and_pickle():
    """Models holding them get deep-copied (EMA, SWA): e3gen rebuilds them from their arguments."""
    import copy
    import pickle

    for value in (io.CartesianTensor("ij=ji"), io.SphericalTensor(2, -1, 1)):
        for clone in (copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
            assert type(clone) is type(value) and clone == value and vars(clone) == vars(value)


def test_perm_compose_refuses_a_non_permutation_on_either_side_as_e3nn_does():
    from e3gen.math import perm

    for p, q in (((0, 0), (0, 1)), ((0, 1), (1, 1)), ((0, 2), (1, 0)), ((0, 1), (0, 1, 2))):
        with pytest.raises(AssertionError):
            e3nn.math.perm.compose(p, q)
        with pytest.raises(AssertionError):
            perm.compose(p, q)
