"""Exact real spherical harmonics in e3nn's basis, as polynomials in (x, y, z).

Conventions (e3nn 0.6.0, o3/_spherical_harmonics.py):

* y is the polar axis; l=1 is sqrt(3) * (x, y, z); components are ordered m = -l..l.
* Y^l is a harmonic polynomial, homogeneous of degree l: on the unit sphere it is the usual
  real spherical harmonic, off the sphere Y^l(x) = |x|^l Y^l(x / |x|).
* e3nn defines Y^{l+1} by the recursion this module uses:

      Y^{l+1}_i(r) = a_l * sum_jk wigner_3j(l+1, 1, l)[i, j, k] * r_j * Y^l_k(r)

  with a_l > 0 fixed by the "component" normalisation at the pole r = (0, 1, 0).
* Normalisations: "component": |Y^l(r)|^2 = 2l+1 on the unit sphere; "norm": component / sqrt(2l+1);
  "integral": component / sqrt(4 pi), so that each Y^l_m has unit L2 norm on the sphere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Dict, List, Tuple

import sympy

from e3gen.symbolic.clebsch_gordan import real_clebsch_gordan
from e3gen.symbolic.exact import Surd, sum_surds
from e3gen.symbolic.polynomial import Polynomial

NORMALIZATIONS = ("component", "norm", "integral")


@dataclass(frozen=True)
class RecursionStep:
    """Y^l_i = sum over terms (i, j, k, c) of c * r_j * Y^{l-1}_k, exact (component normalisation)."""

    l: int
    terms: Tuple[Tuple[int, int, int, Surd], ...]


@lru_cache(maxsize=None)
def recursion_step(l: int) -> RecursionStep:
    """The step that builds Y^l from Y^(l-1) and r = (x, y, z), for l >= 1."""
    if l < 1:
        raise ValueError(f"recursion steps start at l=1, got l={l}")
    cg = real_clebsch_gordan(l, 1, l - 1)  # [i (out, l), j (r, 1), k (prev, l-1)]
    previous = spherical_harmonics_polynomials(l - 1)
    unscaled = _apply_step(cg, previous, 2 * l + 1)
    pole = (0, 1, 0)
    norm_squared = sum_surds(p.evaluate(pole) * p.evaluate(pole) for p in unscaled).as_rational()
    scale = Surd.sqrt((2 * l + 1) / norm_squared)
    return RecursionStep(l, tuple((i, j, k, c * scale) for (i, j, k), c in sorted(cg.items())))


def _apply_step(table: Dict[Tuple[int, int, int], Surd], previous: List[Polynomial], dim: int) -> List[Polynomial]:
    r = [Polynomial.coordinate(axis) for axis in range(3)]
    out = [Polynomial() for _ in range(dim)]
    for (i, j, k), c in table.items():
        out[i] = out[i] + (r[j] * previous[k]).scale(c)
    return out


@lru_cache(maxsize=None)
def spherical_harmonics_polynomials(l: int) -> List[Polynomial]:
    """[Y^l_m for m = -l..l], exact, "component" normalisation."""
    if l < 0:
        raise ValueError(f"spherical harmonics need l >= 0, got l={l}")
    if l == 0:
        return [Polynomial.constant(Surd.rational(1))]
    step = recursion_step(l)
    table = {(i, j, k): c for i, j, k, c in step.terms}
    return _apply_step(table, spherical_harmonics_polynomials(l - 1), 2 * l + 1)


def normalization_factor(l: int, normalization: str) -> sympy.Expr:
    """The exact factor that turns "component" harmonics into the requested normalisation."""
    if normalization == "component":
        return sympy.Integer(1)
    if normalization == "norm":
        return 1 / sympy.sqrt(2 * l + 1)
    if normalization == "integral":
        return 1 / sympy.sqrt(4 * sympy.pi)
    raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}")


def real_spherical_harmonics(l: int, normalization: str = "integral") -> List[sympy.Expr]:
    """[Y^l_m(x, y, z) for m = -l..l] as exact sympy expressions in e3nn's basis and normalisation."""
    factor = normalization_factor(l, normalization)
    return [factor * p.to_sympy() for p in spherical_harmonics_polynomials(l)]
