"""nequip-compile a trained NequIP 0.19.1 checkpoint and evaluate it with nequip's ASE calculator.
Run by tests/test_client_nequip_deploy.py in a client venv, from outside the repo:

    python nequip_deploy.py --ckpt last.ckpt --xyz data.xyz --workdir DIR --out OUT.pt [--aotinductor]

* TorchScript: nequip-compile's own ``--mode torchscript`` code path (``nequip.scripts.compile.main``)
  -> DIR/model.nequip.pth. nequip 0.19.1 refuses that mode on torch >= 2.10 before doing anything
  (TorchScript is deprecated there), on real e3nn as on e3gen; this script lifts only that version
  check (``_TORCH_GE_2_10``), nothing else of nequip changes.
* AOTInductor (``--aotinductor``): ``nequip-compile --mode aotinductor --target ase`` (make_fx,
  torch.export, AOTInductor's C++ build) -> DIR/model.nequip.pt2.
* Evaluation: ``NequIPCalculator`` on the eager checkpoint model and ``from_compiled_model`` on each
  compiled file: energies, forces, stresses on the first frames of the data and on a 2x2x1 supercell
  of the first frame (another size than the ones the compile traced).

OUT.pt: {"e3nn": version, "seconds": {mode: compile seconds}, mode: {"energy", "forces", "stress"}}
with mode in "eager", "torchscript"[, "aotinductor"]: tensors stacked over the evaluated structures.
"""

import argparse
import time
from pathlib import Path

import ase.io
import numpy as np
import torch


def evaluate(calculator, structures):
    energies, forces, stresses = [], [], []
    for atoms in structures:
        atoms = atoms.copy()
        atoms.calc = calculator
        energies.append(atoms.get_potential_energy())
        forces.append(atoms.get_forces())
        stresses.append(atoms.get_stress())
    return {"energy": torch.tensor(np.array(energies)), "forces": torch.tensor(np.concatenate(forces)),
            "stress": torch.tensor(np.array(stresses))}


def compile_model(ckpt: str, output: Path, mode: str) -> float:
    import nequip.scripts.compile as nequip_compile

    args = [ckpt, str(output), "--mode", mode, "--device", "cpu"] + (["--target", "ase"] if mode == "aotinductor" else [])
    nequip_compile._TORCH_GE_2_10 = False  # only the refusal of --mode torchscript reads it
    start = time.perf_counter()
    nequip_compile.main(args)
    return time.perf_counter() - start


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ckpt", required=True)
    p.add_argument("--xyz", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--aotinductor", action="store_true")
    args = p.parse_args()
    import e3nn
    from nequip.ase import NequIPCalculator

    workdir = Path(args.workdir)
    frames = ase.io.read(args.xyz, index=":3")
    structures = frames + [frames[0].repeat((2, 2, 1))]
    modes = {"torchscript": workdir / "model.nequip.pth"}
    if args.aotinductor:
        modes["aotinductor"] = workdir / "model.nequip.pt2"
    results = {"e3nn": e3nn.__version__, "seconds": {}}
    for mode, path in modes.items():
        results["seconds"][mode] = compile_model(args.ckpt, path, mode)
    results["eager"] = evaluate(NequIPCalculator._from_saved_model(args.ckpt, chemical_species_to_atom_type_map=True), structures)
    for mode, path in modes.items():
        results[mode] = evaluate(NequIPCalculator.from_compiled_model(str(path), chemical_species_to_atom_type_map=True), structures)
    torch.save(results, args.out)


if __name__ == "__main__":
    main()
