/**
 * A frame labelled whole: every force trained on (force_mask all 1), each atom carrying its
 * parent id. Two roads lead here: a sub-cell that would hold the whole parent (embedAtom labels
 * the parent instead), and selection.embed false (the chosen atom's frame as it was explored).
 * Both give the same arrays and info, so the labelling stage and the report see one kind of
 * whole cell. Pure.
 */
import { makeAtoms, natoms, type Atoms, type InfoValue } from '../atoms/atoms.js';

/** Where the frame came from, carried into the sub-cell's (or whole frame's) info. */
export interface EmbedSource {
  file?: string;
  frame?: number;
  timestep?: number;
  gamma?: number;
}

/** The parent id of atom k: its LAMMPS id, or k + 1. A function, not an array: building an
 *  array here would cost O(parent) for every sub-cell. */
export function parentIdOf(frame: Atoms): (k: number) => number {
  const ids = frame.arrays.id;
  if (ids !== undefined && ids.kind !== 'string') {
    const v = ids.values as Float64Array;
    return (k) => v[k];
  }
  return (k) => k + 1;
}

/** Where a structure cut or taken from a frame came from: the dump, the frame (ASE's 0-based index), the centre atom's id, its grade. */
export function provenanceOf(frame: Atoms, centre: number, source: EmbedSource): Record<string, InfoValue> {
  return {
    ...(source.file === undefined ? {} : { source: source.file }),
    ...(source.frame === undefined ? {} : { frame: source.frame }),
    ...(source.timestep === undefined ? {} : { timestep: source.timestep }),
    centre_id: parentIdOf(frame)(centre),
    ...(source.gamma === undefined ? {} : { gamma: source.gamma }),
  };
}

/** The frame as a structure to label whole, with `info` (provenance and whatever the caller adds). */
export function wholeCell(frame: Atoms, info: Record<string, InfoValue>): Atoms {
  const n = natoms(frame);
  const idOf = parentIdOf(frame);
  return makeAtoms({
    numbers: frame.numbers, positions: frame.positions, cell: frame.cell, pbc: frame.pbc,
    arrays: {
      force_mask: { kind: 'float', width: 1, values: new Float64Array(n).fill(1) },
      parent_id: { kind: 'int', width: 1, values: Float64Array.from({ length: n }, (_, k) => idOf(k)) },
    },
    info: { ...info, parent_natoms: n, embedded: false, n_core: n, n_removed: 0 },
  });
}

/** selection.embed false: the frame of the chosen atom `centre`, whole, with its provenance. */
export function wholeFrame(frame: Atoms, centre: number, source: EmbedSource): Atoms {
  return wholeCell(frame, provenanceOf(frame, centre, source));
}
