"""Exact polynomials in (x, y, z) with `Surd` coefficients: just enough algebra for the spherical
harmonics and their certificate (products, partial derivatives, Laplacian, evaluation)."""

from __future__ import annotations

from typing import Dict, Tuple

import sympy

from e3gen.symbolic.exact import Surd

Exponents = Tuple[int, int, int]  # powers of (x, y, z)


class Polynomial:
    __slots__ = ("terms",)

    def __init__(self, terms: Dict[Exponents, Surd] = None):
        self.terms = {e: c for e, c in (terms or {}).items() if not c.is_zero()}

    @staticmethod
    def constant(value: Surd) -> "Polynomial":
        return Polynomial({(0, 0, 0): value})

    @staticmethod
    def coordinate(axis: int) -> "Polynomial":
        """x (axis 0), y (axis 1) or z (axis 2)."""
        exponents = [0, 0, 0]
        exponents[axis] = 1
        return Polynomial({tuple(exponents): Surd.rational(1)})

    def __add__(self, other: "Polynomial") -> "Polynomial":
        out = dict(self.terms)
        for e, c in other.terms.items():
            out[e] = out[e] + c if e in out else c
        return Polynomial(out)

    def __sub__(self, other: "Polynomial") -> "Polynomial":
        return self + other.scale(Surd.rational(-1))

    def scale(self, factor: Surd) -> "Polynomial":
        return Polynomial({e: c * factor for e, c in self.terms.items()})

    def __mul__(self, other: "Polynomial") -> "Polynomial":
        out: Dict[Exponents, Surd] = {}
        for e1, c1 in self.terms.items():
            for e2, c2 in other.terms.items():
                e = (e1[0] + e2[0], e1[1] + e2[1], e1[2] + e2[2])
                c = c1 * c2
                out[e] = out[e] + c if e in out else c
        return Polynomial(out)

    def derivative(self, axis: int) -> "Polynomial":
        out = {}
        for e, c in self.terms.items():
            if e[axis]:
                lowered = list(e)
                lowered[axis] -= 1
                out[tuple(lowered)] = c * Surd.rational(e[axis])
        return Polynomial(out)

    def laplacian(self) -> "Polynomial":
        total = Polynomial()
        for axis in range(3):
            total = total + self.derivative(axis).derivative(axis)
        return total

    def evaluate(self, point: Tuple[int, int, int]) -> Surd:
        total = Surd()
        for (a, b, c), coefficient in self.terms.items():
            total = total + coefficient * Surd.rational(point[0] ** a * point[1] ** b * point[2] ** c)
        return total

    def is_zero(self) -> bool:
        return not self.terms

    def is_homogeneous(self, degree: int) -> bool:
        return all(sum(e) == degree for e in self.terms)

    def __eq__(self, other) -> bool:
        return isinstance(other, Polynomial) and (self - other).is_zero()

    def __hash__(self):
        return hash(frozenset(self.terms))

    def to_sympy(self) -> sympy.Expr:
        x, y, z = sympy.symbols("x y z", real=True)
        return sympy.Add(
            *(surd_to_sympy(c) * x**a * y**b * z**d for (a, b, d), c in sorted(self.terms.items(), reverse=True))
        )

    def __repr__(self) -> str:
        return str(self.to_sympy())


def surd_to_sympy(value: Surd) -> sympy.Expr:
    return sympy.Add(*(sympy.Rational(v.numerator, v.denominator) * sympy.sqrt(k) for k, v in value.terms.items()))


def power_of_r_squared(n: int) -> Polynomial:
    """(x^2 + y^2 + z^2)^n."""
    r2 = Polynomial()
    for axis in range(3):
        r2 = r2 + Polynomial.coordinate(axis) * Polynomial.coordinate(axis)
    out = Polynomial.constant(Surd.rational(1))
    for _ in range(n):
        out = out * r2
    return out
