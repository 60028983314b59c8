/**
 * Atoms as plain data, the one structure every format reads and writes.
 *
 * Positions and per-atom arrays are flat typed arrays, row-major (atom i's x, y, z at 3i..3i+2),
 * so a million-atom frame is a few contiguous buffers rather than a million objects.
 */
import { SYMBOLS, atomicNumber } from './elements.js';

/** Row-major 3×3: row i is lattice vector i, in Å. All zeros means "no cell". */
export type Cell = Float64Array;
export type Pbc = readonly [boolean, boolean, boolean];

/** A per-atom array: `width` values per atom (1 for a scalar per atom, 3 for a vector). */
export type PerAtomArray =
  | { readonly kind: 'float'; readonly width: number; readonly values: Float64Array }
  | { readonly kind: 'int'; readonly width: number; readonly values: Float64Array }
  | { readonly kind: 'bool'; readonly width: number; readonly values: Uint8Array }
  | { readonly kind: 'string'; readonly width: number; readonly values: string[] };

export type InfoValue = string | number | boolean | null | InfoValue[] | { [key: string]: InfoValue };

/** Results of a calculation, in ASE's units: eV, eV/Å, eV/Å³ (Voigt xx yy zz yz xz xy, ASE's sign). */
export interface Results {
  energy?: number;
  free_energy?: number;
  forces?: Float64Array;
  stress?: Float64Array;
}

export interface Atoms {
  readonly numbers: Int32Array;
  readonly positions: Float64Array;
  readonly cell: Cell;
  readonly pbc: Pbc;
  /** Extra per-atom arrays by name (e.g. `force_mask`), each checked for length. */
  readonly arrays: Readonly<Record<string, PerAtomArray>>;
  /** Per-structure scalars and small lists (extxyz comment line, provenance). */
  readonly info: Readonly<Record<string, InfoValue>>;
  readonly results: Readonly<Results>;
}

export interface AtomsInit {
  numbers: ArrayLike<number>;
  positions: ArrayLike<number>;
  cell?: ArrayLike<number>;
  pbc?: Pbc;
  arrays?: Record<string, PerAtomArray>;
  info?: Record<string, InfoValue>;
  results?: Results;
}

/** Build Atoms, checking every array's length against the number of atoms. Throws RangeError. */
export function makeAtoms(init: AtomsInit): Atoms {
  const n = init.numbers.length;
  const numbers = Int32Array.from(init.numbers);
  const positions = Float64Array.from(init.positions);
  if (positions.length !== 3 * n) {
    throw new RangeError(`positions has ${positions.length} values, expected 3 × ${n} atoms`);
  }
  const cell = init.cell === undefined ? new Float64Array(9) : Float64Array.from(init.cell);
  if (cell.length !== 9) throw new RangeError(`cell has ${cell.length} values, expected 9`);
  for (const [name, arr] of Object.entries(init.arrays ?? {})) {
    if (arr.width < 1 || arr.values.length !== arr.width * n) {
      throw new RangeError(`per-atom array '${name}' has ${arr.values.length} values, expected ${arr.width} × ${n} atoms`);
    }
  }
  const results = { ...(init.results ?? {}) };
  if (results.forces !== undefined && results.forces.length !== 3 * n) {
    throw new RangeError(`forces has ${results.forces.length} values, expected 3 × ${n} atoms`);
  }
  if (results.stress !== undefined && results.stress.length !== 6) {
    throw new RangeError(`stress has ${results.stress.length} values, expected 6 (Voigt)`);
  }
  return {
    numbers,
    positions,
    cell,
    pbc: init.pbc ?? [false, false, false],
    arrays: { ...(init.arrays ?? {}) },
    info: { ...(init.info ?? {}) },
    results,
  };
}

export function natoms(atoms: Atoms): number {
  return atoms.numbers.length;
}

export function symbolsOf(atoms: Atoms): string[] {
  return Array.from(atoms.numbers, (z) => SYMBOLS[z] ?? 'X');
}

/** Atomic numbers for symbols; throws RangeError naming the first unknown symbol. */
export function numbersFromSymbols(symbols: readonly string[]): Int32Array {
  return Int32Array.from(symbols, (s) => {
    const z = atomicNumber(s);
    if (z === undefined) throw new RangeError(`'${s}' is not a chemical symbol`);
    return z;
  });
}

/** The Hill formula ASE prints (`get_chemical_formula('hill')`): C, H, then alphabetical. */
export function hillFormula(numbers: ArrayLike<number>): string {
  const counts = new Map<string, number>();
  for (let i = 0; i < numbers.length; i++) {
    const s = SYMBOLS[numbers[i]] ?? 'X';
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }
  const order = [...counts.keys()].sort();
  const hasCarbon = counts.has('C');
  const first = hasCarbon ? ['C', 'H'].filter((s) => counts.has(s)) : [];
  const rest = order.filter((s) => !first.includes(s));
  return [...first, ...rest].map((s) => s + (counts.get(s) === 1 ? '' : String(counts.get(s)))).join('');
}

/** Largest force magnitude, as ASE's `fmax` (eV/Å). */
export function maxForce(forces: Float64Array): number {
  let m = 0;
  for (let i = 0; i < forces.length; i += 3) m = Math.max(m, Math.hypot(forces[i], forces[i + 1], forces[i + 2]));
  return m;
}

/** Largest stress component by magnitude, as ASE's `smax`. */
export function maxStress(stress: Float64Array): number {
  let m = 0;
  for (const s of stress) m = Math.max(m, Math.abs(s));
  return m;
}

export function floatArray(values: Float64Array, width = 1): PerAtomArray {
  return { kind: 'float', width, values };
}
