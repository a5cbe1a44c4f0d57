"""e3nn 0.6.0's example network with self-interactions and gates, version of January 2021
(`e3nn.nn.models.gate_points_2101`): same constructor, forward, parameter names and numbers, on
e3gen's layers. Exactly E(3)-equivariant. See `_gate_points` for the conventions.
"""

from typing import Dict, Optional

import torch

from e3gen import o3
from e3gen.math import soft_one_hot_linspace
from e3gen.nn.models._gate_points import Compose, PointConvolution, parity_gate, radius_graph, scatter, smooth_cutoff, tp_path_exists

__all__ = ["Convolution", "Network", "Compose", "scatter", "radius_graph", "smooth_cutoff", "tp_path_exists"]


class Convolution(PointConvolution):
    """e3nn's gate_points_2101.Convolution (the radial network is fed ``number_of_basis`` length features)."""

    def __init__(self, irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_basis, radial_layers, radial_neurons, num_neighbors) -> None:
        super().__init__(irreps_in, irreps_node_attr, irreps_edge_attr, irreps_out, number_of_basis, radial_layers, radial_neurons, num_neighbors)


def _edges(data: Dict[str, torch.Tensor], max_radius: float, number_of_basis: int, irreps_edge_attr):
    """(batch, edge_src, edge_dst, edge_attr, edge_length_embedded) of e3nn's networks."""
    if "batch" in data:
        batch = data["batch"]
    else:
        batch = data["pos"].new_zeros(data["pos"].shape[0], dtype=torch.long)
    edge_index = radius_graph(data["pos"], max_radius, batch)
    edge_src, edge_dst = edge_index[0], edge_index[1]
    edge_vec = data["pos"][edge_src] - data["pos"][edge_dst]
    edge_sh = o3.spherical_harmonics(irreps_edge_attr, edge_vec, True, normalization="component")
    edge_length = edge_vec.norm(dim=1)
    edge_length_embedded = soft_one_hot_linspace(
        x=edge_length, start=0.0, end=max_radius, number=number_of_basis, basis="gaussian", cutoff=False
    ).mul(number_of_basis**0.5)
    edge_attr = smooth_cutoff(edge_length / max_radius)[:, None] * edge_sh
    return batch, edge_src, edge_dst, edge_attr, edge_length_embedded


class Network(torch.nn.Module):
    """e3nn's gate_points_2101.Network: forward(data) with ``pos`` [N, 3] and optional ``x`` [N, irreps_in.dim],
    ``z`` [N, irreps_node_attr.dim] (node attributes), ``batch`` [N] -> [num_graphs, irreps_out.dim] (summed
    over each graph and divided by sqrt(num_nodes)) or, with ``reduce_output=False``, [N, irreps_out.dim].

    ``irreps_in`` / ``irreps_node_attr`` may be None (no input features: ones; no attributes: "0e", ones).
    """

    def __init__(self, irreps_in: Optional[o3.Irreps], irreps_hidden: o3.Irreps, irreps_out: o3.Irreps, irreps_node_attr: o3.Irreps,
                 irreps_edge_attr: Optional[o3.Irreps], layers: int, max_radius: float, number_of_basis: int, radial_layers: int,
                 radial_neurons: int, num_neighbors: float, num_nodes: float, reduce_output: bool = True) -> None:
        super().__init__()
        self._store_arguments(irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, max_radius, number_of_basis,
                              num_neighbors, num_nodes, reduce_output)
        self.layers = self._layers(layers, number_of_basis, radial_layers, radial_neurons, num_neighbors, Convolution)

    def _store_arguments(self, irreps_in, irreps_hidden, irreps_out, irreps_node_attr, irreps_edge_attr, max_radius, number_of_basis,
                         num_neighbors, num_nodes, reduce_output) -> None:
        """The constructor's arguments as e3nn keeps them (irreps parsed; no node attributes means "0e")."""
        self.max_radius = max_radius
        self.number_of_basis = number_of_basis
        self.num_neighbors = num_neighbors
        self.num_nodes = num_nodes
        self.reduce_output = reduce_output
        self.irreps_in = o3.Irreps(irreps_in) if irreps_in is not None else None
        self.irreps_hidden = o3.Irreps(irreps_hidden)
        self.irreps_out = o3.Irreps(irreps_out)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr) if irreps_node_attr is not None else o3.Irreps("0e")
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.input_has_node_in = irreps_in is not None
        self.input_has_node_attr = irreps_node_attr is not None

    def _layers(self, layers, number_of_edge_scalars, radial_layers, radial_neurons, num_neighbors, convolution) -> torch.nn.ModuleList:
        """``layers`` x (convolution then Gate) followed by a last convolution to ``irreps_out``, as e3nn builds them,
        from the stored irreps; the radial networks are fed ``number_of_edge_scalars`` features."""
        irreps = self.irreps_in if self.irreps_in is not None else o3.Irreps("0e")
        irreps_node_attr, irreps_edge_attr = self.irreps_node_attr, self.irreps_edge_attr
        modules = torch.nn.ModuleList()
        for _ in range(layers):
            irreps_scalars = o3.Irreps([(mul, ir) for mul, ir in self.irreps_hidden if ir.l == 0 and tp_path_exists(irreps, irreps_edge_attr, ir)])
            irreps_gated = o3.Irreps([(mul, ir) for mul, ir in self.irreps_hidden if ir.l > 0 and tp_path_exists(irreps, irreps_edge_attr, ir)])
            ir = "0e" if tp_path_exists(irreps, irreps_edge_attr, "0e") else "0o"
            irreps_gates = o3.Irreps([(mul, ir) for mul, _ in irreps_gated])
            gate = parity_gate(irreps_scalars, irreps_gates, irreps_gated)
            conv = convolution(irreps, irreps_node_attr, irreps_edge_attr, gate.irreps_in, number_of_edge_scalars, radial_layers, radial_neurons, num_neighbors)
            irreps = gate.irreps_out
            modules.append(Compose(conv, gate))
        modules.append(convolution(irreps, irreps_node_attr, irreps_edge_attr, self.irreps_out, number_of_edge_scalars, radial_layers, radial_neurons, num_neighbors))
        return modules

    def _node_inputs(self, data: Dict[str, torch.Tensor]):
        if self.input_has_node_in and "x" in data:
            x = data["x"]
        else:
            if self.irreps_in is not None:
                raise AssertionError("Network: irreps_in was given, so data must hold the node features 'x'")
            x = data["pos"].new_ones((data["pos"].shape[0], 1))
        if self.input_has_node_attr and "z" in data:
            z = data["z"]
        else:
            if self.irreps_node_attr != o3.Irreps("0e"):
                raise AssertionError(f"Network: irreps_node_attr is {self.irreps_node_attr}, so data must hold the node attributes 'z'")
            z = data["pos"].new_ones((data["pos"].shape[0], 1))
        return x, z

    def _reduce(self, x: torch.Tensor, batch: torch.Tensor) -> torch.Tensor:
        if self.reduce_output:
            return scatter(x, batch, dim_size=int(batch.max()) + 1).div(self.num_nodes**0.5)
        return x

    def forward(self, data: Dict[str, torch.Tensor]) -> torch.Tensor:
        batch, edge_src, edge_dst, edge_attr, edge_length_embedded = _edges(data, self.max_radius, self.number_of_basis, self.irreps_edge_attr)
        x, z = self._node_inputs(data)
        for lay in self.layers:
            x = lay(x, z, edge_src, edge_dst, edge_attr, edge_length_embedded)
        return self._reduce(x, batch)
