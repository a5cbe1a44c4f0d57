"""Exact generators of so(3) in e3nn's real basis.

Conventions (e3nn 0.6.0, o3/_wigner.py), reproduced in exact arithmetic:

* `su2_generators(l)` stacks the complex angular-momentum matrices in the order
  (x, z, -y) of the usual physics labels. e3nn uses them as the generators of rotations about
  its (X, Y, Z) axes, which makes Y the polar axis of its real spherical harmonics.
* `change_basis_real_to_complex(l)` is the matrix Q with m<0: 1/sqrt2, -i/sqrt2; m=0: 1;
  m>0: (-1)^m/sqrt2, i(-1)^m/sqrt2, multiplied by (-i)^l so that coupling coefficients are real.
* `so3_generators(l)[a] = real(Q^dagger X_a Q)`: real antisymmetric (2l+1)x(2l+1) matrices with
  D^l(R) = exp(alpha X[1]) exp(beta X[0]) exp(gamma X[1]) for R = Y(alpha) X(beta) Y(gamma).
  For l=1 they are the generators of rotations of (x, y, z), so D^1(R) = R.

Matrices are sparse dicts {(row, col): value}; only nonzero entries are stored.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from typing import Dict, List, Tuple

from e3gen.symbolic.exact import ComplexSurd, Surd

SparseMatrix = Dict[Tuple[int, int], Surd]
ComplexSparseMatrix = Dict[Tuple[int, int], ComplexSurd]

_I = ComplexSurd(Surd(), Surd.rational(1))


def _c(re: Surd = None, im: Surd = None) -> ComplexSurd:
    return ComplexSurd(re, im)


def _power_of_minus_i(l: int) -> ComplexSurd:
    """(-i)^l, exactly."""
    return [_c(Surd.rational(1)), _c(None, Surd.rational(-1)), _c(Surd.rational(-1)), _c(None, Surd.rational(1))][l % 4]


@lru_cache(maxsize=None)
def su2_generators(l: int) -> Tuple[ComplexSparseMatrix, ComplexSparseMatrix, ComplexSparseMatrix]:
    """e3nn's su2_generators(l) for integer l: three complex (2l+1)x(2l+1) matrices, exact."""
    jj = l * (l + 1)
    raising: ComplexSparseMatrix = {}
    lowering: ComplexSparseMatrix = {}
    for i in range(2 * l):
        m = -l + i  # raising[i+1, i] = -sqrt(j(j+1) - m(m+1))
        raising[(i + 1, i)] = _c(-Surd.sqrt(jj - m * (m + 1)))
        m = -l + 1 + i  # lowering[i, i+1] = sqrt(j(j+1) - m(m-1))
        lowering[(i, i + 1)] = _c(Surd.sqrt(jj - m * (m - 1)))
    half = Fraction(1, 2)
    x: ComplexSparseMatrix = {}
    minus_y: ComplexSparseMatrix = {}
    for key in set(raising) | set(lowering):
        r = raising.get(key, _c())
        w = lowering.get(key, _c())
        x[key] = _c(half * (r.re + w.re), half * (r.im + w.im))
        # -i/2 (r - w)
        d = _c(r.re - w.re, r.im - w.im)
        minus_y[key] = _c(half * d.im, -half * d.re)
    z: ComplexSparseMatrix = {(i, i): _c(None, Surd.rational(i - l)) for i in range(2 * l + 1) if i != l}
    return _prune(x), z, _prune(minus_y)


@lru_cache(maxsize=None)
def change_basis_real_to_complex(l: int) -> ComplexSparseMatrix:
    """e3nn's change_basis_real_to_complex(l), exact: q[l+m, l+|m|], q[l+m, l-|m|] as in e3nn."""
    s = Surd.sqrt(Fraction(1, 2))
    q: ComplexSparseMatrix = {}
    for m in range(-l, 0):
        q[(l + m, l + abs(m))] = _c(s)
        q[(l + m, l - abs(m))] = _c(None, -s)
    q[(l, l)] = _c(Surd.rational(1))
    for m in range(1, l + 1):
        sign = (-1) ** m
        q[(l + m, l + abs(m))] = _c(sign * s)
        q[(l + m, l - abs(m))] = _c(None, sign * s)
    phase = _power_of_minus_i(l)
    return {key: phase * value for key, value in q.items()}


def complex_matmul(a: ComplexSparseMatrix, b: ComplexSparseMatrix) -> ComplexSparseMatrix:
    by_row: Dict[int, List[Tuple[int, ComplexSurd]]] = {}
    for (k, j), v in b.items():
        by_row.setdefault(k, []).append((j, v))
    out: ComplexSparseMatrix = {}
    for (i, k), u in a.items():
        for j, v in by_row.get(k, ()):
            out[(i, j)] = out.get((i, j), _c()) + u * v
    return _prune(out)


def conjugate_transpose(a: ComplexSparseMatrix) -> ComplexSparseMatrix:
    return {(j, i): v.conjugate() for (i, j), v in a.items()}


@lru_cache(maxsize=None)
def so3_generators(l: int) -> Tuple[SparseMatrix, SparseMatrix, SparseMatrix]:
    """Real generators X[0], X[1], X[2] of D^l (rotations about e3nn's X, Y, Z axes), exact.

    Raises ArithmeticError if Q^dagger X Q has an imaginary part (it never should).
    """
    q = change_basis_real_to_complex(l)
    q_dagger = conjugate_transpose(q)
    generators = []
    for x in su2_generators(l):
        m = complex_matmul(complex_matmul(q_dagger, x), q)
        if any(not v.im.is_zero() for v in m.values()):
            raise ArithmeticError(f"so3 generator for l={l} is not real: the change of basis is wrong")
        generators.append({key: v.re for key, v in m.items() if not v.re.is_zero()})
    return tuple(generators)


def _prune(m: ComplexSparseMatrix) -> ComplexSparseMatrix:
    return {key: v for key, v in m.items() if not v.is_zero()}
