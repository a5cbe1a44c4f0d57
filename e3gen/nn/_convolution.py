"""One NequIP message-passing step (NequIP's InteractionBlock / e3nn's points convolution) on e3gen layers.

For node features x [N, irreps_node_input.dim], node attributes a [N, irreps_node_attr.dim] and
edges (sender s, receiver r) with vectors edge_vec [E, 3]:

    h_i     = Linear_1(x_i)                                            (NequIP's linear_1)
    w_e     = MLP(BesselBasis(|v_e|) * PolynomialCutoff(|v_e|))        [E, tp.weight_numel]
    m_e     = TP_uvu(h_s, Y(v_e / |v_e|); w_e) / sqrt(avg_num_neighbors)
    out_i   = Linear_2(sum_{e: r(e) = i} m_e) + FCTP(x_i, a_i)          (the last term is NequIP's "sc")

* Y: real spherical harmonics, normalize=True, normalization="component" (|Y^l|^2 = 2l+1), e3nn's
  y-polar convention; the harmonics of the zero vector are Y^0 only.
* TP_uvu: `o3.channelwise_tensor_product`, each channel u of each input irrep coupled with each
  harmonic into every irrep that irreps_node_output contains (NequIP keeps the same ones), one
  weight per (channel, path) and edge; its outputs are sorted by irrep, so Linear_2 sees them
  simplified, as NequIP's linear_2 does.
* Radial basis: NequIP's Bessel basis (prefactor 2/r_max, trainable frequencies) times its
  polynomial envelope (p = 6), so messages vanish smoothly, with two derivatives, at r_max.
* Normalisation: messages are divided by sqrt(avg_num_neighbors) before the sum, like NequIP
  (dividing first keeps the sum's magnitude O(1) whatever the degree; the sum is linear).

Graph convention (e3gen's, see `nn.radius_graph`): edge_index[0] holds senders, edge_index[1]
receivers, and edge_vec = pos[receiver] - pos[sender] (+ the cell shift), as `nn.edge_vectors`
returns it. NequIP's edge vector points the other way; on a symmetric graph that only flips the
sign of odd-l harmonics, which the learned weights absorb. A batch of graphs is one graph with
disjoint components: edge_index indexes the concatenated nodes, and nothing mixes across graphs.

Zero-length edges (a node to itself without a periodic shift, as `nn.radius_graph` makes with
self_interaction=True) are allowed: the Bessel basis takes its finite limit there (NequIP's is 0/0)
and the harmonics of the zero vector are Y^0 only, with finite gradients.

TorchScript (deprecated in torch 2.13, still how NequIP and LAMMPS deploy): ``torch.jit.script(conv)``
scripts a copy of the layer whose products and harmonics are their TorchScript twins
(`e3gen.o3._scriptable`: the same exact tables and numbers, the same weights); ``conv`` itself is
left as it is. The scripted copy always takes the Torch path (no native op) and skips the eager
input checks. For speed use eager mode or torch.compile (fullgraph=True works, see the tests).
"""

import copy
import math
from typing import Callable, Sequence, Union

import torch

from e3gen.math import BesselBasis, PolynomialCutoff
from e3gen.nn._fc import FullyConnectedNet
from e3gen.nn._tensor_product_scatter import _sum_over_edges
from e3gen.o3 import FullyConnectedTensorProduct, Irreps, Linear, SphericalHarmonics, channelwise_tensor_product
from e3gen.o3._input_checks import check_float_tensors, check_same_dtype_and_device
from e3gen.runtime.tracing import capturing


class Convolution(torch.nn.Module):
    """NequIP's interaction block: node_features [N, irreps_node_input.dim] -> [N, irreps_node_output.dim].

    Args:
        irreps_node_input: irreps of the node features.
        irreps_node_attr: irreps of the node attributes (species one-hot, masses, ... usually scalars
            such as "4x0e"); they enter through the self-connection FCTP(features, attributes).
        irreps_node_output: irreps of the output features.
        irreps_sh: the edge spherical harmonics: an int lmax (meaning "0e + 1o + ... + lmax") or irreps
            such as "0e + 1o + 2e" (parity (-1)^l, the harmonics of a vector).
        r_max: the cutoff radius; edges at or beyond it contribute exactly nothing.
        num_basis: number of Bessel radial basis functions (NequIP's default 8).
        radial_hidden: hidden layer sizes of the radial MLP (NequIP: one layer of 64).
        avg_num_neighbors: messages are divided by its square root (1.0: no normalisation).
        radial_act: activation of the radial MLP (normalised to unit second moment, e3nn's rule).
        cutoff_p: power p of NequIP's polynomial envelope.
        trainable_basis: whether the Bessel frequencies are trained (NequIP's default: True).
        strategy: how the product and the sum over edges run (`e3gen.native.backend`): "auto" (the
            fused native convolution on CPU where it can be built: gather, product and segment sum
            over receivers in one op, no per-edge messages in memory, deterministic; otherwise the
            Torch kernels), "native" (force it), or a TensorProduct strategy ("dense", "unrolled":
            the product of o3.TensorProduct, then index_add).

    Attributes: ``linear_1``, ``tp`` (its ``irreps_out`` is the per-edge message layout), ``radial``
    (the MLP), ``radial_basis``, ``cutoff``, ``linear_2``, ``sc``.
    """

    avg_num_neighbors: float

    def __init__(
        self,
        irreps_node_input,
        irreps_node_attr,
        irreps_node_output,
        irreps_sh: Union[int, str, Irreps] = 2,
        r_max: float = 5.0,
        num_basis: int = 8,
        radial_hidden: Sequence[int] = (64,),
        avg_num_neighbors: float = 1.0,
        *,
        radial_act: Callable[[torch.Tensor], torch.Tensor] = torch.nn.functional.silu,
        cutoff_p: float = 6,
        trainable_basis: bool = True,
        strategy: str = "auto",
    ) -> None:
        super().__init__()
        self.irreps_node_input = Irreps(irreps_node_input)
        self.irreps_node_attr = Irreps(irreps_node_attr)
        self.irreps_node_output = Irreps(irreps_node_output)
        if isinstance(irreps_sh, int) and not isinstance(irreps_sh, bool):
            if irreps_sh < 0:
                raise ValueError(f"Convolution: the spherical harmonics' lmax must be >= 0, got {irreps_sh}")
            irreps_sh = Irreps.spherical_harmonics(irreps_sh)
        self.irreps_sh = Irreps(irreps_sh)
        self._name = f"Convolution({self.irreps_node_input} -> {self.irreps_node_output})"
        if not avg_num_neighbors > 0:
            raise ValueError(f"{self._name}: avg_num_neighbors must be positive, got {avg_num_neighbors!r}")
        if any(ir.p != (-1) ** ir.l for _, ir in self.irreps_sh):
            raise ValueError(
                f"{self._name}: irreps_sh={self.irreps_sh} must be harmonics of a vector, each l with parity (-1)^l "
                f"(e.g. '0e + 1o + 2e'), or an int lmax"
            )
        self.avg_num_neighbors = float(avg_num_neighbors)

        self.sh = SphericalHarmonics(self.irreps_sh, normalize=True, normalization="component")
        self.linear_1 = Linear(self.irreps_node_input, self.irreps_node_input)
        try:
            self.tp = channelwise_tensor_product(
                self.irreps_node_input, self.irreps_sh, self.irreps_node_output, shared_weights=False, internal_weights=False,
                strategy=strategy,
            )
        except ValueError:
            raise ValueError(
                f"{self._name}: no irrep of irreps_node_output={self.irreps_node_output} can be made from "
                f"irreps_node_input={self.irreps_node_input} times the edge harmonics {self.irreps_sh}; "
                f"raise the harmonics' lmax or change the irreps"
            ) from None
        self.radial_basis = BesselBasis(r_max, num_basis, trainable=trainable_basis)
        self.cutoff = PolynomialCutoff(r_max, cutoff_p)
        self.radial = FullyConnectedNet([num_basis, *radial_hidden, self.tp.weight_numel], radial_act)
        # the uvu outputs are sorted by irrep, so simplifying merges only neighbours: same layout
        self.linear_2 = Linear(self.tp.irreps_out.simplify(), self.irreps_node_output)
        self.sc = FullyConnectedTensorProduct(self.irreps_node_input, self.irreps_node_attr, self.irreps_node_output)

        self._in_dim = self.irreps_node_input.dim
        self._attr_dim = self.irreps_node_attr.dim
        self._mid_dim = self.tp.irreps_out.dim
        self._message_scale = 1.0 / math.sqrt(self.avg_num_neighbors)

    def __repr__(self) -> str:
        return (
            f"{self._name} [attr {self.irreps_node_attr}, sh {self.irreps_sh}, "
            f"messages {self.tp.irreps_out.simplify()}, radial {self.radial.hs}]"
        )

    def forward(
        self, node_features: torch.Tensor, node_attr: torch.Tensor, edge_index: torch.Tensor, edge_vec: torch.Tensor
    ) -> torch.Tensor:
        """node_features [N, irreps_node_input.dim], node_attr [N, irreps_node_attr.dim],
        edge_index [2, E] (integer; row 0 senders, row 1 receivers), edge_vec [E, 3]
        (pos[receiver] - pos[sender]) -> [N, irreps_node_output.dim]."""
        if not torch.jit.is_scripting():  # (TorchScript does not compile this block)
            self._check_inputs(node_features, node_attr, edge_index, edge_vec)
        sender, receiver = edge_index[0], edge_index[1]

        self_connection = self.sc(node_features, node_attr)
        h = self.linear_1(node_features)

        length = torch.linalg.vector_norm(edge_vec, dim=1)  # [E]
        radial = self.radial_basis(length) * self.cutoff(length)[:, None]  # [E, num_basis]
        weight = self.radial(radial)  # [E, tp.weight_numel]
        edge_sh = self.sh(edge_vec)  # [E, irreps_sh.dim]
        if torch.jit.is_scripting():  # the scripted twin: Torch kernels only (tensor_product_scatter's Torch path)
            messages = self.tp(h.index_select(0, sender), edge_sh, weight)  # [E, mid]
            aggregated = messages.new_zeros(node_features.shape[0], self._mid_dim).index_add(0, receiver, messages)
        else:  # the fused native op where it applies, else the same product + index_add (inputs checked above)
            aggregated = _sum_over_edges(self.tp, h, edge_sh, weight, sender, receiver)
        # the sum is linear: scaling it equals scaling each message (up to rounding)
        return self.linear_2(aggregated * self._message_scale) + self_connection

    def __prepare_scriptable__(self) -> "Convolution":
        """torch.jit.script's hook: a shallow copy of this layer (same parameters) whose products
        (tp, sc) and harmonics are their TorchScript twins; this layer keeps its own."""
        from e3gen.o3._scriptable import scriptable_twin

        scriptable = copy.copy(self)
        scriptable._modules = {name: scriptable_twin(child) or child for name, child in self._modules.items()}
        return scriptable

    @torch.jit.unused
    def _check_inputs(self, node_features, node_attr, edge_index, edge_vec) -> None:
        floats = {"node_features": node_features, "node_attr": node_attr, "edge_vec": edge_vec}
        check_float_tensors(self._name, floats)
        if not isinstance(edge_index, torch.Tensor):
            raise TypeError(f"{self._name}: edge_index must be a torch.Tensor of integers [2, E], got {type(edge_index).__name__}")
        if node_features.dim() != 2 or node_features.shape[1] != self._in_dim:
            raise ValueError(
                f"{self._name}: expected node_features of shape [N, {self._in_dim}] "
                f"(irreps_node_input={self.irreps_node_input}), got {list(node_features.shape)}"
            )
        n = node_features.shape[0]
        if node_attr.dim() != 2 or node_attr.shape[0] != n or node_attr.shape[1] != self._attr_dim:
            raise ValueError(
                f"{self._name}: expected node_attr of shape [{n}, {self._attr_dim}] "
                f"(N nodes, irreps_node_attr={self.irreps_node_attr}), got {list(node_attr.shape)}"
            )
        if edge_index.dim() != 2 or edge_index.shape[0] != 2 or edge_index.dtype not in (torch.int64, torch.int32):
            raise ValueError(
                f"{self._name}: expected edge_index as integers of shape [2, E] (row 0 senders, row 1 receivers), "
                f"got {edge_index.dtype} of shape {list(edge_index.shape)}"
            )
        e = edge_index.shape[1]
        if edge_vec.dim() != 2 or edge_vec.shape[0] != e or edge_vec.shape[1] != 3:
            raise ValueError(
                f"{self._name}: expected edge_vec of shape [{e}, 3] (one vector per edge of edge_index), "
                f"got {list(edge_vec.shape)}"
            )
        check_same_dtype_and_device(self._name, floats, self.radial_basis.bessel_weights)
        if e > 0 and not capturing((edge_index, edge_vec)):
            # One host sync in eager mode (none while a graph is captured, where values are unknown
            # and it would break the graph): an index out of [0, N) would otherwise fail deep inside index_select or
            # index_add as "index out of range in self", naming neither the layer nor the argument.
            low, high = torch.stack(torch.aminmax(edge_index)).tolist()
            if low < 0 or high >= n:
                raise ValueError(
                    f"{self._name}: edge_index must hold node indices in [0, {n}) (N = node_features.shape[0]), "
                    f"got values in [{low}, {high}]; build it from the same nodes (e.g. nn.radius_graph(pos, ...)) "
                    f"and offset each graph's indices when batching graphs"
                )
