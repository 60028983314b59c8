/**
 * Periodic embedding: the cube of side L = 2(rcut + buffer) around an uncertain atom, made a
 * periodic cell of its own, with a force mask (1 within mask_radius of the centre, 0 beyond).
 * Pure: a frame (and its index, built once per frame) in, a sub-cell out.
 */
import { makeAtoms, natoms, type Atoms, type InfoValue } from '../atoms/atoms.js';
import { EmbeddingError } from '../errors/errors.js';
import { PeriodicIndex } from '../atoms/periodic-index.js';
import { cellVolume } from '../atoms/cell.js';
import { det3, resolveSeam } from './seam.js';
import { boxFor, describeBox, visitBox, type BoxShape } from './box.js';
import { parentIdOf, provenanceOf, wholeCell, type EmbedSource } from './whole.js';

export interface EmbedParams {
  rcut: number;
  buffer: number;
  /** Default rcut. */
  maskRadius?: number;
  /** 0 switches the seam check off. */
  minDistance: number;
  /**
   * The sub-cell's shape. `cube`: the cube of side L = 2 (rcut + buffer), Cartesian axes.
   * `lattice`: whole crystal periods of the frame (lib/embed/periods.ts), as few along each
   * period as make the box at least L thick, so the seam joins atoms where the crystal
   * repeats anyway. Default cube.
   */
  box?: BoxShape;
}

export type { EmbedSource } from './whole.js';

export type EmbedResult =
  | { kind: 'subcell'; atoms: Atoms; nCore: number; nRemoved: number; warnings: string[] }
  | { kind: 'parent'; atoms: Atoms; reason: string; warnings: string[] }
  | { kind: 'rejected'; reason: string; warnings: string[] };

/** A sub-cell (or a parent labelled whole) above this many atoms is no DFT calculation anyone runs. */
export const MAX_SUBCELL_ATOMS = 10_000;

export function cubeSide(p: EmbedParams): number {
  return 2 * (p.rcut + p.buffer);
}

/** Problems with the parameters, one message each (empty when fine). */
export function embedParamProblems(p: EmbedParams): string[] {
  const out: string[] = [];
  const finite = (x: number) => Number.isFinite(x);
  if (!(p.rcut > 0 && finite(p.rcut))) out.push(`rcut must be a finite number > 0 (got ${p.rcut})`);
  if (!(p.buffer >= 0 && finite(p.buffer))) out.push(`buffer must be a finite number ≥ 0 (got ${p.buffer})`);
  if (p.maskRadius !== undefined && !(p.maskRadius > 0 && finite(p.maskRadius))) out.push(`mask_radius must be a finite number > 0 (got ${p.maskRadius})`);
  if (!(p.minDistance >= 0 && finite(p.minDistance))) out.push(`min_distance must be a finite number ≥ 0 (got ${p.minDistance})`);
  if (out.length === 0 && !finite(cubeSide(p) ** 3)) out.push(`rcut + buffer (${p.rcut + p.buffer} Å) is too large for any cell`);
  return out;
}

/** What the embedding check measures of the warnings below: whether the labels still agree. */
const MEASURED = 'the embedding check measures whether their labels still agree with their frame\'s DFT';

export function embedWarnings(p: EmbedParams): string[] {
  // An atom d from the centre keeps its whole environment within rcut only if d ≤ buffer.
  const mask = p.maskRadius ?? p.rcut;
  if (p.buffer < p.rcut) {
    const trained = mask > p.buffer ? `with mask_radius ${mask} Å their forces are trained on` : `mask_radius ${mask} Å leaves them out of training`;
    return [`buffer (${p.buffer} Å) < rcut (${p.rcut} Å): atoms between ${p.buffer} and ${p.rcut} Å from the centre have neighbours across the periodic seam (${trained}); ${MEASURED}`];
  }
  if (mask > p.buffer) return [`mask_radius (${mask} Å) > buffer (${p.buffer} Å): masked-in atoms beyond ${p.buffer} Å from the centre have neighbours across the periodic seam; ${MEASURED}`];
  return [];
}

/** Check a frame can be embedded in; returns the index to reuse for every centre of the frame. */
export function indexFrame(frame: Atoms, p: EmbedParams): PeriodicIndex {
  if (natoms(frame) === 0) throw new EmbeddingError('the frame has no atoms');
  const axes = ['x', 'y', 'z'].filter((_, i) => !frame.pbc[i]);
  if (axes.length > 0) throw new EmbeddingError(`the frame is not periodic along ${axes.join(', ')}; periodic embedding needs a fully periodic frame`);
  if (!(cellVolume(frame.cell) > 0)) throw new EmbeddingError('the frame\'s cell has no volume (a zero-length or flat box)');
  // Bins about a quarter of the cube thick: a cube query visits ~6³ bins whatever the frame's size.
  return new PeriodicIndex(frame.positions, frame.cell, Math.max(cubeSide(p) / 4, 1.0));
}

/**
 * How many atoms the cube holds, from the parent's density, before a single one is visited;
 * a sub-cell (or a parent labelled whole) beyond MAX_SUBCELL_ATOMS is refused.
 */
export function checkSubcellSize(frame: Atoms, p: EmbedParams): number {
  const parentAtoms = natoms(frame);
  const volume = cellVolume(frame.cell);
  if (!(volume > 0)) return Infinity; // not a periodic frame: indexFrame says so
  const L = cubeSide(p);
  const expected = (parentAtoms / volume) * L ** 3;
  if (Math.min(expected, parentAtoms) > MAX_SUBCELL_ATOMS) {
    throw new EmbeddingError(`the cube of side ${L} Å would hold about ${Math.round(Math.min(expected, parentAtoms))} atoms (more than ${MAX_SUBCELL_ATOMS}): no DFT calculation that size can run`, {
      hint: 'lower rcut and buffer: sub-cells of a few hundred atoms are usual (L = 2 (rcut + buffer))',
    });
  }
  return expected;
}

/** Index of the atom with this id: the `id` array (LAMMPS) if the frame has one, else 1-based. */
export function atomIndexOfId(frame: Atoms, id: number): number {
  const ids = frame.arrays.id;
  if (ids !== undefined && ids.kind !== 'string') {
    const k = (ids.values as Float64Array).indexOf(id);
    if (k < 0) throw new EmbeddingError(`no atom has id ${id} in this frame`);
    return k;
  }
  if (!Number.isInteger(id) || id < 1 || id > natoms(frame)) {
    throw new EmbeddingError(`atom ${id} is not in this frame (it has atoms 1..${natoms(frame)}; without an id column atoms are numbered from 1)`);
  }
  return id - 1;
}

/**
 * Indices sorted by distance, leaving out `skip`. A comparator sort costs ~0.1 ms for a few
 * hundred atoms, as much as the rest of a sub-cell; instead the index goes into the low bits
 * of each (non-negative) distance and a native typed-array sort orders them. Distances closer
 * than ~2^bits ulps (1e-11 Å) then order by index, which keeps the result deterministic.
 */
function byDistance(dist: Float64Array, skip: ReadonlySet<number>): Int32Array {
  const n = dist.length;
  const bits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const keys = new Float64Array(n - skip.size);
  const words = new Uint32Array(keys.buffer); // little-endian: words[2k] is the low half of keys[k]
  const mask = (2 ** bits - 1) >>> 0;
  let j = 0;
  for (let k = 0; k < n; k++) {
    if (skip.has(k)) continue;
    keys[j] = dist[k];
    words[2 * j] = ((words[2 * j] & ~mask) | k) >>> 0;
    j++;
  }
  keys.sort();
  return Int32Array.from(words.filter((_, w) => w % 2 === 0), (w) => w & mask);
}

/** Cut the sub-cell around atom `centre` (0-based) of `frame`. */
export function embedAtom(frame: Atoms, centre: number, p: EmbedParams, index: PeriodicIndex, source: EmbedSource = {}): EmbedResult {
  const problems = embedParamProblems(p);
  if (problems.length > 0) throw new EmbeddingError(problems.join('; '));
  if (!(centre >= 0 && centre < natoms(frame))) throw new EmbeddingError(`atom index ${centre} is outside the frame`);
  const warnings = embedWarnings(p);
  const box = boxFor(frame, cubeSide(p), p.box ?? 'cube', index);
  const B = box.vectors;
  const mask = p.maskRadius ?? p.rcut;
  const parentAtoms = natoms(frame);
  checkSubcellSize(frame, p);
  const expected = (parentAtoms / cellVolume(frame.cell)) * Math.abs(det3(B));
  if (Math.min(expected, parentAtoms) > MAX_SUBCELL_ATOMS) {
    throw new EmbeddingError(`the ${box.kind} box (${describeBox(box)}) would hold about ${Math.round(Math.min(expected, parentAtoms))} atoms (more than ${MAX_SUBCELL_ATOMS}): no DFT calculation that size can run`, { hint: 'lower rcut and buffer' });
  }
  const members: number[] = [];
  const shifts: number[] = [];
  const offsets: number[] = [];
  // a box that holds the parent several times over is the parent: no need to visit every image
  const mid = expected < 4 * parentAtoms ? visitBox(index, centre, box, (a, s0, s1, s2, dx, dy, dz) => {
    members.push(a);
    shifts.push(s0, s1, s2);
    offsets.push(dx, dy, dz);
  }) : [];
  const idOf = parentIdOf(frame);
  const provenance: Record<string, InfoValue> = {
    ...provenanceOf(frame, centre, source),
    rcut: p.rcut, buffer: p.buffer, mask_radius: mask, min_distance: p.minDistance, box: box.kind,
    ...(box.repeats === undefined ? {} : { box_periods: [...box.repeats], frame_periods: [...(box.divisions ?? [])] }),
    // what embedding saved: the report sets each sub-cell's size against its parent's
    parent_natoms: parentAtoms,
  };
  const n = expected < 4 * parentAtoms ? members.length : Math.round(expected);
  if (n >= parentAtoms) {
    // Embedding must never make DFT more expensive: label the parent itself, every force counted.
    const reason = `the ${box.kind} box (${describeBox(box)}) would hold ${expected < 4 * parentAtoms ? '' : 'about '}${n} atoms, the parent only ${parentAtoms}: the parent is labelled instead`;
    return { kind: 'parent', atoms: wholeCell(frame, provenance), reason, warnings };
  }

  const dist = new Float64Array(n);
  const core = new Uint8Array(n);
  const cubePos = new Float64Array(3 * n);
  // mid: where the centre sits in the box (its middle for a cube)
  for (let k = 0; k < n; k++) {
    const dx = offsets[3 * k], dy = offsets[3 * k + 1], dz = offsets[3 * k + 2];
    dist[k] = Math.sqrt(dx * dx + dy * dy + dz * dz);
    core[k] = dist[k] < mask ? 1 : 0;
    cubePos[3 * k] = dx + mid[0]; cubePos[3 * k + 1] = dy + mid[1]; cubePos[3 * k + 2] = dz + mid[2];
  }
  const seam = resolveSeam(cubePos, B, dist, core, p.minDistance);
  if (!seam.ok) return { kind: 'rejected', reason: seam.reason, warnings };

  // Centre first, then outwards: core atoms lead the list.
  const keep = byDistance(dist, seam.removed);
  const m = keep.length;
  const numbers = new Int32Array(m);
  const positions = new Float64Array(3 * m);
  const forceMask = new Float64Array(m);
  const parentId = new Float64Array(m);
  const image = new Float64Array(3 * m);
  let nCore = 0;
  for (let j = 0; j < m; j++) {
    const k = keep[j];
    numbers[j] = frame.numbers[members[k]];
    forceMask[j] = core[k];
    nCore += core[k];
    parentId[j] = idOf(members[k]);
    for (let x = 0; x < 3; x++) {
      positions[3 * j + x] = cubePos[3 * k + x];
      image[3 * j + x] = shifts[3 * k + x];
    }
  }
  const atoms = makeAtoms({
    numbers, positions, cell: B, pbc: [true, true, true],
    arrays: {
      force_mask: { kind: 'float', width: 1, values: forceMask },
      parent_id: { kind: 'int', width: 1, values: parentId },
      image: { kind: 'int', width: 3, values: image },
    },
    info: { ...provenance, embedded: true, ...(box.kind === 'cube' ? { L: B[0] } : {}), n_core: nCore, n_removed: seam.removed.size },
  });
  return { kind: 'subcell', atoms, nCore, nRemoved: seam.removed.size, warnings };
}
