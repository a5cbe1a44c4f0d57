"""The certificate is a gate, not a report: a build whose exact certificate fails writes nothing, and
the loader refuses a build whose manifest says its certificate failed.

Strategy: inject one wrong exact number into what the certificate checks (a Clebsch-Gordan entry
scaled by 101/100, or two so(3) generators swapped) by monkeypatching the certificate's view of the
derivation, then run the real build. The certificate's own detection of such tables is tested in
test_symbolic.py; here the property is what the build and the loader do with a failed certificate.
"""

import json
import shutil
from fractions import Fraction

import pytest

from e3gen import store
from e3gen.build import build
from e3gen.runtime import loader
from e3gen.store import BuildError
from e3gen.symbolic import certificate as cert
from e3gen.symbolic.clebsch_gordan import real_clebsch_gordan
from e3gen.symbolic.exact import Surd
from e3gen.symbolic.so3 import so3_generators


def _wrong_coefficient(monkeypatch):
    """One entry of C^(2,1,2) scaled by 101/100: neither invariant nor orthonormal any more."""
    tampered = dict(real_clebsch_gordan(2, 1, 2))
    key = sorted(tampered)[3]
    tampered[key] = tampered[key] * Surd.rational(Fraction(101, 100))
    monkeypatch.setattr(cert, "real_clebsch_gordan", lambda *ls: tampered if ls == (2, 1, 2) else real_clebsch_gordan(*ls))
    return r"real_clebsch_gordan\(2, 1, 2\)"


def _wrong_generator(monkeypatch):
    """X[0] and X[1] of l=1 swapped: still antisymmetric, but [X0, X1] = -X2 and not e3nn's rotations."""
    swapped = lambda l: (so3_generators(l)[1], so3_generators(l)[0], so3_generators(l)[2])  # noqa: E731
    monkeypatch.setattr(cert, "so3_generators", lambda l: swapped(l) if l == 1 else so3_generators(l))
    return r"so3_generators\(1\)"


def _snapshot(root):
    """Every file under root (hidden staging folders included) -> its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("inject", [_wrong_coefficient, _wrong_generator])
def test_failed_certificate_raises_writes_nothing_and_keeps_the_previous_build(tmp_path, monkeypatch, inject):
    root = tmp_path / "builds"
    build(2, root, progress=lambda m: None)
    before = _snapshot(root)

    names = inject(monkeypatch)
    with pytest.raises(cert.CertificateError, match=names):
        build(2, root, force=True, progress=lambda m: None)
    assert _snapshot(root) == before, "a failed certificate must leave every file (and no staging folder) behind"
    assert store.verify_build(root / "lmax2").ok

    empty = tmp_path / "empty"
    with pytest.raises(cert.CertificateError, match=names):
        build(2, empty, progress=lambda m: None)
    assert not (empty / "lmax2").exists() and (not empty.exists() or _snapshot(empty) == {})


@pytest.mark.parametrize("certificate", [{"arithmetic": "exact", "passed": False, "checks": {}}, {}, None])
def test_loader_refuses_a_build_whose_certificate_did_not_pass(tmp_path, certificate):
    """Only the manifest changes (its own hash is not recorded), so every file hash still matches:
    the certificate entry alone must make the loader refuse."""
    target = tmp_path / "builds" / "lmax3"
    shutil.copytree(store.shipped_root() / "lmax3", target, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = json.loads((target / store.MANIFEST).read_text())
    assert manifest["certificate"]["passed"] is True
    if certificate is None:
        del manifest["certificate"]
    else:
        manifest["certificate"] = certificate
    (target / store.MANIFEST).write_text(json.dumps(manifest))
    status = store.verify_build(target)
    assert status.problems == ["its exact certificate did not pass"]
    with pytest.raises(BuildError, match="certificate did not pass.*e3gen build --lmax 3 --out .* --force"):
        loader.import_build(target)
