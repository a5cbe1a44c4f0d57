"""The planner: IR -> render plans. Every decision about the emitted code is made here.

A plan says which functions a generated module contains, their names and signatures, how each
output is spelled term by term (variable names, sign, float literal, exact value for the
comment), and in what order. Templates only lay the plan out as text.

Decisions (each one is a rule here, not in a template):
* Inputs are unpacked component by component (`x_0 = x[..., 0]`) so any leading batch or
  channel dims broadcast, and every output is one straight-line sum: no loops, no data-dependent
  branches, nothing `torch.compile(fullgraph=True)` or TorchScript cannot take.
* One term per line, `sign magnitude * factor * factor  # exact value`, magnitudes printed with
  `repr` so they round-trip in float64; a coefficient that is exactly 1 is not multiplied. A
  leading positive term has no sign (TorchScript rejects unary plus).
* Terms of an output are ordered by their input indices; outputs by their component index.
* In the harmonics recursion, Y^0 is the constant 1, so the step to l=1 does not multiply by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Tuple

from e3gen.ir.nodes import BuildIR, CouplingPath, ExactCoefficient, KernelSpec, SparseTerm, SphericalHarmonicsStep

XYZ = ("x", "y", "z")


@dataclass(frozen=True)
class TermLine:
    """`sign [magnitude *] factor * factor  # exact`"""

    sign: str
    product: str
    exact: str


@dataclass(frozen=True)
class Assignment:
    """`name = ( term lines )`"""

    name: str
    terms: Tuple[TermLine, ...]


@dataclass(frozen=True)
class FunctionPlan:
    name: str
    signature: str
    returns: str
    docstring: Tuple[str, ...]
    unpack: Tuple[str, ...]
    assignments: Tuple[Assignment, ...]
    result: str


@dataclass(frozen=True)
class TableEntry:
    """One row of a constant table: `(indices..., value),  # exact`."""

    values: str
    exact: str


@dataclass(frozen=True)
class Table:
    """One block of a registry: `name = ( rows )` under `# comment`, listed as `key: name`."""

    key: str
    name: str
    comment: str
    groups: Tuple[Tuple[str, Tuple[TableEntry, ...]], ...]  # (group comment, entries)


@dataclass(frozen=True)
class ModulePlan:
    filename: str
    template: str
    docstring: Tuple[str, ...]
    functions: Tuple[FunctionPlan, ...] = ()
    registries: Tuple[Tuple[str, Tuple[Tuple[str, str], ...]], ...] = ()  # (name, ((key literal, function), ...))
    tables: Tuple[Tuple[str, str, Tuple[Table, ...]], ...] = ()  # (registry name, doc comment, its blocks)


@dataclass(frozen=True)
class PackagePlan:
    lmax: int
    ir_sha256: str
    modules: Tuple[ModulePlan, ...]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def term_line(coefficient: ExactCoefficient, factors: List[str], first: bool) -> TermLine:
    # TorchScript has no unary plus: a leading positive term gets a blank where its sign would be.
    sign = "-" if coefficient.sign < 0 else (" " if first else "+")
    unit = coefficient.p == coefficient.q == 1
    parts = ([] if unit else [repr(abs(coefficient.value))]) + factors
    return TermLine(sign, " * ".join(parts) if parts else "1.0", coefficient.text)


def _by_output(terms: Tuple[SparseTerm, ...], output_axis: int) -> Dict[int, List[SparseTerm]]:
    grouped: Dict[int, List[SparseTerm]] = {}
    for term in terms:
        grouped.setdefault(term.indices[output_axis], []).append(term)
    return {k: sorted(v, key=lambda t: t.indices) for k, v in sorted(grouped.items())}


# For each coupling kernel kind: (first operand, its axis in C_ijk), (second operand, its axis),
# and the axis of the output. The vjp kernels read the same table with the roles permuted.
COUPLING_ROLES = {
    "coupling": (("x", 0), ("y", 1), 2),
    "coupling_vjp_x": (("g", 2), ("y", 1), 0),
    "coupling_vjp_y": (("x", 0), ("g", 2), 1),
}


def plan_coupling_kernel(path: CouplingPath, spec: KernelSpec) -> FunctionPlan:
    (a, a_axis), (b, b_axis), out_axis = COUPLING_ROLES[spec.kind]
    dims = (2 * path.l1 + 1, 2 * path.l2 + 1, 2 * path.l3 + 1)
    assignments = tuple(
        Assignment(
            f"out_{index}",
            tuple(
                term_line(t.coefficient, [f"{a}_{t.indices[a_axis]}", f"{b}_{t.indices[b_axis]}"], n == 0)
                for n, t in enumerate(sorted(terms, key=lambda t: (t.indices[a_axis], t.indices[b_axis])))
            ),
        )
        for index, terms in _by_output(path.terms, out_axis).items()
    )
    if len(assignments) != dims[out_axis]:
        raise ValueError(f"coupling table {path.key} has an output component without terms: not a Clebsch-Gordan table")
    ls = f"l1={path.l1} (x) l2={path.l2} -> l3={path.l3}"
    summary = {
        "coupling": f"Real Clebsch-Gordan product {ls}: out_k = sum_ij C_ijk x_i y_j.",
        "coupling_vjp_x": f"Vector-Jacobian product of {ls} for x: out_i = sum_jk C_ijk g_k y_j.",
        "coupling_vjp_y": f"Vector-Jacobian product of {ls} for y: out_j = sum_ik C_ijk x_i g_k.",
    }[spec.kind]
    doc = (
        summary,
        "",
        f"{a}: [..., {dims[a_axis]}], {b}: [..., {dims[b_axis]}] (leading dims broadcast) -> [..., {dims[out_axis]}].",
        f"C is e3nn's wigner_3j({path.l1}, {path.l2}, {path.l3}) (Frobenius norm 1); "
        f"{_count(len(path.terms), 'nonzero term')} of {dims[0] * dims[1] * dims[2]}.",
    )
    return FunctionPlan(
        name=spec.name,
        signature=f"{a}: Tensor, {b}: Tensor",
        returns="Tensor",
        docstring=doc,
        unpack=tuple(f"{a}_{i} = {a}[..., {i}]" for i in range(dims[a_axis]))
        + tuple(f"{b}_{j} = {b}[..., {j}]" for j in range(dims[b_axis])),
        assignments=assignments,
        result="torch.stack([" + ", ".join(x.name for x in assignments) + "], dim=-1)",
    )


def polynomial_text(terms: Tuple[SparseTerm, ...]) -> str:
    """Y as `c * x**a * y**b * z**c` summed, exact coefficients (documentation only)."""
    parts = []
    for term in sorted(terms, key=lambda t: t.indices, reverse=True):
        monomial = [XYZ[axis] + (f"**{power}" if power > 1 else "") for axis, power in enumerate(term.indices) if power]
        c = term.coefficient
        magnitude = c.text.lstrip("-")
        factors = ([] if magnitude == "1" else [f"({magnitude})" if "/" in magnitude else magnitude]) + monomial
        parts.append(("- " if c.sign < 0 else "+ ") + ("*".join(factors) or "1"))
    text = " ".join(parts)
    return text[2:] if text.startswith("+ ") else "-" + text[2:]


def plan_spherical_harmonics_step(step: SphericalHarmonicsStep, spec: KernelSpec) -> FunctionPlan:
    l = step.l
    previous = [f"sh_{l - 1}_{k}" for k in range(2 * l - 1)]
    constant_previous = l == 1  # Y^0 == 1

    def factors(term: SparseTerm) -> List[str]:
        i, j, k = term.indices
        return [XYZ[j]] if constant_previous else [XYZ[j], previous[k]]

    assignments = tuple(
        Assignment(f"sh_{l}_{i}", tuple(term_line(t.coefficient, factors(t), n == 0) for n, t in enumerate(terms)))
        for i, terms in _by_output(step.terms, 0).items()
    )
    doc = (
        f"Y^{l} (component normalisation, m = -{l}..{l}) from Y^{l - 1} and r = (x, y, z):",
        f"Y^{l}_i = sum_jk c_ijk r_j Y^{l - 1}_k, c = a_{l - 1} * wigner_3j({l}, 1, {l - 1}); {_count(len(step.terms), 'term')}.",
        "",
        f"x, y, z: [...]; previous: the {_count(2 * l - 1, 'tensor')} of Y^{l - 1} -> the {2 * l + 1} tensors of Y^{l}.",
        f"As polynomials (harmonic, homogeneous of degree {l}):",
    ) + tuple(f"    Y^{l}_{m} = {polynomial_text(p)}" for m, p in enumerate(step.polynomials))
    return FunctionPlan(
        name=spec.name,
        signature="x: Tensor, y: Tensor, z: Tensor, previous: List[Tensor]",
        returns="List[Tensor]",
        docstring=doc,
        unpack=() if constant_previous else (", ".join(previous) + " = previous",),
        assignments=assignments,
        result="[" + ", ".join(a.name for a in assignments) + "]",
    )


def _table_entry(term: SparseTerm) -> TableEntry:
    return TableEntry(", ".join(str(i) for i in term.indices) + f", {term.coefficient.value!r}", term.coefficient.text)


def plan_tables(ir: BuildIR) -> ModulePlan:
    """Each table is a registry of blocks, one top-level `NAME_<key> = (rows)` per key, so that a
    process needing wigner_3j(1, 1, 2) of an lmax-12 build compiles that block, not the other ~900
    (the runtime loader compiles blocks on first lookup; see `e3gen.runtime.loader`)."""
    cg = tuple(
        Table(
            f"({p.l1}, {p.l2}, {p.l3})",
            f"CLEBSCH_GORDAN_{p.l1}_{p.l2}_{p.l3}",
            f"l1={p.l1} x l2={p.l2} -> l3={p.l3}, {_count(len(p.terms), 'nonzero term')} (i, j, k, C_ijk)",
            (("", tuple(_table_entry(t) for t in p.terms)),),
        )
        for p in ir.coupling_paths
    )
    generators = tuple(
        Table(
            str(g.l),
            f"SO3_GENERATORS_{g.l}",
            f"l={g.l}: X[0], X[1], X[2], each rows (row, col, value)",
            tuple((f"X[{a}]", tuple(_table_entry(t) for t in m)) for a, m in enumerate(g.matrices)),
        )
        for g in ir.generators
    )
    steps = tuple(
        Table(
            str(step.l),
            f"SPHERICAL_HARMONICS_STEPS_{step.l}",
            f"Y^{step.l} from r and Y^{step.l - 1}, {_count(len(step.terms), 'term')} (i, j, k, c)",
            (("", tuple(_table_entry(t) for t in step.terms)),),
        )
        for step in ir.spherical_harmonics
    )
    return ModulePlan(
        filename="tables.py",
        template="tables.py.j2",
        docstring=(
            f"Exact sparse tables for lmax={ir.lmax}: only nonzero entries, each a float64 that",
            "round-trips and its exact value in the comment.",
            "",
            "CLEBSCH_GORDAN[(l1, l2, l3)]: rows (i, j, k, C_ijk) of e3nn's wigner_3j(l1, l2, l3).",
            "SO3_GENERATORS[l]: for X[0], X[1], X[2] (rotations about x, y, z), rows (row, col, value);",
            "D^l(alpha, beta, gamma) = exp(alpha X[1]) exp(beta X[0]) exp(gamma X[1]).",
            "SPHERICAL_HARMONICS_STEPS[l]: rows (i, j, k, c) with Y^l_i = sum c r_j Y^(l-1)_k (component",
            "normalisation), the recursion the kernels in spherical_harmonics.py unroll.",
            "",
            "Each key's rows are one block (CLEBSCH_GORDAN_1_1_2, ...), listed in its table at the end of",
            "the table's blocks; e3gen's loader compiles a block when its key is first looked up.",
        ),
        tables=(
            ("CLEBSCH_GORDAN", "(l1, l2, l3) -> ((i, j, k, C_ijk), ...)", cg),
            ("SO3_GENERATORS", "l -> (X[0] rows, X[1] rows, X[2] rows), rows (row, col, value)", generators),
            ("SPHERICAL_HARMONICS_STEPS", "l -> ((i, j, k, c), ...): Y^l_i = sum c r_j Y^(l-1)_k", steps),
        ),
    )


def plan_package(ir: BuildIR) -> PackagePlan:
    specs = {(k.kind, k.key): k for k in ir.kernels}
    steps = tuple(plan_spherical_harmonics_step(s, specs[("spherical_harmonics_step", (s.l,))]) for s in ir.spherical_harmonics)
    couplings = {
        kind: tuple(plan_coupling_kernel(p, specs[(kind, p.key)]) for p in ir.coupling_paths)
        for kind in ("coupling", "coupling_vjp_x", "coupling_vjp_y")
    }
    modules = (
        ModulePlan(
            filename="spherical_harmonics.py",
            template="spherical_harmonics.py.j2",
            docstring=(
                f"Real spherical harmonics up to l={ir.lmax} in e3nn's basis (y-polar, m = -l..l), by exact recursion.",
                "",
                "STEPS[l] maps (x, y, z, [Y^(l-1) components]) to [Y^l components], \"component\"",
                "normalisation (|Y^l|^2 = 2l+1 on the unit sphere). Y^0 is 1. Inputs need not be unit vectors:",
                "Y^l is a homogeneous polynomial of degree l.",
            ),
            functions=steps,
            registries=(("STEPS", tuple((str(s.l), f.name) for s, f in zip(ir.spherical_harmonics, steps))),),
        ),
        ModulePlan(
            filename="coupling.py",
            template="coupling.py.j2",
            docstring=(
                f"Clebsch-Gordan products for every (l1, l2, l3) with l <= {ir.lmax}, unrolled over nonzero terms.",
                "",
                "KERNELS[(l1, l2, l3)](x, y) -> out with out_k = sum_ij C_ijk x_i y_j, C = e3nn's wigner_3j.",
                "VJP_X[(l1, l2, l3)](g, y) and VJP_Y[(l1, l2, l3)](x, g): its vector-Jacobian products, the",
                "same table with the index roles permuted (what backward needs).",
            ),
            functions=couplings["coupling"] + couplings["coupling_vjp_x"] + couplings["coupling_vjp_y"],
            registries=tuple(
                (registry, tuple((f"({p.l1}, {p.l2}, {p.l3})", f.name) for p, f in zip(ir.coupling_paths, couplings[kind])))
                for registry, kind in (("KERNELS", "coupling"), ("VJP_X", "coupling_vjp_x"), ("VJP_Y", "coupling_vjp_y"))
            ),
        ),
        plan_tables(ir),
        ModulePlan(
            filename="__init__.py",
            template="package_init.py.j2",
            docstring=(
                f"e3gen build for lmax={ir.lmax}: spherical harmonics, Clebsch-Gordan kernels and exact tables.",
                "",
                "Load it through e3gen (e3gen.runtime.loader.load_kernels), which checks manifest.json first.",
            ),
        ),
    )
    return PackagePlan(ir.lmax, ir.sha256, modules)
