/**
 * pw.x input writer: Atoms + flat parameters + pseudopotential map + k-points → input text.
 *
 * Parameters are flat (`ecutwfc`, `mixing_beta`, …) and sorted into namelists by the table in
 * espresso-params.ts; variables autopipe owns (nat, ntyp, outdir, …) are written here.
 */
import type { Atoms } from '../atoms/atoms.js';
import { natoms, symbolsOf } from '../atoms/atoms.js';
import { ATOMIC_MASSES, atomicNumber } from '../atoms/elements.js';
import { reciprocalLengths, isZeroCell } from '../atoms/cell.js';
import { namelistOf, AUTOPIPE_OWNED, PER_SPECIES, type Namelist } from './espresso-params.js';

export type PwScalar = string | number | boolean;
export type PwValue = PwScalar | Readonly<Record<string, PwScalar>>;

export type KPoints =
  | { readonly kind: 'spacing'; readonly spacing: number; readonly gammaTrick?: boolean }
  | { readonly kind: 'mesh'; readonly mesh: readonly [number, number, number]; readonly shift?: readonly [number, number, number] }
  | { readonly kind: 'gamma' };

export interface PwInputOptions {
  readonly parameters: Readonly<Record<string, PwValue>>;
  /** Pseudopotential file name per element symbol. */
  readonly pseudopotentials: Readonly<Record<string, string>>;
  readonly pseudoDir: string;
  readonly kpoints: KPoints;
  readonly outdir?: string;
  readonly prefix?: string;
}

const ORDER: readonly Namelist[] = ['control', 'system', 'electrons', 'ions', 'cell'];

/**
 * k-point mesh for a spacing in 1/Å with 2π included (VASP's KSPACING convention; equal to ASE's
 * `kptdensity2monkhorstpack` at density 1/spacing): n_i = ceil(|b_i| / spacing), 1 along
 * non-periodic axes. Not ASE-espresso's `kspacing`, which leaves out 2π.
 */
export function meshFromSpacing(cell: Float64Array, pbc: readonly boolean[], spacing: number): [number, number, number] {
  const b = reciprocalLengths(cell);
  return [0, 1, 2].map((i) => (pbc[i] ? Math.max(1, Math.ceil(b[i] / spacing)) : 1)) as [number, number, number];
}

export function formatPwValue(v: PwScalar): string {
  if (typeof v === 'boolean') return v ? '.true.' : '.false.';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError(`${v} is not a finite number`);
    return String(v);
  }
  return `'${v.replace(/'/g, "''")}'`;
}

/** Species in order of first appearance. */
export function speciesOf(atoms: Atoms): string[] {
  return [...new Set(symbolsOf(atoms))];
}

export function writePwInput(atoms: Atoms, opts: PwInputOptions): string {
  const n = natoms(atoms);
  if (n === 0) throw new RangeError('the structure has no atoms');
  if (isZeroCell(atoms.cell)) throw new RangeError('the structure has no cell; pw.x needs one');
  const species = speciesOf(atoms);
  for (const s of species) {
    if (opts.pseudopotentials[s] === undefined) {
      throw new RangeError(`no pseudopotential given for ${s}`);
    }
  }
  const lists: Record<Namelist, string[]> = { control: [], system: [], electrons: [], ions: [], cell: [] };
  lists.control.push(`calculation = 'scf'`, 'tprnfor = .true.', 'tstress = .true.');
  lists.control.push(`pseudo_dir = ${formatPwValue(opts.pseudoDir)}`);
  lists.control.push(`outdir = ${formatPwValue(opts.outdir ?? './out')}`);
  lists.control.push(`prefix = ${formatPwValue(opts.prefix ?? 'pwscf')}`);
  lists.system.push('ibrav = 0', `nat = ${n}`, `ntyp = ${species.length}`);
  for (const [name, value] of Object.entries(opts.parameters)) {
    const list = namelistOf(name);
    if (list === undefined) throw new RangeError(`'${name}' is not a pw.x input variable`);
    if (AUTOPIPE_OWNED.has(name)) throw new RangeError(`'${name}' is set by autopipe and cannot be given`);
    if (typeof value === 'object') {
      if (!PER_SPECIES.has(name)) throw new RangeError(`'${name}' takes a single value, not one per element`);
      for (const [el, v] of Object.entries(value)) {
        const idx = species.indexOf(el);
        if (idx >= 0) lists[list].push(`${name}(${idx + 1}) = ${formatPwValue(v)}`);
      }
    } else {
      lists[list].push(`${name} = ${formatPwValue(value)}`);
    }
  }
  const out: string[] = [];
  for (const list of ORDER) {
    // &IONS and &CELL are read only for relaxations; omit them when empty.
    if (lists[list].length === 0 && (list === 'ions' || list === 'cell')) continue;
    out.push(`&${list.toUpperCase()}`, ...lists[list].map((l) => `  ${l}`), '/');
  }
  out.push('ATOMIC_SPECIES');
  for (const s of species) {
    out.push(`  ${s} ${ATOMIC_MASSES[atomicNumber(s) ?? 0]} ${opts.pseudopotentials[s]}`);
  }
  out.push('CELL_PARAMETERS angstrom');
  for (let i = 0; i < 3; i++) out.push(`  ${fmt(atoms.cell[3 * i])} ${fmt(atoms.cell[3 * i + 1])} ${fmt(atoms.cell[3 * i + 2])}`);
  out.push('ATOMIC_POSITIONS angstrom');
  const syms = symbolsOf(atoms);
  for (let i = 0; i < n; i++) {
    const p = atoms.positions;
    out.push(`  ${syms[i]} ${fmt(p[3 * i])} ${fmt(p[3 * i + 1])} ${fmt(p[3 * i + 2])}`);
  }
  out.push(...kpointsCard(atoms, opts.kpoints), '');
  return out.join('\n');
}

function kpointsCard(atoms: Atoms, k: KPoints): string[] {
  if (k.kind === 'gamma') return ['K_POINTS gamma'];
  if (k.kind === 'mesh') {
    const s = k.shift ?? [0, 0, 0];
    return ['K_POINTS automatic', `  ${k.mesh.join(' ')} ${s.join(' ')}`];
  }
  const mesh = meshFromSpacing(atoms.cell, atoms.pbc, k.spacing);
  if (mesh.every((m) => m === 1) && (k.gammaTrick ?? true)) return ['K_POINTS gamma'];
  return ['K_POINTS automatic', `  ${mesh.join(' ')} 0 0 0`];
}

function fmt(x: number): string {
  return x.toFixed(10);
}
