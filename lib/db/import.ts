/**
 * `autopipe db import`: labelled rows from another ASE database (.db, read with our own reader)
 * or an extxyz with energies and forces (ASE's calculator results: `energy` in the comment line,
 * `forces` per atom, as ASE 3.22 and 3.29 write them), each with where it came from (the file,
 * and its frame or row index, 0-based) and its level of theory, checked before anything is
 * written. Reading is here; the declared levels are resolved by the caller (it knows the target
 * database's levels). Rows keep their force_mask and their own key-value pairs, but for the keys
 * that say what a campaign did (`iteration`, `campaign`): those are another campaign's, and
 * would count as this one's labels; they go to `data.origin`.
 */
import { extname } from 'node:path';
import type { Atoms } from '../atoms/atoms.js';
import { readExtxyz } from '../formats/extxyz.js';
import { readText } from '../structures/read-any.js';
import { prepareRow } from './prepare-row.js';
import { openDatabaseFile } from './db-file.js';
import { rowAtomsWithData } from './ase-db.js';
import type { Kvp } from './keys.js';
import type { DataObject, DataValue } from './ase-data.js';
import { UsageError } from '../errors/errors.js';

/** One row to import, checked but for its level: what it is, where it came from. */
export interface ImportRow { label: string; atoms: Atoms; kvp: Kvp; data: DataObject }

/** Keys of another campaign's work: moved out of the key-value pairs into data.origin. */
const CAMPAIGN_KEYS = ['iteration', 'campaign'];

function withProvenance(atoms: Atoms, kvp: Kvp, data: DataObject, file: string, index: number): ImportRow {
  const own: Kvp = {};
  const origin: Record<string, DataValue> = {};
  for (const [k, v] of Object.entries(kvp)) {
    if (CAMPAIGN_KEYS.includes(k)) origin[k] = v;
    else own[k] = v;
  }
  if (typeof data.source === 'string') origin.source = data.source;
  const out: DataObject = { ...data, source: file, frame: index };
  if (Object.keys(origin).length > 0) out.origin = origin as DataObject;
  return { label: `${file} ${extname(file) === '.db' ? 'row' : 'frame'} ${index}`, atoms, kvp: own, data: out };
}

/** Every frame of an extxyz; a frame that cannot be a row (NaN, a bad mask) refuses the import. */
export function readExtxyzRows(file: string): ImportRow[] {
  return readExtxyz(readText(file), file).map((atoms, k) => {
    const p = prepareRow(atoms, {}, {});
    if (!p.ok) throw new UsageError(`${file} frame ${k} (0-based): ${p.reason}; nothing was imported`, { hint: 'fix or remove that frame' });
    return withProvenance(atoms, p.kvp, p.data, file, k);
  });
}

/** Every row of an ASE database, in id order (the index is the row's position, 0-based; its id is kept in data.origin). */
export function readAseDbRows(file: string): ImportRow[] {
  const db = openDatabaseFile(file, {});
  try {
    return [...db.select()].map((row, k) => {
      const atoms = rowAtomsWithData(row);
      const n = atoms.numbers.length;
      // per-atom entries of data (force_mask) are the atoms' arrays now: the write puts them back
      const data: DataObject = Object.fromEntries(Object.entries(row.data).filter(([name]) => atoms.arrays[name] === undefined || n === 0));
      const r = withProvenance(atoms, { ...row.kvp } as Kvp, data, file, k);
      r.data.origin = { ...(r.data.origin as DataObject | undefined ?? {}), id: row.id };
      return r;
    });
  } finally {
    db.close();
  }
}

/** The rows of an ASE database or extxyz file, by its ending. */
export function readImport(file: string): ImportRow[] {
  const ending = extname(file).toLowerCase();
  if (ending === '.db') return readAseDbRows(file);
  if (ending === '.extxyz' || ending === '.xyz') return readExtxyzRows(file);
  throw new UsageError(`${file}: db import reads an ASE database (.db) or an extxyz (.extxyz, .xyz) with energies and forces`, { hint: 'pw.x outputs go in with autopipe db add' });
}

/** Rows that cannot be fitted (no energy, no forces), by label: an import of labelled data refuses them all. */
export function unlabelled(rows: readonly ImportRow[]): string[] {
  return rows.filter((r) => r.atoms.results.energy === undefined || r.atoms.results.forces === undefined)
    .map((r) => `${r.label} (${r.atoms.results.energy === undefined ? 'no energy' : 'no forces'})`);
}
