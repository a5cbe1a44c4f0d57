"""nequip-train and nequip-compile (NequIP 0.19.1, unmodified) on e3gen (E3GEN_AS_E3NN=1) vs real e3nn.

Property 1, training: ``nequip-train`` with the same config (tests/clients/nequip_train.yaml: a tiny
NequIPGNNModel, float64, fixed seed, 3 epochs) on the same data (EMT molecular dynamics of a CuAu
cell made with ASE, tests/clients/nequip_emt_data.py) logs the same loss curves on real e3nn 0.6.0
and on e3gen: every per-step train loss and per-epoch metric. Tolerance 1e-9 relative: the two
differ only in the order of float64 sums (~1e-16 per step), which 15 Adam steps amplify a little
(measured: 1e-15).

Property 2, deployment: ``nequip-compile --mode torchscript`` of each trained checkpoint reloads in
nequip's ASE calculator (``NequIPCalculator.from_compiled_model``) and gives the eager model's
energies, forces and stresses (1e-10 relative: rounding only), on frames of the data and on a
larger supercell; and the e3gen-trained model's numbers equal the real-e3nn-trained model's
(1e-9 relative, as for the curves). nequip 0.19.1 refuses ``--mode torchscript`` on torch >= 2.10
before doing anything (see tests/clients/nequip_deploy.py, which lifts only that check).
Property 3, ``nequip-compile --mode aotinductor`` (make_fx, torch.export, AOTInductor's C++) of
the e3gen-trained checkpoint, with the switch on, reloads in the same calculator and gives the
eager numbers (1e-10 relative). Only the e3gen side is compiled this way: the C++ build takes about
a minute per model, and the e3nn side's eager numbers are already compared above.
tests/test_deploy_tracing.py checks in-process the tracing properties it needs (identical make_fx
graphs, no e3gen op in an exported graph).

The client packages live in venvs made by .ci/clients.sh (E3GEN_CLIENT_VENVS names their folder);
scripts run from scratch folders outside the repository. Without the venvs these tests skip.
"""

import csv
import math
import os
import subprocess
from pathlib import Path

import pytest
import torch

VENVS = os.environ.get("E3GEN_CLIENT_VENVS")
CLIENTS = Path(__file__).resolve().parent / "clients"
SIDES = {"e3nn": "nequip-ref", "e3gen": "e3gen-clients"}
pytestmark = [
    pytest.mark.skipif(not VENVS, reason="set E3GEN_CLIENT_VENVS to the folder made by .ci/clients.sh"),
]


def _run(side: str, program: str, args, cwd: Path) -> None:
    """Run a venv's program (a console script or `python`) with the switch on for the e3gen side."""
    env = {k: v for k, v in os.environ.items() if k not in ("E3GEN_AS_E3NN", "PYTHONPATH")}
    if side == "e3gen":
        env["E3GEN_AS_E3NN"] = "1"
    command = [str(Path(VENVS) / SIDES[side] / "bin" / program), *map(str, args)]
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """{"data": extxyz path, side: output folder of its nequip-train run} for both sides."""
    root = tmp_path_factory.mktemp("nequip")
    data = root / "emt.xyz"
    _run("e3gen", "python", [CLIENTS / "nequip_emt_data.py", data, "--frames", "24"], root)
    runs = {"data": data}
    for side in SIDES:
        runs[side] = root / side
        _run(side, "nequip-train", ["-cp", CLIENTS, "-cn", "nequip_train", f"data_path={data}", f"hydra.run.dir={runs[side]}"],
             root)
    return runs


def _curves(run_dir: Path):
    """Lightning's CSV log: (column names, rows of floats, NaN where a row has no value)."""
    with open(run_dir / "csv" / "version_0" / "metrics.csv") as f:
        rows = list(csv.reader(f))
    return rows[0], [[float(v) if v else math.nan for v in row] for row in rows[1:]]


def test_nequip_train_loss_curves_on_e3gen_match_real_e3nn(trained):
    names, reference = _curves(trained["e3nn"])
    names_e3gen, ours = _curves(trained["e3gen"])
    assert names_e3gen == names and len(ours) == len(reference)
    steps = [row[names.index("train_loss_step/weighted_sum")] for row in reference]
    assert sum(not math.isnan(v) for v in steps) == 3 * 5, "3 epochs of 5 steps (18 training frames, batches of 4)"
    assert any(not math.isnan(row[names.index("val0_epoch/weighted_sum")]) for row in reference)
    worst = 0.0
    for ref_row, our_row in zip(reference, ours):
        for name, ref, got in zip(names, ref_row, our_row):
            if name in ("epoch", "step") or math.isnan(ref):
                assert (math.isnan(ref) and math.isnan(got)) or ref == got, (name, ref, got)
                continue
            assert math.isfinite(ref), (name, ref)
            worst = max(worst, abs(got - ref) / max(abs(ref), 1e-300))
    assert worst <= 1e-9, f"largest relative difference between the loss curves: {worst:.1e}"


@pytest.fixture(scope="module")
def deployed(trained):
    """Per side: the results of tests/clients/nequip_deploy.py on its trained checkpoint."""
    results = {}
    for side in SIDES:
        workdir = trained[side] / "deploy"
        workdir.mkdir()
        out = workdir / "results.pt"
        _run(side, "python", [CLIENTS / "nequip_deploy.py", "--ckpt", trained[side] / "last.ckpt", "--xyz", trained["data"],
                              "--workdir", workdir, "--out", out] + (["--aotinductor"] if side == "e3gen" else []), workdir)
        results[side] = torch.load(out, weights_only=False)
    return results


def _relative(got: torch.Tensor, want: torch.Tensor) -> float:
    assert got.shape == want.shape and got.dtype == want.dtype == torch.float64
    return ((got - want).abs().max() / want.abs().max()).item()


def test_nequip_compile_torchscript_reloads_with_the_eager_numbers(deployed):
    ours = deployed["e3gen"]
    assert ours["e3nn"].startswith("0.6.0+e3gen.") and deployed["e3nn"]["e3nn"] == "0.6.0"
    for side, results in deployed.items():
        assert results["eager"]["forces"].shape == (3 * 8 + 4 * 8, 3)  # three frames and a 2x2x1 supercell
        for quantity, eager in results["eager"].items():
            error = _relative(results["torchscript"][quantity], eager)
            assert error <= 1e-10, f"{side}: TorchScript {quantity} differs from eager by {error:.1e}"


def test_models_trained_on_e3gen_and_real_e3nn_give_the_same_numbers(deployed):
    for quantity, want in deployed["e3nn"]["eager"].items():
        error = _relative(deployed["e3gen"]["eager"][quantity], want)
        assert error <= 1e-9, f"{quantity}: e3gen-trained vs e3nn-trained model differ by {error:.1e}"


def test_nequip_compile_aotinductor_on_e3gen_reloads_with_the_eager_numbers(deployed):
    ours = deployed["e3gen"]
    assert "aotinductor" in ours and "aotinductor" not in deployed["e3nn"]
    for quantity, eager in ours["eager"].items():
        error = _relative(ours["aotinductor"][quantity], eager)
        assert error <= 1e-10, f"AOTInductor {quantity} differs from eager by {error:.1e}"
