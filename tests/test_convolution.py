"""nn.Convolution (one NequIP message-passing step): equivariant, batched, differentiable twice, compilable.

Strategies: a handful of irreps configurations (even and odd inputs, l up to 3, several node
attributes) on a random point cloud and its radius graph; hypothesis draws the element of O(3)
(assert_equivariant also tries it times the inversion, and a translation). Float64 throughout;
tolerance 1e-10 relative to the largest output: only rounding remains, since every coefficient is
exact (a wrong parity or coupling gives errors of the order of the output).
"""

import functools
import math

import pytest
import torch
from hypothesis import given

from helpers import random_tensor

from e3gen import nn, o3
from e3gen.testing import assert_equivariant, rotations

R_MAX = 2.0

CONFIGS = {
    "scalars->vectors": ("3x0e", "1x0e", "2x0e + 2x1o", 1),
    "mixed, lmax 2": ("2x0e + 2x1o + 1x2e", "2x0e", "2x0e + 1x0o + 2x1o + 2x1e + 1x2e", 2),
    "odd inputs, lmax 3": ("1x0o + 2x1e + 1x3o", "3x0e", "1x0e + 1x0o + 1x1o + 1x2o + 1x3e", 3),
}


def _graph(n, seed, batch=None):
    """n random points and their radius graph: some pairs within R_MAX, not all (so the cutoff matters)."""
    pos = 0.8 * random_tensor(n, 3, seed=seed)
    edge_index, _ = nn.radius_graph(pos, R_MAX, batch=batch)
    assert n <= edge_index.shape[1] < n * (n - 1), "the test graph should have edges, but not every pair"
    return pos, edge_index


def _conv(irreps_in, irreps_attr, irreps_out, sh, seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(irreps_sh=sh, r_max=R_MAX, num_basis=4, radial_hidden=[8], avg_num_neighbors=3.0)
    return nn.Convolution(irreps_in, irreps_attr, irreps_out, **{**options, **kwargs}).double()


def _call(conv, pos, x, attr, edge_index):
    return conv(x, attr, edge_index, nn.edge_vectors(pos, edge_index))


@functools.lru_cache(maxsize=None)
def _equivariance_case(name):
    """The layer and inputs of one configuration, made once: hypothesis varies only the rotation."""
    irreps_in, irreps_attr, irreps_out, sh = CONFIGS[name]
    conv = _conv(irreps_in, irreps_attr, irreps_out, sh)
    pos, edge_index = _graph(8, seed=1)
    return conv, pos, random_tensor(8, conv.irreps_node_input.dim, seed=12), random_tensor(8, conv.irreps_node_attr.dim, seed=2), edge_index


@pytest.mark.parametrize("name", list(CONFIGS))
@given(R=rotations())
def test_convolution_is_equivariant(name, R):
    irreps_in, irreps_attr, irreps_out, _ = CONFIGS[name]
    conv, pos, x, attr, edge_index = _equivariance_case(name)
    # translation=t (fixed) rather than random: hypothesis must be able to replay every draw
    assert_equivariant(
        lambda pos, x, attr, edge_index: _call(conv, pos, x, attr, edge_index),
        ["cartesian_points", irreps_in, irreps_attr, None],
        irreps_out,
        inputs=(pos, x, attr, edge_index),
        rotation=R,
        translation=torch.tensor([0.3, -1.1, 2.0], dtype=torch.float64),
        rtol=1e-10,
    )


def test_forces_are_equivariant_vectors():
    """-d(energy)/d(pos) through the edge vectors (what NequIP trains on) transforms as 1o."""
    conv = _conv("2x0e + 1x1o", "1x0e", "2x0e + 1x1o", 2)
    pos, edge_index = _graph(6, seed=3)
    x = random_tensor(6, conv.irreps_node_input.dim, seed=13)
    attr = torch.ones(6, 1, dtype=torch.float64)

    def forces(pos, x):
        pos = pos.detach().requires_grad_()
        energy = _call(conv, pos, x, attr, edge_index)[:, :2].sum()  # the 0e outputs
        return -torch.autograd.grad(energy, pos)[0]

    assert forces(pos, x).abs().max() > 1e-3, "the forces must not vanish, else the check is empty"
    assert_equivariant(forces, ["cartesian_points", "2x0e + 1x1o"], "1o", inputs=(pos, x), rtol=1e-10, seed=0)


def test_batch_of_two_graphs_equals_each_graph_alone():
    conv = _conv(*CONFIGS["mixed, lmax 2"])
    (pos_a, edges_a), (pos_b, edges_b) = _graph(5, seed=4), _graph(7, seed=5)
    x = random_tensor(12, conv.irreps_node_input.dim, seed=14)
    attr = random_tensor(12, 2, seed=6)
    # the second graph sits on top of the first: only the batch vector keeps them apart
    pos = torch.cat([pos_a, pos_b])
    batch = torch.tensor([0] * 5 + [1] * 7)
    edge_index, _ = nn.radius_graph(pos, R_MAX, batch=batch)
    assert edge_index.shape[1] == edges_a.shape[1] + edges_b.shape[1]

    together = _call(conv, pos, x, attr, edge_index)
    alone = torch.cat([_call(conv, pos_a, x[:5], attr[:5], edges_a), _call(conv, pos_b, x[5:], attr[5:], edges_b)])
    torch.testing.assert_close(together, alone, rtol=0, atol=1e-12)


def test_messages_go_from_sender_to_receiver_and_vanish_at_the_cutoff():
    conv = _conv("2x0e + 1x1o", "1x0e", "2x0e + 1x1o", 1)
    pos = torch.tensor([[0.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, R_MAX]], dtype=torch.float64)
    x = random_tensor(3, conv.irreps_node_input.dim, seed=15)
    attr = torch.ones(3, 1, dtype=torch.float64)
    no_edges = _call(conv, pos, x, attr, torch.zeros(2, 0, dtype=torch.long))

    one_edge = _call(conv, pos, x, attr, torch.tensor([[0], [1]]))  # node 0 sends to node 1
    torch.testing.assert_close(one_edge[[0, 2]], no_edges[[0, 2]], rtol=0, atol=0)
    assert (one_edge[1] - no_edges[1]).abs().max() > 1e-3

    # an edge of length exactly r_max: the polynomial envelope is 0, so its message is exactly 0
    at_cutoff = _call(conv, pos, x, attr, torch.tensor([[0], [2]]))
    torch.testing.assert_close(at_cutoff, no_edges, rtol=0, atol=0)


def test_messages_are_divided_by_sqrt_avg_num_neighbors():
    irreps = ("2x0e + 1x1o", "1x0e", "2x0e + 1x1o", 2)
    one, four = _conv(*irreps, avg_num_neighbors=1.0), _conv(*irreps, avg_num_neighbors=4.0)
    four.load_state_dict(one.state_dict())
    pos, edge_index = _graph(6, seed=7)
    x = random_tensor(6, one.irreps_node_input.dim, seed=16)
    attr = torch.ones(6, 1, dtype=torch.float64)
    self_connection = one.sc(x, attr)
    message_one = _call(one, pos, x, attr, edge_index) - self_connection
    message_four = _call(four, pos, x, attr, edge_index) - self_connection
    assert message_one.abs().max() > 1e-3
    torch.testing.assert_close(message_four, message_one / math.sqrt(4.0), rtol=1e-12, atol=1e-14)


def test_gradcheck_and_gradgradcheck():
    """First and second derivatives in positions, features and attributes (forces need the second)."""
    conv = _conv("1x0e + 1x1o", "1x0e", "1x0e + 1x1o", 1, num_basis=2, radial_hidden=[3])
    pos, edge_index = _graph(4, seed=8)
    inputs = (
        pos.requires_grad_(),
        random_tensor(4, conv.irreps_node_input.dim, seed=17).requires_grad_(),
        random_tensor(4, 1, seed=9).requires_grad_(),
    )

    def f(pos, x, attr):
        return _call(conv, pos, x, attr, edge_index)

    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def test_compiles_fullgraph():
    conv = _conv("2x0e + 1x1o", "1x0e", "2x0e + 1x1o", 1)
    pos, edge_index = _graph(6, seed=10)
    x = random_tensor(6, conv.irreps_node_input.dim, seed=18).requires_grad_()
    attr = torch.ones(6, 1, dtype=torch.float64)
    edge_vec = nn.edge_vectors(pos, edge_index)
    compiled = torch.compile(conv, fullgraph=True, backend="aot_eager")

    got, expected = compiled(x, attr, edge_index, edge_vec), conv(x, attr, edge_index, edge_vec)
    # compiled, the tensor product runs the generated kernels instead of dense tables: rounding differs
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    (grad,) = torch.autograd.grad(got.pow(2).sum(), x)
    torch.testing.assert_close(grad, torch.autograd.grad(expected.pow(2).sum(), x)[0], rtol=0, atol=1e-11)


# --- errors -------------------------------------------------------------------------------------------


def test_input_errors_name_the_layer_the_expected_shape_and_what_arrived():
    conv = _conv("2x0e + 1x1o", "3x0e", "2x0e + 1x1o", 1)
    x, attr = torch.zeros(4, 5, dtype=torch.float64), torch.zeros(4, 3, dtype=torch.float64)
    edge_index, edge_vec = torch.tensor([[0, 1], [1, 0]]), torch.ones(2, 3, dtype=torch.float64)
    cases = [
        ((torch.zeros(4, 6), attr, edge_index, edge_vec), r"node_features of shape \[N, 5\] \(irreps_node_input=2x0e\+1x1o\), got \[4, 6\]"),
        ((x, torch.zeros(4, 2), edge_index, edge_vec), r"node_attr of shape \[4, 3\] \(N nodes, irreps_node_attr=3x0e\), got \[4, 2\]"),
        ((x, torch.zeros(3, 3), edge_index, edge_vec), r"node_attr of shape \[4, 3\].*got \[3, 3\]"),
        ((x, attr, edge_index[:1], edge_vec), r"edge_index as integers of shape \[2, E\].*got torch.int64 of shape \[1, 2\]"),
        ((x, attr, edge_index.double(), edge_vec), r"edge_index as integers.*got torch.float64"),
        ((x, attr, edge_index, torch.ones(3, 3)), r"edge_vec of shape \[2, 3\].*got \[3, 3\]"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=r"Convolution\(2x0e\+1x1o -> 2x0e\+1x1o\): expected " + message):
            conv(*args)


def test_construction_errors_are_named():
    with pytest.raises(ValueError, match=r"Convolution\(1x0e -> 1x1e\): no irrep of irreps_node_output=1x1e .* 1x0e\+1x1o\+1x2e"):
        nn.Convolution("1x0e", "1x0e", "1x1e", irreps_sh=2)
    with pytest.raises(ValueError, match=r"irreps_sh=1x0e\+1x1e must be harmonics of a vector"):
        nn.Convolution("1x0e", "1x0e", "1x0e", irreps_sh="0e + 1e")
    with pytest.raises(ValueError, match=r"avg_num_neighbors must be positive, got 0"):
        nn.Convolution("1x0e", "1x0e", "1x0e", avg_num_neighbors=0)
    with pytest.raises(ValueError, match=r"lmax must be >= 0, got -1"):
        nn.Convolution("1x0e", "1x0e", "1x0e", irreps_sh=-1)


def test_edge_harmonics_are_component_normalized_and_lmax_means_all_l_up_to_it():
    conv = _conv("1x0e", "1x0e", "1x0e", 3)
    assert conv.irreps_sh == o3.Irreps("0e + 1o + 2e + 3o")
    y = conv.sh(random_tensor(10, 3, seed=11))
    for l, block in zip(range(4), conv.irreps_sh.slices()):
        torch.testing.assert_close(y[:, block].pow(2).sum(1), torch.full((10,), 2.0 * l + 1, dtype=torch.float64))


def test_a_graph_without_edges_gives_only_the_self_connection():
    conv = nn.Convolution("2x0e+1x1o", "1x0e", "2x0e+1x1o")
    x, attr = torch.randn(3, 5), torch.ones(3, 1)
    out = conv(x, attr, torch.zeros(2, 0, dtype=torch.long), torch.zeros(0, 3))
    torch.testing.assert_close(out, conv.linear_2(torch.zeros(3, conv.linear_2.irreps_in.dim)) + conv.sc(x, attr))
