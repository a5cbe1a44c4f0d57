"""The README's kernel-import snippet runs as printed, and the same import refuses a tampered build."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from e3gen import store

REPO = Path(__file__).resolve().parents[1]


def _kernel_snippet() -> str:
    blocks = re.findall(r"```python\n(.+?)\n```", (REPO / "README.md").read_text(), flags=re.S)
    (snippet,) = [b for b in blocks if "from e3gen.generated.lmax3 import" in b]
    return snippet


def _run(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=300)


def test_readme_kernel_import_snippet_runs_and_matches_wigner_3j():
    check = (
        "\nfrom e3gen import o3\n"
        "expected = torch.einsum('ijk,ni,nj->nk', o3.wigner_3j(1, 2, 3), x, y)\n"
        "assert out.shape == (10, 7) and torch.allclose(out, expected, atol=1e-6)\n"
        "assert grad_x.shape == (10, 3) and len(rows) > 0\n"
        "print('ok')\n"
    )
    result = _run(_kernel_snippet() + check)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr


def test_readme_kernel_import_snippet_refuses_a_tampered_build(tmp_path):
    target = tmp_path / "builds" / "lmax3"
    shutil.copytree(store.shipped_root() / "lmax3", target, ignore=shutil.ignore_patterns("__pycache__"))
    tables = target / "tables.py"
    tables.write_text(tables.read_text().replace("0.5773502691896257", "0.5773502691896258", 1))
    result = _run(_kernel_snippet(), E3GEN_BUILD_DIR=str(target.parent))
    assert result.returncode != 0
    assert "BuildError" in result.stderr and "tables.py was edited or is corrupt" in result.stderr
