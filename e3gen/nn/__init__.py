"""e3nn-compatible neural-network layers (e3nn 0.6.0 names, signatures, parameter names and numbers).

* `Activation`, `Gate`, `NormActivation`: equivariant nonlinearities.
* `Convolution`: one NequIP message-passing step (interaction block) over a graph or a batch of graphs.
* `FullyConnectedNet`: e3nn's normalised MLP (radial networks).
* `BatchNorm`: batch / instance normalisation of irreps features.
* `radius_graph`, `edge_vectors`: neighbour lists with periodic boundary conditions.
* `tensor_product_scatter`: the sum over edges into each node of a TensorProduct of sender features
  and edge inputs (the fused native convolution where it applies).
* `S2Activation`, `SO3Activation`: pointwise nonlinearities on signals over the sphere / SO(3).
* `Extract`, `ExtractIr`, `Dropout`, `Identity`: e3nn's small utilities.

State dicts are interchangeable with e3nn's modules of the same name (load_state_dict, strict);
`Convolution` follows NequIP's InteractionBlock and has no e3nn twin.
"""

from e3gen.nn._activation import Activation
from e3gen.nn._batchnorm import BatchNorm
from e3gen.nn._convolution import Convolution
from e3gen.nn._dropout import Dropout
from e3gen.nn._extract import Extract, ExtractIr
from e3gen.nn._fc import FullyConnectedNet
from e3gen.nn._gate import Gate
from e3gen.nn._graph import edge_vectors, radius_graph
from e3gen.nn._identity import Identity
from e3gen.nn._normact import NormActivation
from e3gen.nn._s2act import S2Activation, SO3Activation
from e3gen.nn._tensor_product_scatter import tensor_product_scatter

__all__ = [
    "Activation",
    "BatchNorm",
    "Convolution",
    "Dropout",
    "Extract",
    "ExtractIr",
    "FullyConnectedNet",
    "Gate",
    "Identity",
    "NormActivation",
    "S2Activation",
    "SO3Activation",
    "edge_vectors",
    "radius_graph",
    "tensor_product_scatter",
]
