"""nn.Convolution against independent oracles: which way messages flow, and the whole block rebuilt from e3nn.

Message direction (e3gen's graph convention, `nn.radius_graph`): edge_index[0] holds senders,
edge_index[1] receivers, and a message carries the *sender's* features to the *receiver*. Two
oracles pin it, since the equivariance, batching and cutoff tests all pass with the gather at the
receiver instead (a planted bug that only a float32 tolerance in the tetris test happened to trip):

* directly: perturbing x[sender] of one edge changes the messages' sum only at its receiver, and
  perturbing x[receiver] changes no message at all (only the self-connection, which is subtracted);
* the same interaction block assembled from e3nn 0.6.0's layers (SphericalHarmonics, Linear,
  TensorProduct with the same uvu instructions, FullyConnectedNet, FullyConnectedTensorProduct),
  NequIP's Bessel basis and polynomial envelope written out from their formulas, and the sum over
  edges as a Python loop; the same weights (state dicts are e3nn's key for key). Float64, compared
  to 1e-10 relative to the largest output: both sides use exact or float64-rounded coefficients,
  so only rounding differs (a swapped gather gives errors of the order of the output).
"""

import math

import pytest
import torch

from helpers import random_tensor

from e3gen import nn

R_MAX = 2.0


def _conv(irreps_in, irreps_attr, irreps_out, sh, seed=0):
    torch.manual_seed(seed)
    return nn.Convolution(irreps_in, irreps_attr, irreps_out, irreps_sh=sh, r_max=R_MAX, num_basis=4,
                          radial_hidden=[8], avg_num_neighbors=3.0).double()  # fmt: skip


def _messages(conv, x, attr, edge_index, edge_vec):
    """The aggregated, linear_2-mapped messages alone: the output minus the self-connection."""
    return conv(x, attr, edge_index, edge_vec) - conv.sc(x, attr)


def test_perturbing_a_sender_changes_only_its_receiver():
    """A 4-node chain 0 -> 1 -> 2 (node 3 isolated). Perturbing x[0] (a sender, never a receiver)
    must change the messages at node 1 only; perturbing x[2] (a receiver, never a sender) must
    change no message. A gather at the receiver does the opposite on both counts."""
    conv = _conv("2x0e + 1x1o", "1x0e", "2x0e + 1x1o", 1)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.6, 0.8, 0.9], [5.0, 5.0, 5.0]], dtype=torch.float64)
    edge_index = torch.tensor([[0, 1], [1, 2]])
    edge_vec = nn.edge_vectors(pos, edge_index)
    x = random_tensor(4, conv.irreps_node_input.dim, seed=1)
    attr = torch.ones(4, 1, dtype=torch.float64)
    before = _messages(conv, x, attr, edge_index, edge_vec)

    moved_sender = x.clone()
    moved_sender[0] += random_tensor(conv.irreps_node_input.dim, seed=2)
    change = (_messages(conv, moved_sender, attr, edge_index, edge_vec) - before).abs().amax(1)
    assert change[1] > 1e-3, "the receiver of node 0's message must see node 0's new features"
    assert change[[0, 2, 3]].max() <= 1e-14 * before.abs().max(), "no other node receives from node 0"

    moved_receiver = x.clone()
    moved_receiver[2] += random_tensor(conv.irreps_node_input.dim, seed=3)
    change = (_messages(conv, moved_receiver, attr, edge_index, edge_vec) - before).abs().max()
    assert change <= 1e-14 * before.abs().max(), "node 2 only receives: its features are in no message"


def _e3nn_block(conv):
    """The interaction block as e3nn 0.6.0 layers with conv's weights: (x, attr, edge_index, edge_vec) -> out."""
    e3nn_o3 = pytest.importorskip("e3nn.o3")
    e3nn_nn = pytest.importorskip("e3nn.nn")
    sh = e3nn_o3.SphericalHarmonics(str(conv.irreps_sh), normalize=True, normalization="component")
    linear_1 = e3nn_o3.Linear(str(conv.irreps_node_input), str(conv.irreps_node_input))
    linear_1.load_state_dict(conv.linear_1.state_dict())
    instructions = [(i.i_in1, i.i_in2, i.i_out, i.connection_mode, i.has_weight) for i in conv.tp.instructions]
    tp = e3nn_o3.TensorProduct(str(conv.irreps_node_input), str(conv.irreps_sh), str(conv.tp.irreps_out), instructions,
                               shared_weights=False, internal_weights=False)  # fmt: skip
    assert tp.weight_numel == conv.tp.weight_numel
    radial = e3nn_nn.FullyConnectedNet(conv.radial.hs, torch.nn.functional.silu)
    radial.load_state_dict(conv.radial.state_dict())
    linear_2 = e3nn_o3.Linear(str(conv.tp.irreps_out.simplify()), str(conv.irreps_node_output))
    linear_2.load_state_dict(conv.linear_2.state_dict())
    sc = e3nn_o3.FullyConnectedTensorProduct(str(conv.irreps_node_input), str(conv.irreps_node_attr), str(conv.irreps_node_output))
    sc.load_state_dict(conv.sc.state_dict())
    frequencies = conv.radial_basis.bessel_weights.detach()
    p = conv.cutoff.p

    def block(x, attr, edge_index, edge_vec):
        r = edge_vec.norm(dim=1)
        bessel = (2.0 / R_MAX) * torch.sin(frequencies * r[:, None] / R_MAX) / r[:, None]  # NequIP's BesselBasis
        u = r / R_MAX  # NequIP's PolynomialCutoff
        envelope = (1 - (p + 1) * (p + 2) / 2 * u**p + p * (p + 2) * u ** (p + 1) - p * (p + 1) / 2 * u ** (p + 2)) * (u < 1)
        h = linear_1(x)
        sender, receiver = edge_index
        messages = tp(h[sender], sh(edge_vec), radial(bessel * envelope[:, None])) / math.sqrt(conv.avg_num_neighbors)
        aggregated = torch.zeros(x.shape[0], messages.shape[1], dtype=x.dtype)
        for e in range(edge_index.shape[1]):
            aggregated[receiver[e]] += messages[e]
        return linear_2(aggregated) + sc(x, attr)

    return block


@pytest.mark.parametrize(
    "irreps_in, irreps_attr, irreps_out, sh",
    [
        ("2x0e + 2x1o + 1x2e", "2x0e", "2x0e + 1x0o + 2x1o + 2x1e + 1x2e", 2),
        ("1x0o + 2x1e + 1x3o", "3x0e", "1x0e + 1x0o + 1x1o + 1x2o + 1x3e", 3),
    ],
)
def test_convolution_is_the_block_assembled_from_e3nn_layers(float64_default, irreps_in, irreps_attr, irreps_out, sh):
    conv = _conv(irreps_in, irreps_attr, irreps_out, sh)
    # perturbed frequencies: the oracle must read the trained ones, not re-derive n pi
    with torch.no_grad():
        conv.radial_basis.bessel_weights.mul_(1 + 0.1 * random_tensor(4, seed=4))
    block = _e3nn_block(conv)
    pos = 0.8 * random_tensor(9, 3, seed=5)
    edge_index, _ = nn.radius_graph(pos, R_MAX)
    # a directed graph: drop every other edge, so that sender and receiver cannot be swapped unnoticed
    edge_index = edge_index[:, ::2]
    assert edge_index.shape[1] >= 9
    edge_vec = nn.edge_vectors(pos, edge_index)
    x = random_tensor(9, conv.irreps_node_input.dim, seed=6)
    attr = random_tensor(9, conv.irreps_node_attr.dim, seed=7)

    ours, theirs = conv(x, attr, edge_index, edge_vec), block(x, attr, edge_index, edge_vec)
    assert theirs.abs().max() > 1e-2
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-10 * theirs.abs().max().item())
