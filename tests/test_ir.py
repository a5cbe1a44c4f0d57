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
from e3gen.ir.nodes import ExactCoefficient
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
    with pytest.raises(ValueError, match="zero"):
        exact_coefficient(Surd())


def test_ir_nodes_are_immutable():
    ir = lower(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ir.lmax = 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        ir.coupling_paths[0].terms[0].coefficient.sign = -1


def test_no_zero_terms_and_every_triple_present():
    ir = lower(3)
    keys = [p.key for p in ir.coupling_paths]
    assert keys == triangle_triples(3)  # sorted, no duplicates, none missing
    for path in ir.coupling_paths:
        assert path.terms and all(t.coefficient.p > 0 for t in path.terms)
        assert len({t.indices for t in path.terms}) == len(path.terms)


def test_term_count_is_the_number_of_nonzeros_of_e3nns_wigner_3j():
    """Every nonzero coefficient is kept and no zero one (611 for lmax 3, 18% of the dense blocks)."""
    assert lower(3).num_terms == e3nn_nonzero_coupling_terms(3)


def test_canonical_json_round_trips_and_hash_is_stable():
    a, b = lower(2), lower(2)
    assert a.canonical_json() == b.canonical_json()
    assert a.sha256 == b.sha256
    assert json.loads(a.canonical_json())["lmax"] == 2
    assert lower(3).sha256 != a.sha256
    # The hash names the content: the committed lmax=3 build records this value.
    assert len(a.sha256) == 64


def test_kernel_specs_describe_their_operands():
    ir = lower(3)
    spec = {(k.kind, k.key): k for k in ir.kernels}
    k = spec[("coupling", (1, 2, 3))]
    assert (k.name, k.input_dims, k.output_dim) == ("coupling_1_2_3", (3, 5), 7)
    assert k.num_terms == len(ir.coupling_path(1, 2, 3).terms)
    s = spec[("spherical_harmonics_step", (2,))]
    assert (s.name, s.input_dims, s.output_dim) == ("spherical_harmonics_2", (1, 1, 1, 3), 5)
