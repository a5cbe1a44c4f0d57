"""MACE end to end (tests/test_clients_mace_train.py): a tiny dataset made with ASE, mace_run_train,
NVE molecular dynamics with MACE's ASE calculator, and the TorchScript models mace_run_train and
mace_create_lammps_model save. Run in a client venv, from outside the repo:

    python mace_train.py data DIR            # DIR/train.xyz, DIR/valid.xyz: EMT MD of a CuAu cell
    python mace_train.py train DIR           # mace_run_train in DIR (TRAIN_ARGS), 2 epochs, float64
    python mace_train.py check DIR OUT.pt    # NVE drift, compiled-model and LAMMPS-model checks

The dataset: an 8-atom fcc cell (two Au, six Cu), velocities at 800 K, velocity Verlet with ASE's EMT,
one frame every 5 steps of 2 fs; 24 frames to train on and 8 to validate with. The model: MACE with
max_ell 2, correlation 3, two interactions, 8x0e + 8x1o hidden (for this input irreps the U matrices
built from e3nn 0.4.4's wigner_3j and from e3gen's have equal symmetric parts, so a fresh model at
the same seed is the same function: see tests/test_clients_e3nn_versions.py for max_ell 3).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

TRAIN_ARGS = [
    "--name", "tiny", "--seed", "1", "--train_file", "train.xyz", "--valid_file", "valid.xyz",
    "--energy_key", "REF_energy", "--forces_key", "REF_forces", "--E0s", "average", "--model", "MACE",
    "--hidden_irreps", "8x0e + 8x1o", "--max_ell", "2", "--correlation", "3", "--num_interactions", "2",
    "--r_max", "4.0", "--num_radial_basis", "6", "--MLP_irreps", "8x0e", "--default_dtype", "float64",
    "--batch_size", "8", "--valid_batch_size", "8", "--max_num_epochs", "2", "--eval_interval", "1",
    "--device", "cpu", "--num_workers", "0", "--save_cpu",
]
NVE_STEPS, NVE_FS = 50, 2.0  # 0.1 ps


def make_data(folder: Path) -> None:
    import ase.build
    import ase.io
    from ase import units
    from ase.calculators.emt import EMT
    from ase.md.verlet import VelocityVerlet
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 1, 1))
    symbols = atoms.get_chemical_symbols()
    symbols[0] = symbols[5] = "Au"
    atoms.set_chemical_symbols(symbols)
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=800, rng=np.random.default_rng(0))
    dynamics = VelocityVerlet(atoms, 2 * units.fs)
    frames = []
    for _ in range(32):
        dynamics.run(5)
        frame = atoms.copy()
        frame.info["REF_energy"] = atoms.get_potential_energy()
        frame.arrays["REF_forces"] = atoms.get_forces()
        frames.append(frame)
    ase.io.write(folder / "train.xyz", frames[:24])
    ase.io.write(folder / "valid.xyz", frames[24:])


def train(folder: Path) -> None:
    script = Path(sys.executable).parent / "mace_run_train"
    # One thread: an 8-atom model gains nothing from two, and loses much when the cores are shared.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([str(script), *TRAIN_ARGS], cwd=folder, capture_output=True, text=True, env=env)
    (folder / "train.log").write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"mace_run_train failed:\n{result.stderr[-4000:]}")


def nve_drift(model_path: Path):
    """Total energy per atom along NVE (eV), and its drift (least-squares slope, eV/atom/ps)."""
    import ase.io
    from ase import units
    from ase.md.verlet import VelocityVerlet
    from mace.calculators import MACECalculator

    atoms = ase.io.read(model_path.parent / "valid.xyz", index=0)
    atoms.calc = MACECalculator(model_paths=str(model_path), device="cpu", default_dtype="float64")
    dynamics = VelocityVerlet(atoms, NVE_FS * units.fs)
    energies = []
    for _ in range(NVE_STEPS):
        dynamics.run(1)
        energies.append(atoms.get_total_energy() / len(atoms))
    times_ps = np.arange(1, NVE_STEPS + 1) * NVE_FS / 1000
    return np.array(energies), float(np.polyfit(times_ps, energies, 1)[0])


def compiled_outputs_agree(folder: Path) -> dict:
    """Largest |difference| of energy and forces between tiny.model (eager) and the TorchScript
    tiny_compiled.model that mace_run_train saved, reloaded; and whether mace_create_lammps_model's
    output reloads."""
    import torch
    from mace import data, tools
    from mace.tools import torch_geometric

    import ase.io

    torch.set_default_dtype(torch.float64)  # the model was trained in float64; the batch follows the default
    eager = torch.load(folder / "tiny.model", weights_only=False)
    scripted = torch.jit.load(str(folder / "tiny_compiled.model"))
    z_table = tools.AtomicNumberTable([int(z) for z in eager.atomic_numbers])
    frames = ase.io.read(folder / "valid.xyz", index=":")
    items = [data.AtomicData.from_config(data.config_from_atoms(a), z_table=z_table, cutoff=float(eager.r_max)) for a in frames]
    batch = next(iter(torch_geometric.dataloader.DataLoader(items, batch_size=len(items), shuffle=False))).to_dict()
    a, b = eager(dict(batch), compute_force=True), scripted(dict(batch), compute_force=True)
    result = {q: (a[q] - b[q]).abs().max().item() for q in ("energy", "forces")}
    lammps = subprocess.run([str(Path(sys.executable).parent / "mace_create_lammps_model"), "tiny.model", "--head", "Default"],
                            cwd=folder, capture_output=True, text=True)
    result["lammps_error"] = lammps.stderr[-2000:] if lammps.returncode else ""
    if not lammps.returncode:
        result["lammps_reloaded"] = type(torch.jit.load(str(folder / "tiny.model-lammps.pt"))).__name__
    return result


def check(folder: Path, out: Path) -> None:
    import e3nn
    import torch

    torch.set_num_threads(1)

    losses = [json.loads(line) for line in (folder / "results" / "tiny_run-1_train.txt").read_text().splitlines()]
    energies, drift = nve_drift(folder / "tiny.model")
    torch.save({"e3nn": e3nn.__version__, "losses": losses, "nve_energy_per_atom": energies, "drift_ev_per_atom_per_ps": drift,
                "compiled": compiled_outputs_agree(folder)}, out)


def main() -> None:
    command, folder = sys.argv[1], Path(sys.argv[2])
    if command == "data":
        make_data(folder)
    elif command == "train":
        train(folder)
    else:
        check(folder, Path(sys.argv[3]))


if __name__ == "__main__":
    main()
