"""e3nn-compatible math helpers (e3nn 0.6.0 names and numbers) and NequIP's radial functions.

* `soft_one_hot_linspace`, `soft_unit_step`: smooth bases of a scalar, as e3nn.math.
* `moment`, `normalize2mom`: e3nn's Monte-Carlo second-moment normalisation of activations.
* `bessel`: e3nn's Bessel basis; `BesselBasis`, `PolynomialCutoff`: NequIP's radial basis and envelope.
* `direct_sum`, `orthonormalize`, `complete_basis`: e3nn's small linear-algebra helpers.
* `germinate_formulas`, `reduce_permutation`, `perm`: index symmetries of tensors (``"ij=-ji"``).
"""

from e3gen.math._linalg import complete_basis, direct_sum, orthonormalize
from e3gen.math import perm
from e3gen.math._normalize_activation import moment, normalize2mom
from e3gen.math._radial import BesselBasis, PolynomialCutoff, bessel
from e3gen.math._reduce import germinate_formulas, reduce_permutation
from e3gen.math._soft_one_hot_linspace import soft_one_hot_linspace
from e3gen.math._soft_unit_step import soft_unit_step

__all__ = [
    "BesselBasis",
    "PolynomialCutoff",
    "bessel",
    "complete_basis",
    "direct_sum",
    "germinate_formulas",
    "moment",
    "normalize2mom",
    "orthonormalize",
    "perm",
    "reduce_permutation",
    "soft_one_hot_linspace",
    "soft_unit_step",
]
