"""e3nn 0.6.0's remaining nn layers and example networks in e3gen against e3nn (the oracle):
Extract, ExtractIr, Dropout, Identity, S2Activation, SO3Activation, nn.models.gate_points_2101/2102.

Numbers: float64, the same inputs (and, for Dropout, the same torch seed) on both sides, agreement
to 1e-10. State dicts: e3nn's load into e3gen's modules with strict=True (and back, strict where
e3gen keeps every e3nn buffer; the networks' tensor products lack e3nn's private wigner buffers,
as e3gen's TensorProduct does everywhere). Equivariance of the networks: random O(3) elements and a
translation through e3gen.testing.assert_equivariant (rtol 1e-9); the grid activations are
equivariant only up to quadrature error, so they are checked against e3nn's numbers instead.
"""

import pytest
import torch

from helpers import random_tensor, randomize_parameters

from e3gen import io, nn, o3
from e3gen.nn.models import gate_points_2101, gate_points_2102
from e3gen.testing import assert_equivariant

e3nn_nn = pytest.importorskip("e3nn.nn", reason="e3nn 0.6.0 is the oracle: pip install e3nn==0.6.0")
from e3nn.nn.models import gate_points_2101 as e3nn_gate_points_2101  # noqa: E402
from e3nn.nn.models import gate_points_2102 as e3nn_gate_points_2102  # noqa: E402

pytestmark = pytest.mark.usefixtures("float64_default")
TOL = dict(rtol=0, atol=1e-10)


def _as_tuple(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize(
    "args",
    [
        ("1e + 0e + 0e", ["0e", "0e"], [(1,), (2,)]),
        ("2x1o+0e+3x2e", ["3x2e+2x1o", "0e", ""], [(2, 0), (1,), ()]),
        ("1o+2e", ["1o+2e"], [(0, 1)], True),
    ],
)
def test_extract_matches_e3nn(args):
    ours, theirs = nn.Extract(*args), e3nn_nn.Extract(*args)
    x = random_tensor(3, ours.irreps_in.dim, seed=0)
    for a, b in zip(_as_tuple(ours(x)), _as_tuple(theirs(x)), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_extract_ir_matches_e3nn_and_rejects_bad_instructions():
    ours, theirs = nn.ExtractIr("2x1o+0e+3x1o+1e", "1o"), e3nn_nn.ExtractIr("2x1o+0e+3x1o+1e", "1o")
    assert str(ours.irreps_out) == str(theirs.irreps_out) == "2x1o+3x1o"
    x = random_tensor(5, 19, seed=1)
    torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    with pytest.raises(AssertionError, match="instructions"):
        nn.Extract("0e", ["0e", "0e"], [(0,)])
    with pytest.raises(IndexError, match="out of range"):
        nn.Extract("0e", ["0e"], [(3,)])


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_dropout_matches_e3nn_for_the_same_seed(p):
    """Same torch seed, same mask: e3gen draws e3nn's random numbers in e3nn's order."""
    ours, theirs = nn.Dropout("2x1o+0e+3x2e", p), e3nn_nn.Dropout("2x1o+0e+3x2e", p)
    x = random_tensor(5, 2, 22, seed=2)
    torch.manual_seed(1)
    a = ours(x)
    torch.manual_seed(1)
    torch.testing.assert_close(a, theirs(x), rtol=0, atol=0)
    # a dropped copy loses all 2l+1 components together (so the map is equivariant), the rest scale by 1/(1-p)
    if 0 < p < 1:
        noise = ours(torch.ones(5, 2, 22))[..., :6].reshape(5, 2, 2, 3)
        torch.testing.assert_close(noise, noise[..., :1].expand_as(noise), rtol=0, atol=0)
        assert set(noise.unique().tolist()) == {0.0, 1 / (1 - p)}
    # e3nn marks Dropout for TorchScript; the scripted module draws the same mask
    torch.manual_seed(1)
    torch.testing.assert_close(torch.jit.script(ours)(x), a, rtol=0, atol=0)
    ours.eval()
    assert ours(x) is x


def test_identity_matches_e3nn_state_and_rejects_different_irreps():
    ours, theirs = nn.Identity("0e+0e+1o", "2x0e+1o"), e3nn_nn.Identity("0e+0e+1o", "2x0e+1o")
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = random_tensor(2, 5, seed=3)
    assert ours(x) is x
    with pytest.raises(AssertionError, match="differ"):
        nn.Identity("0e", "1o")


@pytest.mark.parametrize(
    "irreps, act, kwargs",
    [
        (io.SphericalTensor(3, 1, -1), torch.tanh, {}),
        (io.SphericalTensor(2, -1, 1), torch.tanh, dict(lmax_out=3)),
        (io.SphericalTensor(2, -1, -1), torch.abs, dict(normalization="norm")),
    ],
)
def test_s2_activation_matches_e3nn(irreps, act, kwargs):
    ours, theirs = nn.S2Activation(irreps, act, 20, **kwargs), e3nn_nn.S2Activation(irreps, act, 20, **kwargs)
    assert str(ours.irreps_out) == str(theirs.irreps_out)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = random_tensor(3, irreps.dim, seed=4)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


def test_s2_activation_rejects_inputs_it_cannot_handle():
    with pytest.raises(ValueError, match="even or odd"):
        nn.S2Activation(io.SphericalTensor(2, -1, 1), torch.sigmoid, 10)
    with pytest.raises(AssertionError, match="one copy of each l"):
        nn.S2Activation("0e+2e", torch.tanh, 10)


def test_so3_activation_matches_e3nn():
    ours, theirs = nn.SO3Activation(1, 2, torch.tanh, 3), e3nn_nn.SO3Activation(1, 2, torch.tanh, 3)
    ours.load_state_dict(theirs.state_dict())
    theirs.load_state_dict(ours.state_dict())
    x = random_tensor(3, 10, seed=5)
    torch.testing.assert_close(ours(x), theirs(x), **TOL)


# --- example networks -----------------------------------------------------------------------------

NETWORK_KWARGS = dict(
    irreps_hidden="4x0e+4x0o+2x1e+2x1o+1x2e",
    irreps_out="1x0e+1x1o",
    irreps_edge_attr="0e+1o+2e",
    layers=2,
    max_radius=2.5,
    number_of_basis=4,
    radial_layers=1,
    radial_neurons=8,
    num_neighbors=3.0,
    num_nodes=6.0,
)
POSITIONS = random_tensor(12, 3, seed=6) * 1.5
BATCH = torch.tensor([0] * 7 + [1] * 5)


@pytest.mark.parametrize(
    "ours_module, theirs_module, irreps_in, irreps_node_attr",
    [
        (gate_points_2101, e3nn_gate_points_2101, None, None),  # no features, no attributes: ones
        (gate_points_2101, e3nn_gate_points_2101, "2x0e+1o", "3x0e"),
        (gate_points_2102, e3nn_gate_points_2102, "2x0e+1o", "3x0e"),  # 0e attributes feed the radial networks
    ],
)
def test_gate_points_networks_match_e3nn_and_load_its_state_dict(ours_module, theirs_module, irreps_in, irreps_node_attr):
    kwargs = dict(NETWORK_KWARGS, irreps_in=irreps_in, irreps_node_attr=irreps_node_attr)
    theirs = theirs_module.Network(**kwargs)
    randomize_parameters(theirs, seed=7)
    ours = ours_module.Network(**kwargs)
    ours.load_state_dict(theirs.state_dict())  # strict
    assert set(ours.state_dict()) <= set(theirs.state_dict())
    data = {"pos": POSITIONS, "batch": BATCH}
    if irreps_in is not None:
        data["x"] = random_tensor(12, 5, seed=8)
    if irreps_node_attr is not None:
        data["z"] = random_tensor(12, 3, seed=9)
    out = ours(data)
    assert out.shape == (2, 4)
    torch.testing.assert_close(out, theirs(data), **TOL)


@pytest.mark.parametrize("module", [gate_points_2101, gate_points_2102])
def test_gate_points_networks_are_e3_equivariant(module):
    net = module.Network(**dict(NETWORK_KWARGS, irreps_in="2x0e+1o", irreps_node_attr="3x0e", reduce_output=False))
    randomize_parameters(net, seed=10)

    def per_node(pos, x, z):
        return net({"pos": pos, "x": x, "z": z})

    inputs = (POSITIONS, random_tensor(12, 5, seed=11), random_tensor(12, 3, seed=12))
    assert_equivariant(per_node, ["cartesian_points", "2x0e+1o", "3x0e"], "1x0e+1x1o", inputs=inputs, seed=0)


def test_v2106_networks_match_e3nn_and_load_its_state_dict():
    from e3nn.nn.models.v2106 import gate_points_networks as theirs_module

    from e3gen.nn.models.v2106 import gate_points_networks

    kwargs = dict(max_radius=2.0, num_neighbors=3.0, num_nodes=5.0, mul=4, layers=2, lmax=2)
    theirs = randomize_parameters(theirs_module.SimpleNetwork("3x0e + 2x1o", "4x0e + 1x1o", **kwargs), seed=13)
    ours = gate_points_networks.SimpleNetwork("3x0e + 2x1o", "4x0e + 1x1o", **kwargs)
    ours.load_state_dict(theirs.state_dict())
    data = {"pos": POSITIONS[:5], "x": random_tensor(5, 9, seed=14)}
    out = ours(data)
    torch.testing.assert_close(out, theirs(data), rtol=1e-12, atol=1e-10 * out.abs().max().item())

    args = ("3x0e + 2x1o", "4x0e + 1x1o", "1e", "3x0o + 1e")
    theirs = randomize_parameters(theirs_module.NetworkForAGraphWithAttributes(*args, **kwargs), seed=15)
    ours = gate_points_networks.NetworkForAGraphWithAttributes(*args, **kwargs)
    ours.load_state_dict(theirs.state_dict())
    data = {
        "pos": POSITIONS[:3],
        "edge_index": torch.tensor([[0, 1, 2], [1, 2, 0]]),
        "node_input": random_tensor(3, 9, seed=16),
        "node_attr": random_tensor(3, 7, seed=17),
        "edge_attr": random_tensor(3, 3, seed=18),
    }
    torch.testing.assert_close(ours(data), theirs(data), **TOL)


def test_v2106_message_passing_is_equivariant():
    from e3gen.nn.models.v2106.gate_points_message_passing import MessagePassing, radius_graph

    mp = MessagePassing(["0e", "0e + 1e", "0e + 1e", "1e"], "0e + 1e", "0e + 1e", fc_neurons=[2, 8], num_neighbors=3.0)
    randomize_parameters(mp, seed=19)
    pos = POSITIONS[:5]
    edge_src, edge_dst = radius_graph(pos, 3.0)
    edge_attr = o3.spherical_harmonics([0, 1], pos[edge_src] - pos[edge_dst], normalize=True, normalization="component")
    inputs = (random_tensor(5, 1, seed=20), random_tensor(5, 4, seed=21), edge_src, edge_dst, edge_attr, random_tensor(len(edge_src), 2, seed=22))
    assert_equivariant(mp, ["0e", "0e + 1e", None, None, "0e + 1e", None], "1e", inputs=inputs, seed=0)
