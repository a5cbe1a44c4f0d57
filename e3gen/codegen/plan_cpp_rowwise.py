"""The native planner for products without weights: coupling paths -> a plan for one C++ unit.

The products whose channels carry no weights (FullTensorProduct's "uvuv", ElementwiseTensorProduct's
"uuu", TensorSquare's "uvu<v") couple one channel of x with one channel of y into one output
channel, per row r:

    out[r, k] += c sum_ij C_ijk x[r, i] y[r, j]        (C = e3nn's wigner_3j(l1, l2, l3)).

There is no channel to vectorise over when the multiplicities are 1 (the full product of
0e+1o+2e+3o with itself), so these kernels take the rows as the lanes: a block of `ROWS` rows
is transposed to component-major ([component][ROWS], row b contiguous) and each destination
component is one loop over b that vectorises, as the native spherical harmonics do. The product
is the derivative of the trilinear form

    G(x, y, g) = c sum_ijk C_ijk x[i] y[j] g[k]        (per row)

with respect to g; its gradients are the derivatives with respect to x and y, and every
derivative of those is again one of the three (G is linear in each operand). So the planner
emits, per coupling path (l1, l2, l3), one function per operand role -- the same sparse table
read with its index roles permuted:

    g_out[k] += c sum_ij C_ijk x[i] y[j]    (the product)
    x_out[i] += c sum_jk C_ijk y[j] g[k]
    y_out[j] += c sum_ik C_ijk x[i] g[k]

Decisions (the template only lays them out):
* one function per (path, role), named `rowwise_<l1>_<l2>_<l3>_d<role>`, roles "x", "y", "g" in
  that order, which is also the order of the C++ dispatch table;
* a library covers every path with l1, l2 <= lmax (`rowwise_triples`): all the l3 those allow,
  since a full product of inputs up to l reaches 2l;
* one line per nonzero term, ordered by its indices, the float printed by `repr` (round-trips in
  float64) and the exact value beside it;
* within a destination, terms are grouped by the factor they share (the lower-indexed of the two
  operands), `x[i] * (c y[j] + c' y[j'] ...)`: one fused multiply-add per term instead of two
  products and an add (the compiler may not reassociate floating point itself);
* the path coefficient c multiplies each destination's sum once;
* every function adds to its destination, or (template flag kAssign) writes it: the fully connected
  driver's coupled pairs and contracted gradients have one writer per slot, and writing them spares
  zeroing megabytes of scratch first. So every destination component must have a term (refused
  otherwise; a Clebsch-Gordan path reaches every component of each operand).

The same library runs the fully connected products (mode "uvw" with shared weights,
FullyConnectedTensorProduct): per block of SUB_BLOCKS * ROWS rows, the g kernels couple every
channel pair (u, v) of a path (T[(u v)][k][rows], in cache), and one matrix product with the
path's weights [(u v), w] contracts them (BLAS); the backward runs the x and y kernels on
W T-gradients and one more matrix product for the weights' gradient.

This module never imports torch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Tuple

from e3gen.codegen.plan_cpp import CppTerm
from e3gen.ir.nodes import CouplingPath, SparseTerm

# Operand roles in the order of the C++ dispatch table.
ROWWISE_ROLES = ("x", "y", "g")
# Rows per block: the lanes of every kernel loop (one 512-bit vector of float32).
ROWS = 16
# Fully connected products (uvw, shared weights): blocks of ROWS rows per step of the driver. The
# coupled pairs of one path for SUB_BLOCKS * ROWS = 128 rows (16 x 16 channels, l = 2: 640 KB of
# float32) stay in a core's L2 cache between the kernels that write them and the matrix product
# with the weights that reads them; fewer rows make more, smaller matrix products.
SUB_BLOCKS = 8

_AXIS = {"x": 0, "y": 1, "g": 2}
_FORMULAS = {
    "g": "g_out[k] += c sum_ij C_ijk x[i] y[j]   (the product)",
    "x": "x_out[i] += c sum_jk C_ijk y[j] g[k]",
    "y": "y_out[j] += c sum_ik C_ijk x[i] g[k]",
}


@dataclass(frozen=True)
class RowwiseGroup:
    """`+ factor * (terms)`: the terms of one destination that share one factor."""

    factor: str
    terms: Tuple[CppTerm, ...]


@dataclass(frozen=True)
class RowwiseLoop:
    """`destination += c * (groups)` for every row b of a block."""

    destination: str
    groups: Tuple[RowwiseGroup, ...]


@dataclass(frozen=True)
class RowwiseFunction:
    name: str
    comment: Tuple[str, ...]
    loops: Tuple[RowwiseLoop, ...]


@dataclass(frozen=True)
class RowwiseUnitPlan:
    lmax: int  # of the inputs: every path with l1, l2 <= lmax
    paths_sha256: str  # of the paths' JSON: what the generated arithmetic is made of
    triples: Tuple[Tuple[int, int, int], ...]  # index = the triple id the runtime passes
    functions: Tuple[RowwiseFunction, ...]  # len(triples) * 3, ROWWISE_ROLES-major within a triple
    num_terms: int
    rows: int
    sub_blocks: int
    component_dims: Tuple[int, ...]  # 2l + 1 for every l the library's operands have


# How a fully connected path contracts, by the C++ driver's numbering: the coupled pairs first (the
# weights then contract T [(u v)][k]), or the weights first with x or with y.
CONTRACTION_ORDERS = ("pairs", "x", "y")


def contraction_order(l1: int, l2: int, l3: int) -> int:
    """The index in CONTRACTION_ORDERS for a uvw path (l1, l2, l3): the weights (mul1 mul2 mul_out of
    them) contract with the operand that has the fewest components -- T (2 l3 + 1 per pair), x
    (2 l1 + 1) or y (2 l2 + 1) -- which is the matrix product's whole cost (2 mul1 mul2 mul_out
    (2l+1) per row); ties keep the pairs first. A path with an l = 0 operand (0 x 2 -> 2) then costs
    what a scalar path costs, as e3nn's specialised code does."""
    sizes = (2 * l3 + 1, 2 * l1 + 1, 2 * l2 + 1)
    return min(range(3), key=lambda i: (sizes[i], i))


def rowwise_triples(lmax: int) -> Tuple[Tuple[int, int, int], ...]:
    """Every (l1, l2, l3) with l1, l2 <= lmax and |l1 - l2| <= l3 <= l1 + l2, in order."""
    return tuple((l1, l2, l3) for l1 in range(lmax + 1) for l2 in range(lmax + 1) for l3 in range(abs(l1 - l2), l1 + l2 + 1))


def _factor(operand: str, term: SparseTerm) -> str:
    return f"{operand}[{term.indices[_AXIS[operand]]} * K + b]"


def _term(term: SparseTerm, operand: str) -> CppTerm:
    c = term.coefficient
    return CppTerm("-" if c.sign < 0 else "+", f"T({abs(c.value)!r}) * {_factor(operand, term)}", c.text)


def _grouped(terms, axis: int):
    groups = {}
    for term in terms:
        groups.setdefault(term.indices[axis], []).append(term)
    return [tuple(sorted(group, key=lambda t: t.indices)) for _, group in sorted(groups.items())]


def plan_rowwise_role(path: CouplingPath, role: str) -> RowwiseFunction:
    """The derivative of G with respect to operand `role` ("x", "y" or "g") for one coupling path."""
    if role not in ROWWISE_ROLES:
        raise ValueError(f"plan_rowwise_role: role must be one of {ROWWISE_ROLES}, got {role!r}")
    l1, l2, l3 = path.key
    shared, inner = [o for o in ROWWISE_ROLES if o != role]  # x before y before g
    loops = tuple(
        RowwiseLoop(
            f"{role}_out[{terms[0].indices[_AXIS[role]]} * K + b]",
            tuple(RowwiseGroup(_factor(shared, group[0]), tuple(_term(t, inner) for t in group))
                  for group in _grouped(terms, _AXIS[shared])),
        )
        for terms in _grouped(path.terms, _AXIS[role])
    )
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    comment = (
        f"l1={l1} (x) l2={l2} -> l3={l3}, derivative of G with respect to {role}: {_FORMULAS[role]}.",
        f"x [{d1}][K], y [{d2}][K], g [{d3}][K] (row b of the block contiguous); "
        f"{len(path.terms)} nonzero terms of {d1 * d2 * d3}.",
    )
    missed = sorted(set(range((d1, d2, d3)[_AXIS[role]])) - {t.indices[_AXIS[role]] for t in path.terms})
    if missed:  # the assigning variant (kAssign) would leave these components unwritten
        raise ValueError(f"plan_rowwise_role: path {path.key} has no term reaching components {missed} of {role}; "
                         "every destination component needs one (a Clebsch-Gordan path reaches them all)")
    return RowwiseFunction(f"rowwise_{l1}_{l2}_{l3}_d{role}", comment, loops)


def paths_sha256(paths: Tuple[CouplingPath, ...]) -> str:
    return hashlib.sha256(json.dumps([p.to_json() for p in paths], sort_keys=True).encode()).hexdigest()


def plan_rowwise_unit(lmax: int, paths: Tuple[CouplingPath, ...]) -> RowwiseUnitPlan:
    """The library for inputs up to lmax: `paths` must be those of `rowwise_triples(lmax)`, in order."""
    if tuple(p.key for p in paths) != rowwise_triples(lmax):
        raise ValueError(f"plan_rowwise_unit needs the paths of rowwise_triples({lmax}) in order, "
                         f"got {[p.key for p in paths][:5]}...")
    functions = tuple(plan_rowwise_role(path, role) for path in paths for role in ROWWISE_ROLES)
    return RowwiseUnitPlan(lmax, paths_sha256(paths), tuple(p.key for p in paths), functions,
                           sum(len(p.terms) for p in paths), ROWS, SUB_BLOCKS, tuple(2 * l + 1 for l in range(2 * lmax + 1)))
