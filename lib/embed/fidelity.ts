/**
 * How right a sub-cell's labels are: the forces DFT gives its core atoms against the forces
 * the same DFT gives the same atoms in the frame they were cut from (the reference), at the
 * same k-point density; and what the sub-cells cost against it. Pure: forces in, figures out.
 * Used by the loop's embedding check (lib/stages/check) and bench/embedding-fidelity.
 *
 * Force errors are per Cartesian component, as pacemaker reports a potential's force RMSE, so
 * a label's error and the fit's error are read on one scale; the largest error is the length
 * of the worst atom's error vector.
 */
import type { Atoms } from '../atoms/atoms.js';

/** One sub-cell labelled by DFT: the parent ids of its core atoms and their forces (eV/Å, 3 per atom). */
export interface LabelledSubcell {
  setting: string;
  natoms: number;
  coreIds: readonly number[];
  coreForces: ArrayLike<number>;
  /** DFT wall time (s). */
  seconds: number;
}

/** The core atoms of a sub-cell as cut (force_mask 1): their indices in it and their parent ids. */
export function coreAtoms(atoms: Atoms): { pick: number[]; ids: number[] } {
  const mask = atoms.arrays.force_mask?.values;
  const ids = atoms.arrays.parent_id?.values;
  if (mask === undefined || ids === undefined) throw new RangeError('the sub-cell has no force_mask or parent_id');
  const pick = Array.from({ length: mask.length }, (_, k) => k).filter((k) => Number(mask[k]) === 1);
  return { pick, ids: pick.map((k) => Number(ids[k])) };
}

/** The forces of the atoms at `pick`, 3 per atom. */
export function forcesAt(forces: ArrayLike<number>, pick: readonly number[]): number[] {
  return pick.flatMap((k) => [forces[3 * k], forces[3 * k + 1], forces[3 * k + 2]]);
}

/** The core of a sub-cell with its forces: what a check keeps of it. */
export function coreOf(atoms: Atoms, forces: ArrayLike<number>): { coreIds: number[]; coreForces: number[] } {
  const { pick, ids } = coreAtoms(atoms);
  return { coreIds: ids, coreForces: forcesAt(forces, pick) };
}

/** The reference: the parent frame (or a much larger sub-cell) labelled by the same DFT. */
export interface Reference {
  /** Forces of the reference's atoms (eV/Å), found by parent id. */
  forceOf: (parentId: number) => [number, number, number] | undefined;
  seconds: number;
  natoms: number;
}

export interface SettingFidelity {
  setting: string;
  subcells: number;
  /** Mean atoms per sub-cell. */
  atoms: number;
  coreAtoms: number;
  /** Core force error, RMS per component, meV/Å. */
  rmse: number;
  /** Largest |ΔF| of a core atom, meV/Å. */
  max: number;
  /** Mean DFT wall time of a sub-cell, s, and its share of the reference's. */
  seconds: number;
  costShare: number;
}

/** Core atoms of a sub-cell paired with the reference's forces on them: squared component errors and vector norms (eV/Å). */
function coreErrors(s: LabelledSubcell, ref: Reference): { sq: number[]; norms: number[] } {
  const sq: number[] = [];
  const norms: number[] = [];
  s.coreIds.forEach((id, k) => {
    const f = ref.forceOf(id);
    if (f === undefined) throw new RangeError(`the reference has no atom with parent id ${id}`);
    const d = [0, 1, 2].map((x) => s.coreForces[3 * k + x] - f[x]);
    sq.push(...d.map((v) => v * v));
    norms.push(Math.hypot(d[0], d[1], d[2]));
  });
  return { sq, norms };
}

/** Figures per setting, in the order settings first appear. */
export function fidelityBySetting<R extends LabelledSubcell>(runs: readonly R[], refOf: Reference | ((run: R) => Reference)): SettingFidelity[] {
  const order = [...new Set(runs.map((r) => r.setting))];
  return order.map((setting) => {
    const mine = runs.filter((r) => r.setting === setting);
    const sq: number[] = [];
    const norms: number[] = [];
    const reference = (r: R) => (typeof refOf === 'function' ? refOf(r) : refOf);
    for (const r of mine) {
      const e = coreErrors(r, reference(r));
      sq.push(...e.sq);
      norms.push(...e.norms);
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const seconds = mean(mine.map((r) => r.seconds));
    return {
      setting, subcells: mine.length,
      atoms: mean(mine.map((r) => r.natoms)),
      coreAtoms: norms.length,
      rmse: sq.length === 0 ? NaN : 1000 * Math.sqrt(mean(sq)),
      max: norms.length === 0 ? NaN : 1000 * Math.max(...norms),
      seconds, costShare: mean(mine.map((r) => r.seconds / reference(r).seconds)),
    };
  });
}

/** The cheapest setting (by DFT time) whose core RMSE is at most the target, if any. */
export function cheapestWithin(settings: readonly SettingFidelity[], targetMeV: number): SettingFidelity | undefined {
  return [...settings].filter((s) => s.rmse <= targetMeV).sort((a, b) => a.seconds - b.seconds)[0];
}

/** A reference from the parent ids of some of its atoms and their forces (3 per id, in that order). */
export function reference(ids: readonly number[], forces: ArrayLike<number>, seconds: number, natoms: number): Reference {
  const at = new Map(ids.map((id, k) => [id, k]));
  return {
    natoms, seconds,
    forceOf(id) {
      const k = at.get(id);
      return k === undefined ? undefined : [forces[3 * k], forces[3 * k + 1], forces[3 * k + 2]];
    },
  };
}

/** A reference from a whole parent frame and its forces, atoms found by LAMMPS id or 1-based index. */
export function parentReference(parent: Atoms, forces: ArrayLike<number>, seconds: number): Reference {
  const ids = parent.arrays.id?.values;
  const n = parent.numbers.length;
  return reference(Array.from({ length: n }, (_, k) => (ids === undefined ? k + 1 : Number(ids[k]))), forces, seconds, n);
}
