"""e3nn-compatible tensor formats (e3nn 0.6.0's `e3nn.io`).

* `CartesianTensor`: a Cartesian tensor with index symmetries (``"ij=ji"``) as irreps, and back.
* `SphericalTensor`: a signal on the sphere as the irreps of its spherical-harmonic coefficients.
"""

from e3gen.io._cartesian_tensor import CartesianTensor
from e3gen.io._spherical_tensor import SphericalTensor

__all__ = ["CartesianTensor", "SphericalTensor"]
