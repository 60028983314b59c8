/**
 * Content-derived unique ids: the same labelled structure always gets the same id, so adding
 * it twice is detected (the `unique_id` column is UNIQUE) and merging stays idempotent.
 */
import { createHash } from 'node:crypto';
import type { Atoms } from '../atoms/atoms.js';

/** 32 lowercase hex characters (ASE's format), from structure, results and force mask. */
export function contentUniqueId(atoms: Atoms): string {
  const h = createHash('sha256');
  const add = (label: string, bytes?: ArrayBufferView) => {
    h.update(label);
    if (bytes !== undefined) h.update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  add('autopipe-uid-1;numbers', atoms.numbers);
  add(';positions', atoms.positions);
  add(';cell', atoms.cell);
  h.update(`;pbc${atoms.pbc.map(Number).join('')}`);
  const r = atoms.results;
  h.update(`;energy${r.energy ?? 'none'};free${r.free_energy ?? 'none'}`);
  add(';forces', r.forces);
  add(';stress', r.stress);
  const mask = atoms.arrays.force_mask;
  if (mask !== undefined && mask.kind !== 'string') add(';force_mask', mask.values);
  return h.digest('hex').slice(0, 32);
}
