/**
 * Unit constants. pw.x results are converted with CODATA 2006 values, the ones ASE's espresso
 * reader uses (ase/io/espresso.py: `create_units('2006')`), so our numbers equal ASE's.
 */
export const RYDBERG_EV = 13.605691932782346;
export const BOHR_ANGSTROM = 0.5291772083535413;
export const RY_PER_BOHR = RYDBERG_EV / BOHR_ANGSTROM;
/** eV/Å³ per Ry/bohr³. */
export const RY_PER_BOHR3 = RYDBERG_EV / BOHR_ANGSTROM ** 3;
/**
 * ASE's femtosecond in its own time unit (Å·√(amu/eV)), from the CODATA 2014 e and amu that
 * ase.units uses by default: ASE momenta are amu·Å per that unit, LAMMPS metal velocities Å/ps.
 */
export const ASE_FS = 1e-5 * Math.sqrt(1.6021766208e-19 / 1.66053904e-27);
/** A velocity in Å/ps (LAMMPS metal) times this is in ASE's Å per time unit. */
export const ASE_VELOCITY_PER_ANGSTROM_PS = 1 / (1000 * ASE_FS);
