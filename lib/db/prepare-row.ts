/**
 * What a structure contributes to a database row: key-value pairs from its info (those ASE
 * can query) and from the user, the rest of its info in `data.info`, provenance in `data`.
 * Pure; returns a reason instead of a row when the structure cannot go in.
 */
import type { Atoms, InfoValue } from '../atoms/atoms.js';
import { keyProblem, valueProblem, type Kvp } from './keys.js';
import type { DataObject, DataValue } from './ase-data.js';

export type PreparedRow = { ok: true; kvp: Kvp; data: DataObject } | { ok: false; reason: string };

export function prepareRow(atoms: Atoms, userKvp: Kvp, provenance: DataObject): PreparedRow {
  const unfit = nonFinite(atoms);
  if (unfit !== undefined) return { ok: false, reason: `${unfit} is not a number: not a label` };
  const mask = atoms.arrays.force_mask;
  if (mask !== undefined) {
    if (mask.kind === 'string' || mask.kind === 'bool' || mask.width !== 1) {
      return { ok: false, reason: 'force_mask must be one number per atom' };
    }
    const bad = Array.from(mask.values as Float64Array).findIndex((v) => !(v >= 0 && v <= 1));
    if (bad >= 0) return { ok: false, reason: `force_mask of atom ${bad + 1} is ${mask.values[bad]}, not in [0, 1]` };
  }
  const kvp: Kvp = {};
  const rest: Record<string, DataValue> = {};
  for (const [k, v] of Object.entries(atoms.info)) {
    if (keyProblem(k) === undefined && valueProblem(k, v) === undefined) kvp[k] = v as string | number | boolean;
    else rest[k] = v as InfoValue as DataValue;
  }
  Object.assign(kvp, userKvp);
  const data: DataObject = { ...provenance };
  if (Object.keys(rest).length > 0) data.info = rest;
  return { ok: true, kvp, data };
}

/** The first value of the structure or its results that is NaN or infinite, by name. */
function nonFinite(atoms: Atoms): string | undefined {
  const r = atoms.results;
  const bad = (a: ArrayLike<number> | undefined) => a !== undefined && Array.prototype.some.call(a, (x: number) => !Number.isFinite(x));
  if (bad(atoms.positions)) return 'a position';
  if (bad(atoms.cell)) return 'the cell';
  if (r.energy !== undefined && !Number.isFinite(r.energy)) return 'the energy';
  if (r.free_energy !== undefined && !Number.isFinite(r.free_energy)) return 'the free energy';
  if (bad(r.forces)) return 'a force';
  if (bad(r.stress)) return 'the stress';
  return undefined;
}
