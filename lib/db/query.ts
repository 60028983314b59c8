/**
 * Row selections in ASE's syntax, translated into SQL over ASE's own tables the way ASE does it
 * (`ase.db.core.parse_selection` and `SQLite3Database.create_select_statement`), so that
 * `autopipe db ls DB Q` and `ase db DB Q` select the same rows and SQLite does the work (its
 * indexes on keys, species, …): only the rows that match are read and decoded.
 *
 * Comma-separated terms that must all hold:
 *   key            has the key-value pair `key`; `-key`: has not. `energy`, `forces`, `strain`
 *                  (also `stress`), `fmax`, `smax`, `constraints`, `calculator`: the row has it
 *   key<op>value   op one of = != < <= > >=, on key-value pairs and on the columns id, energy,
 *                  magmom, ctime, user, calculator, natoms, pbc (=TTF), unique_id, fmax, smax,
 *                  volume, mass, charge; `age<1h` (s m h d w M y)
 *   lo<key<hi      both bounds
 *   Al, Al>=4      an element, or its count; `H2O` contains at least H2 and O
 *   formula=Al4    exactly that composition
 *
 * Pure. A term that cannot mean anything is a UsageError, never an empty result.
 */
import { atomicNumber } from '../atoms/elements.js';
import { UsageError, shown } from '../errors/errors.js';
import { unixToAseTime } from './schema.js';

export type Op = '=' | '!=' | '<' | '<=' | '>' | '>=';
type Value = string | number | boolean;
/** A comparison; a number as key is an atomic number (a count of that element). */
export interface Comparison { key: string | number; op: Op; value: Value }
export interface Selection { keys: string[]; comparisons: Comparison[] }
export interface SelectionSql { where: string; args: Array<string | number> }

const OPS: readonly Op[] = ['!=', '<=', '>=', '<', '>', '='];
const INVERSE: Record<Op, Op> = { '<': '>=', '<=': '>', '>=': '<', '>': '<=', '=': '!=', '!=': '=' };
const KEY_RE = /^[_a-zA-Z][_0-9a-zA-Z]*$/;
/** Keys ASE requires a number for. */
const NUMERIC_KEYS: ReadonlySet<string> = new Set(['id', 'energy', 'magmom', 'charge', 'natoms']);
/** Keys that are columns of `systems` (ASE's list; `user` is the column `username`). */
const COLUMN_KEYS: ReadonlySet<string> = new Set(['id', 'energy', 'magmom', 'ctime', 'user', 'calculator', 'natoms',
  'pbc', 'unique_id', 'fmax', 'smax', 'volume', 'mass', 'charge']);
/** Bare keys that test a column for NULL rather than the key-value pairs. */
const PRESENCE_COLUMN: Readonly<Record<string, string>> = {
  forces: 'fmax', strain: 'smax', stress: 'smax', energy: 'energy', fmax: 'fmax', smax: 'smax',
  constraints: 'constraints', calculator: 'calculator',
};
const SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800, M: 2629800, y: 31557600 };

function bad(term: string, why: string): UsageError {
  return new UsageError(`query term '${shown(term)}': ${why}`, {
    hint: 'terms are key, -key, key=value, key<value (also != <= > >=), an element (Al, Al>=4) or formula=Al4, separated by commas',
  });
}

/** Python's int(), then float(), then True/False, else the string (ASE's convert_str_to_int_float_or_str). */
function typed(raw: string): Value {
  const t = raw.trim();
  if (/^[+-]?\d+$/.test(t)) return Number(t);
  if (t !== '' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$|^[+-]?(inf|infinity|nan)$/i.test(t)) return Number(t.replace(/inf(inity)?/i, 'Infinity'));
  if (t === 'True') return true;
  if (t === 'False') return false;
  return raw;
}

/** Element counts of a formula such as `H2O` or `Cu(OH)2`, or undefined when it is not one. */
export function formulaCounts(text: string): Map<number, number> | undefined {
  let i = 0;
  const group = (): Map<number, number> | undefined => {
    const out = new Map<number, number>();
    while (i < text.length && text[i] !== ')') {
      let part: Map<number, number> | undefined;
      if (text[i] === '(') {
        i++;
        part = group();
        if (part === undefined || text[i] !== ')') return undefined;
        i++;
      } else {
        const m = /^[A-Z][a-z]?/.exec(text.slice(i));
        const z = m === null ? undefined : atomicNumber(m[0]);
        if (m === null || z === undefined) return undefined;
        i += m[0].length;
        part = new Map([[z, 1]]);
      }
      const n = /^\d*/.exec(text.slice(i))?.[0] ?? '';
      i += n.length;
      const times = n === '' ? 1 : Number(n);
      for (const [z, c] of part) out.set(z, (out.get(z) ?? 0) + c * times);
    }
    return out;
  };
  const counts = group();
  return counts !== undefined && i === text.length && counts.size > 0 ? counts : undefined;
}

/** ASE's time_string_to_float: `3h`, `2d`, `1w+2d` → years. */
function ageYears(term: string, value: string): number {
  let seconds = 0;
  for (const part of value.replace(/ /g, '').split('+')) {
    const m = /^(\d+)([smhdwMy])s?$/.exec(part);
    if (m === null) throw bad(term, `'${value}' is not an age such as 30m, 3h, 2d, 1w (s m h d w M y)`);
    seconds += Number(m[1]) * SECONDS[m[2]];
  }
  return seconds / 31557600;
}

/** Parse a selection; `now` (Unix seconds) is what `age` counts back from. */
export function parseSelection(text: string | undefined, now: number): Selection {
  const keys: string[] = [];
  // in the order of the terms, as ASE keeps them: a bare element or formula is already a comparison
  const raw: Array<{ term: string; key: string; op: Op; value: string } | Comparison[]> = [];
  for (const term of (text ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '')) {
    let expr = term;
    if ((expr.match(/</g) ?? []).length === 2) {
      // lo<key<hi: the lower bound becomes key>lo (or >=), the rest is read as usual
      const [lo, rest] = [expr.slice(0, expr.indexOf('<')), expr.slice(expr.indexOf('<') + 1)];
      const op: Op = rest.startsWith('=') ? '>=' : '>';
      expr = op === '>=' ? rest.slice(1) : rest;
      raw.push({ term, key: expr.split('<')[0], op, value: lo });
    }
    const op = OPS.find((o) => expr.includes(o));
    if (op === undefined) {
      raw.push(bareTerm(term, keys));
      continue;
    }
    const parts = expr.split(op);
    if (parts.length !== 2) throw bad(term, `more than one '${op}'`);
    raw.push({ term, key: parts[0].trim(), op, value: parts[1].trim() });
  }
  return { keys, comparisons: raw.flatMap((c) => (Array.isArray(c) ? c : comparisonsOf(c, now))) };
}

/** `Al` (contains Al), `H2O` (at least two H and one O), else a key (`-key`: without it). */
function bareTerm(term: string, keys: string[]): Comparison[] {
  const counts = formulaCounts(term); // a lone symbol is a formula too
  if (counts !== undefined) return [...counts].map(([z, n]) => ({ key: z, op: '>' as const, value: n - 1 }));
  const key = term.startsWith('-') ? term.slice(1) : term;
  if (!KEY_RE.test(key)) throw bad(term, 'not a key, an element or a comparison');
  keys.push(term);
  return [];
}

function comparisonsOf(c: { term: string; key: string; op: Op; value: string }, now: number): Comparison[] {
  const { term, key, op, value } = c;
  if (value === '') throw bad(term, `no value after '${op}'`);
  if (!KEY_RE.test(key)) throw bad(term, key === '' ? `no key before '${op}'` : `'${shown(key)}' is not a key`);
  if (key === 'age') return [{ key: 'ctime', op: INVERSE[op], value: unixToAseTime(now) - ageYears(term, value) }];
  if (key === 'formula') {
    if (op !== '=') throw bad(term, 'formula takes = only (formula=Al4)');
    const counts = formulaCounts(value);
    if (counts === undefined) throw bad(term, `'${shown(value)}' is not a chemical formula`);
    let n = 0;
    const out: Comparison[] = [];
    for (const [z, k] of counts) {
      out.push({ key: z, op: '=', value: k });
      n += k;
    }
    return [...out, { key: 'natoms', op: '=', value: n }];
  }
  const z = atomicNumber(key);
  if (z !== undefined) {
    if (!/^[+-]?\d+$/.test(value)) throw bad(term, `an element count must be a whole number, not '${shown(value)}'`);
    return [{ key: z, op, value: Number(value) }];
  }
  const v = typed(value);
  if (NUMERIC_KEYS.has(key) && typeof v !== 'number') throw bad(term, `${key} must be compared with a number`);
  if (key === 'pbc') {
    if (op !== '=' && op !== '!=') throw bad(term, 'pbc takes = or != only (pbc=TTF)');
    if (typeof v !== 'string' || !/^[TF]{3}$/.test(v)) throw bad(term, `pbc is three letters T or F (pbc=TTT), not '${shown(String(v))}'`);
  }
  return [{ key, op, value: v }];
}

/** The WHERE clause of a selection over `systems`, with its arguments (ASE's statement). */
export function selectionSql(s: Selection): SelectionSql {
  const where: string[] = [];
  const args: Array<string | number> = [];
  for (const key of s.keys) {
    const column = PRESENCE_COLUMN[key];
    if (column !== undefined) where.push(`systems.${column} IS NOT NULL`);
    else if (key.startsWith('-')) {
      where.push('systems.id NOT IN (SELECT id FROM keys WHERE key=?)');
      args.push(key.slice(1));
    } else {
      where.push('systems.id IN (SELECT id FROM keys WHERE key=?)');
      args.push(key);
    }
  }
  // `H=0`, `H<2`: a row without H has no species row, so ask for rows *not* failing the test
  const zeroPasses = new Map<number, boolean>();
  for (const c of s.comparisons) {
    if (typeof c.key === 'number') zeroPasses.set(c.key, (zeroPasses.get(c.key) ?? true) && compare(0, c.op, c.value as number));
  }
  for (const c of s.comparisons) {
    if (typeof c.key === 'number') {
      if (zeroPasses.get(c.key) === true) where.push(`systems.id NOT IN (SELECT id FROM species WHERE Z=? AND n${INVERSE[c.op]}?)`);
      else where.push(`systems.id IN (SELECT id FROM species WHERE Z=? AND n${c.op}?)`);
      args.push(c.key, c.value as number);
    } else if (COLUMN_KEYS.has(c.key)) {
      where.push(`systems.${c.key === 'user' ? 'username' : c.key}${c.op}?`);
      args.push(c.key === 'pbc' ? pbcMask(String(c.value)) : sqlValue(c.value));
    } else {
      const table = typeof c.value === 'string' ? 'text_key_values' : 'number_key_values';
      where.push(`systems.id IN (SELECT id FROM ${table} WHERE key=? AND value${c.op}?)`);
      args.push(c.key, sqlValue(c.value));
    }
  }
  return { where: where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`, args };
}

function sqlValue(v: Value): string | number {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

function pbcMask(v: string): number {
  return (v[0] === 'T' ? 1 : 0) + (v[1] === 'T' ? 2 : 0) + (v[2] === 'T' ? 4 : 0);
}

function compare(a: number, op: Op, b: number): boolean {
  switch (op) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}
