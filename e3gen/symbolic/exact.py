"""Exact arithmetic in the field spanned by square roots of rationals.

Every number the derivation meets (Clebsch-Gordan coefficients, generator entries, spherical
harmonic coefficients) is a finite sum  sum_k f_k * sqrt(k)  with rational f_k and distinct
square-free integers k. Such sums are closed under +, - and *, and a sum is zero exactly when
every f_k is zero (square roots of distinct square-free integers are linearly independent over
the rationals), so equality tests are exact and cheap.

`Surd` implements that field (real numbers) and `ComplexSurd` its complex extension, with Python
`Fraction`s only. This keeps derivation at lmax 8 within seconds; sympy is used to print the
values and, in the tests, as an independent oracle. Nothing here ever becomes a float except
through `Surd.to_float`, which is correctly rounded.
"""

from __future__ import annotations

import decimal
import math
from fractions import Fraction
from functools import lru_cache
from typing import Dict, Iterable, Tuple, Union

Rational = Union[int, Fraction]


@lru_cache(maxsize=None)
def squarefree_split(n: int) -> Tuple[int, int]:
    """Write a positive integer as n = s**2 * k with k square-free; return (s, k)."""
    if n <= 0:
        raise ValueError(f"squarefree_split needs a positive integer, got {n}")
    s, k = 1, 1
    p = 2
    while p * p <= n:
        while n % (p * p) == 0:
            n //= p * p
            s *= p
        if n % p == 0:
            n //= p
            k *= p
        p += 1 if p == 2 else 2
    return s, k * n


class Surd:
    """An exact real number  sum_k coeffs[k] * sqrt(k),  k square-free, coeffs rational and nonzero."""

    __slots__ = ("terms",)

    def __init__(self, terms: Dict[int, Fraction] = None):
        self.terms = {k: v for k, v in terms.items() if v != 0} if terms else {}

    # construction ------------------------------------------------------------------------------
    @staticmethod
    def rational(value: Rational) -> "Surd":
        return Surd({1: Fraction(value)})

    @staticmethod
    def sqrt(value: Rational) -> "Surd":
        """sqrt(value) for a rational value >= 0."""
        value = Fraction(value)
        if value < 0:
            raise ValueError(f"Surd.sqrt needs a non-negative rational, got {value}")
        if value == 0:
            return Surd()
        # sqrt(p/q) = sqrt(p*q)/q = s*sqrt(k)/q
        s, k = squarefree_split(value.numerator * value.denominator)
        return Surd({k: Fraction(s, value.denominator)})

    @staticmethod
    def signed_sqrt(sign: int, square: Rational) -> "Surd":
        """sign * sqrt(square)."""
        root = Surd.sqrt(square)
        return root if sign >= 0 else -root

    # arithmetic ---------------------------------------------------------------------------------
    def __add__(self, other: "Surd") -> "Surd":
        other = _as_surd(other)
        out = dict(self.terms)
        for k, v in other.terms.items():
            out[k] = out.get(k, 0) + v
        return Surd(out)

    __radd__ = __add__

    def __neg__(self) -> "Surd":
        out = Surd()
        out.terms = {k: -v for k, v in self.terms.items()}
        return out

    def __sub__(self, other: "Surd") -> "Surd":
        return self + (-_as_surd(other))

    def __rsub__(self, other: "Surd") -> "Surd":
        return _as_surd(other) - self

    def __mul__(self, other: "Surd") -> "Surd":
        other = _as_surd(other)
        out: Dict[int, Fraction] = {}
        for k1, v1 in self.terms.items():
            for k2, v2 in other.terms.items():
                g = math.gcd(k1, k2)
                k = (k1 // g) * (k2 // g)  # sqrt(k1 k2) = g sqrt(k1 k2 / g^2), still square-free
                out[k] = out.get(k, 0) + v1 * v2 * g
        return Surd(out)

    __rmul__ = __mul__

    def __truediv__(self, other: "Surd") -> "Surd":
        """Division by a single-term surd (all this library ever needs)."""
        other = _as_surd(other)
        if len(other.terms) != 1:
            raise ZeroDivisionError("Surd division is only defined by a nonzero single-term surd")
        ((k, v),) = other.terms.items()
        # 1 / (v sqrt(k)) = sqrt(k) / (v k)
        return self * Surd({k: 1 / (v * k)})

    def __eq__(self, other) -> bool:
        try:
            return (self - _as_surd(other)).is_zero()
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(tuple(sorted(self.terms.items())))

    def is_zero(self) -> bool:
        return not self.terms

    # inspection ---------------------------------------------------------------------------------
    def is_rational(self) -> bool:
        return set(self.terms) <= {1}

    def as_rational(self) -> Fraction:
        if not self.is_rational():
            raise ValueError(f"{self} is not rational")
        return self.terms.get(1, Fraction(0))

    def as_signed_square(self) -> Tuple[int, Fraction]:
        """(sign, r) with self == sign * sqrt(r); raises unless self is a single term."""
        if self.is_zero():
            return 0, Fraction(0)
        if len(self.terms) != 1:
            raise ValueError(f"{self} is not of the form +-sqrt(p/q)")
        ((k, v),) = self.terms.items()
        return (1 if v > 0 else -1), v * v * k

    def to_float(self) -> float:
        """The float64 nearest to the exact value (single-term surds are correctly rounded)."""
        ctx = decimal.Context(prec=60)
        total = decimal.Decimal(0)
        for k, v in self.terms.items():
            total += ctx.divide(decimal.Decimal(v.numerator), decimal.Decimal(v.denominator)) * ctx.sqrt(
                decimal.Decimal(k)
            )
        return float(total)

    def sign(self) -> int:
        """Exact sign, decided by interval-free high-precision evaluation (terms are few and small)."""
        if self.is_zero():
            return 0
        return 1 if self.to_float() > 0 else -1

    def __repr__(self) -> str:
        if not self.terms:
            return "0"
        parts = []
        for k, v in sorted(self.terms.items()):
            parts.append(f"{v}" if k == 1 else f"{v}*sqrt({k})")
        return " + ".join(parts)


def _as_surd(x) -> Surd:
    if isinstance(x, Surd):
        return x
    if isinstance(x, (int, Fraction)):
        return Surd.rational(x)
    raise TypeError(f"cannot use {type(x).__name__} in exact arithmetic")


class ComplexSurd:
    """re + i*im with Surd parts; used for the complex <-> real change of basis."""

    __slots__ = ("re", "im")

    def __init__(self, re: Surd = None, im: Surd = None):
        self.re = re if re is not None else Surd()
        self.im = im if im is not None else Surd()

    def __add__(self, other: "ComplexSurd") -> "ComplexSurd":
        return ComplexSurd(self.re + other.re, self.im + other.im)

    def __mul__(self, other: "ComplexSurd") -> "ComplexSurd":
        return ComplexSurd(self.re * other.re - self.im * other.im, self.re * other.im + self.im * other.re)

    def conjugate(self) -> "ComplexSurd":
        return ComplexSurd(self.re, -self.im)

    def is_zero(self) -> bool:
        return self.re.is_zero() and self.im.is_zero()

    def __repr__(self) -> str:
        return f"({self.re}) + i({self.im})"


def sum_surds(values: Iterable[Surd]) -> Surd:
    out: Dict[int, Fraction] = {}
    for value in values:
        for k, v in value.terms.items():
            out[k] = out.get(k, 0) + v
    return Surd(out)
