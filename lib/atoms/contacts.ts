/**
 * The closest contact of a periodic structure: the nearest pair of atoms, periodic images
 * included (an atom and its own image one cell away count: a cell thinner than the distance
 * asked about is itself a contact). Built on the cell list, so its cost is that of the atoms,
 * not of their pairs.
 */
import { PeriodicIndex } from './periodic-index.js';
import type { Atoms } from './atoms.js';
import { cellVolume } from './cell.js';

export interface Contact { i: number; j: number; distance: number }

/** The closest pair nearer than `below` Å, or undefined when there is none. */
export function closestContact(atoms: Atoms, below: number): Contact | undefined {
  const n = atoms.numbers.length;
  if (n === 0 || below <= 0) return undefined;
  // bins of about one atom each (and never thinner than the distance): memory follows the atoms
  const binSize = Math.max(below, Math.cbrt(cellVolume(atoms.cell) / n));
  const index = new PeriodicIndex(atoms.positions, atoms.cell, binSize);
  let best: Contact | undefined;
  for (let i = 0; i < n; i++) {
    index.forEachInCube(i, below, (j, s0, s1, s2, dx, dy, dz) => {
      if (j < i || (j === i && s0 === 0 && s1 === 0 && s2 === 0)) return; // each pair once; not itself
      const d = Math.hypot(dx, dy, dz);
      if (d < below && (best === undefined || d < best.distance)) best = { i, j, distance: d };
    });
  }
  return best;
}
