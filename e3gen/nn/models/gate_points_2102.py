"""e3nn 0.6.0's example network with self-interactions and gates, version of February 2021
(`e3nn.nn.models.gate_points_2102`): as gate_points_2101, but the radial networks also see the
scalar (0e) node attributes of both ends of each edge. Same constructor, forward, parameter names
and numbers as e3nn's, on e3gen's layers.
"""

from typing import Dict

import torch

from e3gen import o3
from e3gen.nn import ExtractIr
from e3gen.nn.models import gate_points_2101
from e3gen.nn.models._gate_points import Compose, PointConvolution, radius_graph, scatter, smooth_cutoff, tp_path_exists

__all__ = ["Convolution", "Network", "Compose", "scatter", "radius_graph", "smooth_cutoff", "tp_path_exists"]


class Convolution(PointConvolution):
    """e3nn's gate_points_2102.Convolution (the radial network is fed ``number_of_edge_features`` edge scalars)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_node_attr: o3.Irreps, irreps_edge_attr: o3.Irreps, irreps_out: o3.Irreps,
                 number_of_edge_features: int, radial_layers: int, radial_neurons: int, num_neighbors: float) -> None:
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_edge_features, radial_layers, radial_neurons, num_neighbors)


class Network(gate_points_2101.Network):
    """e3nn's gate_points_2102.Network: gate_points_2101's, with edge features [length embedding, z0[src], z0[dst]]
    where z0 are the 0e node attributes (``ext_z``)."""

    def __init__(self, irreps_in: o3.Irreps, irreps_hidden: o3.Irreps, irreps_out: o3.Irreps, irreps_node_attr: o3.Irreps,
                 irreps_edge_attr: o3.Irreps, layers: int, max_radius: float, number_of_basis: int, radial_layers: int,
                 radial_neurons: int, num_neighbors: float, num_nodes: float, reduce_output: bool = True) -> None:
        torch.nn.Module.__init__(self)
        self._store_arguments(irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, max_radius, number_of_basis,
                              num_neighbors, num_nodes, reduce_output)
        self.ext_z = ExtractIr(self.irreps_node_attr, "0e")
        number_of_edge_features = number_of_basis + 2 * self.irreps_node_attr.count("0e")
        self.layers = self._layers(layers, number_of_edge_features, radial_layers, radial_neurons, num_neighbors, Convolution)

    def forward(self, data: Dict[str, torch.Tensor]) -> torch.Tensor:
        batch, edge_src, edge_dst, edge_attr, edge_length_embedded = gate_points_2101._edges(
            data, self.max_radius, self.number_of_basis, self.irreps_edge_attr
        )
        x, z = self._node_inputs(data)
        scalar_z = self.ext_z(z)
        edge_features = torch.cat([edge_length_embedded, scalar_z[edge_src], scalar_z[edge_dst]], dim=1)
        for lay in self.layers:
            x = lay(x, z, edge_src, edge_dst, edge_attr, edge_features)
        return self._reduce(x, batch)
