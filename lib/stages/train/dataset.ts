/**
 * The rows a fit uses and how they weigh, pure. Every row of the database with an energy and
 * forces goes in, as one extxyz frame that the training job turns into pacemaker's DataFrame
 * (python/autopipe_train.py). Weights:
 *   w_energy   1 for a full cell; embedding.energy_weight for an embedded sub-cell (0 by
 *              default: its energy includes the seam between the cut-out and the vacuum-free
 *              periodic buffer, which no potential should learn)
 *   w_forces   per atom, the row's force_mask (1 core, 0 buffer); a row without a mask weighs
 *              every atom 1
 * pacemaker uses both columns as given (no weighting policy of its own runs when both are
 * there) and divides each by its sum over the whole set (preparedata.normalize_energy_forces_
 * weights). So every core atom carries the same force weight whatever cell it sits in: a
 * 300-atom sub-cell with 20 core atoms counts as 20 atoms of force data, not 300.
 */
import type { AseRow } from '../../db/ase-db.js';
import { rowAtomsWithData } from '../../db/ase-db.js';
import { makeAtoms, symbolsOf, type Atoms } from '../../atoms/atoms.js';
import { writeExtxyz } from '../../formats/extxyz.js';
import { asLevel, levelDifferences, type LevelOfTheory } from '../../level/level.js';

/** Rows of another level of theory (or of none), left out of a fit: how many, and one row's level to say how it differs. */
export interface LeftOut { level: string | null; rows: number; example: LevelOfTheory | undefined }

export interface TrainingSet {
  /** The level of theory of every row used (null: rows are not told apart by level, as in a campaign of an older autopipe). */
  level: string | null;
  /** The full level of one row used, to describe it. */
  levelOf: LevelOfTheory | undefined;
  /** Rows of other levels, by level. */
  leftOut: LeftOut[];
  /** extxyz frames, one per row used. */
  frames: string[];
  /** Database ids of the rows used, ascending. */
  ids: number[];
  /** Rows left out, and why. */
  skipped: Array<{ id: number; why: string }>;
  elements: string[];
  /** Sum of w_energy: pacemaker divides by it, so it must not be 0. */
  energyWeight: number;
  coreAtoms: number;
  /** Atoms of each element over the rows used: the atomic environments the active set is chosen from. */
  atomsPerElement: Record<string, number>;
}

function maskOf(a: Atoms): Float64Array | undefined {
  const m = a.arrays.force_mask;
  return m === undefined ? undefined : Float64Array.from(m.values as ArrayLike<number>);
}

/**
 * The rows of one level of theory (`level`; null: every row, as a campaign of an older
 * autopipe fitted) and their weights; rows of other levels, or of none, are left out and
 * counted by level.
 */
export function trainingSet(rows: Iterable<AseRow>, energyWeightOfSubcells: number, level: string | null = null): TrainingSet {
  const out: TrainingSet = { level, levelOf: undefined, leftOut: [], frames: [], ids: [], skipped: [], elements: [], energyWeight: 0, coreAtoms: 0, atomsPerElement: {} };
  const elements = new Set<string>();
  const others = new Map<string | null, LeftOut>();
  for (const row of rows) {
    const rowLevel = typeof row.kvp.level === 'string' ? row.kvp.level : null;
    if (level !== null && rowLevel !== level) {
      const o = others.get(rowLevel) ?? { level: rowLevel, rows: 0, example: asLevel(row.data.level) };
      o.rows++;
      others.set(rowLevel, o);
      continue;
    }
    out.levelOf ??= asLevel(row.data.level);
    const atoms = rowAtomsWithData(row);
    const { energy, forces } = atoms.results;
    if (energy === undefined || forces === undefined) {
      out.skipped.push({ id: row.id, why: energy === undefined ? 'no energy' : 'no forces' });
      continue;
    }
    const embedded = row.kvp.embedded === true || row.kvp.embedded === 1;
    const mask = maskOf(atoms);
    const wEnergy = embedded ? energyWeightOfSubcells : 1;
    const frame = makeAtoms({
      numbers: atoms.numbers, positions: atoms.positions, cell: atoms.cell, pbc: atoms.pbc,
      arrays: mask === undefined ? {} : { force_mask: { kind: 'float', width: 1, values: mask } },
      info: { db_id: row.id, w_energy: wEnergy, embedded },
      results: { energy, forces },
    });
    out.frames.push(writeExtxyz([frame]));
    out.ids.push(row.id);
    out.energyWeight += wEnergy;
    out.coreAtoms += mask === undefined ? atoms.numbers.length : mask.filter((m) => m > 0.5).length;
    for (const s of symbolsOf(atoms)) {
      elements.add(s);
      out.atomsPerElement[s] = (out.atomsPerElement[s] ?? 0) + 1;
    }
  }
  out.elements = [...elements].sort();
  out.ids.sort((a, b) => a - b);
  out.leftOut = [...others.values()].sort((a, b) => b.rows - a.rows);
  return out;
}

/** How many rows were left out for their level of theory. */
export function leftOutCount(set: Pick<TrainingSet, 'leftOut'>): number {
  return set.leftOut.reduce((n, o) => n + o.rows, 0);
}

/** Rows left out for their level, in words: "3 rows at level 1a2b3c4d (ecutwfc 12 → 16)". */
export function leftOutLines(set: Pick<TrainingSet, 'leftOut' | 'levelOf'>): string[] {
  return set.leftOut.map((o) => {
    if (o.level === null) return `${o.rows} row(s) without a level of theory (labelled by an older autopipe, or imported without one)`;
    const differs = o.example === undefined || set.levelOf === undefined ? [] : levelDifferences(o.example, set.levelOf);
    return `${o.rows} row(s) at level ${o.level}${differs.length === 0 ? '' : ` (${differs.slice(0, 4).join(', ')}${differs.length > 4 ? ', …' : ''})`}`;
  });
}

/** Ascending ids as closed ranges [[1, 20], [25, 25]]: what a fit used, compactly. */
export function idRanges(ids: readonly number[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const id of ids) {
    const last = out[out.length - 1];
    if (last !== undefined && id === last[1] + 1) last[1] = id;
    else out.push([id, id]);
  }
  return out;
}
