/**
 * pw.x input writer: Atoms + flat parameters + pseudopotential map + k-points → input text.
 *
 * Parameters are flat (`ecutwfc`, `mixing_beta`, …) and sorted into namelists by the table in
 * espresso-params.ts; variables autopipe owns (nat, ntyp, outdir, …) are written here.
 */
import type { Atoms } from '../atoms/atoms.js';
import { natoms, symbolsOf } from '../atoms/atoms.js';
import { ATOMIC_MASSES, atomicNumber } from '../atoms/elements.js';
import { reciprocalLengths, isZeroCell, cellVolume } from '../atoms/cell.js';
import { closestContact } from '../atoms/contacts.js';
import { namelistOf, pwStringProblem, AUTOPIPE_OWNED, PER_SPECIES, CONTROL_CHARACTER, type Namelist } from './espresso-params.js';
import { InputFormatError, StructureError, shown } from '../errors/errors.js';

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

/** Atoms closer than this (Å) are one atom given twice, or a broken structure: pw.x would fail or lie. */
export const MIN_ATOM_DISTANCE = 0.5;
/** More k-points than this is a mistake (a spacing in the wrong units), not a calculation. */
export const MAX_KPOINTS = 100_000;


/**
 * k-point mesh for a spacing in 1/Å with 2π included (VASP's KSPACING convention; equal to ASE's
 * `kptdensity2monkhorstpack` at density 1/spacing): n_i = ceil(|b_i| / spacing), 1 along
 * non-periodic axes. Not ASE-espresso's `kspacing`, which leaves out 2π.
 */
export function meshFromSpacing(cell: Float64Array, pbc: readonly boolean[], spacing: number): [number, number, number] {
  const b = reciprocalLengths(cell);
  return [0, 1, 2].map((i) => (pbc[i] ? Math.max(1, Math.ceil(b[i] / spacing)) : 1)) as [number, number, number];
}

/**
 * A value as Fortran namelist input. A string goes between the quote it does not hold; one that
 * holds both kinds, or a control character (a newline would end the namelist line), cannot be
 * written and is refused, never written wrongly.
 */
export function formatPwValue(v: PwScalar, name = 'value'): string {
  if (typeof v === 'boolean') return v ? '.true.' : '.false.';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InputFormatError(`pw.x parameter ${name}: ${v} is not a finite number`);
    return String(v);
  }
  const problem = pwStringProblem(v);
  if (problem !== undefined) throw new InputFormatError(`pw.x parameter ${name}: ${problem}`, {}, { hint: 'change the value in autopipe.yaml' });
  return v.includes("'") ? `"${v}"` : `'${v}'`;
}

/**
 * Why pw.x cannot be given this structure, or undefined: no atoms, a position that is not a
 * number, no cell or not periodic, a flat cell, two atoms (or an atom and its own image) closer
 * than MIN_ATOM_DISTANCE. Checked before anything is written.
 */
export function pwStructureProblem(atoms: Atoms): { problem: string; hint: string } | undefined {
  const n = natoms(atoms);
  if (n === 0) return { problem: 'the structure has no atoms', hint: 'leave it out' };
  const bad = atoms.positions.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) return { problem: `atom ${Math.floor(bad / 3) + 1} has a position that is not a number (${atoms.positions[bad]})`, hint: 'fix or leave out the structure' };
  if (atoms.cell.some((x) => !Number.isFinite(x))) return { problem: 'the cell holds a value that is not a number', hint: 'fix the cell' };
  if (isZeroCell(atoms.cell)) return { problem: 'the structure has no cell; pw.x needs a periodic cell', hint: 'give it a Lattice (extxyz) or a box' };
  if (!atoms.pbc.every((p) => p)) {
    return { problem: `the structure is not periodic along ${['x', 'y', 'z'].filter((_, i) => !atoms.pbc[i]).join(', ')}; pw.x treats every cell as periodic`, hint: 'give it pbc="T T T" with enough vacuum for a molecule or a slab' };
  }
  const volume = cellVolume(atoms.cell);
  const lengths = [0, 1, 2].map((i) => Math.hypot(atoms.cell[3 * i], atoms.cell[3 * i + 1], atoms.cell[3 * i + 2]));
  if (!(volume > 1e-6 * lengths[0] * lengths[1] * lengths[2])) {
    return { problem: `the cell is singular (its vectors are nearly in one plane: volume ${volume.toPrecision(3)} Å³)`, hint: 'fix the cell vectors' };
  }
  const c = closestContact(atoms, MIN_ATOM_DISTANCE);
  if (c !== undefined) {
    const what = c.i === c.j ? `atom ${c.i + 1} is ${c.distance.toFixed(3)} Å from its own periodic image (the cell is that thin)` : `atoms ${c.i + 1} and ${c.j + 1} are ${c.distance.toFixed(3)} Å apart`;
    return { problem: `${what}, closer than ${MIN_ATOM_DISTANCE} Å`, hint: 'two atoms on one site is a broken structure: fix or leave it out' };
  }
  return undefined;
}

/** Species in order of first appearance. */
export function speciesOf(atoms: Atoms): string[] {
  return [...new Set(symbolsOf(atoms))];
}

/**
 * pw.x input for a structure. Refuses (StructureError, InputFormatError), never writes, what pw.x
 * could not run or would read differently: see pwStructureProblem, formatPwValue and the k-mesh.
 */
export function writePwInput(atoms: Atoms, opts: PwInputOptions): string {
  const n = natoms(atoms);
  const structure = pwStructureProblem(atoms);
  if (structure !== undefined) throw new StructureError(structure.problem, { hint: structure.hint });
  const species = speciesOf(atoms);
  for (const s of species) {
    const file = opts.pseudopotentials[s];
    if (file === undefined) throw new StructureError(`no pseudopotential given for ${s}`, { hint: 'add it to dft.pseudopotentials' });
    if (CONTROL_CHARACTER.test(file) || /\s/.test(file) || file === '') throw new InputFormatError(`the pseudopotential file name of ${s} ('${shown(file, 60)}') holds a space or a control character, which ATOMIC_SPECIES cannot carry`);
  }
  const lists: Record<Namelist, string[]> = { control: [], system: [], electrons: [], ions: [], cell: [] };
  lists.control.push(`calculation = 'scf'`, 'tprnfor = .true.', 'tstress = .true.');
  lists.control.push(`pseudo_dir = ${formatPwValue(opts.pseudoDir, 'pseudo_dir')}`);
  lists.control.push(`outdir = ${formatPwValue(opts.outdir ?? './out', 'outdir')}`);
  lists.control.push(`prefix = ${formatPwValue(opts.prefix ?? 'pwscf', 'prefix')}`);
  lists.system.push('ibrav = 0', `nat = ${n}`, `ntyp = ${species.length}`);
  for (const [name, value] of Object.entries(opts.parameters)) {
    const list = namelistOf(name);
    if (list === undefined) throw new InputFormatError(`'${name}' is not a pw.x input variable`);
    if (AUTOPIPE_OWNED.has(name)) throw new InputFormatError(`'${name}' is set by autopipe and cannot be given`);
    if (typeof value === 'object') {
      if (!PER_SPECIES.has(name)) throw new InputFormatError(`'${name}' takes a single value, not one per element`);
      for (const [el, v] of Object.entries(value)) {
        const idx = species.indexOf(el);
        if (idx >= 0) lists[list].push(`${name}(${idx + 1}) = ${formatPwValue(v, `${name}.${el}`)}`);
      }
    } else {
      lists[list].push(`${name} = ${formatPwValue(value, name)}`);
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
    checkMesh(k.mesh, 'dft.kpoints', 'give a coarser dft.kpoints');
    return ['K_POINTS automatic', `  ${k.mesh.join(' ')} ${s.join(' ')}`];
  }
  const mesh = meshFromSpacing(atoms.cell, atoms.pbc, k.spacing);
  checkMesh(mesh, `dft.kspacing ${k.spacing} 1/Å`, 'raise dft.kspacing (0.1 to 0.3 1/Å is usual, 2π included) or give dft.kpoints');
  if (mesh.every((m) => m === 1) && (k.gammaTrick ?? true)) return ['K_POINTS gamma'];
  return ['K_POINTS automatic', `  ${mesh.join(' ')} 0 0 0`];
}

function checkMesh(mesh: readonly number[], from: string, hint: string): void {
  const total = mesh.reduce((a, b) => a * b, 1);
  if (!(total <= MAX_KPOINTS)) {
    throw new StructureError(`the k-point mesh from ${from} would be ${mesh.join('×')} (${total.toExponential(1)} k-points, more than ${MAX_KPOINTS})`, { hint });
  }
}

function fmt(x: number): string {
  return x.toFixed(10);
}
