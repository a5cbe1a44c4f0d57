"""Exact Clebsch-Gordan (Wigner 3j) coefficients in e3nn's real basis.

`real_clebsch_gordan(l1, l2, l3)` is e3nn's `wigner_3j(l1, l2, l3)` (e3nn >= 0.5.0 signs) in exact
arithmetic: the tensor C[i, j, k] with

    out_k = sum_ij C[i, j, k] x_i y_j          (x in l1, y in l2, out in l3)

invariant under D^l1 (x) D^l2 (x) D^l3 and normalised to Frobenius norm 1. It is obtained as e3nn
does it, from the complex (SU(2)) Clebsch-Gordan coefficients and the change of basis Q_l:

    C = einsum("ij,kl,mn,ikn->jlm", Q1, Q2, conj(Q3).T, C_complex) / ||.||

Every entry comes out as +-sqrt(p/q); the function checks that and returns them in that form.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import factorial
from typing import Dict, Tuple

from e3gen.symbolic.exact import Surd, sum_surds
from e3gen.symbolic.so3 import change_basis_real_to_complex

# (i, j, k) -> value; only nonzero entries
SparseTensor3 = Dict[Tuple[int, int, int], Surd]


def is_coupling_allowed(l1: int, l2: int, l3: int) -> bool:
    """The triangle condition |l1 - l2| <= l3 <= l1 + l2."""
    return min(l1, l2, l3) >= 0 and abs(l1 - l2) <= l3 <= l1 + l2


def complex_clebsch_gordan_coefficient(l1: int, m1: int, l2: int, m2: int, l3: int, m3: int) -> Surd:
    """<l1 m1; l2 m2 | l3 m3> by Racah's formula (the one e3nn uses), exact."""
    if m3 != m1 + m2 or not is_coupling_allowed(l1, l2, l3) or abs(m1) > l1 or abs(m2) > l2 or abs(m3) > l3:
        return Surd()
    f = factorial
    prefactor = (2 * l3 + 1) * Fraction(
        f(l3 + l1 - l2) * f(l3 - l1 + l2) * f(l1 + l2 - l3) * f(l3 + m3) * f(l3 - m3),
        f(l1 + l2 + l3 + 1) * f(l1 - m1) * f(l1 + m1) * f(l2 - m2) * f(l2 + m2),
    )
    vmin = max(-l1 + l2 + m3, -l1 + m1, 0)
    vmax = min(l2 + l3 + m1, l3 - l1 + l2, l3 + m3)
    total = Fraction(0)
    for v in range(vmin, vmax + 1):
        total += (-1) ** (v + l2 + m2) * Fraction(
            f(l2 + l3 + m1 - v) * f(l1 - m1 + v),
            f(v) * f(l3 - l1 + l2 - v) * f(l3 + m3 - v) * f(v + l1 - l2 - m3),
        )
    return Surd.sqrt(prefactor) * Surd.rational(total)


def complex_clebsch_gordan(l1: int, l2: int, l3: int) -> Dict[Tuple[int, int, int], Surd]:
    """Nonzero <l1 m1; l2 m2 | l3 m3>, keyed by (l1+m1, l2+m2, l3+m3) like e3nn's matrix."""
    out = {}
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            m3 = m1 + m2
            if abs(m3) <= l3:
                value = complex_clebsch_gordan_coefficient(l1, m1, l2, m2, l3, m3)
                if not value.is_zero():
                    out[(l1 + m1, l2 + m2, l3 + m3)] = value
    return out


@lru_cache(maxsize=None)
def real_clebsch_gordan(l1: int, l2: int, l3: int) -> SparseTensor3:
    """e3nn's wigner_3j(l1, l2, l3) as exact sparse entries {(i, j, k): +-sqrt(p/q)}.

    Indices run over e3nn's real basis (m = -l..l, y-polar). Raises ValueError for a triple that
    violates the triangle condition, and ArithmeticError if the result is not real or an entry is
    not a single +-sqrt(p/q) (both would mean the change of basis is wrong).
    """
    if not is_coupling_allowed(l1, l2, l3):
        raise ValueError(f"l1={l1}, l2={l2}, l3={l3} violates |l1 - l2| <= l3 <= l1 + l2")
    q1, q2, q3 = (_rows_in_phase_form(change_basis_real_to_complex(l)) for l in (l1, l2, l3))

    # Each entry of Q is i^k times a real surd, so every term of the einsum is i^k times a real
    # surd too: accumulate the real and imaginary parts separately (cheaper than complex products).
    real_part: Dict[Tuple[int, int, int], Surd] = {}
    imaginary_part: Dict[Tuple[int, int, int], Surd] = {}
    for (i, k, n), c in complex_clebsch_gordan(l1, l2, l3).items():
        for j, (phase_a, a) in q1[i]:
            for l, (phase_b, b) in q2[k]:
                abc = a * b * c
                for m, (phase_d, d) in q3[n]:
                    phase = (phase_a + phase_b - phase_d) % 4  # conj(Q3.T)[m, n] = conj(Q3[n, m])
                    term = abc * d if phase < 2 else -(abc * d)
                    target = real_part if phase % 2 == 0 else imaginary_part
                    key = (j, l, m)
                    target[key] = target[key] + term if key in target else term

    if any(not v.is_zero() for v in imaginary_part.values()):
        raise ArithmeticError(f"real_clebsch_gordan({l1}, {l2}, {l3}) has an imaginary part")
    entries: SparseTensor3 = {key: v for key, v in real_part.items() if not v.is_zero()}
    norm_squared = sum_surds(v * v for v in entries.values())
    inverse_norm = Surd.sqrt(1 / norm_squared.as_rational())
    normalised = {key: v * inverse_norm for key, v in sorted(entries.items())}
    for key, v in normalised.items():
        v.as_signed_square()  # raises unless +-sqrt(p/q)
    return normalised


def _rows_in_phase_form(matrix) -> Dict[int, list]:
    """Sparse complex matrix -> {row: [(col, (k, r)), ...]} with each entry == i^k * r, r a real surd."""
    rows: Dict[int, list] = {}
    for (i, j), z in sorted(matrix.items()):
        if z.im.is_zero():
            form = (0, z.re)
        elif z.re.is_zero():
            form = (1, z.im)
        else:
            raise ArithmeticError(f"change of basis entry {z} is not a real multiple of a power of i")
        rows.setdefault(i, []).append((j, form))
    return rows
