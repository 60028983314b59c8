"""How the quickstart's structures were made (ASE; run once, the files are kept in the repository).

structures.extxyz  iteration 0's labels: a 2×2×2 fcc Al cell (32 sites) with a vacancy, rattled,
                   at three lattice constants and two rattles (6 cells of 31 atoms)
explore.extxyz     where the MD starts: a 4×4×4 cell (256 sites) with a vacancy, 255 atoms, large
                   enough that a sub-cell with a sound buffer (3×3×3 cells, 107-108 atoms: the
                   embedding check's measure) is well under its size, and small enough that pw.x
                   labels it whole for the check in a few minutes
"""
from ase.build import bulk
from ase.io import write

def vacancy_cell(a, repeat, rattle, seed):
    atoms = bulk("Al", "fcc", a=a, cubic=True).repeat(repeat)
    del atoms[0]
    atoms.rattle(stdev=rattle, seed=seed)
    atoms.info["name"] = f"al_vacancy_a{a}_r{rattle}"
    return atoms

labels = [vacancy_cell(a, (2, 2, 2), r, seed) for seed, (a, r) in enumerate(
    [(a, r) for a in (3.98, 4.04, 4.10) for r in (0.05, 0.12)])]
write("structures.extxyz", labels, format="extxyz")
write("explore.extxyz", [vacancy_cell(4.04, (4, 4, 4), 0.05, 100)], format="extxyz")
