"""The symbolic stage: exact arithmetic, Clebsch-Gordan, spherical harmonics and the certificate.

Everything here is exact; comparisons are equalities, not tolerances. sympy serves as an
independent oracle for the complex Clebsch-Gordan coefficients and for exactness of the spelling.
"""

import subprocess
import sys
from fractions import Fraction

import pytest
import sympy
from hypothesis import given
from hypothesis import strategies as st
from sympy.physics.wigner import clebsch_gordan as sympy_clebsch_gordan

from e3gen.symbolic import certificate as cert
from e3gen.symbolic.clebsch_gordan import complex_clebsch_gordan_coefficient, real_clebsch_gordan
from e3gen.symbolic.exact import Surd, squarefree_split
from e3gen.symbolic.polynomial import surd_to_sympy
from e3gen.symbolic.spherical_harmonics import real_spherical_harmonics, spherical_harmonics_polynomials

rationals = st.fractions(min_value=-50, max_value=50, max_denominator=50)


# --- exact arithmetic -------------------------------------------------------------------------


@given(st.integers(min_value=1, max_value=10**6))
def test_squarefree_split_reassembles_n(n):
    s, k = squarefree_split(n)
    assert s * s * k == n
    assert all(k % (p * p) != 0 for p in range(2, int(k**0.5) + 1))


@given(rationals, rationals, st.integers(1, 30), st.integers(1, 30))
def test_surd_arithmetic_matches_sympy(a, b, m, n):
    x = Surd.rational(a) * Surd.sqrt(m) + Surd.sqrt(Fraction(n, 7))
    y = Surd.rational(b) - Surd.sqrt(m * n)
    sx, sy = surd_to_sympy(x), surd_to_sympy(y)
    assert sympy.expand(surd_to_sympy(x * y) - sx * sy) == 0
    assert sympy.expand(surd_to_sympy(x + y) - (sx + sy)) == 0
    assert sympy.expand(surd_to_sympy(x - y) - (sx - sy)) == 0


@given(rationals, rationals.filter(lambda c: c != 0), st.integers(1, 30), st.integers(1, 30))
def test_surd_division_by_a_single_term_matches_sympy(a, c, m, n):
    """q = x / (c sqrt(n)) for a sum x of square roots and a nonzero single term: q * divisor == x in
    sympy's exact arithmetic (multiplying avoids sympy's slow radical simplification); a divisor of
    two terms (not in e3gen's field operations) raises ZeroDivisionError."""
    x = Surd.rational(a) * Surd.sqrt(m) + Surd.sqrt(Fraction(n, 7))
    divisor = Surd.rational(c) * Surd.sqrt(n)
    assert sympy.expand(surd_to_sympy(x / divisor) * surd_to_sympy(divisor) - surd_to_sympy(x)) == 0
    with pytest.raises(ZeroDivisionError):
        x / (Surd.sqrt(2) + Surd.sqrt(3))


def test_surd_zero_test_is_exact():
    # sqrt(8) - 2 sqrt(2) is exactly zero; sqrt(2) + sqrt(3) - sqrt(5 + 2 sqrt 6) is not representable
    assert (Surd.sqrt(8) - Surd.rational(2) * Surd.sqrt(2)).is_zero()
    assert not (Surd.sqrt(2) - Surd.sqrt(3)).is_zero()
    assert Surd.sqrt(Fraction(30, 36)).as_signed_square() == (1, Fraction(5, 6))


def test_surd_to_float_is_correctly_rounded():
    for p, q in [(1, 3), (2, 3), (30, 36), (10**20 + 7, 3), (5, 10**12)]:
        exact = sympy.sqrt(sympy.Rational(p, q)).evalf(60)
        assert Surd.sqrt(Fraction(p, q)).to_float() == float(exact)


# --- Clebsch-Gordan -------------------------------------------------------------------------


@pytest.mark.parametrize("l1,l2,l3", cert.coupling_triples(3))
def test_complex_clebsch_gordan_equals_sympy(l1, l2, l3):
    """Owns the Condon-Shortley phase of the complex coefficients: a wrong sign convention (say
    (-1)^(v + l1 + m2) in Racah's sum) is a basis choice that the exact certificate (invariance,
    orthonormality) and every equivariance test accept; sympy's values here, and e3nn's real
    wigner_3j in test_e3nn_compat.py, are the only checks that catch it."""
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            m3 = m1 + m2
            if abs(m3) > l3:
                continue
            ours = surd_to_sympy(complex_clebsch_gordan_coefficient(l1, m1, l2, m2, l3, m3))
            assert sympy.simplify(ours - sympy_clebsch_gordan(l1, l2, l3, m1, m2, m3)) == 0


@given(st.integers(0, 8), st.integers(0, 8), st.data())
def test_complex_clebsch_gordan_equals_sympy_up_to_lmax_8(l1, l2, data):
    l3 = data.draw(st.integers(abs(l1 - l2), min(l1 + l2, 8)))
    m1 = data.draw(st.integers(-l1, l1))
    m2 = data.draw(st.integers(max(-l2, -l3 - m1), min(l2, l3 - m1)))
    ours = surd_to_sympy(complex_clebsch_gordan_coefficient(l1, m1, l2, m2, l3, m1 + m2))
    assert sympy.simplify(ours - sympy_clebsch_gordan(l1, l2, l3, m1, m2, m1 + m2)) == 0


@pytest.mark.parametrize("l1,l2,l3", cert.coupling_triples(4))
def test_real_clebsch_gordan_entries_are_signed_square_roots_with_unit_norm(l1, l2, l3):
    c = real_clebsch_gordan(l1, l2, l3)
    assert c, "a coupling that the triangle condition allows is never zero"
    squares = [v.as_signed_square() for v in c.values()]
    assert all(sign in (1, -1) and r > 0 for sign, r in squares)
    assert sum(r for _, r in squares) == 1  # Frobenius norm 1, exactly


def test_real_clebsch_gordan_rejects_forbidden_triples():
    with pytest.raises(ValueError, match="triangle|violates"):
        real_clebsch_gordan(1, 1, 3)


def test_known_values_in_e3nn_convention():
    # wigner_3j(1, 1, 0) = identity / sqrt(3); wigner_3j(1, 1, 1) = Levi-Civita / sqrt(6)
    c = real_clebsch_gordan(1, 1, 0)
    assert {k: v.as_signed_square() for k, v in c.items()} == {(i, i, 0): (1, Fraction(1, 3)) for i in range(3)}
    c = real_clebsch_gordan(1, 1, 1)
    eps = {(0, 1, 2): 1, (1, 2, 0): 1, (2, 0, 1): 1, (0, 2, 1): -1, (2, 1, 0): -1, (1, 0, 2): -1}
    assert {k: v.as_signed_square() for k, v in c.items()} == {k: (s, Fraction(1, 6)) for k, s in eps.items()}


# --- spherical harmonics ------------------------------------------------------------------------


def test_spherical_harmonics_low_degrees_are_e3nn_formulas():
    x, y, z = sympy.symbols("x y z", real=True)
    s = sympy.sqrt
    expected = {
        0: [1],
        1: [s(3) * x, s(3) * y, s(3) * z],
        2: [s(15) * x * z, s(15) * x * y, s(5) * (y**2 - (x**2 + z**2) / 2), s(15) * y * z, s(15) / 2 * (z**2 - x**2)],
    }
    for l, polys in expected.items():
        ours = real_spherical_harmonics(l, "component")
        assert [sympy.expand(a - b) for a, b in zip(ours, polys)] == [0] * (2 * l + 1)


def test_normalizations_are_exact_factors():
    x, y, z = sympy.symbols("x y z", real=True)
    for l in range(4):
        comp = real_spherical_harmonics(l, "component")
        for a, b in zip(real_spherical_harmonics(l, "norm"), comp):
            assert sympy.simplify(a - b / sympy.sqrt(2 * l + 1)) == 0
        for a, b in zip(real_spherical_harmonics(l, "integral"), comp):
            assert sympy.simplify(a - b / sympy.sqrt(4 * sympy.pi)) == 0


def test_integral_normalization_integrates_to_one_on_the_sphere():
    theta, phi = sympy.symbols("theta phi", real=True)
    # e3nn's y-polar sphere point (sin t sin p, cos t, sin t cos p)
    point = {"x": sympy.sin(theta) * sympy.sin(phi), "y": sympy.cos(theta), "z": sympy.sin(theta) * sympy.cos(phi)}
    for l in (1, 2):
        for m, poly in enumerate(real_spherical_harmonics(l, "integral")):
            f = poly.subs({sympy.Symbol(k, real=True): v for k, v in point.items()})
            integral = sympy.integrate(f**2 * sympy.sin(theta), (theta, 0, sympy.pi), (phi, 0, 2 * sympy.pi))
            assert sympy.simplify(integral - 1) == 0, (l, m)


# --- the certificate ---------------------------------------------------------------------------


def test_certificate_passes_up_to_lmax_5():
    c = cert.certify(5)
    assert c.passed, c.failures
    assert c.counts == {"so3_generators": 6, "spherical_harmonics": 6, "clebsch_gordan": len(cert.coupling_triples(5))}


def test_certificate_catches_a_perturbed_clebsch_gordan_entry(monkeypatch):
    original = real_clebsch_gordan(2, 1, 2)
    tampered = dict(original)
    key = sorted(tampered)[3]
    tampered[key] = tampered[key] * Surd.rational(Fraction(101, 100))
    monkeypatch.setattr(cert, "real_clebsch_gordan", lambda *ls: tampered if ls == (2, 1, 2) else original)
    problems = cert.check_clebsch_gordan(2, 1, 2)
    assert any("not invariant" in p for p in problems)
    assert any("not orthonormal" in p for p in problems)
    with pytest.raises(cert.CertificateError, match=r"real_clebsch_gordan\(2, 1, 2\)"):
        c = cert.Certificate()
        c.record("clebsch_gordan", problems)
        c.raise_if_failed()


def test_certificate_catches_a_wrong_sign_in_a_harmonic(monkeypatch):
    polys = list(spherical_harmonics_polynomials(2))
    polys[1] = polys[1].scale(Surd.rational(-1))  # flips one m: still harmonic and normalised
    monkeypatch.setattr(cert, "spherical_harmonics_polynomials", lambda l: polys)
    problems = cert.check_spherical_harmonics(2)
    assert problems and all("transform" in p for p in problems)


def test_certificate_catches_wrong_generators(monkeypatch):
    import e3gen.symbolic.so3 as so3

    good = so3.so3_generators(1)
    swapped = (good[1], good[0], good[2])
    monkeypatch.setattr(cert, "so3_generators", lambda l: swapped)
    assert cert.check_generators(1)


def test_symbolic_stage_never_imports_torch():
    code = (
        "import sys\n"
        "import e3gen.build, e3gen.symbolic.certificate, e3gen.ir.lower, e3gen.codegen.render\n"
        "from e3gen.build import render_build\n"
        "render_build(2)\n"
        "assert 'torch' not in sys.modules, 'the compiler imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
