"""o3.Linear: equivariant, e3nn 0.6.0's numbers and weight layout, differentiable twice, compilable.

Strategies: hypothesis draws irreps (l <= 3, multiplicities 0..3, both parities, repeats allowed)
and an element of O(3). irreps_out always shares some irreps with irreps_in, so that the map is not
trivially zero. Tolerances: 1e-10 in float64 (the layer is a sum of products of O(10) terms, so
only rounding remains), 1e-5 in float32. Against e3nn the weights are copied with load_state_dict
and outputs must agree to 1e-10 in float64.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import random_tensor, randomize_parameters

from e3gen import o3
from e3gen.testing import irreps, o3_elements

SEEDS = st.integers(0, 2**31 - 1)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@st.composite
def linear_irreps(draw):
    """(irreps_in, irreps_out) where irreps_out reuses at least one irrep of irreps_in (plus random terms)."""
    irreps_in = draw(irreps(min_terms=1, max_terms=4, max_mul=3))
    shared = draw(st.lists(st.sampled_from([ir for _, ir in irreps_in]), min_size=1, max_size=3))
    extra = draw(irreps(min_terms=0, max_terms=2, max_mul=3, allow_zero_mul=True))
    terms = [(draw(st.integers(1, 3)), ir) for ir in shared] + list(extra)
    return irreps_in, o3.Irreps(draw(st.permutations(terms)))


@given(pair=linear_irreps(), g=o3_elements(), seed=SEEDS, biases=st.booleans(), path=st.sampled_from(["element", "path"]))
def test_linear_is_equivariant(pair, g, seed, biases, path):
    irreps_in, irreps_out = pair
    lin = randomize_parameters(o3.Linear(irreps_in, irreps_out, biases=biases, path_normalization=path).double(), seed)
    x = random_tensor(6, irreps_in.dim, seed=seed)
    D_in, D_out = irreps_in.D_from_matrix(g), irreps_out.D_from_matrix(g)
    torch.testing.assert_close(lin(x @ D_in.T), lin(x) @ D_out.T, rtol=0, atol=1e-10)


@given(g=o3_elements(), seed=SEEDS)
def test_linear_is_equivariant_in_float32(g, seed):
    irreps_in, irreps_out = o3.Irreps("4x0e + 3x1o + 2x2e + 3o"), o3.Irreps("2x0e + 2x1o + 3x2e + 1x3o + 1e")
    lin = randomize_parameters(o3.Linear(irreps_in, irreps_out, biases=True), seed)
    x = random_tensor(6, irreps_in.dim, seed=seed, dtype=torch.float32)
    D_in, D_out = (irreps.D_from_matrix(g).float() for irreps in (irreps_in, irreps_out))
    torch.testing.assert_close(lin(x @ D_in.T), lin(x) @ D_out.T, rtol=0, atol=1e-5)


E3NN_CASES = [
    ("8x0e + 4x1o", "2x1o", {}),
    ("2x0e + 3x1o + 0e + 2x2e + 1o", "3x0e + 1o + 2x1o + 0x2e + 1e", {"biases": True}),
    ("2x0e + 3x1o + 0e + 2x2e + 1o", "3x0e + 1o + 2x1o + 0x2e + 1e", {"path_normalization": "path"}),
    ("16x0e + 8x1o + 4x2e + 2x3o", "8x0e + 8x1o + 4x2e + 2x3o", {"biases": True}),
    ("2x0e + 3x1o + 0e", "3x0e + 1o + 2x0e", {"instructions": [(0, 2), (2, 0), (1, 1), (0, 0), (0, 0)]}),
    ("2x0e + 3x1o + 0e", "3x0e + 1o + 2x0e", {"instructions": [(2, 2), (1, 1)], "path_normalization": "path"}),
    ("3x0e + 2x0o + 1o", "2x0e + 0o + 3x1o", {"biases": [True, False, False]}),
    ("2x0e + 3x1o", "3x0e + 1o", {"f_in": 3, "f_out": 2, "biases": True}),
    ("2x1o", "2x0e + 1e", {}),  # no instruction at all: zeros
]


@pytest.mark.parametrize("irreps_in, irreps_out, options", E3NN_CASES)
def test_linear_matches_e3nn(float64_default, irreps_in, irreps_out, options):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    theirs = randomize_parameters(e3nn_o3.Linear(irreps_in, irreps_out, **options), 0)
    ours = o3.Linear(irreps_in, irreps_out, **options)
    ours.load_state_dict(theirs.state_dict())
    assert (ours.weight_numel, ours.bias_numel) == (theirs.weight_numel, theirs.bias_numel)
    assert [tuple(ins) for ins in ours.instructions] == [tuple(ins) for ins in theirs.instructions]
    assert torch.equal(ours.output_mask, theirs.output_mask)
    assert repr(ours) == repr(theirs)
    f = (options["f_in"],) if "f_in" in options else ()
    x = random_tensor(2, 5, *f, o3.Irreps(irreps_in).dim, seed=1)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-10)

    # and back: our (fresh, random) parameters load into e3nn and give e3nn our numbers
    ours = randomize_parameters(o3.Linear(irreps_in, irreps_out, **options), 2)
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-10)


def test_linear_matches_e3nn_with_external_weights(float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    irreps_in, irreps_out = "2x0e + 3x1o + 2e", "3x0e + 1o + 2x1o + 1e"
    x = random_tensor(5, o3.Irreps(irreps_in).dim, seed=0)

    per_sample = dict(shared_weights=False)
    ours, theirs = o3.Linear(irreps_in, irreps_out, **per_sample), e3nn_o3.Linear(irreps_in, irreps_out, **per_sample)
    ours.load_state_dict(theirs.state_dict())
    w = random_tensor(5, ours.weight_numel, seed=1)
    torch.testing.assert_close(ours(x, w), theirs(x, w), rtol=0, atol=1e-10)

    shared_external = dict(internal_weights=False, biases=True)
    ours, theirs = o3.Linear(irreps_in, irreps_out, **shared_external), e3nn_o3.Linear(irreps_in, irreps_out, **shared_external)
    w, b = random_tensor(ours.weight_numel, seed=2), random_tensor(ours.bias_numel, seed=3)
    torch.testing.assert_close(ours(x, w, b), theirs(x, w, b), rtol=0, atol=1e-10)


def test_outputs_fed_only_by_a_bias_are_the_bias():
    """e3nn 0.6.0 cannot build this layer (its shape propagation fails to broadcast the bias-only
    block against the batch); the meaning is plain: such an output is its bias, for every sample."""
    lin = randomize_parameters(o3.Linear("2x1o", "2x0e + 1o", biases=True).double(), 0)
    x = random_tensor(4, 6, seed=1)
    out = lin(x)
    torch.testing.assert_close(out[:, :2], lin.bias.expand(4, 2), rtol=0, atol=0)
    torch.testing.assert_close(out[:, 2:], o3.Linear("2x1o", "1o").double()(x, lin.weight), rtol=0, atol=1e-14)


def test_weight_views_match_e3nn(float64_default):
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    args = ("2x0e + 3x1o + 0e", "3x0e + 1o + 2x0e")
    theirs = e3nn_o3.Linear(*args, biases=True)
    ours = o3.Linear(*args, biases=True)
    ours.load_state_dict(theirs.state_dict())
    for (i, ins, view), expected in zip(ours.weight_views(yield_instruction=True), theirs.weight_views()):
        assert torch.equal(view, expected)
        assert torch.equal(ours.weight_view_for_instruction(i), view)
        assert view.shape == ins.path_shape


def test_converting_a_float32_layer_to_float64_keeps_exact_path_weights():
    """Built under float32 then .double(): the path weights must not keep float32 rounding (e3nn's are Python floats)."""
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    args = ("7x0e + 3x1o", "5x0e + 2x1o")
    ours = o3.Linear(*args).float().double()
    theirs = e3nn_o3.Linear(*args).double()
    theirs.load_state_dict(ours.state_dict())
    x = random_tensor(4, 16, seed=0)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-12)


def test_linear_broadcasts_leading_dims():
    lin = randomize_parameters(o3.Linear("3x0e + 2x1o", "2x0e + 1o + 2x1o", biases=True).double(), 0)
    x = random_tensor(2, 3, 9, seed=1)
    torch.testing.assert_close(lin(x), lin(x.reshape(6, 9)).reshape(2, 3, -1), rtol=0, atol=1e-14)

    per_sample = o3.Linear("3x0e + 2x1o", "2x0e + 1o + 2x1o", shared_weights=False)
    w = random_tensor(3, per_sample.weight_numel, seed=2)  # one weight per column, broadcast over the 2 rows
    out = per_sample(x, w)
    for i in range(3):
        torch.testing.assert_close(out[:, i], per_sample(x[:, i], w[i]), rtol=0, atol=1e-14)


def test_outputs_without_inputs_are_zero():
    lin = randomize_parameters(o3.Linear("2x1o", "3x0e + 1o + 2e"), 0)
    out = lin(torch.randn(4, 6))
    assert torch.equal(out[:, :3], torch.zeros(4, 3)) and torch.equal(out[:, 6:], torch.zeros(4, 5))
    assert out[:, 3:6].abs().min() > 0


def test_initialisation_is_e3nns():
    """weight is randn over weight_numel; biases start at zero; path weights are 1/sqrt(fan-in)."""
    lin = o3.Linear("4x0e + 3x0e + 2x1o", "5x0e + 1o", biases=True)
    assert lin.weight.shape == (4 * 5 + 3 * 5 + 2 * 1,) and lin.bias.shape == (5,)
    assert torch.equal(lin.bias, torch.zeros(5))
    assert [ins.path_weight for ins in lin.instructions] == [7**-0.5, 7**-0.5, 2**-0.5, 1.0]
    path = o3.Linear("4x0e + 3x0e + 2x1o", "5x0e + 1o", path_normalization="path")
    assert [ins.path_weight for ins in path.instructions] == [8**-0.5, 6**-0.5, 2**-0.5]


@pytest.mark.parametrize("shared", [True, False])
def test_linear_gradcheck_and_gradgradcheck(shared):
    lin = randomize_parameters(o3.Linear("2x0e + 1o + 2e", "0e + 2x1o + 2e", biases=shared, shared_weights=shared).double(), 0)
    x = random_tensor(3, 10, seed=1).requires_grad_()
    if shared:
        w = lin.weight.detach().clone().requires_grad_()
        b = lin.bias.detach().clone().requires_grad_()
        inputs, f = (x, w, b), lambda x, w, b: lin(x, w, b)
    else:
        w = random_tensor(3, lin.weight_numel, seed=2).requires_grad_()
        inputs, f = (x, w), lambda x, w: lin(x, w)
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_linear_keeps_dtype_and_device(device, dtype):
    lin = o3.Linear("2x0e + 1o", "0e + 2x1o", biases=True).to(device=device, dtype=dtype)
    out = lin(torch.randn(3, 5, device=device, dtype=dtype))
    assert out.dtype == dtype and out.device.type == device and out.shape == (3, 7)


def test_linear_torchscript_matches_eager():
    lin = randomize_parameters(o3.Linear("2x0e + 3x1o + 0e", "3x0e + 1o + 2x0e", biases=True), 0)
    scripted = torch.jit.script(lin)
    x = torch.randn(4, 12)
    torch.testing.assert_close(scripted(x), lin(x), rtol=0, atol=0)
    external = o3.Linear("2x0e + 1o", "0e + 2x1o", shared_weights=False)
    w = torch.randn(4, external.weight_numel)
    torch.testing.assert_close(torch.jit.script(external)(x[:, :5], w), external(x[:, :5], w), rtol=0, atol=0)


def test_linear_compiles_fullgraph():
    lin = randomize_parameters(o3.Linear("2x0e + 3x1o + 0e", "3x0e + 1o + 2x0e", biases=True), 0)
    x = torch.randn(4, 12, requires_grad=True)
    compiled = torch.compile(lin, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), lin(x))
    (grad,) = torch.autograd.grad(compiled(x).sum(), x)
    torch.testing.assert_close(grad, torch.autograd.grad(lin(x).sum(), x)[0])


def test_linear_compiles_with_inductor():
    """The default backend (generates and compiles C++): the slowest test here, so one small layer, inference only."""
    lin = randomize_parameters(o3.Linear("2x0e + 1o", "3x0e + 1o"), 0)
    x = torch.randn(4, 5)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(lin, fullgraph=True)(x), lin(x))


def test_bad_features_are_named():
    lin = o3.Linear("8x0e + 4x1o", "2x1o")
    message = "Linear(8x0e+4x1o -> 2x1o): expected features of shape [..., 20] (irreps_in=8x0e+4x1o), got [..., 19]"
    with pytest.raises(ValueError) as error:
        lin(torch.zeros(3, 19))
    assert str(error.value) == message
    f = o3.Linear("0e", "0e", f_in=2, f_out=3)
    with pytest.raises(ValueError, match=r"expected features of shape \[\.\.\., 2, 1\] \(irreps_in=1x0e\), got \[\.\.\., 3, 1\]"):
        f(torch.zeros(3, 1))


def test_bad_weights_and_biases_are_named():
    external = o3.Linear("2x0e", "0e", internal_weights=False, biases=True)
    with pytest.raises(ValueError, match=r"no internal weights .* pass weight of shape \[\.\.\., 2\]"):
        external(torch.zeros(2))
    with pytest.raises(ValueError, match=r"expected weight of shape \[2\], got \[3, 2\]"):
        external(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(1))
    with pytest.raises(ValueError, match=r"pass bias of shape \[\.\.\., 1\]"):
        external(torch.zeros(2), torch.zeros(2))
    per_sample = o3.Linear("2x0e", "0e", shared_weights=False)
    with pytest.raises(ValueError, match=r"expected weight of shape \[\.\.\., 2\] broadcasting .* \[5\], got \[4, 2\]"):
        per_sample(torch.zeros(5, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="weight has dtype torch.float32 but the features have torch.float64"):
        o3.Linear("0e", "0e")(torch.zeros(1, dtype=torch.float64))


@pytest.mark.parametrize(
    "args, options, match",
    [
        (("0e + 1o", "1o"), {"instructions": [(0, 0)]}, r"instruction \(0, 0\) connects 0e to 1o"),
        (("0e", "0e"), {"instructions": [(1, 0)]}, r"i_in=1 is not an index of irreps_in=1x0e"),
        (("0e", "0e"), {"instructions": [(0, 0, 0)]}, r"an instruction is a pair \(i_in, i_out\)"),
        (("1o", "1o"), {"biases": [True]}, "biases are allowed on 0e outputs only"),
        (("0e", "0e + 1o"), {"biases": [True]}, "biases has 1 entries"),
        (("0e", "0e"), {"internal_weights": True, "shared_weights": False}, "shared_weights=False needs internal_weights=False"),
        (("0e", "0e"), {"path_normalization": "none"}, "path_normalization must be 'element' or 'path'"),
        (("0e", "0e"), {"f_in": 2}, "give both f_in and f_out"),
    ],
)
def test_bad_construction_is_named(args, options, match):
    with pytest.raises(ValueError, match=match) as error:
        o3.Linear(*args, **options)
    assert str(error.value).startswith(f"Linear({o3.Irreps(args[0])} -> {o3.Irreps(args[1])}): ")
