/**
 * LAMMPS data file writer, `atom_style atomic`. A general cell is rotated into LAMMPS's
 * restricted triclinic form (a along x, b in the xy plane) and its tilts reduced to the range
 * LAMMPS accepts; positions go through fractional coordinates, wrapped into the box.
 */
import { natoms, symbolsOf, type Atoms } from '../atoms/atoms.js';
import { ATOMIC_MASSES, atomicNumber } from '../atoms/elements.js';
import { isZeroCell, isOrthorhombic } from '../atoms/cell.js';
import { mat3 } from 'gl-matrix';
import { StructureError } from '../errors/errors.js';
import { ASE_VELOCITY_PER_ANGSTROM_PS } from '../units/units.js';

export interface LammpsDataOptions {
  /** Element of each type, type 1 first. Default: species in order of first appearance. */
  types?: readonly string[];
  comment?: string;
  /**
   * Write a Velocities section (Å/ps, LAMMPS metal) from the atoms' ASE momenta, rotated with the
   * cell; without momenta, no section. A continued MD run goes on with them.
   */
  velocities?: boolean;
}

export interface LammpsData {
  text: string;
  /** Element of each type, type 1 first (for `pair_coeff * * … Al Cu`). */
  types: string[];
}

/** The cell rotated to lower-triangular form [lx,0,0, xy,ly,0, xz,yz,lz] (same lengths and angles). */
export function rotatedLowerTriangular(cell: Float64Array): Float64Array {
  const a = cell.subarray(0, 3), b = cell.subarray(3, 6), c = cell.subarray(6, 9);
  const dot = (u: ArrayLike<number>, v: ArrayLike<number>) => u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
  const lx = Math.sqrt(dot(a, a));
  const xy = dot(b, a) / lx;
  const ly = Math.sqrt(Math.max(0, dot(b, b) - xy * xy));
  const xz = dot(c, a) / lx;
  const yz = (dot(b, c) - xy * xz) / ly;
  const lz = Math.sqrt(Math.max(0, dot(c, c) - xz * xz - yz * yz));
  return Float64Array.from([lx, 0, 0, xy, ly, 0, xz, yz, lz]);
}

/**
 * LAMMPS's restricted triclinic box for a cell: rotated to lower-triangular form, then its
 * tilts reduced into [-l/2, l/2] by adding lattice vectors (same lattice, a different basis).
 */
export function restrictedTriclinic(cell: Float64Array): Float64Array {
  const out = rotatedLowerTriangular(cell);
  const [lx, ly] = [out[0], out[4]];
  // Reduce tilts into [-l/2, l/2] by adding lattice vectors (same lattice, LAMMPS accepts it).
  const k1 = Math.round(out[7] / ly);
  out[6] -= k1 * out[3]; out[7] -= k1 * ly;
  const k2 = Math.round(out[6] / lx);
  out[6] -= k2 * lx;
  const k3 = Math.round(out[3] / lx);
  out[3] -= k3 * lx;
  return out;
}

export function writeLammpsData(atoms: Atoms, opts: LammpsDataOptions = {}): LammpsData {
  if (isZeroCell(atoms.cell)) throw new StructureError('the structure has no cell; a LAMMPS data file needs a box', { hint: 'give it a Lattice (extxyz) or a box' });
  const n = natoms(atoms);
  const syms = symbolsOf(atoms);
  const types = [...(opts.types ?? [...new Set(syms)])];
  const missing = [...new Set(syms)].filter((s) => !types.includes(s));
  if (missing.length > 0) throw new StructureError(`no LAMMPS type given for ${missing.join(', ')}`, { hint: `list every element in --types (e.g. --types ${[...types, ...missing].join(',')})` });

  const orig = Float64Array.from(atoms.cell);
  const plain = isOrthorhombic(orig) && orig[0] > 0 && orig[4] > 0 && orig[8] > 0;
  const rotated = plain ? orig : rotatedLowerTriangular(orig);
  const box = plain ? orig : restrictedTriclinic(orig);
  // r (original frame) → fractional in the original basis → r' in the rotated frame → fractional
  // in the box's (reduced) basis, wrapped along periodic axes. Row vectors: r = f · C, f = r · C⁻¹.
  const toFrac = fractionalMatrix(orig);
  const toBoxFrac = fractionalMatrix(box);
  // The first line is a comment to LAMMPS, but ASE 3.22 reads any line ending in "N atoms" as the
  // count: this one names the file without a number, so both read it.
  const comment = (opts.comment ?? `LAMMPS data file written by autopipe (atom_style atomic; types ${types.map((t, i) => `${i + 1}=${t}`).join(' ')})`).replace(/[\r\n]+/g, ' ');
  const lines: string[] = [comment, '', `${n} atoms`, `${types.length} atom types`, ''];
  const f = (x: number) => x.toPrecision(17);
  lines.push(`0.0 ${f(box[0])} xlo xhi`, `0.0 ${f(box[4])} ylo yhi`, `0.0 ${f(box[8])} zlo zhi`);
  if (box !== orig || !isOrthorhombic(box)) lines.push(`${f(box[3])} ${f(box[6])} ${f(box[7])} xy xz yz`);
  lines.push('', 'Masses', '');
  types.forEach((s, i) => lines.push(`${i + 1} ${ATOMIC_MASSES[atomicNumber(s) ?? 0]}`));
  lines.push('', 'Atoms # atomic', '');
  const p = atoms.positions;
  for (let i = 0; i < n; i++) {
    const f0 = times([p[3 * i], p[3 * i + 1], p[3 * i + 2]], toFrac);
    const frac = times(times(f0, rotated), toBoxFrac).map((s, j) => (atoms.pbc[j] ? s - Math.floor(s) : s));
    const x = frac[0] * box[0] + frac[1] * box[3] + frac[2] * box[6];
    const y = frac[1] * box[4] + frac[2] * box[7];
    const z = frac[2] * box[8];
    lines.push(`${i + 1} ${types.indexOf(syms[i]) + 1} ${f(x)} ${f(y)} ${f(z)}`);
  }
  const momenta = atoms.arrays.momenta;
  if (opts.velocities === true && momenta !== undefined && momenta.width === 3) {
    lines.push('', 'Velocities', '');
    const m = momenta.values as ArrayLike<number>;
    for (let i = 0; i < n; i++) {
      // p / m in ASE's units → Å/ps, turned with the cell as positions are (no wrapping)
      const scale = 1 / (ATOMIC_MASSES[atoms.numbers[i]] * ASE_VELOCITY_PER_ANGSTROM_PS);
      const v = times(times([m[3 * i] * scale, m[3 * i + 1] * scale, m[3 * i + 2] * scale], toFrac), rotated);
      lines.push(`${i + 1} ${f(v[0])} ${f(v[1])} ${f(v[2])}`);
    }
  }
  return { text: lines.join('\n') + '\n', types };
}

/** C⁻¹ for a row-major cell C. gl-matrix reads row-major C as Cᵀ and returns (Cᵀ)⁻¹ = (C⁻¹)ᵀ,
 *  which read row-major is C⁻¹. */
function fractionalMatrix(cell: Float64Array): Float64Array {
  const inv = mat3.invert(new Float64Array(9), cell);
  if (inv === null) throw new StructureError('the cell is singular (its vectors span no volume)', { hint: 'fix the cell vectors' });
  return inv as Float64Array;
}

/** Row vector times row-major 3×3 matrix. */
function times(v: readonly number[], m: Float64Array): number[] {
  return [0, 1, 2].map((j) => v[0] * m[j] + v[1] * m[3 + j] + v[2] * m[6 + j]);
}
