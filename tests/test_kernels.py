"""The generated kernels themselves: they compute the tables they print, on any leading dims,
any float dtype and device; autograd (double backward included), torch.compile(fullgraph=True)
and TorchScript all go through them."""

import pytest
import torch

from e3gen.runtime.loader import load_kernels
from e3gen.symbolic.certificate import coupling_triples

BUILD = load_kernels(3)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def dense(l1, l2, l3, dtype=torch.float64):
    c = torch.zeros(2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1, dtype=dtype)
    for i, j, k, v in BUILD.clebsch_gordan_rows(l1, l2, l3):
        c[i, j, k] = v
    return c


@pytest.mark.parametrize("l1,l2,l3", coupling_triples(3))
def test_coupling_kernel_is_the_dense_contraction(l1, l2, l3):
    g = torch.Generator().manual_seed(l1 * 100 + l2 * 10 + l3)
    x = torch.randn(4, 1, 2 * l1 + 1, dtype=torch.float64, generator=g)
    y = torch.randn(1, 6, 2 * l2 + 1, dtype=torch.float64, generator=g)  # leading dims broadcast
    out = BUILD.coupling_kernel(l1, l2, l3)(x, y)
    expected = torch.einsum("...i,...j,ijk->...k", x, y, dense(l1, l2, l3))
    assert out.shape == (4, 6, 2 * l3 + 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_kernels_keep_dtype_and_device(dtype, device):
    x = torch.randn(5, 7, device=device).to(dtype)
    y = torch.randn(5, 5, device=device).to(dtype)
    out = BUILD.coupling_kernel(3, 2, 1)(x, y)
    assert out.dtype == dtype and out.device.type == device and out.shape == (5, 3)
    sh = BUILD.spherical_harmonics_step(2)(x[:, 0], x[:, 1], x[:, 2], [x[:, 3], x[:, 4], x[:, 5]])
    assert all(t.dtype == dtype for t in sh)


def test_coupling_gradcheck_and_gradgradcheck():
    kernel = BUILD.coupling_kernel(2, 3, 2)
    x = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    y = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kernel, (x, y))
    assert torch.autograd.gradgradcheck(kernel, (x, y))


@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
@pytest.mark.parametrize("ls, normalize", [([0, 1, 2, 3], True), ([3, 1], False), ([2], True), ([2, 1, 1, 0], True)])
def test_spherical_harmonics_gradcheck_and_gradgradcheck(strategy, normalization, ls, normalize):
    """The dense strategy's backward is the closed form dY^l_i/dr_m = l sum_k c_imk Y^(l-1)_k (not
    autograd's chain through the recursion); both derivatives must be the true ones."""
    from e3gen import o3

    sh = o3.SphericalHarmonics(ls, normalize, normalization, strategy=strategy)
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(sh, (x,))
    assert torch.autograd.gradgradcheck(sh, (x,))


def test_torch_compile_fullgraph_compiles_the_kernels():
    kernel = BUILD.coupling_kernel(1, 2, 3)
    compiled = torch.compile(kernel, fullgraph=True, backend="aot_eager")
    x, y = torch.randn(8, 3), torch.randn(8, 5)
    torch.testing.assert_close(compiled(x, y), kernel(x, y))

    step = BUILD.spherical_harmonics_step(3)
    compiled_step = torch.compile(step, fullgraph=True, backend="aot_eager")
    v = torch.randn(3, 8)
    prev = [torch.randn(8) for _ in range(5)]
    for a, b in zip(compiled_step(v[0], v[1], v[2], prev), step(v[0], v[1], v[2], prev)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("strategy", ["auto", "dense"])
@pytest.mark.parametrize("normalization", ["component", "norm", "integral"])
def test_torch_compile_fullgraph_compiles_the_spherical_harmonics_module(normalization, strategy):
    from e3gen import o3

    sh = o3.SphericalHarmonics([0, 1, 2, 3], normalize=True, normalization=normalization, strategy=strategy)
    x = torch.randn(7, 3, requires_grad=True)
    # "auto" traces the unrolled kernels; "dense" the autograd Function with its closed-form backward
    compiled = torch.compile(sh, fullgraph=True, backend="aot_eager")
    out = compiled(x)
    torch.testing.assert_close(out, sh(x), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(out.sum(), x)
    torch.testing.assert_close(grad, torch.autograd.grad(sh(x).sum(), x)[0], rtol=1e-4, atol=1e-5)


def test_torchscript_scripts_the_kernels():
    kernel = torch.jit.script(BUILD.coupling_kernel(2, 2, 2))
    x, y = torch.randn(8, 5), torch.randn(8, 5)
    torch.testing.assert_close(kernel(x, y), BUILD.coupling_kernel(2, 2, 2)(x, y))
    step = torch.jit.script(BUILD.spherical_harmonics_step(2))
    v = torch.randn(3, 4)
    assert len(step(v[0], v[1], v[2], [v[0], v[1], v[2]])) == 5


def test_generated_source_has_no_branches_loops_or_host_syncs():
    import ast

    for module in (BUILD.coupling, BUILD.spherical_harmonics):
        tree = ast.parse(open(module.__file__).read())
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.If, ast.IfExp, ast.For, ast.While, ast.comprehension)), (
                f"{module.__name__} line {node.lineno}: control flow in generated code"
            )
            if isinstance(node, ast.Attribute):
                assert node.attr not in ("item", "tolist", "numpy"), f"{module.__name__}: .{node.attr}()"


@pytest.mark.parametrize("l1,l2,l3", [(1, 1, 2), (2, 3, 1), (0, 2, 2), (3, 3, 3)])
def test_generated_vjp_kernels_are_the_transposed_tables(l1, l2, l3):
    """vjp_x(g, y)_i = sum_jk C_ijk g_k y_j and vjp_y(x, g)_j = sum_ik C_ijk x_i g_k, exactly the
    gradients of <g, coupling(x, y)>: the same table with its index roles permuted."""
    vjp_x, vjp_y = BUILD.coupling_vjp(l1, l2, l3)
    c = dense(l1, l2, l3)
    g = torch.randn(6, 2 * l3 + 1, dtype=torch.float64)
    x = torch.randn(6, 2 * l1 + 1, dtype=torch.float64)
    y = torch.randn(6, 2 * l2 + 1, dtype=torch.float64)
    torch.testing.assert_close(vjp_x(g, y), torch.einsum("ijk,bk,bj->bi", c, g, y), rtol=0, atol=1e-14)
    torch.testing.assert_close(vjp_y(x, g), torch.einsum("ijk,bi,bk->bj", c, x, g), rtol=0, atol=1e-14)


def test_coupling_product_function_backward_and_double_backward_with_broadcasting():
    from e3gen.o3._coupling import coupling_product

    product = coupling_product(2, 1, 3).apply
    x = torch.randn(3, 4, 1, 5, dtype=torch.float64, requires_grad=True)  # broadcast over dim 2
    y = torch.randn(3, 1, 2, 3, dtype=torch.float64, requires_grad=True)  # broadcast over dim 1
    assert product(x, y).shape == (3, 4, 2, 7)
    assert torch.autograd.gradcheck(product, (x, y))
    assert torch.autograd.gradgradcheck(product, (x, y))


def test_harmonics_docstrings_state_the_polynomials_the_kernels_compute():
    """Each step's docstring writes Y^l_i as a polynomial in x, y, z ("As polynomials"): parsed by
    sympy and evaluated at random points, it equals the kernel's output (checked against e3nn
    elsewhere), to 1e-12 in float64 (rounding of the same O(1-10) values)."""
    import re

    import sympy

    x, y, z = sympy.symbols("x y z")
    points = torch.randn(3, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    previous = [torch.ones(8, dtype=torch.float64)]
    for l in range(1, 4):
        step = BUILD.spherical_harmonics_step(l)
        previous = step(points[0], points[1], points[2], previous)
        written = dict(re.findall(rf"^\s*Y\^{l}_(\d+) = (.+)$", step.__doc__, re.M))
        assert sorted(map(int, written)) == list(range(2 * l + 1)), step.__doc__
        for i, text in written.items():
            polynomial = sympy.lambdify((x, y, z), sympy.sympify(text), "math")
            stated = torch.tensor([polynomial(*p) for p in points.T.tolist()], dtype=torch.float64)
            torch.testing.assert_close(stated, previous[int(i)], rtol=0, atol=1e-12, msg=f"Y^{l}_{i} = {text}")
