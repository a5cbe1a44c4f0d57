"""The native products without weights (`e3gen.native.rowwise`: modes uvuv, uuu, uvu<v, rows as
the vector lanes): the same numbers as the Torch kernels, derivatives of every order, the planner's
source text, and the fallback where no compiler exists.

Oracle: the Torch renderer's kernels (strategy="dense"), which the rest of the suite checks
against e3nn. Tolerance 1e-12 in float64: both sum the same exact coefficients in different
orders, so they differ by a few ulps of the O(1-10) values involved. Inputs keep to l <= 2 so
the session compiles the smallest library (inputs up to l = 3) once.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import needs_native_toolchain

from e3gen import o3
from e3gen.native import backend, build, rowwise

TOL = dict(rtol=0, atol=1e-12)

needs_toolchain = needs_native_toolchain

PRODUCTS = {
    "full": lambda a, b, s: o3.FullTensorProduct(a, b, strategy=s),
    "elementwise": lambda a, b, s: o3.ElementwiseTensorProduct(a, b, strategy=s),
    "square": lambda a, b, s: o3.TensorSquare(a, strategy=s),
}


def _irreps(draw, muls):
    blocks = [f"{draw(muls)}x{l}{draw(st.sampled_from('eo'))}" for l in range(3)]
    return "+".join(b for b in blocks if not b.startswith("0x")) or "1x0e"


@st.composite
def rowwise_cases(draw):
    """A product without weights (full, elementwise or square) of random irreps (muls 0-3 of
    l = 0..2, either parity; the elementwise product gets two sides of equal total multiplicity),
    a batch of 0-5 rows and a seed."""
    kind = draw(st.sampled_from(sorted(PRODUCTS)))
    muls = st.integers(0, 3)
    a = _irreps(draw, muls)
    b = _irreps(draw, muls) if kind == "full" else a if kind == "square" else None
    if kind == "elementwise":  # same number of irreps, other l and parities
        count = o3.Irreps(a).num_irreps
        b = f"{count}x{draw(st.sampled_from(['0e', '1o', '2e', '1e']))}"
    return kind, a, b, draw(st.integers(0, 5)), draw(st.integers(0, 2**31 - 1))


def _pair(kind, a, b):
    return PRODUCTS[kind](a, b, "dense"), PRODUCTS[kind](a, b, "native")


def _call(tp, x, y):
    return tp(x) if isinstance(tp, o3.TensorSquare) else tp(x, y)


def _inputs(tp, batch, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, d, generator=g, dtype=dtype, requires_grad=True) for d in (tp.irreps_in1.dim, tp.irreps_in2.dim)]


@needs_toolchain
@given(rowwise_cases())
def test_native_products_without_weights_and_two_derivatives_equal_the_torch_kernels(case):
    """Forward, the vector-Jacobian products for x and y, and the second derivatives (the gradient
    of <v, d out/d(x, y)> with respect to x and y) agree with strategy='dense' to 1e-12, empty
    batches and empty multiplicities included."""
    kind, a, b, batch, seed = case
    dense, native = _pair(kind, a, b)
    assert native._native_rowwise is not None, "every product without weights has a native layout"
    x, y = _inputs(dense, batch, seed)
    out_dense, out_native = _call(dense, x, y), _call(native, x, y)
    torch.testing.assert_close(out_native, out_dense, **TOL)
    g = torch.randn_like(out_dense)
    grads_dense = torch.autograd.grad(out_dense, (x, y), g, create_graph=True, materialize_grads=True)
    grads_native = torch.autograd.grad(out_native, (x, y), g, create_graph=True, materialize_grads=True)
    for p, q in zip(grads_native, grads_dense):
        torch.testing.assert_close(p, q, **TOL)
    v = [torch.randn_like(t) for t in grads_dense]
    second = lambda grads: torch.autograd.grad(  # noqa: E731
        sum((p * q).sum() for p, q in zip(grads, v)), (x, y), materialize_grads=True, allow_unused=True)
    for p, q in zip(second(grads_native), second(grads_dense)):
        torch.testing.assert_close(p, q, **TOL)


@needs_toolchain
@pytest.mark.parametrize("wanted", [(0,), (1,)])
def test_gradients_of_one_operand_equal_the_torch_kernels(wanted):
    """Only x (or only y) needs a gradient: the op runs that role alone, the other operand unread."""
    dense, native = _pair("full", "2x0e+1o+2e", "0e+1o")
    x, y = [t.detach().requires_grad_(i in wanted) for i, t in enumerate(_inputs(dense, 40, seed=10))]
    grads = [torch.autograd.grad(tp(x, y).pow(2).sum(), [(x, y)[i] for i in wanted]) for tp in (dense, native)]
    for p, q in zip(*grads):
        torch.testing.assert_close(q, p, **TOL)


@needs_toolchain
def test_op_passes_gradcheck_and_gradgradcheck_in_float64():
    """torch's own finite-difference checks of the op (x, y and the output's cotangent are all
    differentiable), on one full block of the 16-row lanes and one row more (17 rows)."""
    tp = o3.FullTensorProduct("2x0e+1x1o+1x2e", "1x1o+1x2o", strategy="native")
    x, y = _inputs(tp, 17, seed=3)
    key = tp._native_rowwise_key
    assert torch.autograd.gradcheck(lambda x, y: rowwise.product(key, x, y), (x, y))
    assert torch.autograd.gradgradcheck(lambda x, y: rowwise.product(key, x, y), (x, y))


@needs_toolchain
def test_float32_agrees_with_the_torch_kernels_and_auto_picks_the_native_op(monkeypatch):
    """Case (c) of `e3gen bench` in float32 (relative 1e-5: float32 rounding of sums of ~10 terms),
    run by strategy='auto' through the native op (counted), 33 rows: two full blocks and a tail."""
    auto = o3.FullTensorProduct("0e+1o+2e+3o", "0e+1o+2e+3o")
    dense = o3.FullTensorProduct("0e+1o+2e+3o", "0e+1o+2e+3o", strategy="dense")
    calls = []
    real = rowwise.product
    monkeypatch.setattr(rowwise, "product", lambda *args: calls.append(1) or real(*args))
    x, y = _inputs(auto, 33, seed=4, dtype=torch.float32)
    torch.testing.assert_close(auto(x, y), dense(x, y), rtol=1e-5, atol=1e-5)
    assert calls == [1]


@needs_toolchain
def test_results_do_not_depend_on_the_thread_count():
    """Each block of rows is summed by one thread in a fixed order: the same bits with 1 or 2 threads."""
    tp = o3.FullTensorProduct("2x0e+1o+2e", "0e+1o+2e", strategy="native")
    x, y = _inputs(tp, 300, seed=5)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tp(x, y)
            results.append((out, *torch.autograd.grad(out.pow(2).sum(), (x, y))))
    finally:
        torch.set_num_threads(previous)
    for p, q in zip(*results):
        assert torch.equal(p, q)


@needs_toolchain
def test_native_strategy_errors_name_what_is_wrong():
    with pytest.raises(ValueError, match="one without weights .* or a fully connected one"):
        o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", shared_weights=False, strategy="native")
    native = o3.FullTensorProduct("0e+1o", "1o", strategy="native")
    x, y = torch.randn(2, 4, dtype=torch.float16), torch.randn(2, 3, dtype=torch.float16)
    with pytest.raises(ValueError, match="float32 or float64"):
        native(x, y)
    with pytest.raises(RuntimeError, match="roles must be distinct"):
        rowwise.rowwise(native._native_rowwise_key, [2, 2], torch.randn(2, 4), torch.randn(2, 3), torch.empty(0))


def test_without_a_compiler_auto_falls_back_with_one_message_and_native_raises(monkeypatch, tmp_path, capfd):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setenv("E3GEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(rowwise, "_loaded", {})
    backend.clear_unavailable()
    try:
        auto = o3.FullTensorProduct("2x0e+1o", "1o+2e")
        dense = o3.FullTensorProduct("2x0e+1o", "1o+2e", strategy="dense")
        x, y = _inputs(auto, 3, seed=6)
        torch.testing.assert_close(auto(x, y), dense(x, y), **TOL)
        o3.TensorSquare("2x1o")(torch.randn(2, 6))
        message = capfd.readouterr().err
        assert message.count("no C++ compiler found") == 1 and "using the Torch kernels" in message
        forced = o3.FullTensorProduct("2x0e+1o", "1o+2e", strategy="native")
        with pytest.raises(RuntimeError, match="strategy='native' cannot run here: no C\\+\\+ compiler"):
            forced(x, y)
    finally:
        backend.clear_unavailable()


# --- the planner and the layout (no compiler needed) --------------------------------------------------


def test_rendered_source_is_one_line_per_nonzero_term_with_its_exact_value_and_deterministic():
    """Every kernel function spells each nonzero term of its path once, with the exact value beside
    it; there are three functions (roles x, y, g) per path with l1, l2 <= lmax; rendering twice
    gives the same bytes."""
    from e3gen.codegen.plan_cpp_rowwise import ROWWISE_ROLES, plan_rowwise_unit, rowwise_triples
    from e3gen.codegen.render_cpp import render_rowwise_unit
    from e3gen.ir.lower import lower_coupling_path

    paths = tuple(lower_coupling_path(*t) for t in rowwise_triples(2))
    plan = plan_rowwise_unit(2, paths)
    text = render_rowwise_unit(plan, "ns", "v")
    assert text == render_rowwise_unit(plan_rowwise_unit(2, paths), "ns", "v")
    assert plan.triples == tuple(p.key for p in paths) and (2, 2, 4) in plan.triples and (2, 2, 5) not in plan.triples
    total = sum(len(p.terms) for p in paths)
    for role in ROWWISE_ROLES:
        bodies = [block.split("\n}\n")[0] for block in text.split(f"_d{role}(const T*")[1:]]
        assert len(bodies) == len(paths), role
        assert sum(body.count("  // ") for body in bodies) == total, role
    assert "sqrt(30)/" in text and "Autogenerated" in text
    with pytest.raises(ValueError, match="rowwise_triples"):
        plan_rowwise_unit(3, paths)


def test_layout_expands_channel_pairs_in_e3nns_output_order():
    """uvuv: output channel u mul2 + v; uvu<v: the pairs u < v in row-major order; uuu: u. Offsets
    are in components of the mul_ir rows."""
    full = o3.FullTensorProduct("2x1o", "3x0e", strategy="dense")
    paths = full._native_rowwise.elementary_paths()
    assert [(a, b, o) for _, a, b, o, _ in paths] == [(3 * u, v, 3 * (3 * u + v)) for u in range(2) for v in range(3)]
    square = o3.TensorSquare("3x0e", strategy="dense")
    pairs = [(a, b, o) for t, a, b, o, _ in square._native_rowwise.elementary_paths()]
    assert pairs[:3] == [(0, 1, 0), (0, 2, 1), (1, 2, 2)]  # uvu<v: (0,1), (0,2), (1,2)
    assert pairs[3:] == [(0, 0, 3), (1, 1, 4), (2, 2, 5)]  # uuu
    assert o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e")._native_rowwise is None  # weights: not these kernels


def test_layout_key_round_trips():
    layout = o3.TensorSquare("2x0e+1o", strategy="dense")._native_rowwise
    assert rowwise.RowwiseLayout.from_key(layout.key()) == layout
    assert layout.dims == (5, 5, o3.TensorSquare("2x0e+1o").irreps_out.dim) and layout.lmax == 1


@needs_toolchain
def test_native_library_is_built_once_for_the_largest_input_l():
    """A library for inputs up to L serves every smaller L (l <= 3 share the smallest one)."""
    first = rowwise.load_rowwise_library(1)
    assert first.lmax == build.MIN_LMAX and rowwise.load_rowwise_library(3) is first


# --- fully connected products (uvw, shared weights): e3gen.native.fully_connected ----------------------


@st.composite
def fully_connected_cases(draw):
    """FullyConnectedTensorProduct of random irreps (muls 0-3 of l = 0..2, either parity; the
    output a random subset of l <= 2), 0-150 rows (the driver's blocks are 128 rows: empty, partial,
    one full and a tail) and a seed."""
    muls = st.integers(0, 3)
    a, b, out = _irreps(draw, muls), _irreps(draw, muls), _irreps(draw, st.integers(0, 3))
    return a, b, out, draw(st.sampled_from([0, 1, 5, 128, 150])), draw(st.integers(0, 2**31 - 1))


def _fc_pair(a, b, out, seed):
    dense = o3.FullyConnectedTensorProduct(a, b, out, strategy="dense").double()
    native = o3.FullyConnectedTensorProduct(a, b, out, strategy="native").double()
    with torch.no_grad():
        dense.weight.copy_(torch.randn(dense.weight.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    native.load_state_dict(dense.state_dict())
    return dense, native


@needs_toolchain
@given(fully_connected_cases())
def test_native_fully_connected_products_and_two_derivatives_equal_the_torch_kernels(case):
    """Forward, the gradients for x, y and the shared weights, and the second derivatives (the
    gradient of <v, d out/d(x, y, W)> with respect to x, y and W) agree with strategy='dense' to
    1e-12 (float64); outputs no path reaches are zero."""
    a, b, out, batch, seed = case
    if not o3.FullyConnectedTensorProduct(a, b, out, strategy="dense").instructions:
        return  # no allowed path: nothing to compute (and strategy='native' is refused)
    dense, native = _fc_pair(a, b, out, seed)
    assert native._native_fc is not None
    x, y = _inputs(dense, batch, seed)
    out_dense, out_native = dense(x, y), native(x, y)
    torch.testing.assert_close(out_native, out_dense, **TOL)
    g = torch.randn_like(out_dense)
    wanted_dense, wanted_native = (x, y, dense.weight), (x, y, native.weight)
    grads_dense = torch.autograd.grad(out_dense, wanted_dense, g, create_graph=True, materialize_grads=True)
    grads_native = torch.autograd.grad(out_native, wanted_native, g, create_graph=True, materialize_grads=True)
    for p, q in zip(grads_native, grads_dense):
        torch.testing.assert_close(p, q, **TOL)
    v = [torch.randn_like(t) for t in grads_dense]
    second = lambda grads, wanted: torch.autograd.grad(  # noqa: E731
        sum((p * q).sum() for p, q in zip(grads, v)), wanted, materialize_grads=True, allow_unused=True)
    for p, q in zip(second(grads_native, wanted_native), second(grads_dense, wanted_dense)):
        torch.testing.assert_close(p, q, **TOL)


@needs_toolchain
@given(st.sampled_from([(0,), (1,), (2,), (0, 1), (0, 2), (1, 2)]), st.integers(0, 2**31 - 1))
def test_fully_connected_gradients_of_some_operands_equal_the_torch_kernels(wanted, seed):
    """Only some of x, y and the weights need a gradient (forces: x alone; frozen weights): the op is
    called with those roles only and the other operands not passed; the gradients still agree to
    1e-12. Paths of all three contraction orders (0x0->0 pairs, 0x1->1 x first, 1x0->1 y first)."""
    dense, native = _fc_pair("3x0e+2x1o", "2x0e+1x1o", "2x0e+2x1o+1x2e", seed)
    x, y = [t.detach().requires_grad_(i in wanted) for i, t in enumerate(_inputs(dense, 40, seed))]
    operands = lambda tp: (x, y, tp.weight)  # noqa: E731
    for tp in (dense, native):
        tp.weight.requires_grad_(2 in wanted)
    grads = [torch.autograd.grad(tp(x, y).pow(2).sum(), [operands(tp)[i] for i in wanted]) for tp in (dense, native)]
    for p, q in zip(*grads):
        torch.testing.assert_close(q, p, **TOL)


@needs_toolchain
def test_fully_connected_op_passes_gradcheck_and_gradgradcheck_in_float64():
    """torch's finite-difference checks of the op in x, y and the weights (3 rows: each entry is a
    finite difference; blocks and tails are the hypothesis test's)."""
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o+2x2e", "1x1o+2x0e", "2x1o+1x2e+1x0e", strategy="native").double()
    x, y = _inputs(tp, 3, seed=8)
    w = tp.weight.detach().clone().requires_grad_(True)
    key = tp._native_fc_key
    from e3gen.native import fully_connected

    assert torch.autograd.gradcheck(lambda x, y, w: fully_connected.product(key, x, y, w), (x, y, w))
    assert torch.autograd.gradgradcheck(lambda x, y, w: fully_connected.product(key, x, y, w), (x, y, w))


@needs_toolchain
def test_fully_connected_results_do_not_depend_on_the_thread_count():
    """Blocks of rows are computed by one thread each and the weights' gradient sums fixed groups of
    blocks in a fixed order: the same bits with 1 or 2 threads (3,000 rows: several groups)."""
    tp = o3.FullyConnectedTensorProduct("4x0e+4x1o", "4x0e+4x1o", "4x0e+4x1o", strategy="native").double()
    x, y = _inputs(tp, 3000, seed=9)
    previous = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            out = tp(x, y)
            results.append((out, *torch.autograd.grad(out.pow(2).sum(), (x, y, tp.weight))))
    finally:
        torch.set_num_threads(previous)
    for p, q in zip(*results):
        assert torch.equal(p, q)


def test_fully_connected_layout_covers_uvw_with_shared_weights_only():
    assert o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", strategy="dense")._native_fc is not None
    per_sample = o3.FullyConnectedTensorProduct("2x0e", "2x0e", "2x0e", shared_weights=False, strategy="dense")
    assert per_sample._native_fc is None
    assert o3.FullTensorProduct("2x0e", "2x0e", strategy="dense")._native_fc is None


@needs_toolchain
@given(fully_connected_cases(), st.sampled_from([16, 300]))
def test_native_fully_connected_float32_agrees_with_float64(case, extra_rows):
    """The float32 driver has paths of its own (16 x 16 register transposes of full sub-blocks of
    16 rows into and out of the output blocks, streaming stores, and a register-tiled matrix product
    for the weights in place of BLAS): forward and the gradients for x, y and the weights in float32
    equal the float64 Torch kernels to float32 rounding (relative and absolute 1e-4: sums of at most
    a few hundred products of O(1) values, each rounded at 6e-8). The batch gets `extra_rows` more
    (16: one full sub-block past a tail; 300: two full 128-row blocks and a partial one)."""
    a, b, out, batch, seed = case
    if not o3.FullyConnectedTensorProduct(a, b, out, strategy="dense").instructions:
        return  # no allowed path: nothing to compute
    dense, native = _fc_pair(a, b, out, seed)
    native = native.float()
    x, y = _inputs(dense, batch + extra_rows, seed)
    g = torch.randn(x.shape[0], dense.irreps_out.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    wanted = lambda tp, x, y: (x, y, tp.weight)  # noqa: E731
    x32, y32 = (t.detach().float().requires_grad_(True) for t in (x, y))
    out_dense, out_native = dense(x, y), native(x32, y32)
    torch.testing.assert_close(out_native.double(), out_dense, rtol=1e-4, atol=1e-4)
    grads_dense = torch.autograd.grad(out_dense, wanted(dense, x, y), g, materialize_grads=True)
    grads_native = torch.autograd.grad(out_native, wanted(native, x32, y32), g.float(), materialize_grads=True)
    for p, q in zip(grads_native, grads_dense):
        torch.testing.assert_close(p.double(), q, rtol=1e-4, atol=1e-4)


@needs_toolchain
@pytest.mark.parametrize("threads", [1, 2])
def test_auto_runs_the_native_fully_connected_op_at_every_row_count(monkeypatch, threads):
    """No row-count rule (the driver computes only the sub-blocks that hold rows, so the op beats the
    dense kernels from one row on: the table in fully_connected.py): under "auto" a fully connected
    product runs the native op for 0, 1, 40, 128 and 150 rows, on one thread and on two, rows counted
    after broadcasting the leading dims; "dense" never does. Every route gives the dense numbers to
    1e-12 (float64)."""
    from e3gen.native import fully_connected

    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    calls = []
    real = fully_connected.product
    monkeypatch.setattr(fully_connected, "product", lambda *args: calls.append(args[1].shape[0]) or real(*args))
    dense, _ = _fc_pair("2x0e+2x1o", "1x0e", "2x0e+2x1o", seed=3)
    auto = o3.FullyConnectedTensorProduct("2x0e+2x1o", "1x0e", "2x0e+2x1o", strategy="auto").double()
    auto.load_state_dict(dense.state_dict())
    for rows in (0, 1, 40, 128, 150):
        calls.clear()
        x, y = _inputs(dense, rows, seed=rows)
        torch.testing.assert_close(auto(x, y), dense(x, y), **TOL)
        assert calls == [rows], (rows, calls)
    calls.clear()
    x3 = torch.randn(2, 21, dense.irreps_in1.dim, dtype=torch.float64)
    y3 = torch.randn(1, 21, dense.irreps_in2.dim, dtype=torch.float64)
    torch.testing.assert_close(auto(x3, y3), dense(x3, y3), **TOL)
    assert calls == [42]
    calls.clear()
    dense(x3, y3)
    assert calls == []


def test_planner_refuses_a_path_with_an_unreached_destination_component():
    """The fully connected driver calls the kernels' assigning variant (kAssign: written, not added)
    on scratch it does not zero, so every destination component must have a term. Every
    Clebsch-Gordan path up to the library's l has (the plan builds); a path with the terms of x's
    component 0 removed is refused for role x (naming the component) and still planned for g."""
    import dataclasses

    from e3gen.codegen.plan_cpp_rowwise import plan_rowwise_role, plan_rowwise_unit, rowwise_triples
    from e3gen.ir.lower import lower_coupling_path

    plan_rowwise_unit(3, tuple(lower_coupling_path(*t) for t in rowwise_triples(3)))
    path = lower_coupling_path(1, 1, 0)
    cut = dataclasses.replace(path, terms=tuple(t for t in path.terms if t.indices[0] != 0))
    with pytest.raises(ValueError, match=r"components \[0\] of x"):
        plan_rowwise_role(cut, "x")
    assert plan_rowwise_role(cut, "g").loops
