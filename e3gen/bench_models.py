"""`e3gen bench --cases m`: whole client models, e3gen (E3GEN_AS_E3NN=1) against real e3nn.

MACE 0.3.16 (ScaleShiftMACE max_ell 3, correlation 3, two interactions) and NequIP 0.19.1
(NequIPGNNModel l_max 2, 3 layers) forward+forces, eager, float32 and float64, at ~1,400 and ~20,000
edges. The client packages pin their own e3nn, so each side runs in its own venv (made by
.ci/clients.sh, folder named by E3GEN_CLIENT_VENVS): mace-ref (e3nn 0.4.4) or nequip-ref (e3nn 0.6.0)
for e3nn, e3gen-clients with the switch for e3gen. Each run is a subprocess of
e3gen/_bench_models_worker.py; each side runs twice, in the order e3nn, e3gen, e3gen, e3nn (a drift
in the machine's load hits both alike; processes cannot interleave call by call as the other cases
do), and the lower of its two medians is reported, with the split per module (NequIP's
TensorProductScatter, TensorProduct, Linear, FullyConnectedNet, SphericalHarmonics, MACE's
SymmetricContraction, other), forward and backward together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

WORKER = Path(__file__).resolve().parent / "_bench_models_worker.py"
MODELS = {"mace": "mace-ref", "nequip": "nequip-ref"}
DTYPES = ("float32", "float64")
SHORT = {"TensorProductScatter": "TPS", "TensorProduct": "TP", "Linear": "Lin", "FullyConnectedNet": "FCN", "SphericalHarmonics": "SH",
         "SymmetricContraction": "SymC", "other": "other"}
# (NequIP's TensorProductScatter counts as e3nn's: its time is e3nn's product, and the scatter that
# e3gen's fused convolution takes over)
E3NN_OWNED = ("TensorProductScatter", "TensorProduct", "Linear", "FullyConnectedNet", "SphericalHarmonics")


def venvs_folder() -> Optional[Path]:
    """The client venvs' folder (E3GEN_CLIENT_VENVS), or None when it is unset or lacks a venv."""
    folder = os.environ.get("E3GEN_CLIENT_VENVS")
    if not folder:
        return None
    folder = Path(folder)
    needed = ["e3gen-clients", *MODELS.values()]
    return folder if all((folder / name / "bin" / "python").exists() for name in needed) else None


def worker_command(venvs: Path, venv: str, model: str, dtype: str, repeats: int, out: Path) -> List[str]:
    # -P: the worker's folder (e3gen/, with its own `math` package) must not go on sys.path.
    return [str(venvs / venv / "bin" / "python"), "-P", str(WORKER), model, dtype, str(repeats), str(out)]


def run_side(venvs: Path, venv: str, switch: bool, model: str, dtype: str, repeats: int, threads: Optional[int]) -> Dict:
    env = {k: v for k, v in os.environ.items() if k not in ("E3GEN_AS_E3NN", "PYTHONPATH")}
    if switch:
        env["E3GEN_AS_E3NN"] = "1"
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        result = subprocess.run(worker_command(venvs, venv, model, dtype, repeats, out), cwd=tmp, env=env,
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"bench case m: {model} {dtype} in {venv} failed:\n{result.stderr[-4000:]}")
        return json.loads(out.read_text())


def format_split(split: Dict[str, float], total_ms: float) -> str:
    return " ".join(f"{SHORT[k]} {split[k] * total_ms:.0f}" for k in SHORT if split.get(k, 0) > 0.005)


def _best_per_size(results: List[Dict]) -> Dict:
    """One side's result with, per size, the run of the lowest median among `results`."""
    best = dict(results[0])
    best["sizes"] = {size: min((r["sizes"][size] for r in results), key=lambda s: s["median_ms"])
                     for size in results[0]["sizes"]}
    return best


def run(repeats: int, threads: Optional[int]) -> int:
    """Prints one block per model and dtype; returns 0, or 0 after one message when the venvs are absent."""
    venvs = venvs_folder()
    if venvs is None:
        print("case m skipped: set E3GEN_CLIENT_VENVS to a folder made by .ci/clients.sh "
              "(venvs mace-ref, nequip-ref, e3gen-clients)", file=sys.stderr)
        return 0
    print(f"case m: whole models, forward+forces, eager, median of {repeats}; split in ms (profiled fractions "
          f"of the median), forward and backward together")
    for model, ref_venv in MODELS.items():
        for dtype in DTYPES:
            # Each side twice, in the order e3nn, e3gen, e3gen, e3nn (a drift in the machine's load hits
            # both alike); per size, each side's less disturbed run (the lower median) is reported.
            sides = {"e3nn": (ref_venv, False), "e3gen": ("e3gen-clients", True)}
            runs = {"e3nn": [], "e3gen": []}
            for side in ("e3nn", "e3gen", "e3gen", "e3nn"):
                venv, switch = sides[side]
                runs[side].append(run_side(venvs, venv, switch, model, dtype, repeats, threads))
            ref, ours = (_best_per_size(runs[side]) for side in ("e3nn", "e3gen"))
            for size in ("small", "large"):
                r, o = ref["sizes"][size], ours["sizes"][size]
                owned = {name: sum(s["split"].get(k, 0) for k in E3NN_OWNED) * s["median_ms"] for name, s in (("e3nn", r), ("e3gen", o))}
                print(f"m {model:<6} {dtype} {r['edges']:>6} edges: e3nn {ref['e3nn']} {r['median_ms']:.1f} ms, e3gen "
                      f"{o['median_ms']:.1f} ms, e3gen/e3nn {o['median_ms'] / r['median_ms']:.2f}; e3nn-owned part "
                      f"{owned['e3nn']:.1f} / {owned['e3gen']:.1f} ms ({owned['e3gen'] / max(owned['e3nn'], 1e-9):.2f})")
                print(f"    e3nn : {format_split(r['split'], r['median_ms'])}")
                print(f"    e3gen: {format_split(o['split'], o['median_ms'])}")
            if dtype == DTYPES[0]:
                for line in ours["products"]:
                    print(f"    e3gen product {line}")
    return 0
