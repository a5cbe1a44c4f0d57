"""Runs one client model on real e3nn and on e3gen (E3GEN_AS_E3NN=1) and compares the two.

The venvs come from .ci/clients.sh (folder given by E3GEN_CLIENT_VENVS):
  mace-ref       torch 2.13.0 + mace-torch 0.3.16 + its e3nn 0.4.4
  nequip-ref     torch 2.13.0 + nequip 0.19.1 + e3nn 0.6.0
  e3gen-clients  torch 2.13.0 + this checkout (pip -e) + mace-torch and nequip (--no-deps) + their
                 other dependencies, no e3nn

    python tests/clients/driver.py   # prints agreement and eager seconds per forward+forces

Scripts run from a scratch folder outside the repository (a checkout on sys.path could shadow an
installed package). The reference saves its freshly built model's state_dict; the e3gen run builds
the same model, loads that state_dict strictly and evaluates the same inputs.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
MODELS = {"mace": ("mace-ref", "mace_model.py"), "nequip": ("nequip-ref", "nequip_model.py")}


def venv_python(venvs: Path, name: str) -> Path:
    return Path(venvs) / name / "bin" / "python"


def run_script(python: Path, script: str, args, cwd, switch: bool, extra_env=None) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("E3GEN_AS_E3NN", "E3GEN_FUSE_CLIENTS", "PYTHONPATH")}
    if switch:
        env["E3GEN_AS_E3NN"] = "1"
    env.update(extra_env or {})
    result = subprocess.run([str(python), str(HERE / script), *args], cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{python} {script} {' '.join(args)} failed:\n{result.stderr[-6000:]}")


def compare(model: str, venvs: Path, workdir: Path, time_it: bool = False):
    """-> (reference results, e3gen results): dicts of {(dtype, input): {quantity: tensor}} and metadata."""
    ref_venv, script = MODELS[model]
    state, ref_out, ours_out = workdir / f"{model}_state.pt", workdir / f"{model}_ref.pt", workdir / f"{model}_e3gen.pt"
    timing = ["--time"] if time_it else []
    run_script(venv_python(venvs, ref_venv), script, ["--state", str(state), "--save", "--out", str(ref_out), *timing], workdir, False)
    run_script(venv_python(venvs, "e3gen-clients"), script, ["--state", str(state), "--load", "--out", str(ours_out), *timing],
               workdir, True)
    return torch.load(ref_out, weights_only=False), torch.load(ours_out, weights_only=False)


def relative_errors(reference, ours):
    """{(dtype, input, quantity): max |ours - ref| / max |ref|} over every compared array."""
    errors = {}
    for key, quantities in reference.items():
        if not isinstance(key, tuple):
            continue
        for quantity, ref in quantities.items():
            ref, got = ref.double(), ours[key][quantity].double()
            assert ref.shape == got.shape, (key, quantity, ref.shape, got.shape)
            errors[key + (quantity,)] = ((got - ref).abs().max() / ref.abs().max()).item()
    return errors


def main() -> int:
    venvs = Path(os.environ.get("E3GEN_CLIENT_VENVS", ""))
    if not venv_python(venvs, "e3gen-clients").exists():
        print("set E3GEN_CLIENT_VENVS to the folder .ci/clients.sh made", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        for model in MODELS:
            reference, ours = compare(model, venvs, Path(tmp), time_it=True)
            errors = relative_errors(reference, ours)
            worst = {dtype: max(v for k, v in errors.items() if k[0] == dtype) for dtype in ("torch.float64", "torch.float32")}
            print(f"{model}: e3nn {reference['e3nn']} vs {ours['e3nn']}; worst relative difference "
                  f"(energy, forces, stress) float64 {worst['torch.float64']:.1e}, float32 {worst['torch.float32']:.1e}; "
                  f"eager s per forward+forces, fastest of 5 ({reference['atoms']} atoms, float64): "
                  f"e3nn {reference['seconds_per_forward_forces']:.3f}, e3gen {ours['seconds_per_forward_forces']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
