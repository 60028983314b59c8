"""How the quickstart's structures were made (ASE; run once, the files are kept in the repository).

structures.extxyz  iteration 0's labels: a 2×2×2 fcc Al cell (32 sites) with a vacancy, rattled,
                   at three lattice constants and two rattles (6 cells of 31 atoms)
explore.extxyz     where the MD starts: a 4×4×4 cell (256 sites) with a vacancy, 255 atoms, large
                   enough that a sub-cell with a sound buffer (3×3×3 cells, 107-108 atoms: the
                   embedding check's measure) is well under its size, and small enough that pw.x
                   labels it whole for the check in a few minutes
validation.extxyz  the validation set, which no fit sees: frames of the 31-atom vacancy cell from
                   molecular dynamics with ASE's EMT (an independent classical model) at 600, 900
                   (twice) and 1200 K, after 1 ps: thermal environments like those the 900 K
                   exploration meets, small enough for pw.x in seconds
"""
import numpy as np
from ase import units
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import write
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

def vacancy_cell(a, repeat, rattle, seed):
    atoms = bulk("Al", "fcc", a=a, cubic=True).repeat(repeat)
    del atoms[0]
    atoms.rattle(stdev=rattle, seed=seed)
    atoms.info["name"] = f"al_vacancy_a{a}_r{rattle}"
    return atoms

def md_frame(atoms, temperature, seed, steps=500):
    """The frame after `steps` of 2 fs of Langevin MD with EMT at `temperature` (K)."""
    atoms = atoms.copy()
    atoms.calc = EMT()
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=rng)
    Langevin(atoms, 2 * units.fs, temperature_K=temperature, friction=0.01, rng=rng).run(steps)
    atoms.calc = None
    del atoms.arrays["momenta"]  # a frame, not a restart: its velocities are not data
    atoms.info = {"name": f"al_vacancy_emt_{temperature}K_seed{seed}"}
    return atoms

labels = [vacancy_cell(a, (2, 2, 2), r, seed) for seed, (a, r) in enumerate(
    [(a, r) for a in (3.98, 4.04, 4.10) for r in (0.05, 0.12)])]
write("structures.extxyz", labels, format="extxyz")
write("explore.extxyz", [vacancy_cell(4.04, (4, 4, 4), 0.05, 100)], format="extxyz")
write("validation.extxyz", [md_frame(vacancy_cell(4.04, (2, 2, 2), 0.0, 0), t, 200 + k)
                            for k, t in enumerate((600, 900, 900, 1200))], format="extxyz")
