"""The native planner: IR -> a plan for the C++ sources of the channel-wise coupling kernels.

The native backend computes the channel-wise ("uvu") product with one weight per channel,

    out[k, u] = c w[u] sum_ij C_ijk x[i, u] y[j]        (C = e3nn's wigner_3j(l1, l2, l3)),

inside kernels whose channel index u is the contiguous one (ir_mul), so the loop over u
vectorises. The product is the derivative of the trilinear form

    F(x, y, w, g) = c sum_ijku C_ijk x[i, u] y[j] w[u] g[k, u]

with respect to g; its gradients are the derivatives with respect to x, y and w, and every
derivative of those is again one of the four (F is linear in each operand). So the planner emits,
per coupling path (l1, l2, l3) of the IR, one function per operand role -- each the same sparse
table read with its index roles permuted -- and one fused backward that computes the x, y and w
derivatives in one pass over the channels (the backward of the product reads its big operand g
once instead of three times):

    a[i, u] = sum_jk C_ijk y[j] g[k, u]        dx[i, u] = c w[u] a[i, u]
                                               dw[u]    = c sum_i x[i, u] a[i, u]
    dy[j]   = c sum_u w[u] sum_ik C_ijk x[i, u] g[k, u]

Decisions (the templates only lay them out):
* one function per (path, roles), named `coupling_<l1>_<l2>_<l3>_d<roles>`; roles "x", "y",
  "w", "g" (the output) and "xyw" (the fused backward), in that order, which is also the order
  of the dispatch table;
* channels in blocks of `LANES` (8: one 256-bit vector of float32, one 512-bit vector of float64):
  the driver pads every channel block to a multiple of LANES with zeros, so each kernel is one
  loop over blocks around a fixed-length loop over lanes, which the compiler vectorises
  completely (no remainder loops: small code, fast compiles, -O2 suffices);
* one line per nonzero term, ordered by the other indices, with the float printed by `repr`
  (round-trips in float64) and the exact value beside it;
* the sum over u for dy is kept per lane: every path of an item adds into one lane accumulator
  `y_out[j * kLanes + v]`, whose lanes the driver adds in a fixed order after the item's last
  path: vectorised and deterministic (no reduction order left to the compiler), and the lanes are
  added once per item, not once per path (that was a seventh of the backward of case (a));
* the path coefficient c and the weight multiply each term sum once per u, not per term;
* the kernels are spread over `KERNEL_UNITS` translation units, balanced by number of terms, so
  that a first compile runs them in parallel (ninja); the driver and the op registration (the
  only code that includes torch's headers) are one more unit.

This module never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

from e3gen.ir.nodes import BuildIR, CouplingPath, SparseTerm

# Operand roles of the trilinear form, and the functions per path in the order of the C++
# dispatch table (the four single roles, then the fused backward).
ROLES = ("x", "y", "w", "g")
FUNCTION_ROLES = ("x", "y", "w", "g", "xyw")
LANES = 8
KERNEL_UNITS = 4


@dataclass(frozen=True)
class CppTerm:
    """`sign T(magnitude) * factor * factor  // exact`"""

    sign: str
    product: str
    exact: str


@dataclass(frozen=True)
class CppStatement:
    """`target operator scale(terms)`, one line per term; without terms, `target operator scale;`."""

    target: str
    operator: str
    scale: str
    terms: Tuple[CppTerm, ...] = ()


@dataclass(frozen=True)
class CppFunction:
    """One kernel: `body` for every channel u (lanes of a block)."""

    name: str
    comment: Tuple[str, ...]
    body: Tuple[CppStatement, ...]


@dataclass(frozen=True)
class CppUnitPlan:
    lmax: int
    ir_sha256: str
    triples: Tuple[Tuple[int, int, int], ...]  # index = the triple id the runtime passes
    functions: Tuple[CppFunction, ...]  # len(triples) * 5, FUNCTION_ROLES-major within a triple
    num_terms: int
    lanes: int
    component_dims: Tuple[int, ...]  # 2l + 1 for l <= lmax: the transposes specialised for each
    kernel_units: Tuple[Tuple[int, ...], ...]  # triple ids per kernel translation unit


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
    return [(index, tuple(sorted(group, key=lambda t: t.indices))) for index, group in sorted(groups.items())]


def _y_lanes(path: CouplingPath):
    """dy as per-lane partial sums over u, added into the item's lane accumulator y_out [dim_y, kLanes]
    (the driver adds its lanes once per item, after the last path: not once per path)."""
    return tuple(CppStatement(f"y_out[{j} * kLanes + v]", "+=", "cw * ", tuple(_term(t, ("x", "g")) for t in terms))
                 for j, terms in _grouped(path.terms, 1))


_FORMULAS = {
    "g": "g_out[k, u] += c w[u] sum_ij C_ijk x[i, u] y[j]   (the product)",
    "x": "x_out[i, u] += c w[u] sum_jk C_ijk y[j] g[k, u]",
    "y": "y_out[j] += c sum_u w[u] sum_ik C_ijk x[i, u] g[k, u]",
    "w": "w_out[u] += c sum_ijk C_ijk x[i, u] y[j] g[k, u]",
    "xyw": "x_out, y_out and w_out at once (the backward of the product, g := its gradient)",
}


def plan_role(path: CouplingPath, role: str) -> CppFunction:
    """The derivative of F with respect to operand `role` ("x", "y", "w", "g"), or the fused
    backward "xyw", for one coupling path."""
    l1, l2, l3 = path.key
    name = f"coupling_{l1}_{l2}_{l3}_d{role}"
    if role == "w":
        ordered = tuple(sorted(path.terms, key=lambda t: t.indices))
        body = (CppStatement("w_out[u]", "+=", "c * ", tuple(_term(t, ("y", "x", "g")) for t in ordered)),)
    elif role == "y":
        body = (CppStatement("const T cw", "=", "c * w[u]"),) + _y_lanes(path)
    elif role in ("x", "g"):
        axis, destination, others = {"g": (2, "g_out[{} * M + u]", ("y", "x")), "x": (0, "x_out[{} * M + u]", ("y", "g"))}[role]
        body = (CppStatement("const T cw", "=", "c * w[u]"),) + tuple(
            CppStatement(destination.format(index), "+=", "cw * ", tuple(_term(t, others) for t in terms))
            for index, terms in _grouped(path.terms, axis)
        )
    else:  # "xyw": a[i, u] = sum_jk C_ijk y[j] g[k, u] serves dx and dw; dy as in role "y"
        groups = _grouped(path.terms, 0)
        body = (CppStatement("const T cw", "=", "c * w[u]"),)
        body += tuple(CppStatement(f"const T a{i}", "=", "", tuple(_term(t, ("y", "g")) for t in terms)) for i, terms in groups)
        body += tuple(CppStatement(f"x_out[{_component(i)}]", "+=", f"cw * a{i}") for i, _ in groups)
        body += (CppStatement("w_out[u]", "+=", "c * ", tuple(CppTerm("+", f"x[{_component(i)}] * a{i}", "") for i, _ in groups)),)
        body += _y_lanes(path)
    d1, d2, d3 = 2 * l1 + 1, 2 * l2 + 1, 2 * l3 + 1
    comment = (
        f"l1={l1} (x) l2={l2} -> l3={l3}, derivative of F with respect to {role}: {_FORMULAS[role]}.",
        f"x [{d1}, M], y [{d2}], w [M], g [{d3}, M] (ir_mul: u contiguous, M a multiple of kLanes); "
        f"{len(path.terms)} nonzero terms of {d1 * d2 * d3}.",
    )
    return CppFunction(name, comment, body)


def _kernel_units(paths: Tuple[CouplingPath, ...], units: int) -> Tuple[Tuple[int, ...], ...]:
    """Triple ids per unit: the biggest paths first, each onto the least loaded unit (ties: the
    lower unit); ids in order within a unit. Deterministic."""
    loads, members = [0] * units, [[] for _ in range(units)]
    for index in sorted(range(len(paths)), key=lambda i: (-len(paths[i].terms), i)):
        target = min(range(units), key=lambda u: (loads[u], u))
        loads[target] += len(paths[index].terms)
        members[target].append(index)
    return tuple(tuple(sorted(m)) for m in members if m)


def plan_cpp_unit(ir: BuildIR) -> CppUnitPlan:
    """Every coupling path of the IR, five functions each, spread over the kernel units."""
    functions = tuple(plan_role(path, role) for path in ir.coupling_paths for role in FUNCTION_ROLES)
    return CppUnitPlan(ir.lmax, ir.sha256, tuple(p.key for p in ir.coupling_paths), functions, ir.num_terms, LANES,
                       tuple(2 * l + 1 for l in range(ir.lmax + 1)), _kernel_units(ir.coupling_paths, KERNEL_UNITS))
