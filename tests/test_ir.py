"""The IR: exact coefficients, immutability, canonical JSON and stable hashes."""

import dataclasses
import json
from fractions import Fraction

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st

from helpers import e3nn_nonzero_coupling_terms, triangle_triples

from e3gen.ir.lower import exact_coefficient, lower
from e3gen.ir.nodes import (
    BuildIR,
    CouplingPath,
    ExactCoefficient,
    GeneratorSet,
    KernelSpec,
    SparseTerm,
    SphericalHarmonicsStep,
)
from e3gen.symbolic.exact import Surd


@given(st.sampled_from([1, -1]), st.integers(1, 10**6), st.integers(1, 10**6))
def test_exact_coefficient_text_and_value_are_sympys(sign, p, q):
    value = Surd.signed_sqrt(sign, Fraction(p, q))
    c = exact_coefficient(value)
    expected = sign * sympy.sqrt(sympy.Rational(p, q))
    assert sympy.sympify(c.text) == expected
    assert c.text == str(expected)
    assert c.value == float(expected.evalf(60))  # correctly rounded float64


def test_exact_coefficient_rejects_non_canonical_forms():
    with pytest.raises(ValueError, match="sign"):
        ExactCoefficient(0, 1, 1, "0")
    with pytest.raises(ValueError, match="coprime"):
        ExactCoefficient(1, 2, 4, "sqrt(2)/2")
    for p, q in [(0, 1), (1, 0), (-1, 1), (1, -1), (-2, -3)]:  # zero or negative under the root
        with pytest.raises(ValueError, match="coprime p, q > 0"):
            ExactCoefficient(1, p, q, "?")
    assert ExactCoefficient(-1, 1, 1, "-1").value == -1.0 and ExactCoefficient(1, 1, 1, "1").value == 1.0
    with pytest.raises(ValueError, match="zero"):
        exact_coefficient(Surd())


def test_ir_nodes_are_immutable():
    """Every node type, not only the root: the hash names the content, so no node may change after it."""
    ir = lower(1)
    path = ir.coupling_paths[0]
    nodes = [ir, ir.generators[1], ir.spherical_harmonics[0], path, path.terms[0], path.terms[0].coefficient, ir.kernels[0]]
    assert {type(node).__name__ for node in nodes} == {
        "BuildIR", "GeneratorSet", "SphericalHarmonicsStep", "CouplingPath", "SparseTerm", "ExactCoefficient", "KernelSpec",
    }  # fmt: skip
    for node in nodes:
        first = dataclasses.fields(node)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(node, first, getattr(node, first))


def test_no_zero_terms_and_every_triple_present():
    ir = lower(3)
    keys = [p.key for p in ir.coupling_paths]
    assert keys == triangle_triples(3)  # sorted, no duplicates, none missing
    assert [g.l for g in ir.generators] == [0, 1, 2, 3]  # exactly the l the build covers
    assert [s.l for s in ir.spherical_harmonics] == [1, 2, 3]  # Y^0 = 1 needs no step
    for path in ir.coupling_paths:
        assert path.terms and all(t.coefficient.p > 0 for t in path.terms)
        assert len({t.indices for t in path.terms}) == len(path.terms)


def test_term_count_is_the_number_of_nonzeros_of_e3nns_wigner_3j():
    """Every nonzero coefficient is kept and no zero one (611 for lmax 3, 18% of the dense blocks)."""
    assert lower(3).num_terms == e3nn_nonzero_coupling_terms(3)


def _ir_from_json(data) -> BuildIR:
    """The IR rebuilt from its JSON form, written here from the node definitions (e3gen only writes JSON)."""

    def terms(rows):
        return tuple(SparseTerm(tuple(indices), ExactCoefficient(*coefficient)) for indices, coefficient in rows)

    return BuildIR(
        data["lmax"],
        tuple(GeneratorSet(g["l"], tuple(terms(m) for m in g["matrices"])) for g in data["generators"]),
        tuple(SphericalHarmonicsStep(s["l"], terms(s["terms"]), tuple(terms(p) for p in s["polynomials"]))
              for s in data["spherical_harmonics"]),  # fmt: skip
        tuple(CouplingPath(p["l1"], p["l2"], p["l3"], terms(p["terms"])) for p in data["coupling_paths"]),
        tuple(KernelSpec(k["kind"], tuple(k["key"]), k["name"], tuple(k["input_dims"]), k["output_dim"], k["num_terms"])
              for k in data["kernels"]),  # fmt: skip
    )


@pytest.mark.parametrize("lmax", [0, 2, 3])
def test_canonical_json_round_trips_and_hash_is_stable(lmax):
    """JSON -> IR -> JSON gives back the same IR and the same bytes: the JSON (and so the hash)
    carries every number and index, and its form is canonical (sorted keys, no whitespace)."""
    ir = lower(lmax)
    text = ir.canonical_json()
    rebuilt = _ir_from_json(json.loads(text))
    assert rebuilt == ir
    assert rebuilt.canonical_json() == text and rebuilt.sha256 == ir.sha256
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) == text
    assert text == lower(lmax).canonical_json()  # stable across calls

    # the hash names the content: one exact coefficient changed changes it
    path = ir.coupling_paths[-1]
    first = path.terms[0]
    changed = dataclasses.replace(first, coefficient=dataclasses.replace(first.coefficient, sign=-first.coefficient.sign))
    edited = dataclasses.replace(ir, coupling_paths=ir.coupling_paths[:-1] + (dataclasses.replace(path, terms=(changed,) + path.terms[1:]),))
    assert edited.sha256 != ir.sha256 and len(ir.sha256) == 64


def test_kernel_specs_describe_their_operands():
    ir = lower(3)
    spec = {(k.kind, k.key): k for k in ir.kernels}
    k = spec[("coupling", (1, 2, 3))]
    assert (k.name, k.input_dims, k.output_dim) == ("coupling_1_2_3", (3, 5), 7)
    assert k.num_terms == len(ir.coupling_path(1, 2, 3).terms)
    s = spec[("spherical_harmonics_step", (2,))]
    assert (s.name, s.input_dims, s.output_dim) == ("spherical_harmonics_2", (1, 1, 1, 3), 5)
