"""e3nn-compatible tensor formats (e3nn 0.6.0's `e3nn.io`).

* `CartesianTensor`: a Cartesian tensor with index symmetries (``"ij=ji"``) as irreps, and back.
"""

from e3gen.io._cartesian_tensor import CartesianTensor

__all__ = ["CartesianTensor"]
