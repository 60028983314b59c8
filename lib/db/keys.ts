/**
 * Key-value pairs for ASE's database: the rules of ASE's `check()`, plus the names that ASE
 * accepts but reads back wrong (AtomsRow attributes shadow them: `mass`, `volume`, …).
 */
import { SYMBOLS } from '../atoms/elements.js';
import { shown } from '../errors/errors.js';

export type KvpValue = string | number | boolean;
export type Kvp = Record<string, KvpValue>;

const ASE_RESERVED = `energy forces stress stresses dipole charges magmom magmoms free_energy energies
dielectric_tensor born_effective_charges polarization positions numbers cell pbc initial_charges
initial_magmoms id unique_id ctime mtime user fmax smax momenta constraints natoms formula age
calculator calculator_parameters key_value_pairs data`;
/** Accepted by ASE but broken on read-back (ASE_DB.md §7). */
const SHADOWED = `mass volume charge symbols masses tags username constrained_forces count toatoms
get numbers_of key_value_pairs external_tables`;

const RESERVED: ReadonlySet<string> = new Set([
  ...SYMBOLS,
  ...ASE_RESERVED.split(/\s+/),
  ...SHADOWED.split(/\s+/),
]);

const KEY_RE = /^[_a-zA-Z][_0-9a-zA-Z]*$/;

/** Why a key cannot be an ASE key, or undefined when it can. */
export function keyProblem(key: string): string | undefined {
  if (!KEY_RE.test(key)) return `'${shown(key, 60)}' is not a valid key (letters, digits and _, not starting with a digit)`;
  if (RESERVED.has(key)) return `'${key}' is reserved by ASE's database (a column, property or element name)`;
  return undefined;
}

/** Why a value cannot be stored for a key, or undefined when it can. */
export function valueProblem(key: string, value: unknown): string | undefined {
  if (typeof value === 'boolean') return undefined;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? undefined : `'${shown(key, 60)}': ${value} cannot be queried; give a finite number`;
  }
  if (typeof value === 'string') {
    if (value.trim() !== '' && !Number.isNaN(Number(value))) {
      return `'${shown(key, 60)}': the string '${shown(value, 60)}' looks like a number and ASE would never find it in a query; store it as a number`;
    }
    if (value === 'True' || value === 'False') return `'${shown(key, 60)}': '${value}' is read as a boolean by newer ASE; use true/false`;
    return undefined;
  }
  return `'${shown(key, 60)}': a value must be a number, a string or a boolean, not ${value === null ? 'null' : typeof value}`;
}

/** Every problem of a set of pairs, one message each. */
export function kvpProblems(kvp: Record<string, unknown>): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(kvp)) {
    const p = keyProblem(k) ?? valueProblem(k, v);
    if (p !== undefined) out.push(p);
  }
  return out;
}

/**
 * Parse `key=value` as given on a command line: numbers become numbers, true/false booleans,
 * anything else a string. Returns the pair or a message.
 */
export function parseKvpArg(arg: string): { key: string; value: KvpValue } | { problem: string } {
  const eq = arg.indexOf('=');
  if (eq <= 0) return { problem: `'${shown(arg, 60)}' is not key=value` };
  const key = arg.slice(0, eq);
  const raw = arg.slice(eq + 1);
  let value: KvpValue = raw;
  if (raw === 'true' || raw === 'True') value = true;
  else if (raw === 'false' || raw === 'False') value = false;
  else if (raw.trim() !== '' && !Number.isNaN(Number(raw))) value = Number(raw);
  const problem = keyProblem(key) ?? valueProblem(key, value);
  return problem === undefined ? { key, value } : { problem };
}
