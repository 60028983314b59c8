/**
 * One row of ASE's `systems` table, both ways, pure: Atoms + key-value pairs + data → column
 * values (what ASE's `_write` stores, ../shared/formats/ASE_DB.md §4), and the columns of a
 * stored row → Atoms. The SQL around it is in ase-db.ts.
 *
 * What goes where: the structure and results in their columns; scalar facts as key-value pairs
 * (queryable); per-atom arrays other than ASE's own (tags, momenta, masses, initial_magmoms,
 * initial_charges), such as `force_mask`, as ndarrays in `data`.
 */
import { makeAtoms, maxForce, maxStress, type Atoms, type PerAtomArray } from '../atoms/atoms.js';
import { ATOMIC_MASSES } from '../atoms/elements.js';
import { cellVolume } from '../atoms/cell.js';
import { unixToAseTime, aseTimeToUnix } from './schema.js';
import { float64Blob, int32Blob, blobToFloat64, blobToInt32 } from './blobs.js';
import { dataToBytes, dataFromColumn, NdArray, type DataObject, type DataValue } from './ase-data.js';
import { pyJsonDumps, pyJsonLoads } from './pyjson.js';
import type { Kvp, KvpValue } from './keys.js';

export interface AseRow {
  id: number;
  uniqueId: string | null;
  /** Unix seconds. */
  ctime: number;
  user: string | null;
  calculator: string | null;
  atoms: Atoms;
  kvp: Record<string, KvpValue>;
  data: DataObject;
}

/** A value as better-sqlite3 binds it: Buffer for BLOB, string for TEXT, null for NULL. */
export type SqlValue = number | string | Buffer | null;

/** Per-atom arrays that have columns of their own in ASE's schema. */
const COLUMN_ARRAYS = ['initial_magmoms', 'initial_charges', 'masses', 'tags', 'momenta'] as const;

/** The columns a new row fills, in this order (ASE's own order; the rest stay NULL). */
export const INSERT_COLUMNS = [
  'unique_id', 'ctime', 'mtime', 'username', 'numbers', 'positions', 'cell', 'pbc',
  'initial_magmoms', 'initial_charges', 'masses', 'tags', 'momenta', 'calculator', 'calculator_parameters',
  'energy', 'free_energy', 'forces', 'stress', 'key_value_pairs', 'data',
  'natoms', 'fmax', 'smax', 'volume', 'mass', 'charge',
] as const;

/** The columns a row is read back from. */
export const ROW_COLUMNS = [
  'id', 'unique_id', 'ctime', 'username', 'numbers', 'positions', 'cell', 'pbc', 'initial_magmoms',
  'initial_charges', 'masses', 'tags', 'momenta', 'calculator', 'energy', 'free_energy', 'forces', 'stress',
  'key_value_pairs', 'data',
] as const;

export type StoredRow = { [K in (typeof ROW_COLUMNS)[number]]: number | string | Uint8Array | null };

function buffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The INSERT_COLUMNS values of a new row. `now` is Unix seconds. */
export function rowValues(atoms: Atoms, o: { uniqueId: string; kvp: Kvp; data: DataObject; now: number; user: string | null }): SqlValue[] {
  const r = atoms.results;
  const hasResults = r.energy !== undefined || r.forces !== undefined || r.stress !== undefined || r.free_energy !== undefined;
  const columnArray = (name: (typeof COLUMN_ARRAYS)[number]): Buffer | null => {
    const a = atoms.arrays[name];
    if (a === undefined || a.kind === 'string' || a.kind === 'bool') return null;
    return buffer(name === 'tags' ? int32Blob(a.values) : float64Blob(a.values));
  };
  const masses = atoms.arrays.masses;
  let mass = 0;
  if (masses !== undefined && masses.kind === 'float') for (const m of masses.values) mass += m;
  else for (const z of atoms.numbers) mass += ATOMIC_MASSES[z] ?? 0;
  const charges = atoms.arrays.initial_charges;
  let charge = 0;
  if (charges !== undefined && charges.kind === 'float') for (const q of charges.values) charge += q;
  const volume = cellVolume(atoms.cell);
  const t = unixToAseTime(o.now);
  return [
    o.uniqueId, t, t, o.user,
    buffer(int32Blob(atoms.numbers)), buffer(float64Blob(atoms.positions)), buffer(float64Blob(atoms.cell)),
    (atoms.pbc[0] ? 1 : 0) + (atoms.pbc[1] ? 2 : 0) + (atoms.pbc[2] ? 4 : 0),
    columnArray('initial_magmoms'), columnArray('initial_charges'), columnArray('masses'), columnArray('tags'), columnArray('momenta'),
    hasResults ? 'unknown' : null, hasResults ? '{}' : null,
    r.energy ?? null, r.free_energy ?? null,
    r.forces === undefined ? null : buffer(float64Blob(r.forces)),
    r.stress === undefined ? null : buffer(float64Blob(r.stress)),
    pyJsonDumps(o.kvp), buffer(dataToBytes({ ...perAtomData(atoms), ...o.data })),
    atoms.numbers.length, r.forces === undefined ? null : maxForce(r.forces),
    r.stress === undefined ? null : maxStress(r.stress),
    volume === 0 ? null : volume, mass, charge,
  ];
}

/** The side-table rows ASE writes with a row: species (Z, count) in order of first appearance. */
export function speciesCounts(numbers: Int32Array): Map<number, number> {
  const counts = new Map<number, number>();
  for (const z of numbers) counts.set(z, (counts.get(z) ?? 0) + 1);
  return counts;
}

/** Per-atom arrays without a column of their own, as ndarrays for `data`. */
function perAtomData(atoms: Atoms): DataObject {
  const out: DataObject = {};
  const n = atoms.numbers.length;
  for (const [name, a] of Object.entries(atoms.arrays)) {
    if ((COLUMN_ARRAYS as readonly string[]).includes(name)) continue;
    const shape = a.width === 1 ? [n] : [n, a.width];
    if (a.kind === 'float') out[name] = new NdArray('float64', shape, a.values);
    else if (a.kind === 'int') out[name] = new NdArray('int64', shape, BigInt64Array.from(a.values, (x) => BigInt(x)));
    else if (a.kind === 'bool') out[name] = new NdArray('bool', shape, a.values);
    else out[name] = a.values;
  }
  return out;
}

/** A stored row as Atoms and its pairs and data. Throws RangeError for blobs that do not fit. */
export function rowFromStored(v: StoredRow): AseRow {
  const blob = (name: keyof StoredRow): Uint8Array | null => {
    const x = v[name];
    return x instanceof Uint8Array ? x : null;
  };
  const numbers = blobToInt32(blob('numbers') ?? new Uint8Array(0));
  const n = numbers.length;
  const arrays: Record<string, PerAtomArray> = {};
  for (const name of COLUMN_ARRAYS) {
    const b = blob(name);
    if (b === null) continue;
    if (name === 'tags') arrays.tags = { kind: 'int', width: 1, values: Float64Array.from(blobToInt32(b)) };
    else {
      const values = blobToFloat64(b);
      arrays[name] = { kind: 'float', width: n === 0 ? 1 : values.length / n, values };
    }
  }
  const forces = blob('forces');
  const stress = blob('stress');
  const pbc = Number(v.pbc ?? 0);
  const cell = blob('cell');
  const atoms = makeAtoms({
    numbers,
    positions: blobToFloat64(blob('positions') ?? new Uint8Array(0)),
    cell: cell === null ? undefined : blobToFloat64(cell),
    pbc: [(pbc & 1) !== 0, (pbc & 2) !== 0, (pbc & 4) !== 0],
    arrays,
    results: {
      energy: v.energy === null ? undefined : Number(v.energy),
      free_energy: v.free_energy === null ? undefined : Number(v.free_energy),
      forces: forces === null ? undefined : blobToFloat64(forces),
      stress: stress === null ? undefined : blobToFloat64(stress),
    },
  });
  const kvpText = v.key_value_pairs;
  const data = v.data;
  return {
    id: Number(v.id),
    uniqueId: v.unique_id === null ? null : String(v.unique_id),
    ctime: aseTimeToUnix(Number(v.ctime)),
    user: v.username === null ? null : String(v.username),
    calculator: v.calculator === null ? null : String(v.calculator),
    atoms,
    kvp: typeof kvpText === 'string' ? (pyJsonLoads(kvpText) as Record<string, KvpValue>) : {},
    data: dataFromColumn(data instanceof Uint8Array || typeof data === 'string' ? data : null),
  };
}

/**
 * Atoms of a row with the per-atom entries of `data` (ndarrays whose first axis is the number
 * of atoms, e.g. `force_mask`) turned back into per-atom arrays: the inverse of `rowValues`.
 */
export function rowAtomsWithData(row: AseRow): Atoms {
  const n = row.atoms.numbers.length;
  const arrays: Record<string, PerAtomArray> = { ...row.atoms.arrays };
  for (const [name, v] of Object.entries(row.data)) {
    const a = perAtomFromData(v, n);
    if (a !== undefined) arrays[name] = a;
  }
  return makeAtoms({ ...row.atoms, arrays });
}

function perAtomFromData(v: DataValue, n: number): PerAtomArray | undefined {
  if (v instanceof NdArray) {
    if (n === 0 || v.shape.length < 1 || v.shape.length > 2 || v.shape[0] !== n) return undefined;
    const width = v.shape.length === 2 ? v.shape[1] : 1;
    if (v.dtype === 'float64' || v.dtype === 'float32') return { kind: 'float', width, values: Float64Array.from(v.values as Float64Array) };
    if (v.dtype === 'int64') return { kind: 'int', width, values: Float64Array.from(v.values as BigInt64Array, Number) };
    if (v.dtype === 'int32') return { kind: 'int', width, values: Float64Array.from(v.values as Int32Array) };
    if (v.dtype === 'bool') return { kind: 'bool', width, values: v.values as Uint8Array };
    return undefined;
  }
  if (Array.isArray(v) && v.length === n && n > 0 && v.every((s) => typeof s === 'string')) {
    return { kind: 'string', width: 1, values: v as string[] };
  }
  return undefined;
}
