"""e3nn 0.6.0's `nn.models.v2106.gate_points_message_passing` on e3gen's layers (same signature, parameter names, numbers)."""

import torch

from e3gen import o3
from e3gen.nn.models._gate_points import parity_gate, tp_path_exists
from e3gen.nn.models.v2106.points_convolution import Convolution

__all__ = ["MessagePassing", "Compose", "tp_path_exists", "radius_graph"]


class Compose(torch.nn.Module):
    """second(first(*input)) (v2106's Convolution has no irreps_in, so unlike gate_points_2101's no irreps are kept)."""

    def __init__(self, first, second) -> None:
        super().__init__()
        self.first = first
        self.second = second

    def forward(self, *input):
        return self.second(self.first(*input))


class MessagePassing(torch.nn.Module):
    """Convolutions with gates between them, through ``irreps_node_sequence`` (input, hidden..., output).

    forward(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars) -> [N, irreps_node_output.dim];
    ``fc_neurons`` are the radial networks' input and hidden sizes.
    """

    def __init__(self, irreps_node_sequence, irreps_node_attr, irreps_edge_attr, fc_neurons, num_neighbors) -> None:
        super().__init__()
        self.num_neighbors = num_neighbors
        irreps_node_sequence = [o3.Irreps(irreps) for irreps in irreps_node_sequence]
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)

        self.layers = torch.nn.ModuleList()
        self.irreps_node_sequence = [irreps_node_sequence[0]]
        irreps_node = irreps_node_sequence[0]
        for irreps_node_hidden in irreps_node_sequence[1:-1]:
            irreps_scalars = o3.Irreps(
                [(mul, ir) for mul, ir in irreps_node_hidden if ir.l == 0 and tp_path_exists(irreps_node, self.irreps_edge_attr, ir)]
            ).simplify()
            irreps_gated = o3.Irreps(
                [(mul, ir) for mul, ir in irreps_node_hidden if ir.l > 0 and tp_path_exists(irreps_node, self.irreps_edge_attr, ir)]
            )
            if irreps_gated.dim > 0:
                if tp_path_exists(irreps_node, self.irreps_edge_attr, "0e"):
                    ir = "0e"
                elif tp_path_exists(irreps_node, self.irreps_edge_attr, "0o"):
                    ir = "0o"
                else:
                    raise ValueError(
                        f"irreps_node={irreps_node} times irreps_edge_attr={self.irreps_edge_attr} is unable to produce gates "
                        f"needed for irreps_gated={irreps_gated}"
                    )
            else:
                ir = None
            irreps_gates = o3.Irreps([(mul, ir) for mul, _ in irreps_gated]).simplify()
            gate = parity_gate(irreps_scalars, irreps_gates, irreps_gated)
            conv = Convolution(irreps_node, self.irreps_node_attr, self.irreps_edge_attr, gate.irreps_in, fc_neurons, num_neighbors)
            self.layers.append(Compose(conv, gate))
            irreps_node = gate.irreps_out
            self.irreps_node_sequence.append(irreps_node)

        irreps_node_output = irreps_node_sequence[-1]
        self.layers.append(Convolution(irreps_node, self.irreps_node_attr, self.irreps_edge_attr, irreps_node_output, fc_neurons, num_neighbors))
        self.irreps_node_sequence.append(irreps_node_output)
        self.irreps_node_input = self.irreps_node_sequence[0]
        self.irreps_node_output = self.irreps_node_sequence[-1]

    def forward(self, node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars) -> torch.Tensor:
        for lay in self.layers:
            node_features = lay(node_features, node_attr, edge_src, edge_dst, edge_attr, edge_scalars)
        return node_features


def radius_graph(pos, r_max) -> torch.Tensor:
    """[2, E] pairs (i, j), i != j, |pos_i - pos_j| < r_max (dense, one graph), as e3nn's."""
    r = torch.cdist(pos, pos)
    return ((r < r_max) & (r > 0)).nonzero().T
