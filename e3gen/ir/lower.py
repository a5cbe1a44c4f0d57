"""Lowering: exact symbolic results -> IR nodes.

This is the only place where the IR meets the symbolic layer. It converts each exact value to an
`ExactCoefficient` (sign, p, q and sympy's spelling of it), drops nothing but zeros, and decides
which kernels a build of a given lmax contains: one spherical-harmonics step per l in 1..lmax and
one coupling kernel per triple (l1, l2, l3) with every l <= lmax.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Dict, Iterable, Tuple

import sympy

from e3gen.ir.nodes import (
    BuildIR,
    CouplingPath,
    ExactCoefficient,
    GeneratorSet,
    KernelSpec,
    SparseTerm,
    SphericalHarmonicsStep,
)
from e3gen.symbolic.certificate import coupling_triples
from e3gen.symbolic.clebsch_gordan import real_clebsch_gordan
from e3gen.symbolic.exact import Surd
from e3gen.symbolic.so3 import so3_generators
from e3gen.symbolic.spherical_harmonics import recursion_step, spherical_harmonics_polynomials


@lru_cache(maxsize=None)
def _exact_coefficient(sign: int, p: int, q: int) -> ExactCoefficient:
    text = str(sign * sympy.sqrt(sympy.Rational(p, q)))
    return ExactCoefficient(sign, p, q, text)


def exact_coefficient(value: Surd) -> ExactCoefficient:
    """A nonzero +-sqrt(p/q) surd as an IR coefficient (raises for anything else)."""
    sign, square = value.as_signed_square()
    if sign == 0:
        raise ValueError("zero coefficients are never stored in the IR")
    return _exact_coefficient(sign, square.numerator, square.denominator)


def sparse_terms(entries: Iterable[Tuple[Tuple[int, ...], Surd]]) -> Tuple[SparseTerm, ...]:
    """Sorted nonzero terms of a table given as (indices, exact value) pairs."""
    return tuple(SparseTerm(tuple(key), exact_coefficient(v)) for key, v in sorted(entries) if not v.is_zero())


def lower_generators(l: int) -> GeneratorSet:
    return GeneratorSet(l, tuple(sparse_terms(m.items()) for m in so3_generators(l)))


def lower_coupling_path(l1: int, l2: int, l3: int) -> CouplingPath:
    return CouplingPath(l1, l2, l3, sparse_terms(real_clebsch_gordan(l1, l2, l3).items()))


def lower_spherical_harmonics_step(l: int) -> SphericalHarmonicsStep:
    step = recursion_step(l)
    terms = sparse_terms(((i, j, k), c) for i, j, k, c in step.terms)
    polynomials = tuple(sparse_terms(p.terms.items()) for p in spherical_harmonics_polynomials(l))
    return SphericalHarmonicsStep(l, terms, polynomials)


# The kernels made of each coupling table: the product and its two vector-Jacobian products,
# which are the same table with its index roles permuted (backward needs no other math).
COUPLING_KINDS = ("coupling", "coupling_vjp_x", "coupling_vjp_y")


def kernel_name(kind: str, key: Tuple[int, ...]) -> str:
    prefix, suffix = {
        "spherical_harmonics_step": ("spherical_harmonics", ""),
        "coupling": ("coupling", ""),
        "coupling_vjp_x": ("coupling", "_vjp_x"),
        "coupling_vjp_y": ("coupling", "_vjp_y"),
    }[kind]
    return prefix + "".join(f"_{k}" for k in key) + suffix


def _coupling_operands(kind: str, l1: int, l2: int, l3: int) -> Tuple[Tuple[int, int], int]:
    """(input dims, output dim): product (x, y) -> out; vjp_x (g, y) -> x; vjp_y (x, g) -> y."""
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    return {"coupling": ((d1, d2), d3), "coupling_vjp_x": ((d3, d2), d1), "coupling_vjp_y": ((d1, d3), d2)}[kind]


def lower(lmax: int) -> BuildIR:
    """The IR of a build for lmax: generators, harmonics steps, coupling paths and their kernels."""
    generators = tuple(lower_generators(l) for l in range(lmax + 1))
    steps = tuple(lower_spherical_harmonics_step(l) for l in range(1, lmax + 1))
    paths = tuple(lower_coupling_path(*triple) for triple in coupling_triples(lmax))
    kernels = tuple(
        KernelSpec(
            "spherical_harmonics_step",
            (s.l,),
            kernel_name("spherical_harmonics_step", (s.l,)),
            (1, 1, 1, 2 * s.l - 1),
            2 * s.l + 1,
            len(s.terms),
        )
        for s in steps
    ) + tuple(
        KernelSpec(kind, p.key, kernel_name(kind, p.key), *_coupling_operands(kind, *p.key), len(p.terms))
        for p in paths
        for kind in COUPLING_KINDS
    )
    return BuildIR(lmax, generators, steps, paths, kernels)


def coefficient_table(ir: BuildIR) -> Dict[Tuple[int, int, int], CouplingPath]:
    return {p.key: p for p in ir.coupling_paths}
