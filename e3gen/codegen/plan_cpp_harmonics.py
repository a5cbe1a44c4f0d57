"""The native planner for spherical harmonics: the IR's recursion steps -> a plan for one C++ unit.

Each step of the IR is the sparse table of

    Y^l_i = sum_jk c_ijk r_j Y^(l-1)_k        ("component" normalisation, Y^0 = 1),

and for harmonic polynomials built this way dY^l_i / dr_j = l sum_k c_ijk Y^(l-1)_k (the same
table, times l). So every derivative the native op needs is the step table read with its index
roles permuted, exactly as the channel-wise product's derivatives are (`plan_cpp`):

* role "Y" (destination i): the step itself, `out_i = sum c r_j prev_k`; with a tangent h in
  place of r it is also the forward-mode derivative (jvp) dY^l = l * step(h, Y^(l-1));
* role "r" (destination j): the backward, `r_out_j += l sum c g_i prev_k` for a cotangent g on Y^l;
* role "prev" (destination k): `prev_out_k += l sum c g_i h_j`, the cotangent on Y^(l-1) of
  <h, backward(r, g)>; the double backward is the backward applied to it (see
  `e3gen.native.harmonics`), so no second-derivative table is needed.

Decisions (the template only lays them out):
* one function per (degree, role), named `harmonics_step_<l>_d<role>` ("dY" is the step);
* the kernels work on chunks of K rows, component-major ([component][K], row b contiguous), so
  each destination is one loop over b that vectorises; one line per nonzero term, ordered by
  its indices, the float printed by `repr` (round-trips in float64) and the exact value beside it;
* within a destination, terms are grouped by the factor they share (r_j for the step, g_i for
  the backward, h_j for dprev), `r_j * (c prev_k + c prev_k' ...)`: one fused multiply-add per term
  instead of two products and an add (the compiler may not reassociate floating point itself);
* the step assigns (`=`), the derivative roles accumulate (`+=`) scaled by the degree l.

This module never imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Tuple

from e3gen.codegen.plan_cpp import CppTerm
from e3gen.ir.nodes import SparseTerm, SphericalHarmonicsStep

# Roles in the order of the C++ dispatch tables.
HARMONICS_ROLES = ("Y", "r", "prev")


@dataclass(frozen=True)
class HarmonicsGroup:
    """`+ factor * (terms)`: the terms that share one factor."""

    factor: str
    terms: Tuple[CppTerm, ...]


@dataclass(frozen=True)
class HarmonicsLoop:
    """`destination operator scale * (groups)` for every row b of a chunk."""

    destination: str
    operator: str  # "=" or "+="
    scale: str
    groups: Tuple[HarmonicsGroup, ...]


@dataclass(frozen=True)
class HarmonicsFunction:
    name: str
    signature: str
    comment: Tuple[str, ...]
    loops: Tuple[HarmonicsLoop, ...]


@dataclass(frozen=True)
class HarmonicsUnitPlan:
    lmax: int
    steps_sha256: str  # of the IR steps' JSON: what the generated arithmetic is made of
    functions: Tuple[HarmonicsFunction, ...]  # role-major within a degree, degrees 1..lmax
    num_terms: int


_FACTORS = {
    # operand: (name in C++, axis of c_ijk it is indexed by)
    "r": ("r", 1),
    "h": ("h", 1),
    "prev": ("prev", 2),
    "g": ("g", 0),
}

_ROLE_RULES = {
    # role: (destination array, its axis, (shared factor, term factor), operator, signature, formula)
    "Y": ("out", 0, ("r", "prev"), "=", "const T* __restrict__ r, const T* __restrict__ prev, T* __restrict__ out",
          "out_i = sum_jk c_ijk r_j prev_k (the step; with r := h it is the jvp divided by l)"),
    "r": ("r_out", 1, ("g", "prev"), "+=", "const T* __restrict__ g, const T* __restrict__ prev, T* __restrict__ r_out",
          "r_out_j += l sum_ik c_ijk g_i prev_k (the backward: g is the cotangent on Y^l)"),
    "prev": ("prev_out", 2, ("g", "h"), "+=", "const T* __restrict__ g, const T* __restrict__ h, T* __restrict__ prev_out",
             "prev_out_k += l sum_ij c_ijk g_i h_j (the cotangent on Y^(l-1) of <h, backward(r, g)>)"),
}


def _factor(operand: str, term: SparseTerm) -> str:
    name, axis = _FACTORS[operand]
    return f"{name}[{term.indices[axis]} * K + b]"


def _term(term: SparseTerm, operand: str) -> CppTerm:
    c = term.coefficient
    return CppTerm("-" if c.sign < 0 else "+", f"T({abs(c.value)!r}) * {_factor(operand, term)}", c.text)


def _grouped(terms, axis: int):
    groups = {}
    for term in terms:
        groups.setdefault(term.indices[axis], []).append(term)
    return [sorted(group, key=lambda t: t.indices) for _, group in sorted(groups.items())]


def plan_harmonics_role(step: SphericalHarmonicsStep, role: str) -> HarmonicsFunction:
    """One derivative role of one recursion step (see the module docstring)."""
    l = step.l
    destination, axis, (shared, inner), operator, signature, formula = _ROLE_RULES[role]
    loops = tuple(
        HarmonicsLoop(
            f"{destination}[{terms[0].indices[axis]} * K + b]",
            operator,
            "" if role == "Y" else f"T({l}) * ",
            tuple(
                HarmonicsGroup(_factor(shared, group[0]), tuple(_term(t, inner) for t in group))
                for group in _grouped(terms, _FACTORS[shared][1])
            ),
        )
        for terms in _grouped(step.terms, axis)
    )
    comment = (
        f"Y^{l} ({2 * l + 1} components) from r = (x, y, z) and Y^{l - 1} ({2 * l - 1}), {len(step.terms)} nonzero terms c_ijk:",
        formula + ".",
        "Arrays are [component][K] (row b of the chunk contiguous).",
    )
    return HarmonicsFunction(f"harmonics_step_{l}_d{role}", signature, comment, loops)


def steps_sha256(steps: Tuple[SphericalHarmonicsStep, ...]) -> str:
    return hashlib.sha256(json.dumps([s.to_json() for s in steps], sort_keys=True).encode()).hexdigest()


def plan_harmonics_unit(steps: Tuple[SphericalHarmonicsStep, ...]) -> HarmonicsUnitPlan:
    """Every recursion step (degrees 1..lmax, in order), three role functions each."""
    if [s.l for s in steps] != list(range(1, len(steps) + 1)):
        raise ValueError(f"plan_harmonics_unit needs the steps to degrees 1..lmax in order, got {[s.l for s in steps]}")
    functions = tuple(plan_harmonics_role(step, role) for step in steps for role in HARMONICS_ROLES)
    return HarmonicsUnitPlan(len(steps), steps_sha256(steps), functions, sum(len(s.terms) for s in steps))
