/** Lattice geometry on row-major cells (row i = lattice vector i, Å). */
import { vec3, mat3 } from 'gl-matrix';
import type { Cell } from './atoms.js';

export function latticeVector(cell: Cell, i: number): Float64Array {
  return cell.subarray(3 * i, 3 * i + 3);
}

/** |det(cell)|, the cell volume in Å³ (0 for no cell). */
export function cellVolume(cell: Cell): number {
  // gl-matrix is column-major; the determinant does not care.
  return Math.abs(mat3.determinant(cell));
}

export function isZeroCell(cell: Cell): boolean {
  return cell.every((x) => x === 0);
}

/**
 * Lengths of the reciprocal lattice vectors, 2π/|a_i|-style: |b_i| = 2π |a_j × a_k| / V, in 1/Å.
 * Used to choose a k-point mesh from a spacing.
 */
export function reciprocalLengths(cell: Cell): [number, number, number] {
  const v = cellVolume(cell);
  const out: [number, number, number] = [0, 0, 0];
  const c = new Float64Array(3);
  for (let i = 0; i < 3; i++) {
    vec3.cross(c, latticeVector(cell, (i + 1) % 3), latticeVector(cell, (i + 2) % 3));
    out[i] = (2 * Math.PI * vec3.length(c)) / v;
  }
  return out;
}

/** True when the cell is diagonal (axes along x, y, z). */
export function isOrthorhombic(cell: Cell): boolean {
  return cell[1] === 0 && cell[2] === 0 && cell[3] === 0 && cell[5] === 0 && cell[6] === 0 && cell[7] === 0;
}

/** The cell's thickness along each of its axes (the distance between opposite faces), Å: 2π / |b_i|. */
export function cellHeights(cell: Cell): [number, number, number] {
  return reciprocalLengths(cell).map((b) => (2 * Math.PI) / b) as [number, number, number];
}
