"""The build: derive -> certify -> lower -> plan -> render -> install, for one lmax.

`build(lmax, out)` runs every stage, reports progress per stage, and writes the package
`out/lmax<L>/` atomically with its manifest. Nothing is written unless the exact certificate
holds. `check=True` renders into memory and compares with what is on disk instead of writing.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import sympy

import e3gen
from e3gen import store
from e3gen.codegen.planner import plan_package
from e3gen.codegen.render import render_package, template_sha256
from e3gen.ir.lower import lower
from e3gen.symbolic.certificate import certify, coupling_triples
from e3gen.symbolic.clebsch_gordan import real_clebsch_gordan
from e3gen.symbolic.so3 import so3_generators
from e3gen.symbolic.spherical_harmonics import spherical_harmonics_polynomials

MAX_LMAX = store.MAX_LMAX


class BuildArgumentError(ValueError):
    """A build was asked for with arguments that cannot work; the message says what would."""


@dataclass
class BuildReport:
    lmax: int
    path: Path
    files: Dict[str, int] = field(default_factory=dict)  # name -> bytes
    stage_seconds: Dict[str, float] = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    certificate: dict = field(default_factory=dict)
    ir_sha256: str = ""
    written: bool = False
    differences: List[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(self.stage_seconds.values())

    def format(self) -> str:
        s = self.summary
        lines = [
            f"e3gen {e3gen.__version__} build lmax={self.lmax} -> {self.path}"
            + ("" if self.written else " (not written)"),
            f"  IR sha256 {self.ir_sha256[:16]}...  {s['coupling_paths']} coupling paths, "
            f"{s['nonzero_terms']} nonzero Clebsch-Gordan terms ({s['density']:.0%} of dense), "
            f"{s['spherical_harmonics_steps']} harmonics steps",
            "  certificate (exact): "
            + ", ".join(f"{n} {k}" for k, n in self.certificate["checks"].items())
            + (" - all passed" if self.certificate["passed"] else " - FAILED"),
            "  files: " + ", ".join(f"{name} ({size // 1024} KiB)" for name, size in sorted(self.files.items())),
            "  stages: " + ", ".join(f"{name} {t:.2f}s" for name, t in self.stage_seconds.items())
            + f"  (total {self.seconds:.2f}s)",
        ]
        return "\n".join(lines)


def validate_lmax(lmax) -> int:
    if isinstance(lmax, bool) or not isinstance(lmax, int):
        raise BuildArgumentError(f"lmax must be an integer, got {lmax!r}")
    if lmax < 0:
        raise BuildArgumentError(f"lmax must be >= 0, got {lmax}; for example: e3gen build --lmax 3")
    if lmax > MAX_LMAX:
        raise BuildArgumentError(
            f"lmax={lmax} is more than e3gen builds (at most {MAX_LMAX}; lmax 8 takes about 20 s and the cost "
            f"grows steeply); ask for --lmax {MAX_LMAX} or less"
        )
    return lmax


def render_build(lmax: int, progress: Callable[[str], None] = lambda message: None) -> tuple:
    """All files of a build as bytes (manifest included), the report data, without writing."""
    lmax = validate_lmax(lmax)
    stages: Dict[str, float] = {}

    def stage(name: str, work: Callable):
        progress(f"[{len(stages) + 1}/5] {name}...")
        start = time.perf_counter()
        result = work()
        stages[name] = time.perf_counter() - start
        return result

    def derive():
        for l in range(lmax + 1):
            so3_generators(l)
            spherical_harmonics_polynomials(l)
        for triple in coupling_triples(lmax):
            real_clebsch_gordan(*triple)

    stage("derive (exact)", derive)
    certificate = stage("certify (exact)", lambda: certify(lmax))
    certificate.raise_if_failed()
    ir = stage("lower to IR", lambda: lower(lmax))
    sources = stage("plan and render", lambda: render_package(plan_package(ir), e3gen.__version__))

    files = {name: text.encode() for name, text in sources.items()}
    dense = sum((2 * p.l1 + 1) * (2 * p.l2 + 1) * (2 * p.l3 + 1) for p in ir.coupling_paths)
    summary = {
        "coupling_paths": len(ir.coupling_paths),
        "nonzero_terms": ir.num_terms,
        "density": round(ir.num_terms / dense, 4),
        "spherical_harmonics_steps": len(ir.spherical_harmonics),
    }
    files[store.MANIFEST] = store.make_manifest(
        lmax,
        files,
        ir_sha256=ir.sha256,
        template_sha256=template_sha256(),
        sympy_version=sympy.__version__,
        certificate=certificate.to_json(),
        summary=summary,
    )
    return files, stages, summary, certificate.to_json(), ir.sha256


def build(
    lmax: int,
    out: Optional[Path] = None,
    *,
    force: bool = False,
    check: bool = False,
    progress: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True),
) -> BuildReport:
    """Build lmax into `out/lmax<L>/` (default: the shipped `e3gen.generated` folder).

    Without `force`, a build already there that verifies (same compiler, templates, hashes) is
    kept as it is. With `check`, nothing is written: the report lists the files that would change.
    """
    lmax = validate_lmax(lmax)
    if out is not None and (not str(out).strip() or "\0" in str(out)):
        raise BuildArgumentError(
            f"--out {str(out)!r} is not a folder name: give the folder that should receive lmax<L>/, e.g. "
            "--out ./e3gen-builds (leave --out out to rebuild the shipped build)"
        )
    root = Path(out) if out is not None else store.shipped_root()
    target = root / store.build_dirname(lmax)
    _check_writable(root, check)

    report = BuildReport(lmax, target)
    existing = store.verify_build(target) if target.exists() else None
    if existing is not None and existing.ok and not force and not check:
        report.summary = existing.manifest["summary"]
        report.certificate = existing.manifest["certificate"]
        report.ir_sha256 = existing.manifest["ir_sha256"]
        report.files = {p.name: p.stat().st_size for p in target.iterdir() if p.is_file()}
        return report  # the caller says so (report.written is False): once, not also as progress
    if existing is not None and not existing.ok and not check:
        progress(f"replacing the build at {target}: {existing.describe()}")

    files, stages, summary, certificate, ir_sha256 = render_build(lmax, progress)
    report.stage_seconds, report.summary, report.certificate, report.ir_sha256 = stages, summary, certificate, ir_sha256
    report.files = {name: len(data) for name, data in files.items()}
    if check:
        report.differences = _differences(target, files)
        return report
    start = time.perf_counter()
    progress("[5/5] install (atomic)...")
    store.install_build(root, lmax, files)
    report.stage_seconds["install"] = time.perf_counter() - start
    report.written = True
    return report


def _differences(target: Path, files: Dict[str, bytes]) -> List[str]:
    differences = []
    for name, data in sorted(files.items()):
        on_disk = target / name
        if not on_disk.is_file():
            differences.append(f"{name}: missing")
        elif on_disk.read_bytes() != data:
            differences.append(f"{name}: differs")
    if target.is_dir():
        differences += [f"{p.name}: not part of the build" for p in sorted(target.glob("*.py")) if p.name not in files]
    return differences


def _check_writable(root: Path, check: bool) -> None:
    if check:
        return
    probe = root
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise BuildArgumentError(f"--out {root}: {probe} is a file, not a folder; choose a folder for --out")
    fix = "choose a writable folder with --out, or set E3GEN_CACHE_DIR and let e3gen build on demand"
    if not os.access(probe, os.W_OK | os.X_OK):
        raise BuildArgumentError(f"cannot write to {root} ({probe} is not writable); {fix}")
    # access() says yes to root everywhere (even /proc and /sys): create the folder and a file in it
    # now, not after minutes of derivation.
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as error:
        raise BuildArgumentError(f"cannot write to {root} ({error.strerror or error}); {fix}") from None
