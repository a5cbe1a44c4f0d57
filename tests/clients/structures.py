"""Inputs for the client checks, made with ASE (nothing downloaded): periodic CuAu cells and a
molecular (non-periodic) CuAu cluster, rattled so that no force vanishes by symmetry."""

import ase.build
import ase.cluster
import numpy as np


def periodic():
    cells = []
    for seed, repeat in ((0, (2, 2, 2)), (1, (2, 1, 1))):
        atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
        rng = np.random.default_rng(seed)
        symbols = atoms.get_chemical_symbols()
        for i in rng.choice(len(atoms), size=len(atoms) // 3, replace=False):
            symbols[i] = "Au"
        atoms.set_chemical_symbols(symbols)
        atoms.rattle(stdev=0.05, seed=seed)
        atoms.set_cell(atoms.cell * (1 + 0.02 * rng.standard_normal((3, 3))), scale_atoms=True)
        cells.append(atoms)
    return cells


def molecular():
    atoms = ase.cluster.Icosahedron("Cu", 2)
    symbols = atoms.get_chemical_symbols()
    for i in (0, 3, 7):
        symbols[i] = "Au"
    atoms.set_chemical_symbols(symbols)
    atoms.rattle(stdev=0.05, seed=2)
    atoms.pbc = False
    return [atoms]
