"""e3nn-compatible O(3) API on e3gen's generated kernels: irreps, rotations, Wigner matrices,
spherical harmonics, the tensor product family and linear layers.

Conventions are e3nn 0.6.0's: Euler angles Y-X-Y, D^1(R) = R in (x, y, z) order, y-polar real
spherical harmonics, wigner_3j with Frobenius norm 1 and e3nn >= 0.5.0 signs.
"""

from e3gen.o3._irreps import Irrep, Irreps
from e3gen.o3._linear import Linear
from e3gen.o3._reduce import ReducedTensorProducts
from e3gen.o3._rotation import *  # noqa: F401,F403 - the rotation helpers, listed in its __all__
from e3gen.o3._rotation import __all__ as _rotation_names
from e3gen.o3._spherical_harmonics import SphericalHarmonics, spherical_harmonics
from e3gen.o3._tensor_product import (
    ElementwiseTensorProduct,
    FullTensorProduct,
    FullyConnectedTensorProduct,
    Instruction,
    TensorProduct,
    TensorSquare,
    channelwise_tensor_product,
)
from e3gen.o3._wigner import so3_generators, wigner_3j, wigner_D

__all__ = [
    "Irrep",
    "Irreps",
    "Instruction",
    "Linear",
    "ReducedTensorProducts",
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "FullTensorProduct",
    "ElementwiseTensorProduct",
    "TensorSquare",
    "channelwise_tensor_product",
    "SphericalHarmonics",
    "spherical_harmonics",
    "so3_generators",
    "wigner_3j",
    "wigner_D",
    *_rotation_names,
]
