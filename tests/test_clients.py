"""MACE 0.3.16 and NequIP 0.19.1, unmodified, on e3gen (E3GEN_AS_E3NN=1) give real e3nn's numbers.

Property: a model built by the client package on real e3nn (MACE pins e3nn 0.4.4, NequIP uses
0.6.0) and the same model built on e3gen, loading the first one's state_dict strictly, give the
same energies, forces and stresses on periodic CuAu cells and a molecular CuAu cluster (made with
ASE in tests/clients/structures.py). Tolerance: 1e-10 relative in float64 (a reordering of sums
costs ~1e-15), 1e-5 in float32 (single-precision rounding through three layers).

NequIP's convolution (TensorProductScatter.forward: the product on gathered rows, then a scatter)
runs on e3gen through the switch's post-import hook as one fused native op: the comparison asserts
that this op ran and that NequIP's float64 numbers agree to 1e-12 (measured 2e-15), and a second e3gen run with the opt-out (E3GEN_FUSE_CLIENTS=0: NequIP's forward as
written, e3gen's product and NequIP's scatter) gives the same numbers to 1e-12 relative in float64
(two summation orders of the same terms) and 1e-5 in float32.

The client packages cannot share this environment (they pin other e3nn versions), so they live in
venvs made by .ci/clients.sh; E3GEN_CLIENT_VENVS names their folder. Without it these tests skip.
"""

import os
import subprocess
from pathlib import Path

import pytest
import torch
from clients.driver import MODELS, compare, relative_errors, run_script, venv_python

VENVS = os.environ.get("E3GEN_CLIENT_VENVS")
REPO = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.skipif(not VENVS, reason="set E3GEN_CLIENT_VENVS to the folder made by .ci/clients.sh"),
]
FUSED_OP = "e3gen::channelwise_conv"  # the fused convolution (e3gen.native.ops)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """model -> (its work folder, real e3nn's results, e3gen's results), each model run once per module."""
    cache = {}

    def get(model):
        if model not in cache:
            workdir = tmp_path_factory.mktemp(model)
            cache[model] = (workdir, *compare(model, Path(VENVS), workdir))
        return cache[model]

    return get


def test_client_venv_runs_this_checkout():
    """The e3gen-clients venv must have this checkout installed (else the comparison tests another e3gen)."""
    out = subprocess.run([str(venv_python(VENVS, "e3gen-clients")), "-c", "import e3gen; print(e3gen.__file__)"],
                         cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    assert out == str(REPO / "e3gen" / "__init__.py"), f"{out}: rerun .ci/clients.sh from this checkout"


@pytest.mark.parametrize("model", sorted(MODELS))
def test_client_model_on_e3gen_gives_real_e3nns_numbers(model, runs):
    _, reference, ours = runs(model)
    assert not reference["e3nn"].startswith("0.6.0+e3gen") and ours["e3nn"].startswith("0.6.0+e3gen."), (reference["e3nn"], ours["e3nn"])
    errors = relative_errors(reference, ours)
    assert {k[1] for k in errors} == {"periodic", "molecular"} and {k[2] for k in errors} == {"energy", "forces", "stress"}
    tolerance = {"torch.float64": 1e-10, "torch.float32": 1e-5}
    too_far = {k: v for k, v in errors.items() if not v <= tolerance[k[0]]}
    assert not too_far, f"{model}: relative differences above tolerance: {too_far}"
    if model == "mace":
        # MACE's U matrices come from wigner_3j, whose signs differ in e3nn 0.4.4 (see
        # test_clients_e3nn_versions.py): the checkpoint's buffers are what makes the numbers equal.
        # With e3gen's own U matrices the energy moves by ~2e-11 relative at this initialisation
        # (the first product's flipped terms are cubes of small messages): 100x float64 rounding.
        without = ours["u_matrices_without_checkpoints"]
        ref_energy = reference[("torch.float64", "periodic")]["energy"]
        assert without["differ"] and ((without["energy"] - ref_energy).abs().max() / ref_energy.abs().max()).item() > 1e-13, without
    if model == "nequip":  # every convolution ran fused, in both dtypes, and float64 agrees to 1e-12 (measured 2e-15)
        assert max(v for k, v in errors.items() if k[0] == "torch.float64") <= 1e-12, errors
        assert ours["tp_scatter_forward"] == "e3gen.compat._nequip" and reference["tp_scatter_forward"].startswith("nequip.")
        assert all(FUSED_OP in ops for ops in ours["e3gen_ops"].values()) and len(ours["e3gen_ops"]) == 2, ours["e3gen_ops"]
        assert not any(reference["e3gen_ops"].values()), reference["e3gen_ops"]


def test_nequip_fusion_hook_on_and_off_give_the_same_numbers(runs):
    """E3GEN_FUSE_CLIENTS=0 leaves NequIP's forward as written (no fused op runs) and changes no number
    beyond summation order."""
    workdir, _, fused = runs("nequip")
    out = workdir / "nequip_e3gen_unfused.pt"
    run_script(venv_python(VENVS, "e3gen-clients"), MODELS["nequip"][1],
               ["--state", str(workdir / "nequip_state.pt"), "--load", "--out", str(out)], workdir, True,
               extra_env={"E3GEN_FUSE_CLIENTS": "0"})
    unfused = torch.load(out, weights_only=False)
    assert unfused["e3nn"].startswith("0.6.0+e3gen.") and unfused["tp_scatter_forward"] == "nequip.nn._tp_scatter_base"
    assert not any(FUSED_OP in ops for ops in unfused["e3gen_ops"].values()), unfused["e3gen_ops"]
    assert all(FUSED_OP in ops for ops in fused["e3gen_ops"].values()), fused["e3gen_ops"]
    errors = relative_errors(unfused, fused)
    tolerance = {"torch.float64": 1e-12, "torch.float32": 1e-5}
    too_far = {k: v for k, v in errors.items() if not v <= tolerance[k[0]]}
    assert len(errors) == 10 and not too_far, f"fused vs unfused NequIP: {too_far}"
