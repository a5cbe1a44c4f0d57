"""The native planner: IR -> a plan for one C++ translation unit of channel-wise coupling kernels.

The native backend computes the channel-wise ("uvu") product with one weight per channel,

    out[k, u] = c w[u] sum_ij C_ijk x[i, u] y[j]        (C = e3nn's wigner_3j(l1, l2, l3)),

inside kernels whose channel index u is the contiguous one (ir_mul), so the loop over u
vectorises. The product is the derivative of the trilinear form

    F(x, y, w, g) = c sum_ijku C_ijk x[i, u] y[j] w[u] g[k, u]

with respect to g; its gradients are the derivatives with respect to x, y and w, and every
derivative of those is again one of the four (F is linear in each operand). So the planner emits,
per coupling path (l1, l2, l3) of the IR, four functions -- one per operand role -- each the same
sparse table read with its index roles permuted, and nothing else is needed for forward, backward
and double backward.

Decisions (the template only lays them out):
* one function per (path, role), named `coupling_<l1>_<l2>_<l3>_d<role>`; roles "x", "y", "w",
  "g" (the output), in that order, which is also the order of the dispatch table;
* one loop over u per destination component, one line per nonzero term, ordered by the other
  indices, with the float printed by `repr` (round-trips in float64) and the exact value beside it;
* destinations: g_k and x_i are [component, u] blocks, w is [u], y_j is a scalar (a reduction
  over u, marked `omp simd` so that it vectorises: the only place where summation order is
  the compiler's choice);
* the path coefficient c and the weight multiply the term sum once per u, not per term.

This module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from e3gen.ir.nodes import BuildIR, CouplingPath, SparseTerm

# Operand roles of the trilinear form, in the order of the C++ dispatch table.
ROLES = ("x", "y", "w", "g")


@dataclass(frozen=True)
class CppTerm:
    """`sign T(magnitude) * factor * factor  // exact`"""

    sign: str
    product: str
    exact: str


@dataclass(frozen=True)
class CppLoop:
    """One destination: `dest (+)= scale * (terms)` over u, or a reduction over u into a scalar."""

    destination: str
    scale: str
    reduction: bool
    terms: Tuple[CppTerm, ...]


@dataclass(frozen=True)
class CppFunction:
    name: str
    comment: Tuple[str, ...]
    loops: Tuple[CppLoop, ...]


@dataclass(frozen=True)
class CppUnitPlan:
    lmax: int
    ir_sha256: str
    triples: Tuple[Tuple[int, int, int], ...]  # index = the triple id the runtime passes
    functions: Tuple[CppFunction, ...]  # len(triples) * 4, role-major within a triple
    num_terms: int


def _component(index: int) -> str:
    return f"{index} * M + u"


def _factor(operand: str, term: SparseTerm) -> str:
    i, j, k = term.indices
    return {"x": f"x[{_component(i)}]", "y": f"y[{j}]", "g": f"g[{_component(k)}]"}[operand]


def _term(term: SparseTerm, operands: Tuple[str, ...]) -> CppTerm:
    c = term.coefficient
    # y[j] comes first: T(C) * y[j] is the same for every u, and the compiler hoists it.
    factors = sorted(operands, key=lambda o: o != "y")
    product = " * ".join([f"T({abs(c.value)!r})"] + [_factor(o, term) for o in factors])
    return CppTerm("-" if c.sign < 0 else "+", product, c.text)


def _grouped(terms: Tuple[SparseTerm, ...], axis: int):
    groups = {}
    for term in terms:
        groups.setdefault(term.indices[axis], []).append(term)
    return sorted(groups.items())


def plan_role(path: CouplingPath, role: str) -> CppFunction:
    """The derivative of F with respect to operand `role`, for one coupling path."""
    l1, l2, l3 = path.key
    name = f"coupling_{l1}_{l2}_{l3}_d{role}"
    if role == "w":
        ordered = sorted(path.terms, key=lambda t: t.indices)
        loops = (CppLoop("w_out[u]", "c", False, tuple(_term(t, ("y", "x", "g")) for t in ordered)),)
    else:
        axis, destination, others, reduction = {
            "g": (2, "g_out[{} * M + u]", ("y", "x"), False),
            "x": (0, "x_out[{} * M + u]", ("y", "g"), False),
            "y": (1, "y_out[{}]", ("x", "g"), True),
        }[role]
        loops = tuple(
            CppLoop(
                destination.format(index),
                "c" if reduction else "c * w[u]",
                reduction,
                tuple(_term(t, others) for t in sorted(terms, key=lambda t: t.indices)),
            )
            for index, terms in _grouped(path.terms, axis)
        )
    formula = {
        "g": "g_out[k, u] += c w[u] sum_ij C_ijk x[i, u] y[j]   (the product)",
        "x": "x_out[i, u] += c w[u] sum_jk C_ijk y[j] g[k, u]",
        "y": "y_out[j] += c sum_u w[u] sum_ik C_ijk x[i, u] g[k, u]",
        "w": "w_out[u] += c sum_ijk C_ijk x[i, u] y[j] g[k, u]",
    }[role]
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    comment = (
        f"l1={l1} (x) l2={l2} -> l3={l3}, derivative of F with respect to {role}: {formula}.",
        f"x [{d1}, M], y [{d2}], w [M], g [{d3}, M] (ir_mul: u contiguous); "
        f"{len(path.terms)} nonzero terms of {d1 * d2 * d3}.",
    )
    return CppFunction(name, comment, loops)


def plan_cpp_unit(ir: BuildIR) -> CppUnitPlan:
    """Every coupling path of the IR, four derivative functions each."""
    functions = tuple(plan_role(path, role) for path in ir.coupling_paths for role in ROLES)
    return CppUnitPlan(ir.lmax, ir.sha256, tuple(p.key for p in ir.coupling_paths), functions, ir.num_terms)
