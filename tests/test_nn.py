"""e3gen.nn layers: equivariant, e3nn 0.6.0's numbers and state dicts, differentiable twice, compilable.

Strategies: hypothesis draws irreps (l <= 3, multiplicities 0..3, both parities) and an element of
O(3); activations are drawn among those the parity rules allow (any on 0e, odd or even ones on 0o,
none on l > 0). Tolerances: 1e-10 in float64 (only rounding remains: the layers are exact maps of
their inputs). Against e3nn, parameters are copied with load_state_dict (strict, both directions)
and outputs must agree to 1e-10 in float64.
"""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import random_tensor, randomize_parameters

from e3gen import nn, o3
from e3gen.testing import irreps, o3_elements

SEEDS = st.integers(0, 2**31 - 1)
silu = torch.nn.functional.silu

# activations allowed on each scalar irrep: 0o needs an odd or even one
EVEN_SCALAR_ACTS = [torch.tanh, silu, torch.sigmoid, torch.relu, None]
ODD_SCALAR_ACTS = [torch.tanh, torch.abs, None]


def _assert_equivariant(layer, irreps_in, irreps_out, x, g, atol=1e-10):
    D_in, D_out = irreps_in.D_from_matrix(g), irreps_out.D_from_matrix(g)
    torch.testing.assert_close(layer(x @ D_in.T), layer(x) @ D_out.T, rtol=0, atol=atol)


@st.composite
def activation_terms(draw):
    """(irreps, acts): each term with an activation its parity allows (None on l > 0)."""
    terms = draw(irreps(min_terms=0, max_terms=4, max_mul=3, allow_zero_mul=True))
    acts = []
    for _, ir in terms:
        choices = [None] if ir.l > 0 else (EVEN_SCALAR_ACTS if ir.p == 1 else ODD_SCALAR_ACTS)
        acts.append(draw(st.sampled_from(choices)))
    return terms, acts


@st.composite
def gate_arguments(draw):
    """Gate's five arguments: scalars with allowed activations, one gate scalar per gated copy."""
    scalars, act_scalars = draw(activation_terms().filter(lambda t: all(ir.l == 0 for _, ir in t[0])))
    gated = draw(irreps(min_terms=0, max_terms=3, max_mul=3, allow_zero_mul=True))
    gates = o3.Irreps([(mul, (0, draw(st.sampled_from([1, -1])))) for mul, _ in gated])
    act_gates = [torch.sigmoid if ir.p == 1 else draw(st.sampled_from([torch.tanh, torch.abs])) for _, ir in gates]
    return scalars, act_scalars, gates, act_gates, gated


@st.composite
def scalar_terms(draw):
    return list(draw(irreps(lmax=0, min_terms=0, max_terms=3, max_mul=3, allow_zero_mul=True)))


# --- equivariance ---------------------------------------------------------------------------------


@given(args=activation_terms(), g=o3_elements(), seed=SEEDS)
def test_activation_is_equivariant(args, g, seed):
    irreps_in, acts = args
    layer = nn.Activation(irreps_in, acts)
    _assert_equivariant(layer, layer.irreps_in, layer.irreps_out, random_tensor(5, irreps_in.dim, seed=seed), g)


@given(args=gate_arguments(), g=o3_elements(), seed=SEEDS)
def test_gate_is_equivariant(args, g, seed):
    gate = nn.Gate(*args)
    _assert_equivariant(gate, gate.irreps_in, gate.irreps_out, random_tensor(5, gate.irreps_in.dim, seed=seed), g)


@given(irreps_in=irreps(min_terms=0, max_terms=4, max_mul=3, allow_zero_mul=True), g=o3_elements(), seed=SEEDS, bias=st.booleans(), normalize=st.booleans())
def test_norm_activation_is_equivariant(irreps_in, g, seed, bias, normalize):
    layer = randomize_parameters(nn.NormActivation(irreps_in, torch.sigmoid, normalize=normalize, bias=bias).double(), seed)
    _assert_equivariant(layer, irreps_in, irreps_in, random_tensor(5, irreps_in.dim, seed=seed), g)


@given(irreps_in=irreps(min_terms=1, max_terms=4, max_mul=3, allow_zero_mul=True), g=o3_elements(), seed=SEEDS, instance=st.booleans(), training=st.booleans())
def test_batch_norm_is_equivariant(irreps_in, g, seed, instance, training):
    layer = randomize_parameters(nn.BatchNorm(irreps_in, instance=instance).double(), seed).train(training)
    if not instance:  # eval uses running statistics: make them non-trivial
        layer.running_var.uniform_(0.5, 2.0)
        layer.running_mean.normal_()
    x = random_tensor(3, 4, irreps_in.dim, seed=seed)
    _assert_equivariant(layer, irreps_in, irreps_in, x, g)


# --- against e3nn ---------------------------------------------------------------------------------


@pytest.fixture
def e3nn_nn(float64_default):
    """e3nn.nn with the default dtype float64 (e3nn creates parameters and buffers in it)."""
    return pytest.importorskip("e3nn.nn")


def _assert_same_layer(ours, theirs, *inputs):
    """Same state dict keys both ways (strict load), same outputs, same irreps where they have them."""
    ours.load_state_dict(theirs.state_dict())
    torch.testing.assert_close(ours(*inputs), theirs(*inputs), rtol=0, atol=1e-10)
    randomize_parameters(ours, 7)
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(*inputs), theirs(*inputs), rtol=0, atol=1e-10)
    for name in ("irreps_in", "irreps_out"):
        if hasattr(theirs, name):
            assert getattr(ours, name) == getattr(theirs, name)


ACTIVATION_CASES = [
    ("4x0e + 2x0o + 1o + 3x0o", [silu, torch.tanh, None, torch.abs]),
    ("256x0o", [torch.abs]),
    ("0e + 2e", [None, None]),
    ("", []),
]


@pytest.mark.parametrize("irreps_in, acts", ACTIVATION_CASES)
def test_activation_matches_e3nn(e3nn_nn, irreps_in, acts):
    ours, theirs = nn.Activation(irreps_in, acts), e3nn_nn.Activation(irreps_in, acts)
    _assert_same_layer(ours, theirs, random_tensor(3, o3.Irreps(irreps_in).dim, seed=0))
    assert repr(ours) == repr(theirs)


GATE_CASES = [
    ("16x0o", [torch.tanh], "32x0o", [torch.tanh], "16x1e + 16x1o"),  # e3nn's docstring example
    ("2x0e + 0x0e + 1x0o", [torch.relu, torch.tanh, torch.tanh], "1x0e + 2x0o", [torch.sigmoid, torch.tanh], "1o + 1e + 2e"),
    ("8x0e", [silu], "2x0e + 4x0o", [torch.sigmoid, torch.abs], "2x1o + 2e + 3x3o"),  # gates split gated terms
    ("3x0e + 2x0e", [silu, torch.relu], "", [], ""),  # nothing gated
    ("", [], "0e + 2x0e", [torch.sigmoid, None], "1o + 2x1o"),  # no scalars; identity gates
]


@pytest.mark.parametrize("args", GATE_CASES)
def test_gate_matches_e3nn(e3nn_nn, args):
    ours, theirs = nn.Gate(*args), e3nn_nn.Gate(*args)
    for name in ("irreps_scalars", "irreps_gates", "irreps_gated"):
        assert getattr(ours, name) == getattr(theirs, name)
    _assert_same_layer(ours, theirs, random_tensor(3, ours.irreps_in.dim, seed=0))
    assert repr(ours) == repr(theirs)


@pytest.mark.parametrize("args", GATE_CASES)
def test_gate_with_leading_batch_dims_matches_e3nn(e3nn_nn, args):
    """Features [..., dim] with two leading dims (e3nn's layers act on the last one): the parts
    that sorting splits into several runs (scalars and gates interleaved) are joined along it."""
    ours, theirs = nn.Gate(*args), e3nn_nn.Gate(*args)
    x = random_tensor(2, 3, ours.irreps_in.dim, seed=1)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [{}, {"bias": True}, {"bias": True, "epsilon": 0.3}])
def test_norm_activation_matches_e3nn(e3nn_nn, options):
    irreps_in = o3.Irreps("2x0e + 2x1o + 0o + 3x2e + 3o")  # e3nn needs Irreps, not a string, when bias=True
    x = random_tensor(4, irreps_in.dim, seed=0)
    x[0, 2:5] = 0.0  # a zero vector: its norm is clamped to epsilon
    x[1, 2:5] = 1e-3  # a small one, clamped when epsilon = 0.3
    _assert_same_layer(nn.NormActivation(irreps_in, torch.sigmoid, **options), e3nn_nn.NormActivation(irreps_in, torch.sigmoid, **options), x)


def test_norm_activation_without_normalize():
    """e3nn 0.6.0 raises TypeError for normalize=False (it compares None > 0); e3gen computes f(|x| + b) x."""
    layer = randomize_parameters(nn.NormActivation("2x1o + 0e", torch.tanh, normalize=False, bias=True).double(), 0)
    x = random_tensor(5, 7, seed=1)
    norms = torch.cat([x[:, :6].reshape(5, 2, 3).norm(dim=-1), x[:, 6:].abs()], dim=1)
    scale = torch.tanh(norms + layer.biases)
    expected = torch.cat([(x[:, :6].reshape(5, 2, 3) * scale[:, :2, None]).reshape(5, 6), x[:, 6:] * scale[:, 2:]], dim=1)
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=1e-12)


def test_norm_activation_without_normalize_has_finite_gradients_at_zero_vectors():
    """normalize=False: f(|x|) x is smooth at x = 0 (its gradient there is f(0) I), so a zero vector
    (an atom with no neighbours, say) must give finite gradients, not NaN from sqrt'(0)."""
    layer = nn.NormActivation("2x1o + 0e", torch.tanh, normalize=False).double()
    x = random_tensor(3, 7, seed=2)
    x[0, :3] = 0.0
    x[1] = 0.0
    x.requires_grad_()
    (grad,) = torch.autograd.grad(layer(x).pow(2).sum() + layer(x).sum(), x)
    assert torch.isfinite(grad).all(), grad
    # at a zero l=1 vector the gradient of sum(f(|x|) x) is f(0) (1, 1, 1) = (0, 0, 0) for tanh
    assert grad[1, :6].abs().max() == 0


@pytest.mark.parametrize(
    "hs, act, options",
    [
        ([3, 8, 8, 2], silu, {}),
        ([3, 8, 1], torch.tanh, {"out_act": True}),
        ([4, 5, 6], torch.relu, {"variance_in": 2, "variance_out": 3}),
        ([4, 2], None, {"variance_in": 2}),
        ([3, 8, 8, 2], silu, {"out_act": True, "variance_in": 3, "variance_out": 2}),
    ],
)
def test_fully_connected_net_matches_e3nn(e3nn_nn, hs, act, options):
    """e3gen applies each layer's scalars (1/sqrt(fan-in), the activation's constant, sqrt(var_out))
    to the next layer's weights instead of to the activations; e3nn scales the activations: the
    same numbers up to rounding, in eager mode and TorchScript."""
    ours, theirs = nn.FullyConnectedNet(hs, act, **options), e3nn_nn.FullyConnectedNet(hs, act, **options)
    x = random_tensor(2, 5, hs[0], seed=0)
    _assert_same_layer(ours, theirs, x)
    assert repr(ours) == repr(theirs) and repr(ours.layer0) == repr(theirs.layer0)
    torch.testing.assert_close(torch.jit.script(ours)(x), ours(x), rtol=0, atol=0)
    torch.testing.assert_close(ours.layer0(x), theirs.layer0(x), rtol=0, atol=1e-12)  # a layer alone


BATCH_NORM_OPTIONS = [
    {},
    {"instance": True},
    {"normalization": "norm", "reduce": "max"},
    {"affine": False},
    {"include_bias": False, "momentum": 0.3, "eps": 1e-3},
    {"instance": True, "affine": False, "normalization": "norm"},
]


@pytest.mark.parametrize("options", BATCH_NORM_OPTIONS)
def test_batch_norm_matches_e3nn_in_training_and_eval(e3nn_nn, options):
    irreps = "2x0e + 1o + 0o + 3x0e + 2x2e"
    ours, theirs = randomize_parameters(nn.BatchNorm(irreps, **options), 0), e3nn_nn.BatchNorm(irreps, **options)
    theirs.load_state_dict(ours.state_dict())
    for step, training in enumerate([True, True, False, True, False]):
        ours.train(training)
        theirs.train(training)
        x = random_tensor(4, 3, o3.Irreps(irreps).dim, seed=step) * 2 + 1
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=1e-10)
        # running statistics stay equal (they are the whole state in eval)
        for key, value in theirs.state_dict().items():
            torch.testing.assert_close(ours.state_dict()[key], value, rtol=0, atol=1e-12)
    ours.load_state_dict(theirs.state_dict())  # and e3nn's state dict loads into ours (strict)


# --- gradients, TorchScript, torch.compile ----------------------------------------------------------


def _layers():
    """One small float64 layer of each kind and an input for it."""
    return {
        "Activation": (nn.Activation("2x0e + 1o + 0o", [torch.tanh, None, torch.abs]), random_tensor(3, 6, seed=0)),
        "Gate": (nn.Gate("2x0e", [silu], "0e + 0o", [torch.sigmoid, torch.tanh], "1o + 2e"), random_tensor(3, 12, seed=1)),
        "NormActivation": (nn.NormActivation("2x0e + 1o + 2e", torch.sigmoid, bias=True), random_tensor(3, 10, seed=2)),
        "FullyConnectedNet": (nn.FullyConnectedNet([3, 4, 2], silu), random_tensor(3, 3, seed=3)),
        "BatchNorm": (nn.BatchNorm("2x0e + 1o"), random_tensor(4, 2, 5, seed=4)),
        "BatchNorm(instance)": (nn.BatchNorm("2x0e + 1o", instance=True, affine=False), random_tensor(4, 2, 5, seed=5)),
    }


LAYER_NAMES = list(_layers())


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_gradcheck_and_gradgradcheck(name):
    layer, x = _layers()[name]
    layer = randomize_parameters(layer.double(), 0)
    x = x.requires_grad_()
    params = tuple(layer.parameters())
    # with respect to the input and to every parameter, through torch.func.functional_call
    names = [n for n, _ in layer.named_parameters()]

    def f(x, *values):
        return torch.func.functional_call(layer, dict(zip(names, values)), (x,))

    inputs = (x, *[p.detach().clone().requires_grad_() for p in params])
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_torchscript_matches_eager(name):
    layer, x = _layers()[name]
    layer = randomize_parameters(layer.double(), 0)
    scripted = torch.jit.script(layer)
    torch.testing.assert_close(scripted(x), layer(x), rtol=0, atol=0)


@pytest.mark.parametrize("name", LAYER_NAMES)
def test_compiles_fullgraph(name):
    layer, x = _layers()[name]
    layer = randomize_parameters(layer.double(), 0)
    x = x.requires_grad_()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(x), layer(x), rtol=0, atol=1e-14)
    (grad,) = torch.autograd.grad(compiled(x).pow(2).sum(), x)
    torch.testing.assert_close(grad, torch.autograd.grad(layer(x).pow(2).sum(), x)[0], rtol=0, atol=1e-12)


def test_batch_norm_compiled_updates_running_statistics():
    eager, compiled_layer = nn.BatchNorm("2x0e + 1o"), nn.BatchNorm("2x0e + 1o")
    compiled = torch.compile(compiled_layer, fullgraph=True, backend="aot_eager")
    for seed in range(2):
        x = torch.randn(4, 2, 5, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(compiled(x), eager(x))
    torch.testing.assert_close(compiled_layer.running_mean, eager.running_mean)
    torch.testing.assert_close(compiled_layer.running_var, eager.running_var)


# --- errors ---------------------------------------------------------------------------------------

BAD_GATES = [
    (("0e", [torch.relu], "1o", [None], "1o"), r"irreps_gates must be scalars \(l = 0\), got 1x1o"),
    (("1o", [None], "0e", [torch.sigmoid], "1o"), r"irreps_scalars must be scalars \(l = 0\), got 1x1o"),
    (("0e", [torch.relu], "2x0e", [torch.sigmoid], "1o"), "1 irreps in irreps_gated but 2 gate scalars"),
    (("0e", [torch.relu], "0o", [torch.sigmoid], "1o"), "must be even or odd"),
    (("0e", [torch.relu, torch.relu], "0e", [torch.sigmoid], "1o"), "got 2 activation functions for 1 terms"),
]


@pytest.mark.parametrize("args, match", BAD_GATES)
def test_gate_rejects_what_e3nn_rejects(args, match):
    """Each of these is a ValueError in e3nn 0.6.0 too; ours names the gate and what to change."""
    with pytest.raises(ValueError, match=match) as error:
        nn.Gate(*args)
    assert str(error.value).startswith("Gate(")
    e3nn_nn = pytest.importorskip("e3nn.nn")
    with pytest.raises(ValueError):
        e3nn_nn.Gate(*args)


def test_activation_errors_are_named():
    with pytest.raises(ValueError, match=r"Activation\(1x0e\+1x1o\): cannot apply an activation function to the non-scalar 1x1o"):
        nn.Activation("0e + 1o", [torch.tanh, torch.tanh])
    with pytest.raises(ValueError, match=r"Activation\(1x0o\): the input 1x0o is odd"):
        nn.Activation("0o", [torch.sigmoid])
    with pytest.raises(ValueError, match=r"Activation\(1x0e\+1x1o\): expected features with irreps_in.dim=4 entries along dim -1, got shape \[2, 5\]"):
        nn.Activation("0e + 1o", [torch.tanh, None])(torch.zeros(2, 5))


def test_layer_input_errors_are_named():
    cases = [
        (nn.Gate("0e", [torch.relu], "0e", [torch.sigmoid], "1o"), (2, 4), r"Gate\(1x0e \| 1x0e \| 1x1o\): expected features of shape \[\.\.\., 5\] \(irreps_in=2x0e\+1x1o\), got shape \[2, 4\]"),
        (nn.NormActivation("1o", torch.sigmoid), (2, 4), r"NormActivation\(1x1o\): expected features of shape \[\.\.\., 3\], got shape \[2, 4\]"),
        (nn.FullyConnectedNet([3, 2]), (2, 4), r"FullyConnectedNet\[3, 2\]: expected input of shape \[\.\.\., 3\], got shape \[2, 4\]"),
        (nn.BatchNorm("1o"), (4,), r"BatchNorm\(1x1o\): expected input of shape \[batch, \.\.\., 3\], got shape \[4\]"),
    ]
    for layer, shape, match in cases:
        with pytest.raises(ValueError, match=match):
            layer(torch.zeros(shape))


def test_construction_errors_are_named():
    with pytest.raises(ValueError, match=r"NormActivation\(1x1o\): epsilon=0.1 only applies when normalize=True"):
        nn.NormActivation("1o", torch.sigmoid, normalize=False, epsilon=0.1)
    with pytest.raises(ValueError, match=r"NormActivation\(1x1o\): epsilon must be strictly positive, got -1"):
        nn.NormActivation("1o", torch.sigmoid, epsilon=-1)
    with pytest.raises(ValueError, match="FullyConnectedNet: hs must list at least two sizes"):
        nn.FullyConnectedNet([3])
    with pytest.raises(ValueError, match=r"BatchNorm\(1x1o\): reduce must be 'mean' or 'max', got 'sum'"):
        nn.BatchNorm("1o", reduce="sum")
    with pytest.raises(ValueError, match=r"BatchNorm\(1x1o\): normalization must be 'norm' or 'component'"):
        nn.BatchNorm("1o", normalization="integral")
