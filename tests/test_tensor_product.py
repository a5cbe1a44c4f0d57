"""The tensor product family: e3nn's numbers, equivariance, autograd, compile, and clear errors.

Oracle: e3nn 0.6.0 with the same weights (loaded through state_dict) gives the same outputs to
1e-10 in float64, for every connection mode and normalisation. Equivariance: random irreps
(l <= 3, random multiplicities and parities) and random O(3) elements, float64, 1e-10.
"""

import itertools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from e3gen import o3
from e3gen.testing import o3_elements

MODE_CASES = {
    "uvw": ("2x0e+3x1o+2x2e", "2x0e+3x1o+1x2o", "2x0e+2x1o+2x1e+2x2e"),
    "uvu": ("3x0e+3x1o+3x2e", "2x0e+2x1o", "3x0e+3x1o+3x1e+3x2e+3x2o+3x3e"),
    "uvv": ("2x0e+2x1o", "3x0e+3x1o+3x2e", "3x0e+3x1o+3x1e+3x2e+3x2o+3x3e+3x3o"),
    "uuw": ("3x0e+3x1o+3x2e", "3x0e+3x1e", "2x0e+2x1o+2x1e+2x2e+2x2o"),
    "uuu": ("3x0e+3x1o+3x2e", "3x0e+3x1e", "3x0e+3x1o+3x1e+3x2e+3x2o+3x3o"),
    "uvuv": ("2x0e+2x1o", "3x0e+3x1o", "6x0e+6x1o+6x1e+6x2e"),
    "uvu<v": ("3x0e+3x1o", "3x0e+3x1o", "3x0e+3x1o+3x1e+3x2e"),
    "u<vw": ("3x0e+3x1o", "3x0e+3x1o", "2x0e+2x1o+2x1e+2x2e"),
}


def mode_instructions(mode, irreps_in1, irreps_in2, irreps_out):
    """Every allowed path for `mode`, weighted or not in a fixed pattern (both kinds appear)."""
    fits = {
        "uvw": lambda m1, m2, mo: True,
        "uvu": lambda m1, m2, mo: mo == m1,
        "uvv": lambda m1, m2, mo: mo == m2,
        "uuw": lambda m1, m2, mo: m1 == m2,
        "uuu": lambda m1, m2, mo: m1 == m2 == mo,
        "uvuv": lambda m1, m2, mo: mo == m1 * m2,
        "uvu<v": lambda m1, m2, mo: m1 == m2 and mo == m1 * (m1 - 1) // 2,
        "u<vw": lambda m1, m2, mo: m1 == m2,
    }[mode]
    out = []
    for (a, (m1, r1)), (b, (m2, r2)), (c, (mo, ro)) in itertools.product(
        enumerate(irreps_in1), enumerate(irreps_in2), enumerate(irreps_out)
    ):
        if ro in list(r1 * r2) and fits(m1, m2, mo):
            weighted = mode in ("uvw", "u<vw", "uuw") or (a + b + c) % 2 == 0
            out.append((a, b, c, mode, weighted, 1.0 + 0.25 * len(out)))
    return out


# --- e3nn's numbers -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(MODE_CASES))
@pytest.mark.parametrize("irrep_normalization", ["component", "norm", "none"])
@pytest.mark.parametrize("path_normalization", ["element", "path", "none"])
def test_every_mode_and_normalization_matches_e3nn(mode, irrep_normalization, path_normalization, float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    irreps = [o3.Irreps(s) for s in MODE_CASES[mode]]
    instructions = mode_instructions(mode, *irreps)
    assert instructions
    for shared in (True, False):
        kwargs = dict(irrep_normalization=irrep_normalization, path_normalization=path_normalization,
                      shared_weights=shared, internal_weights=shared)
        theirs = e3nn_o3.TensorProduct(*map(str, irreps), instructions, **kwargs)
        ours = o3.TensorProduct(*irreps, instructions, **kwargs)
        assert ours.weight_numel == theirs.weight_numel
        if shared:
            ours.load_state_dict(theirs.state_dict())
        g = torch.Generator().manual_seed(0)
        x, y = torch.randn(3, irreps[0].dim, generator=g), torch.randn(3, irreps[1].dim, generator=g)
        args = (x, y) if shared else (x, y, torch.randn(3, theirs.weight_numel, generator=g))
        expected = theirs(*args)
        for strategy in ("dense", "unrolled"):
            ours.strategy = strategy
            torch.testing.assert_close(ours(*args), expected, rtol=0, atol=1e-10)
        torch.testing.assert_close(ours.output_mask, theirs.output_mask)


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.FullyConnectedTensorProduct("3x0e+2x1o+2x2e", "2x0e+1x1o+1x2o", "2x0e+3x1o+2x1e+2x2e"),
        lambda m: m.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "1x0e+2x1e", irrep_normalization="norm",
                                                path_normalization="path"),
        lambda m: m.FullTensorProduct("3x0e+2x1o+2x2e", "2x0e+1x1o+1x2o"),
        lambda m: m.FullTensorProduct("3x0e+2x1o+2x2e", "2x0e+1x1o+1x2o", ["0e", "1o"]),
        lambda m: m.ElementwiseTensorProduct("3x0e+2x1o+2x2e", "2x0e+2x1o+3x2e"),
        lambda m: m.ElementwiseTensorProduct("3x0e+2x1o+2x2e", "2x0e+2x1o+3x2e", ["0e"]),
    ],
)
def test_subclasses_match_e3nn(make, float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    theirs, ours = make(e3nn_o3), make(o3)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    assert [tuple(i)[:5] for i in ours.instructions] == [tuple(i)[:5] for i in theirs.instructions]
    if theirs.weight_numel:
        ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, ours.irreps_in1.dim)
    y = torch.randn(4, ours.irreps_in2.dim)
    torch.testing.assert_close(ours(x, y), theirs(x, y), rtol=0, atol=1e-10)
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("irreps_out, normalization", [(None, "component"), (None, "norm"), ("2x0e+3x2e+1x1e", "component")])
def test_tensor_square_matches_e3nn(irreps_out, normalization, float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    theirs = e3nn_o3.TensorSquare("3x0e+2x1o+2x2e", irreps_out, irrep_normalization=normalization)
    ours = o3.TensorSquare("3x0e+2x1o+2x2e", irreps_out, irrep_normalization=normalization)
    if theirs.weight_numel:
        ours.load_state_dict(theirs.state_dict())
    x = torch.randn(4, ours.irreps_in.dim)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-10)


def test_e3nn_checkpoint_loads_and_e3gen_checkpoint_loads_back(float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    args = ("2x0e+2x1o+1x2e", "1x0e+1x1o+1x2e", "2x0e+2x1o+2x2e")
    theirs, ours = e3nn_o3.FullyConnectedTensorProduct(*args), o3.FullyConnectedTensorProduct(*args)
    ours.load_state_dict(theirs.state_dict())
    fresh = e3nn_o3.FullyConnectedTensorProduct(*args)
    fresh.load_state_dict(ours.state_dict(), strict=False)
    x, y = torch.randn(2, ours.irreps_in1.dim), torch.randn(2, ours.irreps_in2.dim)
    torch.testing.assert_close(fresh(x, y), ours(x, y), rtol=0, atol=1e-10)


# --- equivariance ---------------------------------------------------------------------------------------


@st.composite
def small_irreps(draw, lmax=3, max_mul=3, max_terms=3):
    terms = draw(st.lists(st.tuples(st.integers(1, max_mul), st.integers(0, lmax), st.sampled_from([1, -1])),
                          min_size=1, max_size=max_terms))
    return o3.Irreps([(mul, (l, p)) for mul, l, p in terms])


@given(irreps_in1=small_irreps(), irreps_in2=small_irreps(), g=o3_elements(), seed=st.integers(0, 2**31 - 1),
       strategy=st.sampled_from(["dense", "unrolled"]))
def test_fully_connected_tensor_product_is_equivariant(irreps_in1, irreps_in2, g, seed, strategy):
    irreps_out = o3.FullTensorProduct(irreps_in1, irreps_in2, filter_ir_out=[o3.Irrep(l, p) for l in range(4) for p in (1, -1)]).irreps_out
    # never empty: for l1, l2 <= 3 the output l = |l1 - l2| <= 3 is always allowed, of either parity
    assert irreps_out.dim > 0, f"{irreps_in1} x {irreps_in2} has no output: the strategy must not draw that"
    torch.manual_seed(seed)
    tp = o3.FullyConnectedTensorProduct(irreps_in1, irreps_in2, irreps_out.simplify(), strategy=strategy).double()
    x, y = irreps_in1.randn(5, -1, dtype=torch.float64), irreps_in2.randn(5, -1, dtype=torch.float64)
    d1, d2, d_out = (irreps.D_from_matrix(g) for irreps in (irreps_in1, irreps_in2, tp.irreps_out))
    torch.testing.assert_close(tp(x @ d1.T, y @ d2.T), tp(x, y) @ d_out.T, rtol=0, atol=1e-10)


@pytest.mark.parametrize("mode", list(MODE_CASES))
@given(g=o3_elements(), seed=st.integers(0, 2**31 - 1))
def test_every_mode_is_equivariant(mode, g, seed):
    irreps = [o3.Irreps(s) for s in MODE_CASES[mode]]
    torch.manual_seed(seed)
    tp = o3.TensorProduct(*irreps, mode_instructions(mode, *irreps), shared_weights=False).double()
    x, y = irreps[0].randn(4, -1, dtype=torch.float64), irreps[1].randn(4, -1, dtype=torch.float64)
    w = torch.randn(4, tp.weight_numel, dtype=torch.float64)
    d1, d2, d_out = (i.D_from_matrix(g) for i in irreps)
    torch.testing.assert_close(tp(x @ d1.T, y @ d2.T, w), tp(x, y, w) @ d_out.T, rtol=0, atol=1e-10)


# --- batching, autograd, compile -----------------------------------------------------------------------


def test_leading_dims_broadcast_and_weights_per_sample():
    tp = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2)
    x = torch.randn(4, 1, tp.irreps_in1.dim)
    y = torch.randn(1, 3, tp.irreps_in2.dim)
    w = torch.randn(4, 3, tp.weight_numel)
    out = tp(x, y, w)
    assert out.shape == (4, 3, tp.irreps_out.dim)
    torch.testing.assert_close(out[2, 1], tp(x[2], y[0, 1:2], w[2, 1:2])[0])


@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
def test_an_empty_batch_gives_an_empty_output(strategy):
    tp = o3.channelwise_tensor_product("2x0e+2x1o", "0e+1o", lmax=2, strategy=strategy)
    x, y, w = torch.randn(0, tp.irreps_in1.dim), torch.randn(0, tp.irreps_in2.dim), torch.randn(0, tp.weight_numel)
    assert tp(x, y, w).shape == (0, tp.irreps_out.dim)
    fc = o3.FullyConnectedTensorProduct("2x0e+2x1o", "1x1o", "3x1o", strategy=strategy)
    assert fc(torch.randn(2, 0, 8), torch.randn(2, 0, 3)).shape == (2, 0, 9)


def test_weights_as_a_list_of_path_blocks_like_e3nn():
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "1x0e+2x1o", internal_weights=False)
    blocks = [torch.randn(ins.path_shape) for ins in tp.instructions if ins.has_weight]
    x, y = torch.randn(3, tp.irreps_in1.dim), torch.randn(3, tp.irreps_in2.dim)
    flat = torch.cat([b.reshape(-1) for b in blocks])
    torch.testing.assert_close(tp(x, y, blocks), tp(x, y, flat))
    views = list(tp.weight_views(flat))
    assert all(torch.equal(v, b) for v, b in zip(views, blocks))


def test_right_gives_the_linear_operator():
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o+1x2e", "1x0e+2x1o+1x2e")
    x, y = torch.randn(3, tp.irreps_in1.dim), torch.randn(3, tp.irreps_in2.dim)
    torch.testing.assert_close(torch.einsum("bi,bio->bo", x, tp.right(y)), tp(x, y))


@pytest.mark.parametrize("strategy", ["dense", "unrolled"])
def test_gradcheck_and_gradgradcheck(strategy):
    irreps = [o3.Irreps("2x0e+1x1o+1x2e"), o3.Irreps("0e+1o"), o3.Irreps("2x0e+2x1o+2x1e+2x2e")]
    tp = o3.TensorProduct(*irreps, mode_instructions("uvw", *irreps), shared_weights=False, strategy=strategy).double()
    x = torch.randn(2, tp.irreps_in1.dim, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, tp.irreps_in2.dim, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, tp.weight_numel, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tp, (x, y, w))
    assert torch.autograd.gradgradcheck(tp, (x, y, w))


def test_float32_and_float64_keep_their_dtype():
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "1x0e+2x1o")
    x, y = torch.randn(3, tp.irreps_in1.dim), torch.randn(3, tp.irreps_in2.dim)
    assert tp(x, y).dtype == torch.float32
    assert tp.double()(x.double(), y.double()).dtype == torch.float64


@pytest.mark.parametrize("strategy", ["auto", "dense"])
@pytest.mark.parametrize(
    "make",
    [
        lambda s: o3.channelwise_tensor_product("2x0e+2x1o+2x2e", "0e+1o+2e", lmax=2, strategy=s),
        lambda s: o3.FullyConnectedTensorProduct("3x0e+3x1o", "3x0e+3x1o", "3x0e+3x1o+2x2e", strategy=s),
        lambda s: o3.FullTensorProduct("2x0e+1x1o", "1x1o+1x2e", strategy=s),
        lambda s: o3.ElementwiseTensorProduct("2x0e+2x1o", "2x1o+2x1e", strategy=s),
    ],
)
def test_torch_compile_fullgraph_forward_and_backward(make, strategy):
    """Every product compiles without graph breaks, with the strategy torch.compile gets by default
    ("auto" -> the generated kernels and their generated backward) and with "dense"."""
    tp = make(strategy)
    inputs = [torch.randn(5, tp.irreps_in1.dim), torch.randn(5, tp.irreps_in2.dim)]
    if not tp.internal_weights and tp.weight_numel:
        inputs.append(torch.randn(5, tp.weight_numel))
    leaves = [t.clone().requires_grad_() for t in inputs]
    compiled = torch.compile(tp, fullgraph=True, backend="aot_eager")
    out = compiled(*leaves)
    torch.testing.assert_close(out, tp(*inputs), rtol=1e-5, atol=1e-5)
    out.pow(2).sum().backward()
    eager_leaves = [t.clone().requires_grad_() for t in inputs]
    expected = torch.autograd.grad(tp(*eager_leaves).pow(2).sum(), eager_leaves)
    for leaf, grad in zip(leaves, expected):
        torch.testing.assert_close(leaf.grad, grad, rtol=1e-4, atol=1e-4)


# --- errors ---------------------------------------------------------------------------------------------


def test_errors_name_the_layer_the_expectation_and_what_arrived():
    tp = o3.FullyConnectedTensorProduct("2x0e+1x1o", "1x1o", "1x0e+2x1o")
    with pytest.raises(ValueError, match=r"FullyConnectedTensorProduct: expected x of shape \[..., 5\] \(irreps_in1=2x0e\+1x1o\), got \[3, 4\]"):
        tp(torch.randn(3, 4), torch.randn(3, 3))
    with pytest.raises(ValueError, match=r"expected y of shape \[..., 3\]"):
        tp(torch.randn(3, 5), torch.randn(3, 2))
    with pytest.raises(ValueError, match=r"1o x 1o, which cannot give 2o \(allowed: 0e \+ 1e \+ 2e\)"):
        o3.TensorProduct("1x1o", "1x1o", "1x2o", [(0, 0, 0, "uvw", True)])
    with pytest.raises(ValueError, match="connection mode 'uvx'"):
        o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 0, 0, "uvx", True)])
    with pytest.raises(ValueError, match="needs irreps_out\\[0\\] to have multiplicity 2"):
        o3.TensorProduct("2x1o", "1x1o", "3x0e", [(0, 0, 0, "uvu", True)])
    with pytest.raises(ValueError, match=r"refers to irreps_in2\[3\]"):
        o3.TensorProduct("1x1o", "1x1o", "1x0e", [(0, 3, 0, "uvw", True)])
    ext = o3.FullyConnectedTensorProduct("2x0e", "1x0e", "1x0e", internal_weights=False, shared_weights=False)
    with pytest.raises(ValueError, match=r"external weights: pass weight \[..., 2\]"):
        ext(torch.randn(3, 2), torch.randn(3, 1))
    with pytest.raises(ValueError, match=r"per-sample weights must have shape \[..., 2\]"):
        ext(torch.randn(3, 2), torch.randn(3, 1), torch.randn(2))


def test_chunked_evaluation_of_large_batches_gives_the_same_numbers():
    """Fully connected products evaluate big batches in chunks (planner decision); chunks must not
    change the result or the gradients."""
    tp = o3.FullyConnectedTensorProduct("4x0e+4x1o+4x2e", "4x0e+4x1o+4x2e", "4x0e+4x1o+4x2e").double()
    assert tp._chunk_rows is not None  # intermediates dwarf the output: the planner chunks
    x = torch.randn(11, tp.irreps_in1.dim, dtype=torch.float64, requires_grad=True)
    y = torch.randn(11, tp.irreps_in2.dim, dtype=torch.float64, requires_grad=True)
    whole = tp(x, y)
    grads = torch.autograd.grad(whole.pow(2).sum(), (x, y, tp.weight))
    tp._chunk_rows = 3  # 4 chunks, the last one short
    chunked = tp(x, y)
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-12)
    for a, b in zip(torch.autograd.grad(chunked.pow(2).sum(), (x, y, tp.weight)), grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
