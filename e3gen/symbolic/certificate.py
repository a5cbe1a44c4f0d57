"""The build-time certificate: exact checks that the derived tables are what they claim to be.

Every check is an exact identity in Q(sqrt 2, sqrt 3, ...), so "passed" means "true", not
"true to 1e-12". The build refuses to write anything if one fails.

* so(3) generators: X[a] antisymmetric, [X0, X1] = X2 (cyclically), and for l=1 they generate
  e3nn's rotations of (x, y, z): X(t) = exp(t X[0]), Y(t) = exp(t X[1]), Z(t) = exp(t X[2]).
* Clebsch-Gordan C^{l1 l2 l3}: invariant under the Lie algebra,
  (X1 (x) 1 (x) 1 + 1 (x) X2 (x) 1 + 1 (x) 1 (x) X3) C = 0 for each generator, and orthonormal:
  sum_ij C_ijk C_ijk' = delta_kk' / (2 l3 + 1) and sum_jk C_ijk C_i'jk = delta_ii' / (2 l1 + 1).
* Spherical harmonics Y^l: homogeneous of degree l, harmonic (Laplacian 0), normalised
  (sum_m Y_m^2 = (2l+1) |r|^(2l)), and transforming by D^l infinitesimally:
  sum_j dY_m/dr_j (X^1 r)_j = sum_n X^l_mn Y_n for each generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Dict, List, Tuple

from e3gen.symbolic.clebsch_gordan import real_clebsch_gordan
from e3gen.symbolic.exact import Surd
from e3gen.symbolic.polynomial import Polynomial, power_of_r_squared
from e3gen.symbolic.so3 import SparseMatrix, so3_generators
from e3gen.symbolic.spherical_harmonics import spherical_harmonics_polynomials


class CertificateError(AssertionError):
    """An exact identity the build relies on is false: the derivation is wrong, nothing is written."""


@dataclass
class Certificate:
    """Which exact checks ran; `failures` is empty when the certificate holds."""

    counts: Dict[str, int] = field(default_factory=dict)
    failures: List[str] = field(default_factory=list)

    def record(self, kind: str, problems: List[str]) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        self.failures.extend(problems)

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_if_failed(self) -> None:
        if self.failures:
            shown = "\n  ".join(self.failures[:20])
            raise CertificateError(f"{len(self.failures)} exact check(s) failed:\n  {shown}")

    def to_json(self) -> dict:
        return {"arithmetic": "exact", "passed": self.passed, "checks": dict(sorted(self.counts.items()))}


def _matmul(a: SparseMatrix, b: SparseMatrix) -> SparseMatrix:
    out: SparseMatrix = {}
    for (i, k), u in a.items():
        for (k2, j), v in b.items():
            if k == k2:
                out[(i, j)] = out[(i, j)] + u * v if (i, j) in out else u * v
    return {key: v for key, v in out.items() if not v.is_zero()}


def _difference(a: SparseMatrix, b: SparseMatrix) -> SparseMatrix:
    out = dict(a)
    for key, v in b.items():
        out[key] = out[key] - v if key in out else -v
    return {key: v for key, v in out.items() if not v.is_zero()}


# e3nn's elementary rotations differentiated at 0: dX/dt, dY/dt, dZ/dt for (x, y, z).
_ROTATION_GENERATORS_L1 = (
    {(2, 1): Surd.rational(1), (1, 2): Surd.rational(-1)},
    {(0, 2): Surd.rational(1), (2, 0): Surd.rational(-1)},
    {(1, 0): Surd.rational(1), (0, 1): Surd.rational(-1)},
)


def check_generators(l: int) -> List[str]:
    x = so3_generators(l)
    problems = []
    for a in range(3):
        transpose = {(j, i): v for (i, j), v in x[a].items()}
        if _difference(x[a], {key: -v for key, v in transpose.items()}):
            problems.append(f"so3_generators({l})[{a}] is not antisymmetric")
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        commutator = _difference(_matmul(x[a], x[b]), _matmul(x[b], x[a]))
        if _difference(commutator, x[c]):
            problems.append(f"so3_generators({l}): [X{a}, X{b}] != X{c}")
    if l == 1:
        for a in range(3):
            if _difference(x[a], _ROTATION_GENERATORS_L1[a]):
                problems.append(f"so3_generators(1)[{a}] does not generate e3nn's rotation of (x, y, z)")
    return problems


def check_clebsch_gordan(l1: int, l2: int, l3: int) -> List[str]:
    c = real_clebsch_gordan(l1, l2, l3)
    name = f"real_clebsch_gordan({l1}, {l2}, {l3})"
    problems = []
    generators = [so3_generators(l) for l in (l1, l2, l3)]
    for a in range(3):
        x1, x2, x3 = (g[a] for g in generators)
        residual: Dict[Tuple[int, int, int], Surd] = {}

        def add(key, value):
            residual[key] = residual[key] + value if key in residual else value

        for (i, j, k), value in c.items():
            for (p, q), x in x1.items():
                if q == i:
                    add((p, j, k), x * value)
            for (p, q), x in x2.items():
                if q == j:
                    add((i, p, k), x * value)
            for (p, q), x in x3.items():
                if q == k:
                    add((i, j, p), x * value)
        if any(not v.is_zero() for v in residual.values()):
            problems.append(f"{name} is not invariant under generator {a}")

    problems += _check_isometry(c, output_axis=2, dim=2 * l3 + 1, name=name)
    problems += _check_isometry(c, output_axis=0, dim=2 * l1 + 1, name=name)
    return problems


def _check_isometry(c, output_axis: int, dim: int, name: str) -> List[str]:
    """sum over the other two indices of C[..a..] C[..b..] == delta_ab / dim."""
    gram: Dict[Tuple[int, int], Surd] = {}
    by_rest: Dict[Tuple[int, int], List[Tuple[int, Surd]]] = {}
    for key, value in c.items():
        rest = tuple(v for axis, v in enumerate(key) if axis != output_axis)
        by_rest.setdefault(rest, []).append((key[output_axis], value))
    for entries in by_rest.values():
        for a, u in entries:
            for b, v in entries:
                gram[(a, b)] = gram[(a, b)] + u * v if (a, b) in gram else u * v
    expected = Surd.rational(Fraction(1, dim))
    for a in range(dim):
        for b in range(dim):
            value = gram.get((a, b), Surd())
            if value != (expected if a == b else Surd()):
                return [f"{name} is not orthonormal along axis {output_axis} (entry {a},{b} = {value})"]
    return []


def check_spherical_harmonics(l: int) -> List[str]:
    y = spherical_harmonics_polynomials(l)
    name = f"Y^{l}"
    problems = []
    if len(y) != 2 * l + 1:
        return [f"{name} has {len(y)} components, expected {2 * l + 1}"]
    if not all(p.is_homogeneous(l) for p in y):
        problems.append(f"{name} is not homogeneous of degree {l}")
    if not all(p.laplacian().is_zero() for p in y):
        problems.append(f"{name} is not harmonic")
    norm = Polynomial()
    for p in y:
        norm = norm + p * p
    if norm != power_of_r_squared(l).scale(Surd.rational(2 * l + 1)):
        problems.append(f"{name} is not component-normalised: sum_m Y_m^2 != (2l+1) |r|^2l")

    r = [Polynomial.coordinate(axis) for axis in range(3)]
    for a in range(3):
        x1 = so3_generators(1)[a]
        xl = so3_generators(l)[a] if l > 0 else {}
        moved = [Polynomial() for _ in range(3)]  # (X^1 r)_j
        for (j, k), v in x1.items():
            moved[j] = moved[j] + r[k].scale(v)
        for m in range(2 * l + 1):
            lie_derivative = Polynomial()
            for j in range(3):
                lie_derivative = lie_derivative + y[m].derivative(j) * moved[j]
            rotated = Polynomial()
            for (row, n), v in xl.items():
                if row == m:
                    rotated = rotated + y[n].scale(v)
            if lie_derivative != rotated:
                problems.append(f"{name}_{m} does not transform by D^{l} under generator {a}")
    return problems


def certify(lmax: int) -> Certificate:
    """Run every check for generators, Clebsch-Gordan triples and spherical harmonics up to lmax."""
    certificate = Certificate()
    for l in range(lmax + 1):
        certificate.record("so3_generators", check_generators(l))
        certificate.record("spherical_harmonics", check_spherical_harmonics(l))
    for l1, l2, l3 in coupling_triples(lmax):
        certificate.record("clebsch_gordan", check_clebsch_gordan(l1, l2, l3))
    return certificate


def coupling_triples(lmax: int) -> List[Tuple[int, int, int]]:
    """Every (l1, l2, l3) with all l <= lmax and |l1 - l2| <= l3 <= l1 + l2, in lexicographic order."""
    return [
        (l1, l2, l3)
        for l1 in range(lmax + 1)
        for l2 in range(lmax + 1)
        for l3 in range(abs(l1 - l2), min(l1 + l2, lmax) + 1)
    ]
