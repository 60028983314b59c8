/**
 * Row selections, the common part of ASE's syntax: comma-separated terms, all of which must
 * hold. `key` (has the key, or the property: energy, forces, stress), `key=value`, `key!=value`,
 * `<`, `<=`, `>`, `>=` on key-value pairs and on id, natoms, energy, fmax, smax, volume, mass;
 * `formula=Al4`, `calculator=…`, `user=…`, `unique_id=…`; an element symbol (`Al`: contains
 * Al) or an element count (`Al>=4`).
 */
import { hillFormula, natoms, maxForce, maxStress } from '../atoms/atoms.js';
import { atomicNumber } from '../atoms/elements.js';
import { cellVolume } from '../atoms/cell.js';
import type { AseRow } from './ase-db.js';
import { UsageError } from '../errors/errors.js';

type Op = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Term = { key: string; op?: Op; value?: string | number | boolean };
export type Query = (row: AseRow) => boolean;

const OPS: Op[] = ['!=', '<=', '>=', '=', '<', '>'];

function typed(raw: string): string | number | boolean {
  if (raw === 'True' || raw === 'true') return true;
  if (raw === 'False' || raw === 'false') return false;
  const n = Number(raw);
  return raw.trim() !== '' && !Number.isNaN(n) ? n : raw;
}

export function parseQuery(text: string | undefined): Query {
  if (text === undefined || text.trim() === '') return () => true;
  const terms: Term[] = text.split(',').map((t) => t.trim()).filter((t) => t !== '').map((t) => {
    for (const op of OPS) {
      const i = t.indexOf(op);
      if (i > 0) return { key: t.slice(0, i).trim(), op, value: typed(t.slice(i + op.length).trim()) };
      if (i === 0) throw new UsageError(`query term '${t}' has no key before '${op}'`);
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(t)) throw new UsageError(`query term '${t}' is not key, key=value or key<value`);
    return { key: t };
  });
  return (row) => terms.every((term) => matches(row, term));
}

function property(row: AseRow, key: string): string | number | boolean | undefined {
  const a = row.atoms;
  const r = a.results;
  switch (key) {
    case 'id': return row.id;
    case 'natoms': return natoms(a);
    case 'energy': return r.energy;
    case 'free_energy': return r.free_energy;
    case 'formula': return hillFormula(a.numbers);
    case 'calculator': return row.calculator ?? undefined;
    case 'user': return row.user ?? undefined;
    case 'unique_id': return row.uniqueId ?? undefined;
    case 'volume': return cellVolume(a.cell) || undefined;
    case 'fmax': return r.forces === undefined ? undefined : maxForce(r.forces);
    case 'smax': return r.stress === undefined ? undefined : maxStress(r.stress);
    case 'forces': return r.forces === undefined ? undefined : true;
    case 'stress': return r.stress === undefined ? undefined : true;
    default: return row.kvp[key];
  }
}

function matches(row: AseRow, t: Term): boolean {
  const z = atomicNumber(t.key);
  let actual: string | number | boolean | undefined;
  if (z !== undefined && z > 0 && !(t.key in row.kvp)) {
    let count = 0;
    for (const x of row.atoms.numbers) if (x === z) count++;
    if (t.op === undefined) return count > 0;
    actual = count;
  } else {
    actual = property(row, t.key);
    if (t.op === undefined) return actual !== undefined;
  }
  if (actual === undefined) return false;
  const want = t.value as string | number | boolean;
  const a = typeof actual === 'boolean' ? Number(actual) : actual;
  const w = typeof want === 'boolean' ? Number(want) : want;
  switch (t.op) {
    case '=': return a === w;
    case '!=': return a !== w;
    case '<': return a < w;
    case '<=': return a <= w;
    case '>': return a > w;
    case '>=': return a >= w;
  }
}
