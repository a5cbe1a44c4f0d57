"""The native (C++) backend: the same numbers as the Torch kernels, derivatives of every order,
the fused convolution, op registration (eager, torch.compile, torch.export), the cache, and the
fallback where no compiler exists.

Oracle: the Torch renderer's kernels (strategy="dense"), which the rest of the suite checks
against e3nn. Tolerance 1e-12 in float64: both sum the same exact coefficients in different
orders, so they differ by a few ulps of the O(1-10) values involved.
The library is compiled once per test session (into the session's cache), so these tests keep to
lmax <= 3 (the smallest library e3gen builds covers that).
"""

import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import native_toolchain_problem, needs_native_toolchain

from e3gen import nn, o3
from e3gen.native import backend, build, ops

TOL = dict(rtol=0, atol=1e-12)


needs_toolchain = needs_native_toolchain


def _products(irreps_in, irreps_sh):
    make = lambda s: o3.channelwise_tensor_product(irreps_in, irreps_sh, lmax=3, strategy=s)  # noqa: E731
    return make("dense"), make("native")


@st.composite
def channelwise_cases(draw):
    """Random features (muls 0-3 of l = 0..2, either parity), harmonics (a subset of 0e+1o+2e),
    and a batch of 0-5 rows."""
    blocks = [f"{draw(st.integers(0, 3))}x{l}{draw(st.sampled_from('eo'))}" for l in range(3)]
    irreps_in = "+".join(b for b in blocks if not b.startswith("0x")) or "1x0e"
    sh = [ir for ir in ("0e", "1o", "2e") if draw(st.booleans())] or ["1o"]
    return irreps_in, "+".join(sh), draw(st.integers(0, 5)), draw(st.integers(0, 2**31 - 1))


def _inputs(tp, batch, seed, requires_grad=True):
    g = torch.Generator().manual_seed(seed)
    shapes = (tp.irreps_in1.dim, tp.irreps_in2.dim, tp.weight_numel)
    return [torch.randn(batch, d, generator=g, dtype=torch.float64, requires_grad=requires_grad) for d in shapes]


@needs_toolchain
@given(channelwise_cases())
def test_native_product_and_its_first_and_second_derivatives_equal_the_torch_kernels(case):
    """Forward, the vector-Jacobian products for x, y and w, and the second derivatives (the
    gradient of <v, d out/dx> with respect to x, y, w) agree with strategy='dense' to 1e-12."""
    irreps_in, irreps_sh, batch, seed = case
    dense, native = _products(irreps_in, irreps_sh)
    x, y, w = _inputs(dense, batch, seed)
    out_dense, out_native = dense(x, y, w), native(x, y, w)
    torch.testing.assert_close(out_native, out_dense, **TOL)
    g = torch.randn_like(out_dense)
    grads_dense = torch.autograd.grad(out_dense, (x, y, w), g, create_graph=True)
    grads_native = torch.autograd.grad(out_native, (x, y, w), g, create_graph=True)
    for a, b in zip(grads_native, grads_dense):
        torch.testing.assert_close(a, b, **TOL)
    v = [torch.randn_like(t) for t in grads_dense]
    second_dense = torch.autograd.grad(sum((a * b).sum() for a, b in zip(grads_dense, v)), (x, y, w), materialize_grads=True)
    second_native = torch.autograd.grad(sum((a * b).sum() for a, b in zip(grads_native, v)), (x, y, w), materialize_grads=True)
    for a, b in zip(second_native, second_dense):
        torch.testing.assert_close(a, b, **TOL)


@st.composite
def wide_channelwise_cases(draw):
    """Multiplicities around the kernels' channel blocks (plan_cpp.LANES = 8 lanes in either dtype;
    1, 7, 8, 9, 15, 16, 17, 33 channels, so padded blocks of one to five lane blocks, and the 16-
    and 8-channel runs of the register transposes), which operands need a gradient (any non-empty
    subset: the fused x/y/w kernel, pairs and single roles), the dtype, and 0-4 rows."""
    muls = [draw(st.sampled_from([1, 7, 8, 9, 15, 16, 17, 33])) for _ in range(2)]
    irreps_in = f"{muls[0]}x0e+{muls[1]}x1o"
    wanted = draw(st.sampled_from([(0, 1, 2), (0,), (1,), (2,), (0, 1), (1, 2), (0, 2)]))
    dtype = draw(st.sampled_from([torch.float64, torch.float32]))
    return irreps_in, draw(st.integers(0, 4)), wanted, dtype, draw(st.integers(0, 2**31 - 1))


@needs_toolchain
@given(wide_channelwise_cases())
def test_native_gradients_for_any_subset_of_operands_and_multiplicities_across_lane_blocks(case):
    """The product and the gradients of whichever operands require them (the fused backward when
    all three do, the single-role kernels otherwise) agree with strategy='dense' in float64 (1e-12;
    in float32 the native kernels against the float64 dense ones to 1e-5 relative), for channel
    counts that fill, overflow and underfill the kernels' lane blocks of either dtype."""
    irreps_in, batch, wanted, dtype, seed = case
    dense, native = _products(irreps_in, "0e+1o+2e")
    operands = _inputs(dense, batch, seed, requires_grad=False)
    cast = [o.to(dtype) for o in operands]
    for i in wanted:
        operands[i].requires_grad_(True)
        cast[i].requires_grad_(True)
    tol = TOL if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    out_dense, out_native = dense(*operands), native(*cast)
    assert out_native.dtype == dtype
    torch.testing.assert_close(out_native.double(), out_dense, **tol)
    g = torch.randn_like(out_dense)
    grads_native = torch.autograd.grad(out_native, [cast[i] for i in wanted], g.to(dtype))
    grads_dense = torch.autograd.grad(out_dense, [operands[i] for i in wanted], g)
    for a, b in zip(grads_native, grads_dense):
        torch.testing.assert_close(a.double(), b, **tol)


@needs_toolchain
def test_gradcheck_and_gradgradcheck_of_the_native_product():
    _, native = _products("2x0e+1x1o+2x2e", "0e+1o+2e")
    inputs = _inputs(native, 3, seed=1)
    assert torch.autograd.gradcheck(native, inputs)
    assert torch.autograd.gradgradcheck(native, inputs)


@needs_toolchain
def test_float32_matches_float64_and_shared_weights_broadcast():
    dense, native = _products("4x0e+4x1o+4x2e", "0e+1o+2e")
    x, y, w = _inputs(dense, 6, seed=2, requires_grad=False)
    torch.testing.assert_close(native(x.float(), y.float(), w.float()).double(), dense(x, y, w), rtol=1e-5, atol=1e-5)
    shared = o3.channelwise_tensor_product("4x0e+4x1o+4x2e", "0e+1o+2e", lmax=3, shared_weights=True,
                                           internal_weights=True, strategy="native").double()
    reference = o3.channelwise_tensor_product("4x0e+4x1o+4x2e", "0e+1o+2e", lmax=3, shared_weights=True,
                                              internal_weights=True, strategy="dense").double()
    reference.load_state_dict(shared.state_dict())
    torch.testing.assert_close(shared(x, y), reference(x, y), **TOL)


# --- the fused convolution --------------------------------------------------------------------------


@st.composite
def graphs(draw):
    """1-6 nodes, 0-10 edges between random nodes (so some receivers get none, some several)."""
    n = draw(st.integers(1, 6))
    e = draw(st.integers(0, 10))
    edges = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=e, max_size=e))
    return n, edges, draw(st.integers(0, 2**31 - 1))


def _convolution_reference(tp, h, y, w, sender, receiver):
    messages = tp(h.index_select(0, sender), y, w)
    return messages.new_zeros(h.shape[0], messages.shape[1]).index_add(0, receiver, messages)


@needs_toolchain
@given(graphs(), st.sampled_from([("2x0e+1x1o+1x2e", "0e+1o+2e"), ("3x1o", "1o"), ("1x0e+2x2o", "0e+2e")]))
def test_fused_convolution_equals_product_then_index_add_with_derivatives(graph, irreps):
    """sum over incoming edges of the product, and its first and second derivatives for node
    features, harmonics and weights, agree with product + index_add (Torch kernels) to 1e-12,
    including graphs without edges and receivers without edges."""
    n, edges, seed = graph
    dense, _ = _products(*irreps)
    layout = dense._native_key
    g = torch.Generator().manual_seed(seed)
    sender = torch.tensor([s for s, _ in edges], dtype=torch.int64)
    receiver = torch.tensor([r for _, r in edges], dtype=torch.int64)
    h = torch.randn(n, dense.irreps_in1.dim, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randn(len(edges), dense.irreps_in2.dim, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(len(edges), dense.weight_numel, generator=g, dtype=torch.float64, requires_grad=True)
    expected = _convolution_reference(dense, h, y, w, sender, receiver)
    got = ops.convolution(layout, h, y, w, sender, receiver)
    torch.testing.assert_close(got, expected, **TOL)
    grad = torch.randn_like(expected)
    first_expected = torch.autograd.grad(expected, (h, y, w), grad, create_graph=True)
    first_got = torch.autograd.grad(got, (h, y, w), grad, create_graph=True)
    for a, b in zip(first_got, first_expected):
        torch.testing.assert_close(a, b, **TOL)
    if edges:  # without edges every derivative is identically zero and has no graph
        v = torch.randn_like(h)
        second_expected = torch.autograd.grad((first_expected[1] ** 2).sum() + (first_expected[0] * v).sum(), (h, y, w))
        second_got = torch.autograd.grad((first_got[1] ** 2).sum() + (first_got[0] * v).sum(), (h, y, w))
        for a, b in zip(second_got, second_expected):
            torch.testing.assert_close(a, b, **TOL)


@needs_toolchain
@pytest.mark.parametrize("irreps", [("16x0e", "0e+1o+2e"), ("8x0e+16x0e", "0e+1o"), ("8x0e+16x1o", "0e+1o+2e"),
                                    ("8x0e+9x0e", "0e+1o")])
def test_rows_read_and_written_in_place_give_the_torch_kernels_numbers(irreps):
    """Where a row is its own ir_mul buffer (scalars only, multiplicities filling whole lane blocks:
    weights of NequIP/MACE-like products, scalar node features) the driver reads it in place and
    writes its result with one copy; mixed here with layouts that are not (vectors, 9 channels).
    Product and fused convolution with first and second derivatives equal the Torch kernels to 1e-12."""
    dense, native = _products(*irreps)
    operands = _inputs(dense, 23, seed=7)
    out_dense, out_native = dense(*operands), native(*operands)
    torch.testing.assert_close(out_native, out_dense, **TOL)
    grad = torch.randn_like(out_dense)
    first_native = torch.autograd.grad(out_native, operands, grad, create_graph=True)
    first_dense = torch.autograd.grad(out_dense, operands, grad, create_graph=True)
    for a, b in zip(first_native, first_dense):
        torch.testing.assert_close(a, b, **TOL)
    second_native = torch.autograd.grad(sum(a.pow(2).sum() for a in first_native), operands)
    second_dense = torch.autograd.grad(sum(b.pow(2).sum() for b in first_dense), operands)
    for c, d in zip(second_native, second_dense):
        torch.testing.assert_close(c, d, **TOL)
    g = torch.Generator().manual_seed(8)
    sender, receiver = torch.randint(0, 5, (23,), generator=g), torch.randint(0, 5, (23,), generator=g)
    h = torch.randn(5, dense.irreps_in1.dim, generator=g, dtype=torch.float64, requires_grad=True)
    y, w = operands[1], operands[2]
    expected = _convolution_reference(dense, h, y, w, sender, receiver)
    got = ops.convolution(dense._native_key, h, y, w, sender, receiver)
    torch.testing.assert_close(got, expected, **TOL)
    grad = torch.randn_like(expected)
    for a, b in zip(torch.autograd.grad(got, (h, y, w), grad), torch.autograd.grad(expected, (h, y, w), grad)):
        torch.testing.assert_close(a, b, **TOL)


@needs_toolchain
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("irreps", [("16x1o+16x2e+16x3o", "0e+1o+2e+3o"), ("19x1e+40x2o+33x3e+3x0e", "0e+1o+2e")])
def test_wide_blocks_moved_in_registers_give_the_torch_kernels_numbers(dtype, irreps):
    """Runs of 16 (float32) or 8 (float64) channels of a block are transposed between mul_ir and ir_mul
    in AVX-512 registers where the CPU has them, the rest of the block (here 3 or 1 channels, or 9)
    element by element: product, the gradients of x, y and w, and the fused convolution and its
    gradients equal the float64 Torch kernels (1e-12 in float64, 1e-5 relative in float32)."""
    dense, native = _products(*irreps)
    operands = _inputs(dense, 37, seed=11)
    cast = [t.detach().to(dtype).requires_grad_() for t in operands]

    def close(got, expected):
        tol = TOL if dtype == torch.float64 else dict(rtol=0, atol=1e-5 * float(expected.abs().max()))
        torch.testing.assert_close(got.double(), expected, **tol)

    expected = dense(*operands)
    got = native(*cast)
    close(got, expected)
    grad = torch.randn(expected.shape, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(got, cast, grad.to(dtype)), torch.autograd.grad(expected, operands, grad)):
        close(a, b)
    g = torch.Generator().manual_seed(13)
    sender, receiver = torch.randint(0, 6, (37,), generator=g), torch.randint(0, 6, (37,), generator=g)
    h = torch.randn(6, dense.irreps_in1.dim, generator=g, dtype=torch.float64, requires_grad=True)
    h_cast = h.detach().to(dtype).requires_grad_()
    expected = _convolution_reference(dense, h, operands[1], operands[2], sender, receiver)
    got = ops.convolution(dense._native_key, h_cast, cast[1], cast[2], sender, receiver)
    close(got, expected)
    grad = torch.randn(expected.shape, generator=g, dtype=torch.float64)
    for a, b in zip(torch.autograd.grad(got, (h_cast, cast[1], cast[2]), grad.to(dtype)),
                    torch.autograd.grad(expected, (h, operands[1], operands[2]), grad)):
        close(a, b)


@needs_toolchain
def test_gradcheck_and_gradgradcheck_of_the_fused_convolution():
    dense, _ = _products("2x0e+1x1o+1x2e", "0e+1o+2e")
    sender, receiver = torch.tensor([0, 1, 2, 2, 0]), torch.tensor([1, 1, 0, 2, 2])
    g = torch.Generator().manual_seed(3)
    h = torch.randn(4, dense.irreps_in1.dim, generator=g, dtype=torch.float64, requires_grad=True)  # node 3: no edges
    y = torch.randn(5, dense.irreps_in2.dim, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, dense.weight_numel, generator=g, dtype=torch.float64, requires_grad=True)
    f = lambda h, y, w: ops.convolution(dense._native_key, h, y, w, sender, receiver)  # noqa: E731
    assert torch.autograd.gradcheck(f, (h, y, w))
    assert torch.autograd.gradgradcheck(f, (h, y, w))


@needs_toolchain
def test_fused_convolution_rejects_edges_to_missing_nodes():
    dense, _ = _products("2x0e", "0e")
    h, y, w = torch.randn(2, 2), torch.randn(1, 1), torch.randn(1, dense.weight_numel)
    with pytest.raises(RuntimeError, match="outside 0..1"):
        ops.convolution(dense._native_key, h, y, w, torch.tensor([0]), torch.tensor([2]))


@needs_toolchain
def test_convolution_layer_native_equals_torch_kernels_and_forces_train():
    """nn.Convolution with strategy='native' (fused) and 'dense' (product + index_add): same output and
    the same second derivatives (forces in training: d/dtheta of d E / d pos)."""
    torch.manual_seed(4)
    layers = {s: nn.Convolution("4x0e+2x1o", "2x0e", "4x0e+2x1o+1x2e", irreps_sh=2, r_max=3.0, strategy=s).double()
              for s in ("dense", "native")}
    layers["native"].load_state_dict(layers["dense"].state_dict())
    pos = torch.randn(5, 3, dtype=torch.float64) * 1.5
    features = torch.randn(5, layers["dense"].irreps_node_input.dim, dtype=torch.float64)
    attrs = torch.randn(5, 2, dtype=torch.float64)
    edge_index = torch.tensor([[0, 1, 2, 3, 1, 0], [1, 0, 1, 1, 2, 2]])  # node 4: no edges in
    results = {}
    for name, layer in layers.items():
        p = pos.clone().requires_grad_(True)
        edge_vec = p[edge_index[1]] - p[edge_index[0]]
        energy = layer(features, attrs, edge_index, edge_vec).pow(2).sum()
        forces = torch.autograd.grad(energy, p, create_graph=True)[0]
        grads = torch.autograd.grad(forces.pow(2).sum(), list(layer.parameters()))
        results[name] = (energy, forces, grads)
    torch.testing.assert_close(results["native"][0], results["dense"][0], **TOL)
    torch.testing.assert_close(results["native"][1], results["dense"][1], **TOL)
    for a, b in zip(results["native"][2], results["dense"][2]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)


# --- registration: eager, torch.compile, torch.export ------------------------------------------------


@needs_toolchain
def test_torch_compile_fullgraph_and_export_use_the_native_op():
    _, native = _products("2x0e+2x1o", "0e+1o")
    x, y, w = _inputs(native, 4, seed=5, requires_grad=False)
    expected = native(x, y, w)
    compiled = torch.compile(native, fullgraph=True, backend="aot_eager")
    xs = [t.clone().requires_grad_(True) for t in (x, y, w)]
    try:
        out = compiled(*xs)
    finally:
        # dynamo counts compilations per code object (TensorProduct.forward) over the whole session;
        # forget this one so that other files' compile tests keep their budget
        torch._dynamo.reset()
    torch.testing.assert_close(out, expected, **TOL)
    out.sum().backward()  # through the registered autograd formula
    exported = torch.export.export(native, (x, y, w))
    assert any("e3gen.channelwise" in str(node.target) for node in exported.graph.nodes)
    torch.testing.assert_close(exported.module()(x, y, w), expected, **TOL)


@needs_toolchain
def test_torch_compile_with_inductor_runs_the_native_ops_in_one_graph():
    """torch.compile with the default (inductor) backend and fullgraph=True: the product and the fused
    convolution, forward and backward, are the registered ops (no graph break, no tracing into them)
    and give the eager numbers (float64, 1e-12)."""
    dense, native = _products("2x0e+2x1o", "0e+1o")
    x, y, w = _inputs(native, 4, seed=8, requires_grad=False)
    sender, receiver = torch.tensor([0, 1, 2, 3]), torch.tensor([1, 1, 0, 0])  # nodes 2, 3: no edges in

    def model(x, y, w):  # no arithmetic of its own: inductor has (almost) nothing to compile but the ops
        return native(x, y, w), ops.convolution(native._native_key, x, y, w, sender, receiver)

    leaves = [t.clone().requires_grad_(True) for t in (x, y, w)]
    expected = model(*leaves)
    cotangents = [torch.randn_like(t) for t in expected]
    expected_grads = torch.autograd.grad(expected, leaves, cotangents)
    compiled = torch.compile(model, fullgraph=True, backend="inductor")
    try:
        got = compiled(*leaves)
        got_grads = torch.autograd.grad(got, leaves, cotangents)
    finally:
        torch._dynamo.reset()  # see test_torch_compile_fullgraph_and_export_use_the_native_op
    for a, b in zip((*got, *got_grads), (*expected, *expected_grads)):
        torch.testing.assert_close(a, b, **TOL)


# --- planner, cache and fallback ---------------------------------------------------------------------


def test_rendered_source_is_one_line_per_nonzero_term_and_deterministic():
    """Every kernel function spells each nonzero term of its path once (the fused backward twice:
    once for dx and dw, once for dy), with the exact value beside it; every path's five functions
    are in exactly one kernel unit; rendering twice gives the same bytes."""
    from e3gen.codegen.plan_cpp import FUNCTION_ROLES, plan_cpp_unit
    from e3gen.codegen.render_cpp import render_cpp_sources
    from e3gen.ir.lower import lower

    ir = lower(2)
    plan = plan_cpp_unit(ir)
    sources = render_cpp_sources(plan, "ns", "v")
    assert sources == render_cpp_sources(plan_cpp_unit(ir), "ns", "v")
    assert sorted(t for unit in plan.kernel_units for t in unit) == list(range(len(plan.triples)))
    kernels = "".join(text for name, text in sorted(sources.items()) if name.startswith("channelwise_kernels_"))
    for role in FUNCTION_ROLES:
        bodies = [block.split("\n}\n")[0] for block in kernels.split(f"_d{role}(const T*")[1:]]
        assert len(bodies) == len(plan.triples), role
        terms = sum(body.count("  // ") for body in bodies)
        assert terms == (2 if role == "xyw" else 1) * ir.num_terms, role
    assert "sqrt(30)/" in kernels  # exact values in the comments
    assert all("autogenerated" in text.lower() or "Autogenerated" in text for text in sources.values())
    assert "torch" not in kernels.split("#include")[1].split("\n")[0]  # kernel units: no torch header


@needs_toolchain
def test_cached_library_is_verified_before_it_is_loaded(tmp_path):
    library = build.load_library(3)
    copy = tmp_path / library.path.name
    shutil.copytree(library.path, copy)
    _, _, sources, digest = build._source(library.lmax)
    assert build._verified(copy, sources, digest)
    edited = dict(sources, **{"channelwise_kernels_0.cpp": sources["channelwise_kernels_0.cpp"] + "// edited\n"})
    assert not build._verified(copy, edited, digest)  # an edited source is rebuilt, never loaded
    so = next(copy.glob("*.so"))
    data = bytearray(so.read_bytes())
    data[len(data) // 2] ^= 0xFF
    so.write_bytes(bytes(data))
    assert not build._verified(copy, sources, digest)  # a corrupt library is rebuilt, never loaded


def test_without_a_compiler_auto_falls_back_with_one_message_and_native_raises(monkeypatch, tmp_path, capfd):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setenv("E3GEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(build, "_loaded", {})
    backend.clear_unavailable()
    try:
        auto = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2)
        dense = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2, strategy="dense")
        x, y, w = _inputs(auto, 3, seed=6, requires_grad=False)
        torch.testing.assert_close(auto(x, y, w), dense(x, y, w), **TOL)
        auto(x, y, w)
        message = capfd.readouterr().err
        assert message.count("no C++ compiler found") == 1 and "using the Torch kernels" in message
        forced = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2, strategy="native")
        with pytest.raises(RuntimeError, match="strategy='native' cannot run here: no C\\+\\+ compiler"):
            forced(x, y, w)
    finally:
        backend.clear_unavailable()


@needs_toolchain
def test_native_strategy_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="strategy='native' needs a channel-wise product"):
        o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", shared_weights=False, strategy="native")
    native = o3.channelwise_tensor_product("2x0e", "0e", strategy="native")
    x, y, w = torch.randn(2, 2, dtype=torch.float16), torch.randn(2, 1, dtype=torch.float16), torch.randn(2, 2, dtype=torch.float16)
    with pytest.raises(ValueError, match="float32 or float64"):
        native(x, y, w)


@needs_toolchain
def test_fused_convolution_is_deterministic_whatever_the_thread_count():
    """Sums over a receiver's edges run in edge order inside one task: the same bits with 1 or 2
    threads (torch.set_num_threads is what at::parallel_for follows)."""
    dense, _ = _products("8x0e+8x1o+8x2e", "0e+1o+2e")
    g = torch.Generator().manual_seed(7)
    sender, receiver = torch.randint(0, 40, (400,), generator=g), torch.randint(0, 40, (400,), generator=g)
    h = torch.randn(40, dense.irreps_in1.dim, generator=g, requires_grad=True)
    y = torch.randn(400, dense.irreps_in2.dim, generator=g, requires_grad=True)
    w = torch.randn(400, dense.weight_numel, generator=g, requires_grad=True)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = ops.convolution(dense._native_key, h, y, w, sender, receiver)
            results.append((out, *torch.autograd.grad(out.pow(2).sum(), (h, y, w))))
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_a_layer_loads_its_native_library_when_built_not_when_called(monkeypatch):
    """`strategy="auto"` and "native" layers load (or compile) the library in their constructor, so
    that forward, and torch.compile's tracing of it, only looks the answer up: after construction a
    call never reaches load_library. Without a toolchain the constructor records why instead, once.
    Planted bug this pins: `backend.prepare` not calling `available` (found by tools/mutate.py)."""
    calls = []
    real = backend.load_library

    def counting(lmax):
        calls.append(lmax)
        return real(lmax)

    monkeypatch.setattr(backend, "load_library", counting)
    backend.clear_unavailable()
    try:
        for strategy in ("auto", "native"):
            tp = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2, strategy=strategy)
            assert calls == [tp._native_layout.lmax]  # once, at construction (remembered for later layers)
            if native_toolchain_problem() is None:
                x, y, w = _inputs(tp, 3, seed=1, requires_grad=False)
                tp(x, y, w)
                assert calls == [tp._native_layout.lmax]
        dense = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2, strategy="dense")
        dense(*_inputs(dense, 3, seed=2, requires_grad=False))
        assert len(calls) == 1  # "dense" never asks for the library
    finally:
        backend.clear_unavailable()
