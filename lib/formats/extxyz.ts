/**
 * Extended XYZ, as ASE reads and writes it: `Lattice`, `Properties` (species, pos and any
 * per-atom array: R real, I integer, S string, L logical), `pbc`, info key=values, and the
 * results `energy`, `free_energy`, `stress` (info; 3×3 or Voigt) and `forces` (per atom).
 */
import { makeAtoms, natoms, symbolsOf, numbersFromSymbols, type Atoms, type PerAtomArray, type InfoValue, type Results } from '../atoms/atoms.js';
import { isZeroCell } from '../atoms/cell.js';
import { InputFormatError } from '../errors/errors.js';
import { tokenizeComment, typeCommentValue, formatCommentValue } from './extxyz-comment.js';
import { pyFloatRepr } from './py-float.js';

interface Column { name: string; type: 'R' | 'I' | 'S' | 'L'; width: number }

export function parseProperties(spec: string): Column[] {
  const f = spec.split(':');
  if (f.length % 3 !== 0) throw new RangeError(`Properties '${spec}' is not name:type:count triples`);
  const cols: Column[] = [];
  for (let i = 0; i < f.length; i += 3) {
    const type = f[i + 1].toUpperCase();
    const width = parseInt(f[i + 2], 10);
    if (!['R', 'I', 'S', 'L'].includes(type) || !(width >= 1)) throw new RangeError(`Properties entry '${f.slice(i, i + 3).join(':')}' is malformed`);
    if (cols.some((c) => c.name === f[i])) throw new RangeError(`Properties names the column '${f[i]}' twice`);
    cols.push({ name: f[i], type: type as Column['type'], width });
  }
  return cols;
}

/** Read every frame. `source` names the input in error messages. */
export function readExtxyz(text: string, source = '<extxyz>'): Atoms[] {
  const lines = text.split('\n');
  const frames: Atoms[] = [];
  let i = 0;
  while (i < lines.length) {
    if (lines[i].trim() === '') {
      i++;
      continue;
    }
    const n = Number(lines[i].trim());
    if (!Number.isInteger(n) || n < 0) {
      throw new InputFormatError(`expected the number of atoms of frame ${frames.length + 1}, found '${lines[i].trim().slice(0, 40)}'`, { file: source, line: i + 1 });
    }
    const available = (lines.at(-1) === '' ? lines.length - 1 : lines.length) - (i + 2);
    if (available < n) {
      throw new InputFormatError(`frame ${frames.length + 1} declares ${n} atoms but the file ends first`, { file: source, line: i + 2 + Math.max(0, available) });
    }
    frames.push(readFrame(lines, i, n, source));
    i += 2 + n;
  }
  return frames;
}

function readFrame(lines: string[], start: number, n: number, source: string): Atoms {
  const at = (line: number) => ({ file: source, line: line + 1 });
  const info: Record<string, InfoValue> = {};
  let cell: number[] | undefined;
  let pbc: [boolean, boolean, boolean] | undefined;
  let columns: Column[] = [{ name: 'species', type: 'S', width: 1 }, { name: 'pos', type: 'R', width: 3 }];
  const results: Results = {};
  for (const [key, raw] of tokenizeComment(lines[start + 1])) {
    const value = typeCommentValue(raw);
    const lower = key.toLowerCase();
    try {
      if (lower === 'lattice') {
        if (!Array.isArray(value) || value.length !== 9 || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) throw new RangeError('Lattice must have 9 finite numbers');
        cell = value as number[];
      } else if (lower === 'properties') {
        columns = parseProperties(String(raw));
      } else if (lower === 'pbc') {
        const b = Array.isArray(value) ? value : [value, value, value];
        if (b.length !== 3 || !b.every((x) => typeof x === 'boolean')) throw new RangeError('pbc must be three of T/F');
        pbc = b as [boolean, boolean, boolean];
      } else if (key === 'energy' || key === 'free_energy') {
        if (typeof value !== 'number') throw new RangeError(`${key} must be a number`);
        results[key] = value;
      } else if (key === 'stress') {
        results.stress = stressToVoigt(value);
      } else {
        info[key] = value as InfoValue;
      }
    } catch (err) {
      throw new InputFormatError(`comment line: ${(err as Error).message}`, at(start + 1), { cause: err });
    }
  }
  const per: Record<string, (string | number | boolean)[]> = {};
  for (const c of columns) per[c.name] = [];
  const nFields = columns.reduce((s, c) => s + c.width, 0);
  for (let k = 0; k < n; k++) {
    const li = start + 2 + k;
    const f = lines[li].trim().split(/\s+/);
    if (f.length < nFields) throw new InputFormatError(`atom ${k + 1} has ${f.length} fields; Properties needs ${nFields}`, at(li));
    let p = 0;
    for (const c of columns) {
      for (let w = 0; w < c.width; w++, p++) per[c.name].push(parseField(f[p], c, at(li)));
    }
  }
  const symbols = per.species ?? per.symbols;
  const zs = per.Z;
  let numbers: Int32Array;
  try {
    numbers = symbols !== undefined ? numbersFromSymbols(symbols.map(String)) : Int32Array.from((zs ?? []).map(Number));
  } catch (err) {
    throw new InputFormatError((err as Error).message, at(start + 2), { cause: err });
  }
  if (symbols === undefined && zs === undefined) throw new InputFormatError('Properties has neither species nor Z', at(start + 1));
  const positions = per.pos ?? per.positions;
  if (positions === undefined) throw new InputFormatError('Properties has no pos column', at(start + 1));
  const bad = positions.findIndex((x) => !Number.isFinite(x as number));
  if (bad >= 0) throw new InputFormatError(`atom ${Math.floor(bad / 3) + 1} has a position that is not a finite number (${String(positions[bad])})`, at(start + 2 + Math.floor(bad / 3)));
  const arrays: Record<string, PerAtomArray> = {};
  for (const c of columns) {
    if (['species', 'symbols', 'Z', 'pos', 'positions'].includes(c.name)) continue;
    const v = per[c.name];
    if (c.name === 'forces' && c.type === 'R' && c.width === 3) {
      results.forces = Float64Array.from(v as number[]);
      continue;
    }
    arrays[c.name] = c.type === 'R' ? { kind: 'float', width: c.width, values: Float64Array.from(v as number[]) }
      : c.type === 'I' ? { kind: 'int', width: c.width, values: Float64Array.from(v as number[]) }
        : c.type === 'L' ? { kind: 'bool', width: c.width, values: Uint8Array.from(v as boolean[], (b) => (b ? 1 : 0)) }
          : { kind: 'string', width: c.width, values: v as string[] };
  }
  try {
    return makeAtoms({
      numbers, positions: positions as number[], cell, arrays, info, results,
      // ASE: with a Lattice and no pbc key, the frame is periodic.
      pbc: pbc ?? (cell !== undefined ? [true, true, true] : [false, false, false]),
    });
  } catch (err) {
    throw new InputFormatError((err as Error).message, at(start + 1), { cause: err });
  }
}

function parseField(s: string, c: Column, where: { file: string; line: number }): string | number | boolean {
  if (c.type === 'S') return s;
  if (c.type === 'L') {
    if (s === 'T' || s === 'True') return true;
    if (s === 'F' || s === 'False') return false;
    throw new InputFormatError(`'${s}' in column ${c.name} is not T or F`, where);
  }
  const x = c.type === 'I' ? Number(s) : parseFloat(s);
  if (Number.isNaN(x) && !/nan/i.test(s)) throw new InputFormatError(`'${s}' in column ${c.name} is not a number`, where);
  return x;
}

function stressToVoigt(v: unknown): Float64Array {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new RangeError('stress must be 6 or 9 numbers');
  const s = v as number[];
  if (s.length === 6) return Float64Array.from(s);
  if (s.length === 9) return Float64Array.from([s[0], s[4], s[8], s[5], s[2], s[1]]);
  throw new RangeError(`stress has ${s.length} numbers, expected 6 or 9`);
}

function num(x: number): string {
  return String(x).padStart(16);
}

/** Write frames as ASE does (stress as a full 3×3, per-atom values exact). */
export function writeExtxyz(frames: readonly Atoms[]): string {
  const out: string[] = [];
  for (const a of frames) {
    const n = natoms(a);
    const cols: string[] = ['species:S:1', 'pos:R:3'];
    const arrays = Object.entries(a.arrays);
    for (const [name, arr] of arrays) {
      const t = arr.kind === 'float' ? 'R' : arr.kind === 'int' ? 'I' : arr.kind === 'bool' ? 'L' : 'S';
      cols.push(`${name}:${t}:${arr.width}`);
    }
    const forces = a.results.forces;
    if (forces !== undefined) cols.push('forces:R:3');
    const fields: string[] = [];
    if (!isZeroCell(a.cell)) fields.push(`Lattice="${Array.from(a.cell).join(' ')}"`);
    fields.push(`Properties=${cols.join(':')}`);
    for (const [k, v] of Object.entries(a.info)) fields.push(`${k}=${formatCommentValue(v)}`);
    // energies are floats even when integral (-40.0): a reader must not take -40 for an integer
    if (a.results.energy !== undefined) fields.push(`energy=${pyFloatRepr(a.results.energy)}`);
    if (a.results.free_energy !== undefined) fields.push(`free_energy=${pyFloatRepr(a.results.free_energy)}`);
    const s = a.results.stress;
    if (s !== undefined) fields.push(`stress="${[s[0], s[5], s[4], s[5], s[1], s[3], s[4], s[3], s[2]].join(' ')}"`);
    fields.push(`pbc="${a.pbc.map((b) => (b ? 'T' : 'F')).join(' ')}"`);
    out.push(String(n), fields.join(' '));
    const syms = symbolsOf(a);
    for (let i = 0; i < n; i++) {
      const row = [syms[i].padEnd(2), num(a.positions[3 * i]), num(a.positions[3 * i + 1]), num(a.positions[3 * i + 2])];
      for (const [, arr] of arrays) {
        for (let w = 0; w < arr.width; w++) {
          const v = arr.values[i * arr.width + w];
          row.push(arr.kind === 'bool' ? (v ? 'T' : 'F') : arr.kind === 'string' ? String(v) : arr.kind === 'int' ? String(v).padStart(8) : num(v as number));
        }
      }
      if (forces !== undefined) row.push(num(forces[3 * i]), num(forces[3 * i + 1]), num(forces[3 * i + 2]));
      out.push(row.join(' '));
    }
  }
  return out.join('\n') + '\n';
}

