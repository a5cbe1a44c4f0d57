"""e3nn 0.6.0's `nn.models.v2106.points_convolution` on e3gen's layers (same signature, parameter names, numbers).

Compared with gate_points_2101's convolution, the mix of self-connection and convolution is a learned
scalar alpha(node) (``self.alpha``, initialised to zero) instead of fixed angles: out = sc + alpha conv.
"""

import torch

from e3gen import o3
from e3gen.nn import FullyConnectedNet
from e3gen.nn.models._gate_points import scatter
from e3gen.o3 import FullyConnectedTensorProduct, TensorProduct

__all__ = ["Convolution", "scatter"]


class Convolution(torch.nn.Module):
    """forward(node_input [N, irreps_node_input.dim], node_attr [N, irreps_node_attr.dim], edge_src [E], edge_dst [E],
    edge_attr [E, irreps_edge_attr.dim], edge_scalars [E, fc_neurons[0]]) -> [N, irreps_node_output.dim].

    ``fc_neurons``: sizes of the radial network's input and hidden layers (its output is the tensor
    product's weights); ``num_neighbors``: the sum over neighbours is divided by its square root.
    """

    def __init__(self, irreps_node_input, irreps_node_attr, irreps_edge_attr, irreps_node_output, fc_neurons, num_neighbors) -> None:
        super().__init__()
        self.irreps_node_input = o3.Irreps(irreps_node_input)
        self.irreps_node_attr = o3.Irreps(irreps_node_attr)
        self.irreps_edge_attr = o3.Irreps(irreps_edge_attr)
        self.irreps_node_output = o3.Irreps(irreps_node_output)
        self.num_neighbors = num_neighbors

        self.sc = FullyConnectedTensorProduct(self.irreps_node_input, self.irreps_node_attr, self.irreps_node_output)
        self.lin1 = FullyConnectedTensorProduct(self.irreps_node_input, self.irreps_node_attr, self.irreps_node_input)
        irreps_mid = []
        instructions = []
        for i, (mul, ir_in) in enumerate(self.irreps_node_input):
            for j, (_, ir_edge) in enumerate(self.irreps_edge_attr):
                for ir_out in ir_in * ir_edge:
                    if ir_out in self.irreps_node_output or ir_out == o3.Irrep(0, 1):
                        k = len(irreps_mid)
                        irreps_mid.append((mul, ir_out))
                        instructions.append((i, j, k, "uvu", True))
        irreps_mid, p, _ = o3.Irreps(irreps_mid).sort()
        if irreps_mid.dim == 0:
            raise AssertionError(
                f"irreps_node_input={self.irreps_node_input} time irreps_edge_attr={self.irreps_edge_attr} produces nothing "
                f"in irreps_node_output={self.irreps_node_output}"
            )
        instructions = [(i_1, i_2, p[i_out], mode, train) for i_1, i_2, i_out, mode, train in instructions]
        tp = TensorProduct(self.irreps_node_input, self.irreps_edge_attr, irreps_mid, instructions, internal_weights=False, shared_weights=False)
        self.fc = FullyConnectedNet(fc_neurons + [tp.weight_numel], torch.nn.functional.silu)
        self.tp = tp
        self.lin2 = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, self.irreps_node_output)
        # a learned gate between self-connection and convolution, after https://arxiv.org/pdf/2002.10444.pdf
        self.alpha = FullyConnectedTensorProduct(irreps_mid, self.irreps_node_attr, "0e")
        with torch.no_grad():
            self.alpha.weight.zero_()
        if self.alpha.output_mask[0] != 1.0:
            raise AssertionError(f"irreps_mid={irreps_mid} and irreps_node_attr={self.irreps_node_attr} are not able to generate scalars")

    def forward(self, node_input, node_attr, edge_src, edge_dst, edge_attr, edge_scalars) -> torch.Tensor:
        weight = self.fc(edge_scalars)
        node_self_connection = self.sc(node_input, node_attr)
        node_features = self.lin1(node_input, node_attr)
        edge_features = self.tp(node_features[edge_src], edge_attr, weight)
        node_features = scatter(edge_features, edge_dst, dim_size=node_input.shape[0]).div(self.num_neighbors**0.5)
        node_conv_out = self.lin2(node_features, node_attr)
        alpha = self.alpha(node_features, node_attr)
        m = self.sc.output_mask
        alpha = (1 - m) + alpha * m
        return node_self_connection + alpha * node_conv_out
