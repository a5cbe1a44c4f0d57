"""`nn.tensor_product_scatter`: out[n] = sum over edges e into n of tp(x[sender[e]], edge_attr[e], weight[e]).

Oracle: the Torch path written out in the test (tp with strategy="dense" on the gathered rows, then
index_add over receivers), which the rest of the suite checks against e3nn. Property: the function
equals it, and so do its first and second derivatives in x, edge_attr and weight, whichever engine
it picks (the fused native op for channel-wise products with "auto"/"native", the Torch path for
"dense" and for products the native kernels do not cover). Tolerance 1e-12 in float64: the engines
sum the same exact terms in different orders (a few ulps of O(1-10) values).
Inputs (hypothesis): random channel-wise irreps (muls 0-3 of l = 0..2, either parity), a subset of
the harmonics 0e+1o+2e, 1-6 nodes and 0-12 edges between random nodes (so empty edge sets, nodes
without incoming edges and repeated edges all occur).
"""

import doctest

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import needs_native_toolchain

from e3gen import nn, o3
from e3gen.native import ops
from e3gen.nn import _tensor_product_scatter

TOL = dict(rtol=0, atol=1e-12)
FUSED_OP = "e3gen::channelwise_conv"


@st.composite
def convolution_cases(draw):
    blocks = [f"{draw(st.integers(0, 3))}x{l}{draw(st.sampled_from('eo'))}" for l in range(3)]
    irreps_in = "+".join(b for b in blocks if not b.startswith("0x")) or "1x0e"
    sh = "+".join([ir for ir in ("0e", "1o", "2e") if draw(st.booleans())] or ["1o"])
    n = draw(st.integers(1, 6))
    e = draw(st.integers(0, 12))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=e, max_size=e))
    return irreps_in, sh, n, edges, draw(st.integers(0, 2**31 - 1))


def _products(irreps_in, irreps_sh, **kwargs):
    """The same channel-wise product with each strategy (same instructions and coefficients)."""
    return {s: o3.channelwise_tensor_product(irreps_in, irreps_sh, lmax=3, strategy=s, **kwargs) for s in ("dense", "auto", "native")}


def _inputs(tp, n, edges, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    e = len(edges)
    x = torch.randn(n, tp.irreps_in1.dim, generator=g, dtype=dtype, requires_grad=True)
    y = torch.randn(e, tp.irreps_in2.dim, generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(e, tp.weight_numel, generator=g, dtype=dtype, requires_grad=True)
    sender = torch.tensor([s for s, _ in edges], dtype=torch.int64)
    receiver = torch.tensor([r for _, r in edges], dtype=torch.int64)
    return x, y, w, sender, receiver


def _reference(tp, x, y, w, sender, receiver):
    """The definition: the product on every edge, then the sum into receivers."""
    messages = tp(x[sender], y, w)
    return torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype).index_add(0, receiver, messages)


def _ops_run(f):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        f()
    return {event.name for event in profile.events()}


def _assert_same_derivatives(got, expected, inputs):
    """First derivatives for a random cotangent, and second derivatives of a scalar made of them."""
    grad = torch.randn_like(expected)
    first_expected = torch.autograd.grad(expected, inputs, grad, create_graph=True, allow_unused=True)
    first_got = torch.autograd.grad(got, inputs, grad, create_graph=True, allow_unused=True)
    for a, b in zip(first_got, first_expected):
        torch.testing.assert_close(a, b, **TOL)
    if expected.numel() == 0 or not all(t.requires_grad for t in first_expected + first_got):
        return  # no edges: every derivative is identically zero and has no graph
    v = torch.randn_like(inputs[0])
    second_expected = torch.autograd.grad((first_expected[1] ** 2).sum() + (first_expected[0] * v).sum(), inputs)
    second_got = torch.autograd.grad((first_got[1] ** 2).sum() + (first_got[0] * v).sum(), inputs)
    for a, b in zip(second_got, second_expected):
        torch.testing.assert_close(a, b, **TOL)


@needs_native_toolchain
@given(convolution_cases())
def test_every_engine_equals_the_definition_with_first_and_second_derivatives(case):
    irreps_in, sh, n, edges, seed = case
    products = _products(irreps_in, sh)
    x, y, w, sender, receiver = _inputs(products["dense"], n, edges, seed)
    for strategy, tp in products.items():
        expected = _reference(products["dense"], x, y, w, sender, receiver)  # (a fresh graph per comparison)
        got = nn.tensor_product_scatter(tp, x, y, w, sender, receiver)
        assert got.shape == (n, tp.irreps_out.dim) and got.dtype == torch.float64
        torch.testing.assert_close(got, expected, **TOL)
        _assert_same_derivatives(got, expected, (x, y, w))


@needs_native_toolchain
def test_auto_and_native_run_the_fused_op_and_dense_does_not():
    """The engine is observable: the profiler sees the fused op (and no index_add) for channel-wise
    products on CPU under "auto"/"native", and product + index_add for "dense"."""
    products = _products("4x0e+2x1o", "0e+1o+2e")
    x, y, w, sender, receiver = _inputs(products["dense"], 4, [(0, 1), (1, 2), (2, 0), (3, 3)], seed=1)
    for strategy, tp in products.items():
        ran = _ops_run(lambda: nn.tensor_product_scatter(tp, x, y, w, sender, receiver).sum().backward())
        fused = strategy != "dense"
        assert (FUSED_OP in ran) == fused and ("aten::index_add" in ran) == (not fused), (strategy, sorted(ran))


@needs_native_toolchain
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_empty_edge_set_and_nodes_without_edges_get_zeros(dtype):
    products = _products("2x0e+1x1o", "0e+1o")
    for tp in products.values():
        x, y, w, sender, receiver = _inputs(products["dense"], 3, [], seed=2, dtype=dtype)
        out = nn.tensor_product_scatter(tp, x, y, w, sender, receiver)
        assert out.shape == (3, tp.irreps_out.dim) and out.dtype == dtype and not out.any()
        out.sum().backward()
        assert x.grad is not None and not x.grad.any()
        x, y, w, sender, receiver = _inputs(products["dense"], 4, [(0, 1), (2, 1)], seed=3, dtype=dtype)
        out = nn.tensor_product_scatter(tp, x, y, w, sender, receiver)
        assert out[1].abs().sum() > 0 and not out[[0, 2, 3]].any()  # only node 1 receives


@needs_native_toolchain
def test_gradcheck_and_gradgradcheck_through_the_fused_op():
    tp = _products("2x0e+1x1o+1x2e", "0e+1o+2e")["native"]
    x, y, w, sender, receiver = _inputs(tp, 4, [(0, 1), (1, 1), (2, 0), (2, 2), (0, 2)], seed=4)  # node 3: no edges
    f = lambda x, y, w: nn.tensor_product_scatter(tp, x, y, w, sender, receiver)  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, y, w))
    assert torch.autograd.gradgradcheck(f, (x, y, w))


@needs_native_toolchain
def test_float32_fused_equals_float64_definition():
    """Float32 rounding only (5e-6 relative: a few hundred terms per node of O(1) values)."""
    products = _products("3x0e+2x1o+1x2e", "0e+1o+2e")
    edges = [(i % 5, (3 * i + 1) % 5) for i in range(17)]
    x, y, w, sender, receiver = _inputs(products["dense"], 5, edges, seed=5)
    expected = _reference(products["dense"], x, y, w, sender, receiver)
    got = nn.tensor_product_scatter(products["auto"], x.float(), y.float(), w.float(), sender, receiver)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=0, atol=5e-6 * expected.abs().max().item())


@needs_native_toolchain
def test_shared_internal_weights_and_int32_indices():
    """Internal (shared) weights are read once per edge by the fused op, and int32 indices work."""
    products = _products("2x0e+2x1o", "0e+1o", shared_weights=True, internal_weights=True)
    products["native"].load_state_dict(products["dense"].state_dict())
    products["auto"].load_state_dict(products["dense"].state_dict())
    for tp in products.values():
        tp.double()
    x, y, _, sender, receiver = _inputs(products["dense"], 3, [(0, 1), (1, 2), (2, 2)], seed=6)
    expected = _reference(products["dense"], x, y, None, sender, receiver)
    for tp in products.values():
        got = nn.tensor_product_scatter(tp, x, y, None, sender.int(), receiver.int())
        torch.testing.assert_close(got, expected, **TOL)
        shared = tp.weight.detach()
        torch.testing.assert_close(nn.tensor_product_scatter(tp, x, y, shared, sender, receiver), expected, **TOL)


def test_products_the_native_kernels_do_not_cover_take_the_torch_path():
    """A fully connected product (uvw paths): the same definition, through tp's own engine."""
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "0e+1o", "3x0e+2x1o", shared_weights=False).double()
    x, y, w, sender, receiver = _inputs(tp, 3, [(0, 1), (1, 2), (2, 2), (0, 0)], seed=7)
    expected = _reference(tp, x, y, w, sender, receiver)
    ran = _ops_run(lambda: torch.testing.assert_close(nn.tensor_product_scatter(tp, x, y, w, sender, receiver), expected, **TOL))
    assert FUSED_OP not in ran


def test_torch_export_keeps_the_torch_path():
    """Captured for deployment (torch.export), "auto" takes the Torch kernels: the exported program
    holds no e3gen op and gives the eager numbers."""

    class Sum(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.tp = o3.channelwise_tensor_product("2x0e+1x1o", "0e+1o")

        def forward(self, x, y, w, sender, receiver):
            return nn.tensor_product_scatter(self.tp, x, y, w, sender, receiver)

    module = Sum().double()
    x, y, w, sender, receiver = (t.detach() for t in _inputs(module.tp, 3, [(0, 1), (1, 2), (2, 2), (1, 0)], seed=8))
    exported = torch.export.export(module, (x, y, w, sender, receiver))
    assert not [node for node in exported.graph.nodes if "e3gen" in str(node.target)]
    torch.testing.assert_close(exported.module()(x, y, w, sender, receiver), module(x, y, w, sender, receiver), **TOL)


# --- bad input ---------------------------------------------------------------------------------------


def _good():
    tp = o3.channelwise_tensor_product("2x0e+1x1o", "0e+1o")
    x, y, w, sender, receiver = (t.detach() if t.is_floating_point() else t
                                 for t in _inputs(tp, 3, [(0, 1), (1, 2)], seed=9, dtype=torch.float32))
    return tp, dict(x=x, edge_attr=y, weight=w, sender=sender, receiver=receiver)


@pytest.mark.parametrize("change, error, message", [
    (dict(receiver=torch.tensor([0, 3])), ValueError, r"receiver must hold node indices in \[0, 3\).*got values in \[0, 3\]"),
    (dict(sender=torch.tensor([-1, 0])), ValueError, r"sender must hold node indices in \[0, 3\)"),
    (dict(sender=torch.tensor([0.0, 1.0])), ValueError, r"sender as a 1-d int64 or int32 tensor"),
    (dict(receiver=torch.tensor([[0, 1]])), ValueError, r"receiver as a 1-d int64 or int32 tensor"),
    (dict(receiver=torch.tensor([0, 1, 2])), ValueError, r"2 senders and 3 receivers"),
    (dict(x=torch.randn(3, 6)), ValueError, r"x \(node features\) of shape \[N, 5\].*got \[3, 6\]"),
    (dict(x=torch.randn(6)), ValueError, r"x \(node features\) of shape"),
    (dict(edge_attr=torch.randn(3, 4)), ValueError, r"edge_attr of shape \[2, 4\]"),
    (dict(weight=torch.randn(3, 4)), ValueError, r"per-edge weights \(one row per edge\) of shape \[2, 8\]"),
    (dict(weight=None), ValueError, r"external weights: pass weight \[2, 8\]"),
    (dict(x=torch.randn(3, 5, dtype=torch.float64)), ValueError, r"one dtype.*x torch.float64.*edge_attr torch.float32"),
    (dict(edge_attr=torch.ones(2, 4, dtype=torch.int64)), TypeError, r"edge_attr must be a floating-point tensor"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_bad_input_gets_an_error_naming_the_argument(change, error, message):
    tp, inputs = _good()
    inputs.update(change)
    with pytest.raises(error, match=message):
        nn.tensor_product_scatter(tp, **inputs)


def test_tp_must_be_an_e3gen_tensor_product():
    _, inputs = _good()
    with pytest.raises(TypeError, match="tp must be an e3gen o3.TensorProduct, got torch.nn.modules.linear.Linear"):
        nn.tensor_product_scatter(torch.nn.Linear(5, 5), **inputs)


def test_the_docstring_example_runs():
    result = doctest.testmod(_tensor_product_scatter, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


def test_the_convolution_layer_and_the_function_share_the_engine_choice(monkeypatch):
    """nn.Convolution's sum over edges is tensor_product_scatter's (one code path): replacing the
    function's engine is seen by the layer."""
    calls = []
    original = _tensor_product_scatter._sum_over_edges

    def spy(*args):
        calls.append(args[0])
        return original(*args)

    import e3gen.nn._convolution as convolution

    monkeypatch.setattr(convolution, "_sum_over_edges", spy)
    layer = nn.Convolution("2x0e+1x1o", "1x0e", "2x0e+1x1o", irreps_sh=1, r_max=3.0)
    edge_index = torch.tensor([[0, 1], [1, 0]])
    layer(torch.randn(2, 5), torch.ones(2, 1), edge_index, torch.randn(2, 3))
    assert calls == [layer.tp]
