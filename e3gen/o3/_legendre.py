"""Exact associated Legendre functions in e3nn's normalisation (e3nn 0.6.0's `o3.Legendre`).

e3nn writes the spherical harmonics of Euler angles as Y^l_m(alpha, beta) = S_m(alpha) P^l_|m|(cos beta),
with (z = cos beta, y = sin beta >= 0)

    P^l_m(z, y) = sqrt((2l+1)/(4 pi) (l-m)!/(l+m)!) / (2^l l!) * y^m * d^(l+m)/dz^(l+m) (z^2 - 1)^l

for m >= 0 (the Wikipedia associated Legendre functions without the Condon-Shortley (-1)^m and
with P^l_{-m} = P^l_m). Expanding (z^2 - 1)^l = sum_k C(l, k) (-1)^(l-k) z^(2k) gives every
coefficient as a rational times sqrt((2l+1)(l-m)!/(l+m)!), exactly; the common factor 1/sqrt(4 pi)
is left to the caller.

Exact arithmetic only (no torch); it lives beside the layer rather than in `e3gen.symbolic` because
the kernels do not use it, so it is not part of the compiler sources a build is hashed over.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import comb, factorial
from typing import Tuple

from e3gen.symbolic.exact import Surd


@lru_cache(maxsize=None)
def legendre_terms(l: int, m: int) -> Tuple[Tuple[int, int, Surd], ...]:
    """P^l_|m| * sqrt(4 pi) as terms (power of z, power of y, exact coefficient), by increasing power of z."""
    if l < 0 or abs(m) > l:
        raise ValueError(f"legendre_terms needs 0 <= |m| <= l, got l={l}, m={m}")
    m = abs(m)
    scale = Surd.sqrt(Fraction((2 * l + 1) * factorial(l - m), factorial(l + m)))
    terms = []
    for k in range(l + 1):
        n = 2 * k - (l + m)  # power of z left after l+m derivatives of z^(2k)
        if n < 0:
            continue
        falling = factorial(2 * k) // factorial(n)
        c = Fraction(comb(l, k) * (-1) ** (l - k) * falling, 2**l * factorial(l))
        terms.append((n, m, Surd.rational(c) * scale))
    return tuple(terms)
