"""e3nn-compatible O(3) API on e3gen's generated kernels: irreps, rotations, Wigner matrices,
spherical harmonics, the tensor product family and linear layers; and the rest of e3nn 0.6.0's
`o3`: spherical harmonics of angles (`SphericalHarmonicsAlphaBeta`, `Legendre`), grids on S^2 and
SO(3) (`ToS2Grid`, `FromS2Grid`, `SO3Grid`), `Norm`, `ReducedTensorProducts`, the complex basis
(`su2_generators`, `change_basis_real_to_complex`), `irrep` and `experimental`.

Conventions are e3nn 0.6.0's: Euler angles Y-X-Y, D^1(R) = R in (x, y, z) order, y-polar real
spherical harmonics, wigner_3j with Frobenius norm 1 and e3nn >= 0.5.0 signs.
"""

from e3gen.o3 import irrep
from e3gen.o3._angular_spherical_harmonics import (
    Legendre,
    SphericalHarmonicsAlphaBeta,
    spherical_harmonics_alpha,
    spherical_harmonics_alpha_beta,
)
from e3gen.o3._complex_basis import change_basis_real_to_complex, su2_generators
from e3gen.o3._irreps import Irrep, Irreps
from e3gen.o3._linear import Linear
from e3gen.o3._norm import Norm
from e3gen.o3._reduce import ReducedTensorProducts
from e3gen.o3._rotation import *  # noqa: F401,F403 - the rotation helpers, listed in its __all__
from e3gen.o3._rotation import __all__ as _rotation_names
from e3gen.o3._s2grid import FromS2Grid, ToS2Grid, irfft, rfft, s2_grid, spherical_harmonics_s2_grid
from e3gen.o3._so3grid import SO3Grid
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
from e3gen.o3 import experimental
from e3gen.o3.experimental import FullTensorProductv2

__all__ = [
    "Irrep",
    "Irreps",
    "irrep",
    "Instruction",
    "Linear",
    "ReducedTensorProducts",
    "TensorProduct",
    "FullyConnectedTensorProduct",
    "FullTensorProduct",
    "ElementwiseTensorProduct",
    "TensorSquare",
    "FullTensorProductv2",
    "channelwise_tensor_product",
    "SphericalHarmonics",
    "spherical_harmonics",
    "SphericalHarmonicsAlphaBeta",
    "spherical_harmonics_alpha_beta",
    "spherical_harmonics_alpha",
    "Legendre",
    "s2_grid",
    "spherical_harmonics_s2_grid",
    "rfft",
    "irfft",
    "ToS2Grid",
    "FromS2Grid",
    "SO3Grid",
    "Norm",
    "change_basis_real_to_complex",
    "su2_generators",
    "so3_generators",
    "wigner_3j",
    "wigner_D",
    *_rotation_names,
]
