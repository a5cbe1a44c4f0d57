"""The native spherical harmonics: the same numbers as the Torch renderer's, derivatives of the
first and second order, equivariance, op registration (eager, torch.compile, torch.export), the
rendered source, and the selection between native and Torch kernels.

Oracle: SphericalHarmonics(strategy="dense"), the Torch kernels that the rest of the suite checks
against e3nn 0.6.0. Tolerance 1e-12 relative (float64): both evaluate the same exact recursion
coefficients, in different orders, on values of size O(1-100), so they differ by a few ulps.
The library is compiled once per test session into the session's cache; these tests keep to
lmax <= 3 (the smallest library e3gen builds covers that) and to a few rows.
"""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import needs_native_toolchain

from e3gen import o3
from e3gen.native import backend, build
from e3gen.native import harmonics as native

NORMALIZATIONS = ("integral", "component", "norm")


needs_toolchain = needs_native_toolchain


def _close(actual, expected, rtol=1e-12):
    """|actual - expected| <= rtol * max(1, max |expected|): relative to the size of the values."""
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    torch.testing.assert_close(actual, expected, rtol=0, atol=rtol * scale)


@st.composite
def harmonics_cases(draw):
    """Degrees (1-4 of 0..3, any order, repeats allowed), normalize, normalization, leading batch
    dims (0-2 dims of size 0-3: empty batches included), a seed, and whether one vector is zero."""
    ls = draw(st.lists(st.integers(0, 3), min_size=1, max_size=4))
    batch = tuple(draw(st.lists(st.integers(0, 3), max_size=2)))
    return ls, draw(st.booleans()), draw(st.sampled_from(NORMALIZATIONS)), batch, draw(st.integers(0, 2**31 - 1)), draw(st.booleans())


def _pair(ls, normalize, normalization):
    return (o3.SphericalHarmonics(ls, normalize, normalization, strategy="dense"),
            o3.SphericalHarmonics(ls, normalize, normalization, strategy="native"))


@needs_toolchain
@given(harmonics_cases())
def test_native_harmonics_and_their_first_and_second_derivatives_equal_the_torch_kernels(case):
    """Forward, the gradient for a random cotangent g, and the gradients of <h, gradient> with
    respect to x and to g (what training on forces differentiates) match the Torch kernels."""
    ls, normalize, normalization, batch, seed, with_zero = case
    dense, nat = _pair(ls, normalize, normalization)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(*batch, 3, generator=gen, dtype=torch.float64)
    if with_zero and x.numel():
        x.view(-1, 3)[0] = 0.0  # normalize maps it to Y^0 only, with finite derivatives
    g = torch.randn(*batch, dense.irreps_out.dim, generator=gen, dtype=torch.float64)
    h = torch.randn(*batch, 3, generator=gen, dtype=torch.float64)
    results = []
    for module in (dense, nat):
        xs, gs = x.clone().requires_grad_(), g.clone().requires_grad_()
        y = module(xs)
        (grad_x,) = torch.autograd.grad(y, xs, gs, create_graph=True)
        # (with only l = 0 the gradient is a constant zero: nothing to differentiate)
        second = torch.autograd.grad(grad_x, (xs, gs), h, allow_unused=True) if grad_x.requires_grad else (None, None)
        results.append((y, grad_x, *(torch.zeros_like(t) if s is None else s for s, t in zip(second, (x, g)))))
    assert results[1][0].shape == (*batch, dense.irreps_out.dim)
    for expected, actual in zip(*results):
        _close(actual.detach(), expected.detach())


@needs_toolchain
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_gradcheck_and_gradgradcheck_of_the_native_harmonics(normalize, normalization):
    """Finite differences (float64) agree with the native backward and double backward; vectors of
    norm ~1 (at the zero vector normalize switches branch within the finite-difference step)."""
    nat = o3.SphericalHarmonics([0, 1, 2, 3, 2], normalize, normalization, strategy="native")
    x = torch.randn(4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    assert torch.autograd.gradcheck(nat, (x,))
    assert torch.autograd.gradgradcheck(nat, (x,))


@needs_toolchain
def test_native_harmonics_are_equivariant():
    """Y(R x) = D(R) Y(x) for a random rotation, and parity p^l under inversion (1e-12, float64)."""
    nat = o3.SphericalHarmonics([0, 1, 2, 3], True, "integral", strategy="native")
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(6, 3, generator=gen, dtype=torch.float64)
    R = o3.rand_matrix(dtype=torch.float64)
    D = nat.irreps_out.D_from_matrix(R)
    _close(nat(x @ R.T), nat(x) @ D.T)
    _close(nat(-x), nat(x) @ nat.irreps_out.D_from_matrix(-torch.eye(3, dtype=torch.float64)).T)


@needs_toolchain
@pytest.mark.parametrize("ls", [[0, 1, 2, 3], [0, 1, 2], [2, 0], [3]])
def test_float32_matches_float64_and_rows_do_not_depend_on_the_thread_count(ls):
    """float32 (whose full 16-row chunks take the vectorised load and transposed store where the CPU
    has AVX-512: widths 16, 9 (a masked tile), and columns out of order) equals float64 to float32
    rounding; 100 rows: six full chunks and a partial one."""
    nat = o3.SphericalHarmonics(ls, True, "component", strategy="native")
    x = torch.randn(100, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(nat(x.float()).double(), nat(x), rtol=1e-5, atol=1e-5)
    xs = x.float().requires_grad_()
    (grad,) = torch.autograd.grad(nat(xs).pow(2).sum(), xs)
    xd = x.clone().requires_grad_()
    torch.testing.assert_close(grad.double(), torch.autograd.grad(nat(xd).pow(2).sum(), xd)[0], rtol=1e-4, atol=1e-4)
    previous = torch.get_num_threads()
    try:
        outs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            outs.append(nat(x))
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(outs[0], outs[1])


@needs_toolchain
@pytest.mark.parametrize("ls", [[0, 1, 2, 3], [0, 1, 2, 3, 1, 2, 3, 0, 1, 2, 3, 0]])
def test_large_float32_outputs_written_by_streaming_stores_equal_float64(ls):
    """An output from 1 MB on, 16 or 32 columns, float32, is written with streaming stores (the
    forward, and the double backward's derivative with respect to grad): 16,411 rows (1.05 MB at 16
    columns; a partial last chunk; two tasks at 2 threads) equal the float64 kernels (which never
    stream) to float32 rounding, in every row: a dropped or misplaced streamed tile would not."""
    nat = o3.SphericalHarmonics(ls, True, "norm", strategy="native")
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(16_411, 3, generator=gen, dtype=torch.float64)
    g = torch.randn(16_411, nat.irreps_out.dim, generator=gen, dtype=torch.float64)
    h = torch.randn(16_411, 3, generator=gen, dtype=torch.float64)
    previous = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.testing.assert_close(nat(x.float()).double(), nat(x), rtol=1e-5, atol=1e-5)
            results = []
            for dtype in (torch.float32, torch.float64):
                xs, gs = x.to(dtype).requires_grad_(), g.to(dtype).requires_grad_()
                (grad_x,) = torch.autograd.grad(nat(xs), xs, gs, create_graph=True)
                results.append([t.double() for t in torch.autograd.grad(grad_x, (xs, gs), h.to(dtype))])
            for single, double in zip(*results):
                torch.testing.assert_close(single, double, rtol=1e-4, atol=1e-4)
    finally:
        torch.set_num_threads(previous)


@needs_toolchain
def test_torch_compile_fullgraph_and_export_use_the_native_op():
    nat = o3.SphericalHarmonics([0, 1, 2], True, "component", strategy="native")
    dense = o3.SphericalHarmonics([0, 1, 2], True, "component", strategy="dense")
    x = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    compiled = torch.compile(nat, fullgraph=True, backend="aot_eager")
    xs = x.clone().requires_grad_()
    try:
        out = compiled(xs)
    finally:
        torch._dynamo.reset()  # dynamo's recompile budget is per code object and session
    _close(out, dense(x))
    (grad,) = torch.autograd.grad(out.sum(), xs)  # through the registered autograd formula
    xd = x.clone().requires_grad_()
    _close(grad, torch.autograd.grad(dense(xd).sum(), xd)[0])
    exported = torch.export.export(nat, (x,))
    assert any("e3gen.spherical_harmonics" in str(node.target) for node in exported.graph.nodes)
    _close(exported.module()(x), dense(x))


@needs_toolchain
def test_auto_runs_the_native_op_on_cpu_but_exports_torch_ops():
    """'auto' on CPU calls the native op (seen in a real-tensor trace of a call); a graph captured for
    deployment (torch.export) holds only Torch ops, so it runs where e3gen is not installed."""
    from torch.fx.experimental.proxy_tensor import make_fx

    auto = o3.SphericalHarmonics([0, 1], True)
    x = torch.randn(2, 3, dtype=torch.float64)
    called = make_fx(auto, tracing_mode="real")(x)
    assert any("e3gen" in str(node.target) and "spherical_harmonics" in str(node.target) for node in called.graph.nodes)
    exported = torch.export.export(auto, (x,))
    assert not any("e3gen" in str(node.target) for node in exported.graph.nodes)
    _close(exported.module()(x), auto(x))


@needs_toolchain
def test_a_third_derivative_is_refused_with_a_message():
    nat = o3.SphericalHarmonics(2, False, "component", strategy="native")
    x = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(nat(x).sum(), x, create_graph=True)
    (second,) = torch.autograd.grad(first.pow(2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="first and second derivatives only.*strategy='dense'"):
        torch.autograd.grad(second.sum(), x)


@needs_toolchain
def test_native_strategy_errors_name_what_is_wrong():
    nat = o3.SphericalHarmonics(2, True, strategy="native")
    with pytest.raises(ValueError, match="float32 or float64"):
        nat(torch.randn(2, 3, dtype=torch.float16))
    with pytest.raises(ValueError, match="strategy must be 'auto', 'dense', 'unrolled' or 'native'"):
        o3.SphericalHarmonics(2, True, strategy="fast")


def test_without_a_compiler_auto_falls_back_with_one_message_and_native_raises(monkeypatch, tmp_path, capfd):
    monkeypatch.setenv("CXX", "/nonexistent/c++")
    monkeypatch.setenv("E3GEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_loaded", {})
    backend.clear_unavailable()
    try:
        auto = o3.SphericalHarmonics([0, 1, 2], True)
        dense = o3.SphericalHarmonics([0, 1, 2], True, strategy="dense")
        x = torch.randn(4, 3, dtype=torch.float64)
        _close(auto(x), dense(x))
        auto(x)
        message = capfd.readouterr().err
        assert message.count("no C++ compiler found") == 1 and "using the Torch spherical harmonics" in message
        forced = o3.SphericalHarmonics([0, 1, 2], True, strategy="native")
        with pytest.raises(RuntimeError, match="strategy='native' cannot run here: no C\\+\\+ compiler"):
            forced(x)
    finally:
        backend.clear_unavailable()


def test_rendered_source_is_one_line_per_nonzero_term_per_role_and_deterministic():
    from e3gen.codegen.plan_cpp_harmonics import plan_harmonics_unit
    from e3gen.codegen.render_cpp import render_harmonics_unit
    from e3gen.ir.lower import lower_spherical_harmonics_step

    steps = tuple(lower_spherical_harmonics_step(l) for l in range(1, 4))
    plan = plan_harmonics_unit(steps)
    text = render_harmonics_unit(plan, "ns", "v")
    assert text == render_harmonics_unit(plan_harmonics_unit(steps), "ns", "v")
    for step in steps:
        for role in ("dY", "dr", "dprev"):  # each role spells every nonzero term of the step once
            body = text.split(f"void harmonics_step_{step.l}_{role}(")[1].split("\n}\n")[0]
            assert body.count("  // ") == len(step.terms), (step.l, role)
    assert "sqrt(15)" in text and "Autogenerated" in text
    with pytest.raises(ValueError, match="degrees 1..lmax in order"):
        plan_harmonics_unit(steps[1:])


def test_normalisation_columns_follow_e3nn():
    """Column c is component l^2 + m times 1 ("component"), 1/sqrt(2l+1) ("norm"), 1/sqrt(4 pi)."""
    source, scale = native._columns((2, 0), "norm")
    assert source.tolist() == [4, 5, 6, 7, 8, 0]
    torch.testing.assert_close(scale, torch.tensor([1 / math.sqrt(5)] * 5 + [1.0], dtype=torch.float64), rtol=0, atol=0)
    assert native._columns((1,), "integral")[1].tolist() == [1 / math.sqrt(4 * math.pi)] * 3
    with pytest.raises(ValueError, match="normalization must be one of"):
        native._columns((1,), "unit")
