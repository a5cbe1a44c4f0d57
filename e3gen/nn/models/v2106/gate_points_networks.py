"""e3nn 0.6.0's `nn.models.v2106.gate_points_networks` on e3gen's layers (same signatures, parameter names, numbers).

Both networks embed edge lengths with `soft_one_hot_linspace` ("smooth_finite", cutoff=True, 10
functions, times sqrt(10)), use "component" spherical harmonics up to ``lmax`` of pos[src] - pos[dst]
as edge attributes, and hidden features ``mul`` x every (l, p) with l <= lmax.
"""

from typing import Dict

import torch

from e3gen import o3
from e3gen.math import soft_one_hot_linspace
from e3gen.nn.models._gate_points import radius_graph, scatter
from e3gen.nn.models.v2106.gate_points_message_passing import MessagePassing

__all__ = ["SimpleNetwork", "NetworkForAGraphWithAttributes", "scatter", "radius_graph"]


def _length_embedding(edge_vec: torch.Tensor, max_radius: float, number_of_basis: int) -> torch.Tensor:
    return soft_one_hot_linspace(
        edge_vec.norm(dim=1), 0.0, max_radius, number_of_basis, basis="smooth_finite", cutoff=True
    ).mul(number_of_basis**0.5)


class SimpleNetwork(torch.nn.Module):
    """forward(data): ``pos`` [N, 3], ``x`` [N, irreps_in.dim], optional ``batch`` [N] -> [num_graphs, irreps_out.dim]
    (summed per graph / sqrt(num_nodes)) or [N, irreps_out.dim] with ``pool_nodes=False``."""

    def __init__(self, irreps_in, irreps_out, max_radius, num_neighbors, num_nodes, mul=50, layers=3, lmax=2, pool_nodes=True) -> None:
        super().__init__()
        self.lmax = lmax
        self.max_radius = max_radius
        self.number_of_basis = 10
        self.num_nodes = num_nodes
        self.pool_nodes = pool_nodes
        irreps_node_hidden = o3.Irreps([(mul, (l, p)) for l in range(lmax + 1) for p in [-1, 1]])
        self.mp = MessagePassing(
            irreps_node_sequence=[irreps_in] + layers * [irreps_node_hidden] + [irreps_out],
            irreps_node_attr="0e",
            irreps_edge_attr=o3.Irreps.spherical_harmonics(lmax),
            fc_neurons=[self.number_of_basis, 100],
            num_neighbors=num_neighbors,
        )
        self.irreps_in = self.mp.irreps_node_input
        self.irreps_out = self.mp.irreps_node_output

    def preprocess(self, data: Dict[str, torch.Tensor]):
        batch = data["batch"] if "batch" in data else data["pos"].new_zeros(data["pos"].shape[0], dtype=torch.long)
        edge_index = radius_graph(data["pos"], self.max_radius, batch)
        edge_src, edge_dst = edge_index[0], edge_index[1]
        edge_vec = data["pos"][edge_src] - data["pos"][edge_dst]
        return batch, data["x"], edge_src, edge_dst, edge_vec

    def forward(self, data: Dict[str, torch.Tensor]) -> torch.Tensor:
        batch, node_inputs, edge_src, edge_dst, edge_vec = self.preprocess(data)
        edge_attr = o3.spherical_harmonics(range(self.lmax + 1), edge_vec, True, normalization="component")
        edge_length_embedding = _length_embedding(edge_vec, self.max_radius, self.number_of_basis)
        node_attr = node_inputs.new_ones(node_inputs.shape[0], 1)
        node_outputs = self.mp(node_inputs, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedding)
        if self.pool_nodes:
            return scatter(node_outputs, batch, int(batch.max()) + 1).div(self.num_nodes**0.5)
        return node_outputs


class NetworkForAGraphWithAttributes(torch.nn.Module):
    """forward(data): ``pos``, ``x`` (or ``node_input``), ``node_attr``, ``edge_attr``, optional ``edge_index`` [2, E]
    (else a radius graph) and ``batch``; edge attributes are [edge_attr, Y(edge_vec)]."""

    def __init__(self, irreps_node_input, irreps_node_attr, irreps_edge_attr, irreps_node_output, max_radius, num_neighbors, num_nodes,
                 mul=50, layers=3, lmax=2, pool_nodes=True) -> None:
        super().__init__()
        self.lmax = lmax
        self.max_radius = max_radius
        self.number_of_basis = 10
        self.num_nodes = num_nodes
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.pool_nodes = pool_nodes
        irreps_node_hidden = o3.Irreps([(mul, (l, p)) for l in range(lmax + 1) for p in [-1, 1]])
        self.mp = MessagePassing(
            irreps_node_sequence=[irreps_node_input] + layers * [irreps_node_hidden] + [irreps_node_output],
            irreps_node_attr=irreps_node_attr,
            irreps_edge_attr=self.irreps_edge_attr + o3.Irreps.spherical_harmonics(lmax),
            fc_neurons=[self.number_of_basis, 100],
            num_neighbors=num_neighbors,
        )
        self.irreps_node_input = self.mp.irreps_node_input
        self.irreps_node_attr = self.mp.irreps_node_attr
        self.irreps_node_output = self.mp.irreps_node_output

    def preprocess(self, data: Dict[str, torch.Tensor]):
        batch = data["batch"] if "batch" in data else data["pos"].new_zeros(data["pos"].shape[0], dtype=torch.long)
        if "edge_index" in data:
            edge_src, edge_dst = data["edge_index"][0], data["edge_index"][1]
        else:
            edge_index = radius_graph(data["pos"], self.max_radius, batch)
            edge_src, edge_dst = edge_index[0], edge_index[1]
        edge_vec = data["pos"][edge_src] - data["pos"][edge_dst]
        node_input = data["x"] if "x" in data else data["node_input"]
        return batch, node_input, data["node_attr"], data["edge_attr"], edge_src, edge_dst, edge_vec

    def forward(self, data: Dict[str, torch.Tensor]) -> torch.Tensor:
        batch, node_input, node_attr, edge_attr, edge_src, edge_dst, edge_vec = self.preprocess(data)
        edge_sh = o3.spherical_harmonics(range(self.lmax + 1), edge_vec, True, normalization="component")
        edge_attr = torch.cat([edge_attr, edge_sh], dim=1)
        edge_length_embedding = _length_embedding(edge_vec, self.max_radius, self.number_of_basis)
        node_outputs = self.mp(node_input, node_attr, edge_src, edge_dst, edge_attr, edge_length_embedding)
        if self.pool_nodes:
            return scatter(node_outputs, batch, int(batch.max()) + 1).div(self.num_nodes**0.5)
        return node_outputs
