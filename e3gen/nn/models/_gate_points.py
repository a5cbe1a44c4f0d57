"""The parts shared by e3nn's example networks gate_points_2101 and gate_points_2102 (e3nn 0.6.0):
a point convolution with self-interaction and gates, on e3gen's layers.

Conventions (e3nn's): edges are ordered pairs (src, dst) of distinct nodes of the same graph closer
than max_radius, edge_vec = pos[src] - pos[dst]; messages flow src -> dst and are summed at dst,
divided by sqrt(num_neighbors); the edge attributes are smooth_cutoff(|r| / max_radius) Y(r / |r|)
("component" harmonics); lengths are embedded by `soft_one_hot_linspace` (gaussian, no cutoff) times
sqrt(number_of_basis).
"""

import math
from typing import Optional

import torch

from e3gen import o3
from e3gen.nn import FullyConnectedNet, Gate
from e3gen.o3 import FullyConnectedTensorProduct, TensorProduct


def scatter(src: torch.Tensor, index: torch.Tensor, dim_size: int) -> torch.Tensor:
    """out[i] = sum of src[e] over e with index[e] = i: src [E, F], index [E] -> [dim_size, F]."""
    out = src.new_zeros(dim_size, src.shape[1])
    index = index.reshape(-1, 1).expand_as(src)
    return out.scatter_add_(0, index, src)


def radius_graph(pos: torch.Tensor, r_max: float, batch: torch.Tensor) -> torch.Tensor:
    """[2, E] pairs (i, j), i != j, |pos_i - pos_j| < r_max, same graph; dense O(N^2), as e3nn's."""
    r = torch.cdist(pos, pos)
    index = ((r < r_max) & (r > 0)).nonzero().T
    return index[:, batch[index[0]] == batch[index[1]]]


def smooth_cutoff(x: torch.Tensor) -> torch.Tensor:
    """1 for x <= 0.5, 0 for x >= 1, (1 - cos(pi u)) / 2 with u = 2 (x - 1) in between."""
    u = 2 * (x - 1)
    y = (math.pi * u).cos().neg().add(1).div(2)
    y[u > 0] = 0
    y[u < -1] = 1
    return y


def tp_path_exists(irreps_in1, irreps_in2, ir_out) -> bool:
    """True if some irrep of irreps_in1 times some irrep of irreps_in2 contains ir_out."""
    irreps_in1 = o3.Irreps(irreps_in1).simplify()
    irreps_in2 = o3.Irreps(irreps_in2).simplify()
    ir_out = o3.Irrep(ir_out)
    return any(ir_out in ir1 * ir2 for _, ir1 in irreps_in1 for _, ir2 in irreps_in2)


def parity_gate(irreps_scalars, irreps_gates, irreps_gated) -> Gate:
    """e3nn's example networks' `Gate`: scalars through silu (even) / tanh (odd), gates through sigmoid (even) / tanh (odd)."""
    act = {1: torch.nn.functional.silu, -1: torch.tanh}
    act_gates = {1: torch.sigmoid, -1: torch.tanh}
    return Gate(
        irreps_scalars,
        [act[ir.p] for _, ir in irreps_scalars],
        irreps_gates,
        [act_gates[ir.p] for _, ir in irreps_gates],
        irreps_gated,
    )


class Compose(torch.nn.Module):
    """second(first(*input)); irreps_in of first, irreps_out of second."""

    def __init__(self, first, second) -> None:
        super().__init__()
        self.first = first
        self.second = second
        self.irreps_in = self.first.irreps_in
        self.irreps_out = self.second.irreps_out

    def forward(self, *input):
        return self.second(self.first(*input))


class PointConvolution(torch.nn.Module):
    """One convolution: self-connection ``sc`` mixed with lin1 -> tensor product with the edge attributes
    (uvu, weights from ``fc`` of the edge scalars) -> sum over neighbours -> lin2; the two are combined
    as sin(pi/8) sc + cos(pi/8) conv (cos only where sc has an output, as e3nn).

    forward(node_input [N, irreps_in.dim], node_attr [N, irreps_node_attr.dim], edge_src [E], edge_dst [E],
    edge_attr [E, irreps_edge_attr.dim], edge_scalars [E, number_of_edge_scalars]) -> [N, irreps_out.dim].
    """

    def __init__(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out: Optional[o3.Irreps],
                 number_of_edge_scalars: int, radial_layers: int, radial_neurons: int, num_neighbors: float) -> None:
        super().__init__()
        self.irreps_in = o3.Irreps(irreps_in)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_out = o3.Irreps(irreps_out)
        self.num_neighbors = num_neighbors

        self.sc = FullyConnectedTensorProduct(self.irreps_in, self.irreps_node_attr, self.irreps_out)
        self.lin1 = FullyConnectedTensorProduct(self.irreps_in, self.irreps_node_attr, self.irreps_in)
        irreps_mid = []
        instructions = []
        for i, (mul, ir_in) in enumerate(self.irreps_in):
            for j, (_, ir_edge) in enumerate(self.irreps_edge_attr):
                for ir_out in ir_in * ir_edge:
                    if ir_out in self.irreps_out:
                        k = len(irreps_mid)
                        irreps_mid.append((mul, ir_out))
                        instructions.append((i, j, k, "uvu", True))
        irreps_mid, p, _ = o3.Irreps(irreps_mid).sort()
        instructions = [(i_1, i_2, p[i_out], mode, train) for i_1, i_2, i_out, mode, train in instructions]
        tp = TensorProduct(self.irreps_in, self.irreps_edge_attr, irreps_mid, instructions, internal_weights=False, shared_weights=False)
        self.fc = FullyConnectedNet([number_of_edge_scalars] + radial_layers * [radial_neurons] + [tp.weight_numel], torch.nn.functional.silu)
        self.tp = tp
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, self.irreps_out)

    def forward(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars) -> torch.Tensor:
        weight = self.fc(edge_scalars)
        x = node_input
        s = self.sc(x, node_attr)
        x = self.lin1(x, node_attr)
        edge_features = self.tp(x[edge_src], edge_attr, weight)
        x = scatter(edge_features, edge_dst, dim_size=x.shape[0]).div(self.num_neighbors**0.5)
        x = self.lin2(x, node_attr)
        c_s, c_x = math.sin(math.pi / 8), math.cos(math.pi / 8)
        m = self.sc.output_mask
        c_x = (1 - m) + c_x * m
        return c_s * s + c_x * x
