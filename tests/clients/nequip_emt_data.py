"""A small training set made locally with ASE: EMT molecular dynamics of a CuAu cell, as extxyz.

    python nequip_emt_data.py OUT.xyz [--frames N] [--seed S]

A 2x2x2 fcc Cu cell (8 atoms) with every other atom Au, rattled, then Langevin MD at 800 K with
ASE's EMT; every 5th step becomes a frame with EMT's energy, forces and stress. Nothing is
downloaded; the same seed gives the same file byte for byte (used by both sides of the nequip-train
comparison in tests/test_client_nequip_deploy.py, so they train on identical data anyway).
"""

import argparse

import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution


def frames(count: int, seed: int):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((1, 1, 2))
    symbols = atoms.get_chemical_symbols()
    atoms.set_chemical_symbols(["Au" if i % 2 else s for i, s in enumerate(symbols)])
    atoms.rattle(0.05, seed=seed)
    atoms.calc = EMT()
    MaxwellBoltzmannDistribution(atoms, temperature_K=800, rng=np.random.default_rng(seed))
    dynamics = Langevin(atoms, 2 * units.fs, temperature_K=800, friction=0.02, fixcm=False, rng=np.random.default_rng(seed + 1))
    out = []
    for _ in range(count):
        dynamics.run(5)
        frame = atoms.copy()
        frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                           stress=atoms.get_stress())
        out.append(frame)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    write(args.out, frames(args.frames, args.seed), format="extxyz")


if __name__ == "__main__":
    main()
