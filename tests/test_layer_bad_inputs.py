"""Issue 9, layer side: the bad inputs and edge cases users meet get a correct answer or a clear error.

Each test is one reproduction from the issue (each failed before the fix): silent wrong answers
(BatchNorm on an empty batch, zero-length edges, non-finite positions, non-orthogonal matrices,
raw kernels given the wrong size), crashes (empty batches in the tensor products and the
convolution, tiny periodic cells) and opaque errors (mixed dtypes, non-float harmonics input,
out-of-range edge_index). "Clear" means: e3gen's own exception (ValueError or TypeError) whose
message names the layer, the argument and the fix.
"""

import math
from unittest import mock

import numpy as np
import pytest
import torch
from helpers import random_tensor

from e3gen import math as e3math
from e3gen import nn, o3
from e3gen.o3._rotation import RotationMatrixError
from e3gen.o3._wigner import wigner_D_from_matrix
from e3gen.runtime.loader import load_kernels

# ---------------------------------------------------------------- silent wrong answers


@pytest.mark.parametrize("shape", [(0, 10), (0, 3, 10), (4, 0, 10)])
def test_batch_norm_on_an_empty_batch_leaves_the_running_statistics_alone(shape):
    """An empty batch has no statistics (0/0): like torch's BatchNorm, the running ones stay as they
    were (e3nn writes NaN into them, and every later eval output is NaN)."""
    bn = nn.BatchNorm("4x0e + 2x1o").double()
    bn(random_tensor(8, 10, seed=0))  # some real statistics first
    mean, var = bn.running_mean.clone(), bn.running_var.clone()
    x = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    out = bn(x)
    out.sum().backward()
    assert out.shape == shape and x.grad.shape == shape
    assert torch.equal(bn.running_mean, mean) and torch.equal(bn.running_var, var)
    bn.eval()
    assert torch.isfinite(bn(random_tensor(3, 10, seed=1))).all()


def test_bessel_bases_take_their_finite_limit_and_gradient_at_zero():
    """sin(w r / c) / r -> w / c as r -> 0; d/dr -> 0 there and d/dw -> 1/c (NequIP's and e3nn's
    formulas give 0/0 = NaN at r = 0, in value and in gradient)."""
    r_max = 2.5
    basis = e3math.BesselBasis(r_max, 6).double()
    r = torch.tensor([0.0, 1e-9], dtype=torch.float64, requires_grad=True)
    values = basis(r)
    w = basis.bessel_weights.detach()
    torch.testing.assert_close(values[0], (2 / r_max) * w / r_max, rtol=1e-15, atol=0)
    torch.testing.assert_close(values[0], values[1], rtol=1e-12, atol=0)  # continuous
    grad_r, grad_w = torch.autograd.grad(values.sum(), [r, basis.bessel_weights])
    assert grad_r[0] == 0 and torch.isfinite(grad_r).all()
    # sum over n of d/dw_n at r = 0 and at r = 1e-9: (2 / r_max) / r_max cos(w r / r_max) each
    torch.testing.assert_close(grad_w, torch.full_like(grad_w, 2 * 2 / r_max**2), rtol=1e-12, atol=0)
    # e3nn's soft_one_hot_linspace "bessel" at x = start: the same limit (0 with cutoff=True)
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    free = e3math.soft_one_hot_linspace(x, 0.0, 2.0, 4, "bessel", cutoff=False)
    torch.testing.assert_close(free[0], math.sqrt(2 / 2.0) * torch.arange(1, 5, dtype=torch.float64) * math.pi / 2.0)
    assert torch.equal(e3math.soft_one_hot_linspace(x, 0.0, 2.0, 4, "bessel", cutoff=True), torch.zeros(1, 4, dtype=torch.float64))
    (grad,) = torch.autograd.grad(free.sum(), x)
    assert torch.isfinite(grad).all()


def test_convolution_on_a_self_interaction_graph_is_finite_in_value_and_gradient():
    """radius_graph(self_interaction=True) makes zero-length edges; they used to turn every output
    into NaN. Now a self edge contributes the r -> 0 limit, with finite gradients (forces). With
    harmonics up to l = 0 (so that the direction of a tiny edge does not matter), a self edge gives
    what an edge of length 1e-12 gives: the Bessel basis and the envelope are continuous at 0."""
    pos = random_tensor(6, 3, seed=2).requires_grad_()
    x = random_tensor(6, 10, seed=3).requires_grad_()
    attr = random_tensor(6, 2, seed=4)
    edge_index, _ = nn.radius_graph(pos, 2.0, self_interaction=True)
    self_edges = edge_index[0] == edge_index[1]
    assert self_edges.sum() == 6
    for lmax in (2, 0):
        edge_vec = nn.edge_vectors(pos, edge_index)
        torch.manual_seed(0)
        conv = nn.Convolution("4x0e + 2x1o", "2x0e", "4x0e + 2x1o", lmax, r_max=2.0).double()
        out = conv(x, attr, edge_index, edge_vec)
        grad_x, grad_pos = torch.autograd.grad(out.pow(2).sum(), [x, pos])
        assert torch.isfinite(out).all() and torch.isfinite(grad_x).all() and torch.isfinite(grad_pos).all()
    tiny = edge_vec.detach().clone()
    tiny[self_edges] = torch.tensor([1e-12, 0.0, 0.0], dtype=torch.float64)
    torch.testing.assert_close(out, conv(x, attr, edge_index, tiny), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("periodic", [False, True])
def test_radius_graph_names_the_atoms_with_non_finite_positions(periodic):
    pos = random_tensor(6, 3, seed=5)
    pos[2, 0], pos[4, 1] = float("nan"), float("inf")
    cell = 3 * torch.eye(3, dtype=torch.float64) if periodic else None
    with pytest.raises(ValueError, match=r"radius_graph: pos has non-finite \(nan or inf\) coordinates for atom\(s\) 2, 4"):
        nn.radius_graph(pos, 2.0, cell=cell)


@pytest.mark.parametrize("call", ["Irreps.D_from_matrix", "Irrep.D_from_matrix", "wigner_D_from_matrix"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_non_orthogonal_matrices_are_refused_as_e3nn_refuses_them(call, dtype):
    """2 I used to give 2^l D(I); e3nn raises AssertionError (its det check). e3gen raises
    RotationMatrixError, both a ValueError and an AssertionError."""
    f = {
        "Irreps.D_from_matrix": lambda R: o3.Irreps("1o + 2e").D_from_matrix(R),
        "Irrep.D_from_matrix": lambda R: o3.Irrep("2e").D_from_matrix(R),
        "wigner_D_from_matrix": lambda R: wigner_D_from_matrix(2, R),
    }[call]
    for bad in (2 * torch.eye(3, dtype=dtype), torch.full((3, 3), float("nan"), dtype=dtype)):
        with pytest.raises(RotationMatrixError, match=r"max \|R @ R\^T - I\| is (3|nan)") as error:
            f(bad)
        assert isinstance(error.value, ValueError) and isinstance(error.value, AssertionError)
    # float32 rotations, even products of many, are rotations to float32 rounding: accepted
    R = o3.rand_matrix(4, dtype=dtype)
    for _ in range(20):
        R = R @ o3.rand_matrix(4, dtype=dtype)
    assert torch.isfinite(f(R)).all()
    assert f(o3.rand_matrix(0, dtype=dtype)).shape[0] == 0


def test_e3nn_raises_assertion_error_for_the_same_matrix():
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    with pytest.raises(AssertionError):
        e3nn_o3.Irreps("1o").D_from_matrix(2 * torch.eye(3))


def test_wigner_D_from_matrix_wants_proper_rotations_and_D_from_matrix_takes_the_parity():
    with pytest.raises(RotationMatrixError, match="determinant of -1"):
        wigner_D_from_matrix(1, -torch.eye(3))
    torch.testing.assert_close(o3.Irrep("1o").D_from_matrix(-torch.eye(3)), -torch.eye(3))


def test_raw_kernels_check_the_size_of_their_inputs():
    """coupling(1, 1, 2) reads x[..., 0..2]: given x [..., 5] it used to use the first 3 silently."""
    build = load_kernels(2)
    kernel = build.coupling_kernel(1, 1, 2)
    with pytest.raises(ValueError, match=r"coupling_1_1_2 \(l1=1, l2=1 -> l3=2\): expected x of shape \[\.\.\., 3\], got \[4, 5\]"):
        kernel(torch.randn(4, 5), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"expected y of shape \[\.\.\., 3\], got \[4, 1\]"):
        kernel(torch.randn(4, 3), torch.randn(4, 1))
    vjp_x, vjp_y = build.coupling_vjp(1, 1, 2)
    with pytest.raises(ValueError, match=r"expected g of shape \[\.\.\., 5\], got \[4, 3\]"):
        vjp_x(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"expected g of shape \[\.\.\., 5\]"):
        vjp_y(torch.randn(4, 3), torch.randn(4, 4))
    step = build.spherical_harmonics_step(2)
    v = torch.randn(3, 4)
    with pytest.raises(ValueError, match=r"spherical_harmonics_2 \(l=2\): expected previous as the 3 components of Y\^1"):
        step(v[0], v[1], v[2], [v[0]])
    # the right sizes still give the kernel's numbers, and the raw kernel stays reachable
    x, y = torch.randn(4, 3), torch.randn(4, 3)
    assert torch.equal(kernel(x, y), kernel.__wrapped__(x, y))
    assert kernel.__wrapped__ is build.coupling.KERNELS[(1, 1, 2)]


# ---------------------------------------------------------------- crashes


def _empty_batch_cases():
    return {
        "FullyConnectedTensorProduct(8x0e, 4x0e, 8x0e)": (o3.FullyConnectedTensorProduct("8x0e", "4x0e", "8x0e"), 2),
        "FullyConnectedTensorProduct(2x0e+2x1o, 1o+2e, ...)": (
            o3.FullyConnectedTensorProduct("2x0e + 2x1o", "0e + 1o + 2e", "3x0e + 2x1o + 1x2e + 1x1e"), 2),
        "FullTensorProduct": (o3.FullTensorProduct("2x0e + 1o", "1o + 2e"), 2),
        "ElementwiseTensorProduct": (o3.ElementwiseTensorProduct("2x0e + 2x1o", "2x1o + 2x0e"), 2),
        "TensorSquare": (o3.TensorSquare("2x0e + 1o"), 1),
        "TensorSquare(weighted)": (o3.TensorSquare("2x0e + 2x1o", "3x0e + 1x1o + 1x2e"), 1),
        "channelwise(uvu)": (o3.channelwise_tensor_product("4x0e + 2x1o", "0e + 1o", "4x0e + 2x1o", shared_weights=False), 2),
        "TensorProduct(uvuv)": (o3.TensorProduct("2x1o", "2x1o", "4x0e", [(0, 0, 0, "uvuv", True)]), 2),
    }


@pytest.mark.parametrize("name", list(_empty_batch_cases()))
@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
def test_tensor_products_take_empty_batches_forward_and_backward(name, strategy):
    """0 rows in, [0, irreps_out.dim] out (as e3nn), with [0, dim] gradients; these used to crash
    with "cannot reshape tensor of 0 elements" wherever a view had a -1."""
    tp, operands = _empty_batch_cases()[name]
    tp = tp.double()
    tp.strategy = strategy
    x = torch.zeros(0, tp.irreps_in1.dim, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(0, tp.irreps_in2.dim, dtype=torch.float64, requires_grad=True)
    args = (x,) if operands == 1 else (x, y)
    if tp.weight_numel > 0 and not tp.internal_weights:
        args = args + (torch.zeros(0, tp.weight_numel, dtype=torch.float64, requires_grad=True),)
    out = tp(*args)
    assert out.shape == (0, tp.irreps_out.dim)
    grads = torch.autograd.grad(out.sum(), [a for a in args], allow_unused=True)
    assert all(g is None or g.shape == a.shape for g, a in zip(grads, args))
    if tp.internal_weights and tp.weight_numel > 0:
        (gw,) = torch.autograd.grad(tp(*args).sum(), [tp.weight])
        assert torch.equal(gw, torch.zeros_like(gw))


@pytest.mark.parametrize("nodes,edges", [(0, 0), (3, 0)])
def test_convolution_takes_graphs_without_nodes_or_edges(nodes, edges):
    conv = nn.Convolution("4x0e + 2x1o", "2x0e", "4x0e + 2x1o", 2, r_max=2.0).double()
    x = torch.zeros(nodes, 10, dtype=torch.float64, requires_grad=True)
    out = conv(x, torch.zeros(nodes, 2, dtype=torch.float64), torch.zeros(2, edges, dtype=torch.long),
               torch.zeros(edges, 3, dtype=torch.float64))
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert out.shape == (nodes, 10) and grad.shape == (nodes, 10)


@pytest.mark.parametrize("cell", [0.01 * torch.eye(3), torch.diag(torch.tensor([1.0, 1.0, 1e-9]))], ids=["0.01*I", "det 1e-9"])
def test_radius_graph_refuses_cells_needing_too_many_images_before_allocating(cell):
    """0.01 I with r_max = 2 needs 409 x 405 x 405 images: it used to allocate until the machine ran
    out of memory. The bound is checked before any shift list is made (`_shifts` is never called)."""
    pos = 0.01 * torch.rand(4, 3)
    with mock.patch("e3gen.nn._graph._shifts", side_effect=AssertionError("allocated the shift list")):
        with pytest.raises(ValueError, match=r"radius_graph: the cell .* is tiny or flat next to r_max=2.0: .* periodic images, "
                                             r"more than max_images=100000.*replicate the cell.*max_images="):
            nn.radius_graph(pos, 2.0, cell=cell)


def test_radius_graph_chunks_over_images_gives_the_same_graph(monkeypatch):
    """When one sender's block of images is over the memory budget the images are chunked too; the
    edges and their order are the same as in one piece."""
    from e3gen.nn import _graph

    pos = 2 * torch.rand(20, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cell = 2 * torch.eye(3, dtype=torch.float64) + 0.1 * random_tensor(3, 3, seed=6)
    whole = nn.radius_graph(pos, 3.0, cell=cell)
    monkeypatch.setattr(_graph, "_PAIRS_PER_CHUNK", 50)  # 20 receivers x 2 images per block
    chunked = nn.radius_graph(pos, 3.0, cell=cell)
    assert whole[0].shape[1] > 1000
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])
    # and max_images can be raised on purpose
    assert nn.radius_graph(pos[:2], 2.0, cell=0.2 * torch.eye(3, dtype=torch.float64), max_images=10**6)[0].shape[1] > 0


# ---------------------------------------------------------------- clearer errors


def test_inputs_of_another_dtype_than_a_one_weight_layer_are_named():
    """The layer's own weight is the reference dtype whenever it has one, one weight included
    ("0e" x "0e" -> "0e", fully connected: weight_numel 1): float32 inputs to a float64 layer get
    the same message as for any other layer, not a dtype error from inside torch."""
    tp = o3.FullyConnectedTensorProduct("0e", "0e", "0e").double()
    assert tp.weight_numel == 1
    with pytest.raises(ValueError, match=r"FullyConnectedTensorProduct: the inputs must share one dtype, got x torch.float32, "
                                         r"y torch.float32, the layer's parameters torch.float64"):
        tp(torch.randn(3, 1), torch.randn(3, 1))


def test_mixed_dtypes_in_a_tensor_product_name_each_argument_and_the_fix():
    tp = o3.FullyConnectedTensorProduct("2x0e + 1o", "1o", "2x1o").double()
    with pytest.raises(ValueError, match=r"FullyConnectedTensorProduct: the inputs must share one dtype, got x torch.float32, "
                                         r"y torch.float64, the layer's parameters torch.float64; convert the inputs to "
                                         r"torch.float64, or move the layer to theirs with layer.to\(dtype\)"):
        tp(torch.randn(3, 5), random_tensor(3, 3, seed=0))
    external = o3.FullyConnectedTensorProduct("2x0e + 1o", "1o", "2x1o", shared_weights=False)
    with pytest.raises(ValueError, match=r"got x torch.float64, y torch.float64, weight torch.float32"):
        external(random_tensor(3, 5, seed=0), random_tensor(3, 3, seed=1), torch.randn(3, external.weight_numel))


def test_mixed_dtypes_in_a_convolution_name_each_argument():
    conv = nn.Convolution("4x0e + 2x1o", "2x0e", "4x0e + 2x1o", 2, r_max=2.0).double()
    edge_index = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match=r"Convolution\(4x0e\+2x1o -> 4x0e\+2x1o\): the inputs must share one dtype, got "
                                         r"node_features torch.float32, node_attr torch.float64, edge_vec torch.float64"):
        conv(torch.randn(2, 10), random_tensor(2, 2, seed=0), edge_index, random_tensor(2, 3, seed=1))


@pytest.mark.parametrize("x", [torch.tensor([[1, 2, 3]]), torch.tensor([[True, False, True]]), np.ones((2, 3))],
                         ids=["int64", "bool", "numpy"])
def test_spherical_harmonics_of_non_float_input_is_a_type_error_naming_x(x):
    with pytest.raises(TypeError, match=r"SphericalHarmonics: x must be a floating-point (torch.Tensor|tensor).*convert it with"):
        o3.spherical_harmonics(2, x, normalize=True)


@pytest.mark.parametrize("bad", [5, -1])
def test_convolution_edge_index_out_of_range_is_named(bad):
    conv = nn.Convolution("4x0e + 2x1o", "2x0e", "4x0e + 2x1o", 2, r_max=2.0).double()
    edge_index = torch.tensor([[0, bad], [1, 0]])
    with pytest.raises(ValueError, match=r"edge_index must hold node indices in \[0, 2\) \(N = node_features.shape\[0\]\), "
                                         rf"got values in \[{min(bad, 0)}, {max(bad, 1)}\]"):
        conv(random_tensor(2, 10, seed=0), random_tensor(2, 2, seed=1), edge_index, random_tensor(2, 3, seed=2))
