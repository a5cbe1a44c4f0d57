"""The IR: small, immutable, printable descriptions of everything the code generator emits.

It knows nothing about group theory (that is `e3gen.symbolic`) or about Python syntax (that is
`e3gen.codegen`): only exact numbers, sparse index tables and which kernels to make of them.
Every node has a canonical JSON form; `BuildIR.sha256` hashes it and names the build.
Zero coefficients never appear in a table.
"""

from __future__ import annotations

import decimal
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class ExactCoefficient:
    """The exact number sign * sqrt(p / q), with p, q > 0 coprime; `text` is its exact spelling
    (for example "-sqrt(30)/6"), `value` its correctly rounded float64."""

    sign: int
    p: int
    q: int
    text: str

    def __post_init__(self):
        if self.sign not in (1, -1):
            raise ValueError(f"ExactCoefficient.sign must be +1 or -1 (zeros are not stored), got {self.sign}")
        if self.p <= 0 or self.q <= 0 or math.gcd(self.p, self.q) != 1:
            raise ValueError(f"ExactCoefficient needs coprime p, q > 0, got p={self.p}, q={self.q}")

    @property
    def value(self) -> float:
        ctx = decimal.Context(prec=50)
        root = ctx.sqrt(ctx.divide(decimal.Decimal(self.p), decimal.Decimal(self.q)))
        return self.sign * float(root)

    def to_json(self):
        return [self.sign, self.p, self.q, self.text]


@dataclass(frozen=True)
class SparseTerm:
    """One nonzero entry of a table: its indices and its exact value."""

    indices: Tuple[int, ...]
    coefficient: ExactCoefficient

    def to_json(self):
        return [list(self.indices), self.coefficient.to_json()]


@dataclass(frozen=True)
class GeneratorSet:
    """The real so(3) generators X[0], X[1], X[2] of D^l, as sparse (row, col) tables."""

    l: int
    matrices: Tuple[Tuple[SparseTerm, ...], Tuple[SparseTerm, ...], Tuple[SparseTerm, ...]]

    def to_json(self):
        return {"l": self.l, "matrices": [[t.to_json() for t in m] for m in self.matrices]}


@dataclass(frozen=True)
class CouplingPath:
    """Real Clebsch-Gordan tensor C^{l1 l2 l3}: terms (i, j, k) with out_k = sum_ij C_ijk x_i y_j."""

    l1: int
    l2: int
    l3: int
    terms: Tuple[SparseTerm, ...]

    @property
    def key(self) -> Tuple[int, int, int]:
        return (self.l1, self.l2, self.l3)

    def to_json(self):
        return {"l1": self.l1, "l2": self.l2, "l3": self.l3, "terms": [t.to_json() for t in self.terms]}


@dataclass(frozen=True)
class SphericalHarmonicsStep:
    """Y^l from Y^(l-1) and r = (x, y, z): terms (i, j, k) with Y^l_i = sum c * r_j * Y^(l-1)_k
    ("component" normalisation). `polynomials[m]` spells Y^l_m as a polynomial, terms indexed by
    the exponents of (x, y, z): documentation and an independent check of the recursion."""

    l: int
    terms: Tuple[SparseTerm, ...]
    polynomials: Tuple[Tuple[SparseTerm, ...], ...]

    def to_json(self):
        return {
            "l": self.l,
            "terms": [t.to_json() for t in self.terms],
            "polynomials": [[t.to_json() for t in p] for p in self.polynomials],
        }


@dataclass(frozen=True)
class KernelSpec:
    """One generated function: what it computes (`kind`, `key`), its name and operand sizes.

    kind "spherical_harmonics_step": key (l,), inputs x, y, z and the 2l-1 components of Y^(l-1).
    kind "coupling": key (l1, l2, l3), inputs [..., 2l1+1] and [..., 2l2+1], output [..., 2l3+1].
    kinds "coupling_vjp_x" / "coupling_vjp_y": the same table's vector-Jacobian products,
    (g [..., 2l3+1], y) -> [..., 2l1+1] and (x, g [..., 2l3+1]) -> [..., 2l2+1].
    """

    kind: str
    key: Tuple[int, ...]
    name: str
    input_dims: Tuple[int, ...]
    output_dim: int
    num_terms: int

    def to_json(self):
        return {
            "kind": self.kind,
            "key": list(self.key),
            "name": self.name,
            "input_dims": list(self.input_dims),
            "output_dim": self.output_dim,
            "num_terms": self.num_terms,
        }


@dataclass(frozen=True)
class BuildIR:
    """Everything one build emits for a given lmax."""

    lmax: int
    generators: Tuple[GeneratorSet, ...]
    spherical_harmonics: Tuple[SphericalHarmonicsStep, ...]
    coupling_paths: Tuple[CouplingPath, ...]
    kernels: Tuple[KernelSpec, ...]

    def to_json(self):
        return {
            "lmax": self.lmax,
            "generators": [g.to_json() for g in self.generators],
            "spherical_harmonics": [s.to_json() for s in self.spherical_harmonics],
            "coupling_paths": [p.to_json() for p in self.coupling_paths],
            "kernels": [k.to_json() for k in self.kernels],
        }

    def canonical_json(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @property
    def num_terms(self) -> int:
        return sum(len(p.terms) for p in self.coupling_paths)

    def coupling_path(self, l1: int, l2: int, l3: int) -> CouplingPath:
        for path in self.coupling_paths:
            if path.key == (l1, l2, l3):
                return path
        raise KeyError(f"no coupling path ({l1}, {l2}, {l3}) in the IR for lmax={self.lmax}")
