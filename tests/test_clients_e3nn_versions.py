"""e3nn 0.4.4 (MACE 0.3.16's pin) against e3gen (e3nn >= 0.5.0 conventions): which wigner_3j signs
differ, and what that does to a checkpoint made on 0.4.4.

Facts measured here (tests/clients/mace_e3nn_versions.py runs in the mace-ref venv and on e3gen):
- wigner_3j(l1, l2, l3), l <= 6: 34 of 175 triples have the opposite sign, all others are equal to
  1e-12; the flipped ones are the permutations of (1, l, l) for l >= 2, (3, 4, 6), (4, 4, 5),
  (4, 5, 6), (5, 5, 5), (5, 6, 6), every one with l1 + l2 + l3 odd.
- An e3nn TensorProduct's state_dict carries the wigner_3j it computed with (keys
  ``_compiled_main_*._w3j_l1_l2_l3``). A product whose paths avoid the flipped triples loads and
  gives 0.4.4's outputs to float64 rounding (1e-12 relative); one that uses a flipped triple is
  refused at load time with a RuntimeError naming the module and the triples (it would otherwise
  silently compute the path with the opposite sign).
- MACE's symmetric contraction builds its U matrices from wigner_3j (mace/tools/cg.py) and keeps
  them as buffers, so they travel in the state_dict: tests/test_clients.py checks that for the
  max_ell 3 model the U matrices e3gen builds differ from 0.4.4's and change the energy, and that
  the loaded model gives 0.4.4's numbers (see test_client_model_on_e3gen_gives_real_e3nns_numbers).

Without E3GEN_CLIENT_VENVS these tests skip (CI sets it; any skip fails there).
"""

import itertools
import os

import pytest
import torch
from clients.driver import run_script, venv_python

VENVS = os.environ.get("E3GEN_CLIENT_VENVS")
pytestmark = [pytest.mark.skipif(not VENVS, reason="set E3GEN_CLIENT_VENVS to the folder made by .ci/clients.sh")]

FLIPPED_UP_TO_6 = {(1, l, l) for l in range(2, 7)} | {(3, 4, 6), (4, 4, 5), (4, 5, 6), (5, 5, 5), (5, 6, 6)}


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    folder = tmp_path_factory.mktemp("e3nn_versions")
    run_script(venv_python(VENVS, "mace-ref"), "mace_e3nn_versions.py", ["--save", str(folder)], folder, False)
    run_script(venv_python(VENVS, "e3gen-clients"), "mace_e3nn_versions.py", ["--load", str(folder)], folder, True)
    return torch.load(folder / "e3gen.pt", weights_only=False)


def test_e3nn_044_wigner_3j_differs_from_e3gen_by_sign_on_exactly_these_triples(compared):
    expected = {p for t in FLIPPED_UP_TO_6 for p in itertools.permutations(t)}
    assert set(compared["flipped"]) == expected and compared["unequal"] == []
    assert all(sum(t) % 2 == 1 for t in expected), "every flipped triple has odd l1 + l2 + l3 (never natural parity)"


def test_e3nn_044_product_without_flipped_paths_loads_with_its_numbers(compared):
    assert compared["cases"]["natural"] == {"relative_difference": pytest.approx(0, abs=1e-12)}


@pytest.mark.parametrize("case, triples", [("flipped_122", ["(1, 2, 2)"]), ("mixed", ["(1, 2, 2)", "(2, 1, 2)", "(2, 2, 1)"])])
def test_e3nn_044_product_with_flipped_path_is_refused_at_load_naming_module_and_fix(compared, case, triples):
    error = compared["cases"][case].get("error", "")
    assert error.startswith("FullyConnectedTensorProduct(") and "opposite sign" in error and "Fix:" in error, error
    assert all(f"wigner_3j{t}" in error for t in triples), error
    assert "(1, 1, 1)" not in error and "wigner_3j(2, 2, 2)" not in error, "only the flipped triples are named"
