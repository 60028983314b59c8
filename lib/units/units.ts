/**
 * Unit constants. pw.x results are converted with CODATA 2006 values, the ones ASE's espresso
 * reader uses (ase/io/espresso.py: `create_units('2006')`), so our numbers equal ASE's.
 */
export const RYDBERG_EV = 13.605691932782346;
export const BOHR_ANGSTROM = 0.5291772083535413;
export const RY_PER_BOHR = RYDBERG_EV / BOHR_ANGSTROM;
/** eV/Å³ per Ry/bohr³. */
export const RY_PER_BOHR3 = RYDBERG_EV / BOHR_ANGSTROM ** 3;
